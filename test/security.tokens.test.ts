import { spawn } from 'node:child_process';
import path from 'node:path';
import { SignJWT } from 'jose';
import { menuIdFor, restaurantIdFor } from '../db/seed';
import { mintToken, TOKEN_ISSUER, verifyToken } from '../lib/node/auth';
import { loadConfig } from '../lib/node/config';
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
  const REQUIRED = ['expired', 'wrongSignature', 'algNone', 'malformedOnePart', 'wrongIssuer', 'restaurantWithoutRestaurantId'];

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

  it('the API process exits at start in production without AUTH_SECRET, before listening or connecting', async () => {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, NODE_ENV: 'production', PORT: '0', TEMPORAL_ADDRESS: '127.0.0.1:1', LOG_LEVEL: 'silent' };
    const child = spawn(process.execPath, ['--import', 'tsx', 'api/server.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += String(d)));
    child.stderr.on('data', (d) => (output += String(d)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    clearTimeout(timer);
    expect(code).toBe(1);
    expect(output).toContain('AUTH_SECRET must be set in production');
    expect(output).not.toContain('API listening');
  }, 60_000);
});
