import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';

export const ROLES = ['customer', 'restaurant', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling: a role, a subject and, for restaurant staff, the restaurant they act for. */
export interface Principal {
  role: Role;
  sub: string;
  restaurantId?: string;
}

export const TOKEN_ISSUER = 'delivery-order-saga';
/** The `aud` every token carries and the API requires: a token minted for another service of the same issuer is refused. */
export const TOKEN_AUDIENCE = 'delivery-order-saga-api';

/** The longest a token of each role may live (`exp - iat`, seconds), enforced when verifying. */
export type TokenLifetimes = Record<Role, number>;

/**
 * Defaults (TOKEN_MAX_LIFETIME_<ROLE>_SECONDS): a customer's app signs in weekly, restaurant staff
 * daily, an operator per shift. A token minted for longer is refused, whatever its `exp`.
 */
export const DEFAULT_TOKEN_LIFETIMES: TokenLifetimes = { customer: 7 * 24 * 3600, restaurant: 24 * 3600, admin: 12 * 3600 };
const ALGORITHM = 'HS256';
/** Clock skew tolerated between the process that minted a token and the API (seconds). */
const CLOCK_TOLERANCE_SECONDS = 5;

// A subject is stored (idempotency keys, orders.customer_id) and logged: printable, no control
// characters, bounded. A restaurant id has the same shape as the API's path ids.
const SUBJECT = /^[\x21-\x7e]{1,128}$/;
const RESTAURANT_ID = /^[A-Za-z0-9_-]{1,64}$/;

function key(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

/**
 * A token for `principal` that lives `ttlSeconds`, at most its role's maximum lifetime (`maxLifetimes`,
 * the same setting the API verifies with): a longer request is cut to the maximum.
 */
export async function mintToken(
  principal: Principal,
  secret: string,
  ttlSeconds: number,
  maxLifetimes: TokenLifetimes = DEFAULT_TOKEN_LIFETIMES,
): Promise<string> {
  if (principal.role === 'restaurant' && !principal.restaurantId) throw new Error('a restaurant token needs a restaurantId');
  if (!SUBJECT.test(principal.sub)) throw new Error('a subject is 1-128 printable ASCII characters');
  if (principal.restaurantId !== undefined && !RESTAURANT_ID.test(principal.restaurantId)) throw new Error('restaurantId: letters, digits, _ and - only');
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) throw new Error('ttlSeconds must be a positive integer');
  const lifetime = Math.min(ttlSeconds, maxLifetimes[principal.role]);
  const issuedAt = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = { role: principal.role };
  if (principal.restaurantId) claims.restaurantId = principal.restaurantId;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
    .setSubject(principal.sub)
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + lifetime)
    .sign(key(secret));
}

export class InvalidTokenError extends Error {}

/**
 * Verifies signature (HS256 only: `alg: none` and every other algorithm are refused), issuer,
 * audience, expiry (a token without `exp` is refused: it would never expire), issue time (`iat`
 * required, not in the future) and lifetime (`exp - iat` at most the role's maximum, so a token
 * minted to live for years is refused even while its `exp` is ahead), and the claims this API relies on.
 */
export async function verifyToken(token: string, secret: string, maxLifetimes: TokenLifetimes = DEFAULT_TOKEN_LIFETIMES): Promise<Principal> {
  try {
    const { payload } = await jwtVerify(token, key(secret), {
      issuer: TOKEN_ISSUER,
      audience: TOKEN_AUDIENCE,
      algorithms: [ALGORITHM],
      requiredClaims: ['exp', 'iat', 'sub', 'aud'],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
    });
    const role = payload.role;
    if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) throw new InvalidTokenError('unknown role');
    const { iat, exp } = payload as { iat: number; exp: number };
    if (iat > Date.now() / 1000 + CLOCK_TOLERANCE_SECONDS) throw new InvalidTokenError('issued in the future');
    if (exp - iat > maxLifetimes[role as Role]) throw new InvalidTokenError(`lifetime over the ${role} maximum`);
    if (typeof payload.sub !== 'string' || !SUBJECT.test(payload.sub)) throw new InvalidTokenError('bad subject');
    if (role !== 'restaurant') return { role: role as Role, sub: payload.sub };
    const restaurantId = payload.restaurantId;
    if (typeof restaurantId !== 'string' || restaurantId.length === 0) throw new InvalidTokenError('restaurant token without restaurantId');
    if (!RESTAURANT_ID.test(restaurantId)) throw new InvalidTokenError('bad restaurantId');
    return { role: 'restaurant', sub: payload.sub, restaurantId };
  } catch (err) {
    if (err instanceof InvalidTokenError) throw err;
    if (err instanceof joseErrors.JWTExpired) throw new InvalidTokenError('token expired');
    throw new InvalidTokenError('invalid token');
  }
}
