import { spawn } from 'node:child_process';
import { runToExit } from './support/processes';
import path from 'node:path';
import { SignJWT } from 'jose';
import { menuIdFor, restaurantIdFor } from '../db/seed';
import fs from 'node:fs';
import os from 'node:os';
import { DEFAULT_TOKEN_LIFETIMES, mintToken, TOKEN_AUDIENCE, TOKEN_ISSUER, verifyToken } from '../lib/node/auth';
import { devSecret, loadConfig, tokenLifetimes } from '../lib/node/config';
import { hostileAuthorizations } from './support/fuzz-tokens';
import { snapshotRows } from './support/fuzz';
import { http, startStack, TEST_SECRET, type TestStack } from './support/stack';

// Bearer tokens: every kind of bad token is a 401 in the error shape, on public and protected routes
// alike, and changes nothing; and the API refuses to start in production without a secret.

const ROOT = path.resolve(__dirname, '..');

describe('bearer tokens (real stack)', () => {
  let stack: TestStack;
  let bad: Record<string, string>;

  beforeAll(async () => {
    // No workers: a refused request never reaches the saga.
    stack = await startStack('sectokens', { workers: false });
    bad = await hostileAuthorizations(TEST_SECRET);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  // The issue's list first, then every other refused form (test/support/fuzz-tokens.ts).
  const REQUIRED = [
    'expired',
    'wrongSignature',
    'algNone',
    'malformedOnePart',
    'wrongIssuer',
    'restaurantWithoutRestaurantId',
    // Issue #18: an audience, an issue time, and a lifetime no longer than the role's maximum.
    'noAudience',
    'wrongAudience',
    'noIssuedAt',
    'lifetimeOverRoleMaximum',
    'restaurantLifetimeOverMaximum',
  ];

  it('covers the token kinds the issue names', () => {
    for (const name of REQUIRED) expect(Object.keys(bad)).toContain(name);
  });

  const ROUTES: Array<{ name: string; method: string; path: string; body?: unknown; headers?: Record<string, string> }> = [
    { name: 'public read', method: 'GET', path: '/restaurants' },
    { name: 'protected read', method: 'GET', path: '/orders/ord_anything' },
    {
      name: 'order placement',
      method: 'POST',
      path: '/orders',
      headers: { 'idempotency-key': 'token-test' },
      body: {
        restaurantId: restaurantIdFor(3),
        items: [{ menuId: menuIdFor(3, 1), quantity: 1 }],
        deliveryAddress: '서울시',
        paymentMethod: { cardToken: 'tok_ok' },
      },
    },
    {
      name: 'menu change',
      method: 'PATCH',
      path: `/restaurants/${restaurantIdFor(1)}/menu-items/${menuIdFor(1, 1)}`,
      headers: { 'if-match': '1' },
      body: { price: 1 },
    },
  ];

  it('every bad token is a 401 UNAUTHENTICATED on every kind of route, and nothing changes', async () => {
    const before = await snapshotRows(stack);
    const failures: string[] = [];
    for (const [kind, authorization] of Object.entries(bad)) {
      for (const route of ROUTES) {
        const res = await http(stack.baseUrl, route.method, route.path, {
          headers: { ...(route.headers ?? {}), authorization },
          ...(route.body ? { body: route.body } : {}),
        });
        const shaped = res.body?.error?.code === 'UNAUTHENTICATED' && typeof res.body.error.message === 'string' && Object.keys(res.body).length === 1;
        if (res.status !== 401 || !shaped) failures.push(`${kind} on ${route.name}: ${res.status} ${JSON.stringify(res.body)}`);
      }
    }
    expect(failures).toEqual([]);
    expect(await snapshotRows(stack)).toEqual(before);
  });

  it.each(REQUIRED)('%s → 401 with the error shape', async (kind) => {
    const res = await http(stack.baseUrl, 'GET', '/restaurants', { headers: { authorization: bad[kind]! } });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: { code: 'UNAUTHENTICATED', message: expect.stringMatching(/token|Bearer/i) } });
  });

  it('says why in words, without echoing the token', async () => {
    const expired = await http(stack.baseUrl, 'GET', '/restaurants', { headers: { authorization: bad.expired! } });
    expect(expired.body.error.message).toBe('Invalid token: token expired');
    const token = bad.wrongSignature!.slice(7);
    const wrong = await http(stack.baseUrl, 'GET', '/restaurants', { headers: { authorization: bad.wrongSignature! } });
    expect(JSON.stringify(wrong.body)).not.toContain(token.split('.')[1]);
  });

  it('a token expired only moments ago (beyond the 5 s clock tolerance) is refused; one within it is accepted', async () => {
    const key = new TextEncoder().encode(TEST_SECRET);
    const at = (expOffset: number) =>
      new SignJWT({ role: 'customer' })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('cust-1')
        .setIssuer(TOKEN_ISSUER)
        .setAudience(TOKEN_AUDIENCE)
        .setIssuedAt(Math.floor(Date.now() / 1000) - 3600)
        .setExpirationTime(Math.floor(Date.now() / 1000) + expOffset)
        .sign(key);
    expect((await http(stack.baseUrl, 'GET', '/restaurants', { token: await at(-30) })).status).toBe(401);
    expect((await http(stack.baseUrl, 'GET', '/restaurants', { token: await at(-1) })).status).toBe(200);
  });

  it('valid tokens of every role are accepted; the scheme is case-insensitive', async () => {
    for (const principal of [
      { role: 'customer' as const, sub: 'cust-1' },
      { role: 'restaurant' as const, sub: 'owner-1', restaurantId: restaurantIdFor(1) },
      { role: 'admin' as const, sub: 'admin-1' },
    ]) {
      const token = await stack.token(principal);
      expect((await http(stack.baseUrl, 'GET', '/restaurants', { token })).status).toBe(200);
      expect((await http(stack.baseUrl, 'GET', '/restaurants', { headers: { authorization: `bearer ${token}` } })).status).toBe(200);
    }
  });

  it('verifyToken returns only the claims the API relies on; mintToken refuses what verifyToken would', async () => {
    const customer = await verifyToken(await mintToken({ role: 'customer', sub: 'c', restaurantId: 'rst_0001' }, TEST_SECRET, 60), TEST_SECRET);
    expect(customer).toEqual({ role: 'customer', sub: 'c' });
    expect(await verifyToken(await mintToken({ role: 'restaurant', sub: 'o', restaurantId: 'rst_0001' }, TEST_SECRET, 60), TEST_SECRET)).toEqual({
      role: 'restaurant',
      sub: 'o',
      restaurantId: 'rst_0001',
    });
    await expect(mintToken({ role: 'restaurant', sub: 'o' }, TEST_SECRET, 60)).rejects.toThrow(/restaurantId/);
    await expect(mintToken({ role: 'customer', sub: 'a b' }, TEST_SECRET, 60)).rejects.toThrow(/subject/);
    await expect(mintToken({ role: 'customer', sub: 'c' }, TEST_SECRET, 0)).rejects.toThrow(/ttl/);
  });

  const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

  it('minted tokens carry aud and iat, and live at most their role’s maximum (a longer ttl is cut)', async () => {
    const year = 365 * 24 * 3600;
    for (const role of ['customer', 'admin'] as const) {
      const claims = claimsOf(await mintToken({ role, sub: `${role}-1` }, TEST_SECRET, year));
      expect(claims).toMatchObject({ aud: TOKEN_AUDIENCE, iss: TOKEN_ISSUER, iat: expect.any(Number) });
      expect((claims.exp as number) - (claims.iat as number)).toBe(DEFAULT_TOKEN_LIFETIMES[role]);
    }
    const short = claimsOf(await mintToken({ role: 'admin', sub: 'a' }, TEST_SECRET, 600));
    expect((short.exp as number) - (short.iat as number)).toBe(600);
  });

  it('the lifetime is checked per role when verifying, with the configured maxima', async () => {
    const key = new TextEncoder().encode(TEST_SECRET);
    const now = Math.floor(Date.now() / 1000);
    const lasting = (role: string, seconds: number) =>
      new SignJWT({ role, ...(role === 'restaurant' ? { restaurantId: 'rst_0001' } : {}) })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('someone')
        .setIssuer(TOKEN_ISSUER)
        .setAudience(TOKEN_AUDIENCE)
        .setIssuedAt(now)
        .setExpirationTime(now + seconds)
        .sign(key);
    expect(DEFAULT_TOKEN_LIFETIMES).toEqual({ customer: 7 * 24 * 3600, restaurant: 24 * 3600, admin: 12 * 3600 });
    for (const [role, max] of Object.entries(DEFAULT_TOKEN_LIFETIMES)) {
      await expect(verifyToken(await lasting(role, max), TEST_SECRET)).resolves.toMatchObject({ role });
      await expect(verifyToken(await lasting(role, max + 1), TEST_SECRET)).rejects.toThrow(`lifetime over the ${role} maximum`);
    }
    // An admin token of 12 hours is refused where admins may hold 1 hour (TOKEN_MAX_LIFETIME_ADMIN_SECONDS=3600).
    const configured = tokenLifetimes(loadConfig({ AUTH_SECRET: TEST_SECRET, TOKEN_MAX_LIFETIME_ADMIN_SECONDS: '3600' }));
    expect(configured).toEqual({ ...DEFAULT_TOKEN_LIFETIMES, admin: 3600 });
    await expect(verifyToken(await lasting('admin', 12 * 3600), TEST_SECRET, configured)).rejects.toThrow(/lifetime/);
    await expect(verifyToken(await lasting('admin', 3600), TEST_SECRET, configured)).resolves.toMatchObject({ role: 'admin' });
    // Over HTTP: the message says why.
    const res = await http(stack.baseUrl, 'GET', '/restaurants', { token: await lasting('restaurant', 2 * 24 * 3600) });
    expect(res.status).toBe(401);
    expect(res.body.error.message).toBe('Invalid token: lifetime over the restaurant maximum');
  });

  it('npm run token mints a token the API accepts, with aud, iat and the role’s lifetime', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/token.ts', 'admin', 'ops-1'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, AUTH_SECRET: TEST_SECRET, TOKEN_MAX_LIFETIME_ADMIN_SECONDS: '1800', LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += String(d)));
    expect(await new Promise((resolve) => child.on('exit', resolve))).toBe(0);
    const token = out.trim();
    const claims = claimsOf(token);
    expect(claims.aud).toBe(TOKEN_AUDIENCE);
    expect((claims.exp as number) - (claims.iat as number)).toBe(1800);
    expect((await http(stack.baseUrl, 'GET', '/restaurants', { token })).status).toBe(200);
  }, 30_000);
});

