import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type ApiDeps } from '../api/app';
import { DEFAULT_RATE_LIMIT, NO_RATE_LIMIT, type RateLimitSettings } from '../api/security';
import { createDb } from '../db/knex';
import { loadConfig } from '../lib/node/config';
import { hostileAuthorizations } from './support/fuzz-tokens';
import { http, startStack, TEST_SECRET, type TestStack } from './support/stack';

// Per-client rate limiting. The stack's API runs with limits no suite reaches (TEST_RATE_LIMIT); each
// test here starts a second API over the same stack with low limits, so its counters start at zero.

describe('rate limiting (real stack)', () => {
  let stack: TestStack;
  const servers: Server[] = [];

  beforeAll(async () => {
    stack = await startStack('secrate', { workers: false });
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    await stack?.stop();
  });

  /** Every limit at `limit` (0: off) unless `more` says otherwise. */
  const limits = (limit: number, more: Partial<RateLimitSettings> = {}): RateLimitSettings => ({
    windowMs: 60_000,
    customer: limit,
    restaurant: limit,
    admin: limit,
    anonymous: limit,
    probes: limit,
    ...more,
  });

  async function limitedApi(rateLimit: RateLimitSettings, trustProxy?: string, more: Partial<ApiDeps> = {}): Promise<string> {
    const app = createApp({ ...stack.apiDeps(), rateLimit, ...(trustProxy !== undefined ? { trustProxy } : {}), ...more });
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  const statuses = (answers: Array<{ status: number }>) => answers.map((a) => a.status);

  it('a burst over the limit gets 429 RATE_LIMITED with Retry-After, in the error shape', async () => {
    const api = await limitedApi(limits(5));
    const token = await stack.token({ role: 'customer', sub: 'burst' });
    const answers = await Promise.all(Array.from({ length: 20 }, () => http(api, 'GET', '/restaurants', { token })));
    expect(statuses(answers).filter((s) => s === 200)).toHaveLength(5);
    const limited = answers.filter((a) => a.status === 429);
    expect(limited).toHaveLength(15);
    for (const res of limited) {
      const retryAfter = Number(res.headers.get('retry-after'));
      expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60).toBe(true);
      expect(res.body).toEqual({
        error: {
          code: 'RATE_LIMITED',
          message: `Too many requests; retry in ${retryAfter} s`,
          details: { retryAfterSeconds: retryAfter, limit: 5, windowSeconds: 60 },
        },
      });
      expect(res.headers.get('ratelimit')).toMatch(/limit=5, remaining=0/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });

  it('clients are counted apart: by token subject when authenticated, else by IP', async () => {
    const api = await limitedApi(limits(3));
    const alice = await stack.token({ role: 'customer', sub: 'alice' });
    const bob = await stack.token({ role: 'customer', sub: 'bob' });
    const run = async (n: number, token?: string) =>
      statuses(await Promise.all(Array.from({ length: n }, () => http(api, 'GET', '/restaurants', token ? { token } : {}))));
    expect((await run(4, alice)).sort()).toEqual([200, 200, 200, 429]);
    // Bob and anonymous callers on the same IP still have their whole allowance.
    expect(await run(3, bob)).toEqual([200, 200, 200]);
    expect(await run(3)).toEqual([200, 200, 200]);
    expect(await run(1)).toEqual([429]);
    expect(await run(1, bob)).toEqual([429]);
  });

  it('bad tokens are counted by IP, so a flood of them is limited too; X-Forwarded-For is not trusted by default', async () => {
    const api = await limitedApi(limits(4));
    const bad = await hostileAuthorizations(TEST_SECRET);
    const tries = [bad.expired!, bad.wrongSignature!, bad.algNone!, bad.wrongIssuer!, bad.malformedOnePart!, bad.restaurantWithoutRestaurantId!];
    const answers = await Promise.all(
      tries.map((authorization, i) => http(api, 'GET', '/restaurants', { headers: { authorization, 'x-forwarded-for': `10.0.0.${i}` } })),
    );
    expect(statuses(answers).sort()).toEqual([401, 401, 401, 401, 429, 429]);
    expect((await http(api, 'GET', '/restaurants', { headers: { 'x-forwarded-for': '10.9.9.9' } })).status).toBe(429);
  });

  it('with TRUST_PROXY set, the client address comes from X-Forwarded-For', async () => {
    const api = await limitedApi(limits(1), '1');
    const from = (ip: string) => http(api, 'GET', '/restaurants', { headers: { 'x-forwarded-for': ip } });
    expect((await from('203.0.113.1')).status).toBe(200);
    expect((await from('203.0.113.1')).status).toBe(429);
    expect((await from('203.0.113.2')).status).toBe(200);
  });

  it('/healthz is not limited; /readyz and /metrics are, per client address, apart from the API limits', async () => {
    const api = await limitedApi(limits(1000, { probes: 2 }), '1');
    const get = (path: string, ip: string) => http(api, 'GET', path, { headers: { 'x-forwarded-for': ip } });
    expect(statuses(await Promise.all(Array.from({ length: 5 }, () => get('/healthz', '198.51.100.1'))))).toEqual([200, 200, 200, 200, 200]);
    expect((await get('/readyz', '198.51.100.1')).status).toBe(200);
    expect((await get('/metrics', '198.51.100.1')).status).toBe(200);
    const refused = await get('/readyz', '198.51.100.1');
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ code: 'RATE_LIMITED', details: { limit: 2 } });
    expect((await get('/metrics', '198.51.100.1')).status).toBe(429);
    // Another address has its own allowance, and the API's routes are counted apart.
    expect((await get('/metrics', '198.51.100.2')).status).toBe(200);
    expect((await get('/restaurants', '198.51.100.1')).status).toBe(200);
  });

  it('/readyz names a failing dependency without its error text', async () => {
    // A pool on a port nothing listens on: the driver's message names the address and the refusal.
    const unreachable = createDb('postgres://reader:hunter2@127.0.0.1:1/menu_read', 1);
    try {
      const api = await limitedApi(NO_RATE_LIMIT, undefined, { menuReadDb: unreachable });
      const res = await http(api, 'GET', '/readyz');
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ status: 'not ready', checks: { orders: 'ok', restaurants: 'ok', menuRead: 'failing', temporal: 'ok' } });
      expect(JSON.stringify(res.body)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|reader|hunter2|timeout/i);
    } finally {
      await unreachable.destroy();
    }
  });

  it('each role has its own limit, counted per subject; callers without a token have the anonymous one, per address', async () => {
    const api = await limitedApi(limits(0, { customer: 2, restaurant: 4, admin: 3, anonymous: 1 }));
    const customer = await stack.token({ role: 'customer', sub: 'roles-customer' });
    const restaurant = await stack.token({ role: 'restaurant', sub: 'roles-owner', restaurantId: 'rst_0001' });
    const admin = await stack.token({ role: 'admin', sub: 'roles-admin' });
    const run = async (n: number, token?: string) =>
      statuses(await Promise.all(Array.from({ length: n }, () => http(api, 'GET', '/restaurants', token ? { token } : {}))));
    expect((await run(3, customer)).sort()).toEqual([200, 200, 429]);
    expect((await run(5, restaurant)).sort()).toEqual([200, 200, 200, 200, 429]);
    expect((await run(4, admin)).sort()).toEqual([200, 200, 200, 429]);
    expect((await run(2)).sort()).toEqual([200, 429]);
    const over = await http(api, 'GET', '/restaurants', { token: restaurant });
    expect(over.body.error.details).toEqual({ retryAfterSeconds: expect.any(Number), limit: 4, windowSeconds: 60 });
  });

  it('limit 0 switches the limiter off', async () => {
    const api = await limitedApi(NO_RATE_LIMIT);
    const answers = await Promise.all(Array.from({ length: 30 }, () => http(api, 'GET', '/restaurants')));
    expect(new Set(statuses(answers))).toEqual(new Set([200]));
  });

  it('the defaults come from the environment: per role, a real client never reaches them and a script does', () => {
    const defaults = loadConfig({ AUTH_SECRET: TEST_SECRET });
    expect({
      windowMs: defaults.RATE_LIMIT_WINDOW_MS,
      customer: defaults.RATE_LIMIT_CUSTOMER_MAX,
      restaurant: defaults.RATE_LIMIT_RESTAURANT_MAX,
      admin: defaults.RATE_LIMIT_ADMIN_MAX,
      anonymous: defaults.RATE_LIMIT_ANONYMOUS_MAX,
      probes: defaults.RATE_LIMIT_PROBES_MAX,
    }).toEqual(DEFAULT_RATE_LIMIT);
    expect(DEFAULT_RATE_LIMIT).toEqual({ windowMs: 60_000, customer: 300, restaurant: 600, admin: 600, anonymous: 300, probes: 120 });
    // At most 10 requests a second for anyone: the old single limit (20,000 a minute, 330/s) stopped nobody.
    for (const role of ['customer', 'restaurant', 'admin', 'anonymous'] as const) expect(DEFAULT_RATE_LIMIT[role] / 60).toBeLessThanOrEqual(10);
    const tuned = loadConfig({
      AUTH_SECRET: TEST_SECRET,
      RATE_LIMIT_CUSTOMER_MAX: '120',
      RATE_LIMIT_ADMIN_MAX: '0',
      RATE_LIMIT_PROBES_MAX: '30',
      RATE_LIMIT_WINDOW_MS: '10000',
      TRUST_PROXY: 'loopback',
    });
    expect([tuned.RATE_LIMIT_CUSTOMER_MAX, tuned.RATE_LIMIT_ADMIN_MAX, tuned.RATE_LIMIT_PROBES_MAX, tuned.RATE_LIMIT_WINDOW_MS, tuned.TRUST_PROXY]).toEqual([
      120,
      0,
      30,
      10000,
      'loopback',
    ]);
    expect(() => loadConfig({ AUTH_SECRET: TEST_SECRET, RATE_LIMIT_CUSTOMER_MAX: 'lots' })).toThrow(/RATE_LIMIT_CUSTOMER_MAX/);
  });

  it('the default limits let a burst of 50 through and refuse a flood of 400, from one customer', async () => {
    const api = await limitedApi(DEFAULT_RATE_LIMIT);
    const token = await stack.token({ role: 'customer', sub: 'flood' });
    const burst = statuses(await Promise.all(Array.from({ length: 50 }, () => http(api, 'GET', '/restaurants', { token }))));
    expect(new Set(burst)).toEqual(new Set([200]));
    const flood = statuses(await Promise.all(Array.from({ length: 350 }, () => http(api, 'GET', '/restaurants', { token }))));
    expect(flood.filter((st) => st === 200)).toHaveLength(DEFAULT_RATE_LIMIT.customer - 50);
    expect(flood.filter((st) => st === 429)).toHaveLength(100);
  });
});
