import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../api/app';
import { DEFAULT_RATE_LIMIT, type RateLimitSettings } from '../api/security';
import { loadConfig } from '../lib/node/config';
import { hostileAuthorizations } from './support/fuzz-tokens';
import { http, startStack, TEST_SECRET, type TestStack } from './support/stack';

// Per-client rate limiting. The stack's API runs with the defaults (high enough for the suites); each
// test here starts a second API over the same stack with a low limit, so its counters start at zero.

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

  async function limitedApi(rateLimit: RateLimitSettings, trustProxy?: string): Promise<string> {
    const app = createApp({ ...stack.apiDeps(), rateLimit, ...(trustProxy !== undefined ? { trustProxy } : {}) });
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  const statuses = (answers: Array<{ status: number }>) => answers.map((a) => a.status);

  it('a burst over the limit gets 429 RATE_LIMITED with Retry-After, in the error shape', async () => {
    const api = await limitedApi({ limit: 5, windowMs: 60_000 });
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
    const api = await limitedApi({ limit: 3, windowMs: 60_000 });
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
    const api = await limitedApi({ limit: 4, windowMs: 60_000 });
    const bad = await hostileAuthorizations(TEST_SECRET);
    const tries = [bad.expired!, bad.wrongSignature!, bad.algNone!, bad.wrongIssuer!, bad.malformedOnePart!, bad.restaurantWithoutRestaurantId!];
    const answers = await Promise.all(
      tries.map((authorization, i) => http(api, 'GET', '/restaurants', { headers: { authorization, 'x-forwarded-for': `10.0.0.${i}` } })),
    );
    expect(statuses(answers).sort()).toEqual([401, 401, 401, 401, 429, 429]);
    expect((await http(api, 'GET', '/restaurants', { headers: { 'x-forwarded-for': '10.9.9.9' } })).status).toBe(429);
  });

  it('with TRUST_PROXY set, the client address comes from X-Forwarded-For', async () => {
    const api = await limitedApi({ limit: 1, windowMs: 60_000 }, '1');
    const from = (ip: string) => http(api, 'GET', '/restaurants', { headers: { 'x-forwarded-for': ip } });
    expect((await from('203.0.113.1')).status).toBe(200);
    expect((await from('203.0.113.1')).status).toBe(429);
    expect((await from('203.0.113.2')).status).toBe(200);
  });

  it('health and metrics endpoints are not limited', async () => {
    const api = await limitedApi({ limit: 1, windowMs: 60_000 });
    const answers = await Promise.all(Array.from({ length: 5 }, () => http(api, 'GET', '/healthz')));
    expect(statuses(answers)).toEqual([200, 200, 200, 200, 200]);
  });

  it('limit 0 switches the limiter off', async () => {
    const api = await limitedApi({ limit: 0, windowMs: 60_000 });
    const answers = await Promise.all(Array.from({ length: 30 }, () => http(api, 'GET', '/restaurants')));
    expect(new Set(statuses(answers))).toEqual(new Set([200]));
  });

  it('the defaults come from the environment and leave room for the test suites and benchmarks', () => {
    const defaults = loadConfig({ AUTH_SECRET: TEST_SECRET });
    expect({ windowMs: defaults.RATE_LIMIT_WINDOW_MS, limit: defaults.RATE_LIMIT_MAX }).toEqual(DEFAULT_RATE_LIMIT);
    expect(DEFAULT_RATE_LIMIT.limit / (DEFAULT_RATE_LIMIT.windowMs / 1000)).toBeGreaterThanOrEqual(300);
    const tuned = loadConfig({ AUTH_SECRET: TEST_SECRET, RATE_LIMIT_MAX: '120', RATE_LIMIT_WINDOW_MS: '10000', TRUST_PROXY: 'loopback' });
    expect([tuned.RATE_LIMIT_MAX, tuned.RATE_LIMIT_WINDOW_MS, tuned.TRUST_PROXY]).toEqual([120, 10000, 'loopback']);
    expect(() => loadConfig({ AUTH_SECRET: TEST_SECRET, RATE_LIMIT_MAX: 'lots' })).toThrow(/RATE_LIMIT_MAX/);
  });

  it('the stack’s own API (defaults) is not throttled by a burst of this size', async () => {
    const token = await stack.token({ role: 'customer', sub: 'burst' });
    const answers = await Promise.all(Array.from({ length: 50 }, () => http(stack.baseUrl, 'GET', '/restaurants', { token })));
    expect(new Set(statuses(answers))).toEqual(new Set([200]));
  });
});