describe('the secret comes from the environment', () => {
  it('production configuration without AUTH_SECRET throws', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow('AUTH_SECRET must be set in production');
  });

  it('a short AUTH_SECRET is refused in every mode; a real one is used as given', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', AUTH_SECRET: 'changeme' })).toThrow(/at least 32 characters/);
    expect(() => loadConfig({ NODE_ENV: 'development', AUTH_SECRET: 'changeme' })).toThrow(/at least 32 characters/);
    expect(loadConfig({ NODE_ENV: 'production', AUTH_SECRET: TEST_SECRET }).AUTH_SECRET).toBe(TEST_SECRET);
  });

  it('a secret file (.data/auth-secret outside production) shorter than 32 characters is refused with a clear error; one is generated when absent', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'auth-secret-'));
    try {
      const file = path.join(dir, 'auth-secret');
      fs.writeFileSync(file, 'short-secret\n');
      expect(() => devSecret(file)).toThrow(`${file} holds a secret of 12 characters; it must be at least 32`);
      fs.writeFileSync(file, `${'x'.repeat(32)}\n`);
      expect(devSecret(file)).toBe('x'.repeat(32));
      const fresh = path.join(dir, 'fresh', 'auth-secret');
      const generated = devSecret(fresh);
      expect(generated.length).toBeGreaterThanOrEqual(32);
      expect(fs.readFileSync(fresh, 'utf8')).toBe(generated);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the API process exits at start in production without AUTH_SECRET, before listening or connecting', async () => {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, NODE_ENV: 'production', PORT: '0', TEMPORAL_ADDRESS: '127.0.0.1:1', LOG_LEVEL: 'silent' };
    const { code, output } = await runToExit('api/server.ts', env);
    expect(code).toBe(1);
    expect(output).toContain('AUTH_SECRET must be set in production');
    expect(output).not.toContain('API listening');
  }, 60_000);
});
