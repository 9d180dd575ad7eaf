import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';

export const ROLES = ['customer', 'restaurant', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling: a role, a subject and, for restaurant staff, the restaurant they act for. */
export interface Principal {
  role: Role;
  sub: string;
  restaurantId?: string;
}

const ISSUER = 'delivery-order-saga';
const ALGORITHM = 'HS256';

function key(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

export async function mintToken(principal: Principal, secret: string, ttlSeconds: number): Promise<string> {
  if (principal.role === 'restaurant' && !principal.restaurantId) throw new Error('a restaurant token needs a restaurantId');
  const claims: Record<string, unknown> = { role: principal.role };
  if (principal.restaurantId) claims.restaurantId = principal.restaurantId;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
    .setSubject(principal.sub)
    .setIssuer(ISSUER)
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(key(secret));
}

export class InvalidTokenError extends Error {}

/** Verifies signature (HS256 only: `alg: none` and others are refused), issuer, expiry and claims. */
export async function verifyToken(token: string, secret: string): Promise<Principal> {
  try {
    const { payload } = await jwtVerify(token, key(secret), { issuer: ISSUER, algorithms: [ALGORITHM] });
    const role = payload.role;
    if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) throw new InvalidTokenError('unknown role');
    if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 128) throw new InvalidTokenError('bad subject');
    const restaurantId = payload.restaurantId;
    if (role === 'restaurant' && (typeof restaurantId !== 'string' || restaurantId.length === 0)) {
      throw new InvalidTokenError('restaurant token without restaurantId');
    }
    return { role: role as Role, sub: payload.sub, ...(typeof restaurantId === 'string' ? { restaurantId } : {}) };
  } catch (err) {
    if (err instanceof InvalidTokenError) throw err;
    if (err instanceof joseErrors.JWTExpired) throw new InvalidTokenError('token expired');
    throw new InvalidTokenError('invalid token');
  }
}
