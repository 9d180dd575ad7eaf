import { SignJWT, generateKeyPair } from 'jose';
import { DEFAULT_TOKEN_LIFETIMES, TOKEN_AUDIENCE, TOKEN_ISSUER } from '../../lib/node/auth';

// Bearer tokens that must be refused (401), shared by the token and fuzz suites. Each is a full
// `Authorization` header value.

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

function sign(secret: string, claims: Record<string, unknown>, header: { alg: string; typ?: string } = { alg: 'HS256', typ: 'JWT' }) {
  return new SignJWT(claims).setProtectedHeader(header).sign(new TextEncoder().encode(secret));
}

/** Named hostile Authorization header values for a secret (all must answer 401 with the error shape). */
export async function hostileAuthorizations(secret: string): Promise<Record<string, string>> {
  const good = { sub: 'cust-1', role: 'customer', iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE, iat: now(), exp: now() + 3600 };
  const valid = await sign(secret, good);
  const [h, p, s] = valid.split('.') as [string, string, string];
  const { privateKey } = await generateKeyPair('RS256');
  const rs256 = await new SignJWT(good).setProtectedHeader({ alg: 'RS256' }).sign(privateKey);
  const tokens: Record<string, string> = {
    expired: await sign(secret, { ...good, iat: now() - 7200, exp: now() - 3600 }),
    wrongSignature: await sign('another-secret-0123456789-0123456789-xyz', good),
    tamperedPayload: `${h}.${b64url({ ...good, role: 'admin' })}.${s}`,
    truncatedSignature: `${h}.${p}.${s.slice(0, -4)}`,
    algNone: `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(good)}.`,
    algNoneWithSignature: `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(good)}.${s}`,
    algHS512: await sign(secret, good, { alg: 'HS512', typ: 'JWT' }),
    algRS256: rs256,
    wrongIssuer: await sign(secret, { ...good, iss: 'someone-else' }),
    noIssuer: await sign(secret, { sub: good.sub, role: good.role, aud: TOKEN_AUDIENCE, iat: good.iat, exp: good.exp }),
    noExpiry: await sign(secret, { sub: good.sub, role: good.role, iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE, iat: good.iat }),
    notYetValid: await sign(secret, { ...good, nbf: now() + 3600 }),
    noAudience: await sign(secret, { sub: good.sub, role: good.role, iss: TOKEN_ISSUER, iat: good.iat, exp: good.exp }),
    wrongAudience: await sign(secret, { ...good, aud: 'another-service' }),
    noIssuedAt: await sign(secret, { sub: good.sub, role: good.role, iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE, exp: good.exp }),
    issuedInTheFuture: await sign(secret, { ...good, iat: now() + 3600, exp: now() + 7200 }),
    // Valid today, but minted to live longer than a customer's token may (a leaked one would stay usable).
    lifetimeOverRoleMaximum: await sign(secret, { ...good, iat: now() - 60, exp: now() - 60 + DEFAULT_TOKEN_LIFETIMES.customer + 3600 }),
    restaurantLifetimeOverMaximum: await sign(secret, {
      ...good,
      role: 'restaurant',
      restaurantId: 'rst_0001',
      exp: good.iat + DEFAULT_TOKEN_LIFETIMES.restaurant + 1,
    }),
    restaurantWithoutRestaurantId: await sign(secret, { ...good, role: 'restaurant' }),
    restaurantWithBadRestaurantId: await sign(secret, { ...good, role: 'restaurant', restaurantId: "rst_0001' OR '1'='1" }),
    unknownRole: await sign(secret, { ...good, role: 'superuser' }),
    noRole: await sign(secret, { sub: good.sub, iss: TOKEN_ISSUER, exp: good.exp }),
    noSubject: await sign(secret, { role: 'customer', iss: TOKEN_ISSUER, exp: good.exp }),
    emptySubject: await sign(secret, { ...good, sub: '' }),
    subjectWithNul: await sign(secret, { ...good, sub: 'cust\u00001' }),
    numericSubject: await sign(secret, { ...good, sub: 42 }),
    malformedOnePart: 'not-a-token',
    malformedTwoParts: `${h}.${p}`,
    malformedFourParts: `${valid}.${s}`,
    malformedBase64: `${h}.!!!.${s}`,
    malformedJsonHeader: `${Buffer.from('{"alg":').toString('base64url')}.${p}.${s}`,
    overlong: `${h}.${'A'.repeat(5000)}.${s}`,
  };
  const headers: Record<string, string> = {};
  for (const [name, token] of Object.entries(tokens)) headers[name] = `Bearer ${token}`;
  return {
    ...headers,
    basicScheme: `Basic ${Buffer.from('admin:admin').toString('base64')}`,
    bearerWithoutToken: 'Bearer',
    bearerEmpty: 'Bearer ',
    twoTokens: `Bearer ${valid} ${valid}`,
    tokenWithoutScheme: valid,
    emptyHeader: '',
    latin1Garbage: 'Bearer \u00ff\u00fe\u00e9',
  };
}
