import { runToExit } from './support/processes';
import { TEST_ONLY_PAYLOAD_KEYS } from './support/payload-keys';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type ApiDeps } from '../api/app';
import { menuIdFor, restaurantIdFor } from '../db/seed';
import { loadConfig } from '../lib/node/config';
import { createPspSandbox } from '../psp/sandbox';
import { assertPspAllowed, isPspSandbox } from '../workers/psp-guard';
import { http, startStack, TEST_SECRET, type TestStack } from './support/stack';

// The abuse limits of POST /orders (a customer's orders in flight, `?wait` holds), the sandbox's
// steering card tokens refused in production, the Temporal link kept from customers, and the payment
// worker refusing the PSP sandbox in production. No workers run: every order stays PENDING, in flight.

const AUTO = restaurantIdFor(3);

describe('order limits and production guards (real stack, no workers)', () => {
  let stack: TestStack;
  const servers: Server[] = [];

  beforeAll(async () => {
    stack = await startStack('seclimits', { workers: false });
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    await stack?.stop();
  });

  async function api(more: Partial<ApiDeps>): Promise<string> {
    const app = createApp({ ...stack.apiDeps(), ...more });
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  const order = (cardToken = 'tok_ok') => ({
    restaurantId: AUTO,
    items: [{ menuId: menuIdFor(3, 1), quantity: 1 }],
    deliveryAddress: '서울시 강남구 테헤란로 1',
    paymentMethod: { cardToken },
  });
  const place = (base: string, token: string, key: string, opts: { wait?: number; cardToken?: string } = {}) =>
    http(base, 'POST', `/orders${opts.wait ? `?wait=${opts.wait}` : ''}`, { token, headers: { 'idempotency-key': key }, body: order(opts.cardToken) });

  describe('orders in flight per customer', () => {
    it('one more than the limit is 429 TOO_MANY_ORDERS_IN_FLIGHT in the error shape, and records nothing', async () => {
      const base = await api({ ordersInFlightMax: 2 });
      const token = await stack.token({ role: 'customer', sub: 'inflight-1' });
      expect((await place(base, token, 'k1')).status).toBe(202);
      expect((await place(base, token, 'k2')).status).toBe(202);
      const refused = await place(base, token, 'k3');
      expect(refused.status).toBe(429);
      expect(refused.body).toEqual({
        error: { code: 'TOO_MANY_ORDERS_IN_FLIGHT', message: expect.stringContaining('at most 2'), details: { limit: 2, inFlight: 2 } },
      });
      expect(await stack.dbs.orders('idempotency_keys').where({ customer_id: 'inflight-1', key: 'k3' }).first()).toBeUndefined();
      expect(Number((await stack.dbs.orders('orders').where({ customer_id: 'inflight-1' }).count('* as n'))[0]!.n)).toBe(2);
      // A retry of an order already placed is its answer again, not a new order.
      expect((await place(base, token, 'k1')).status).toBe(200);
      // Another customer is not held back.
      expect((await place(base, await stack.token({ role: 'customer', sub: 'inflight-2' }), 'k1')).status).toBe(202);
      // Once one order is final, there is room again.
      const [first] = await stack.dbs.orders('orders').where({ customer_id: 'inflight-1' }).select('order_id');
      await stack.dbs.orders('orders').where({ order_id: first!.order_id }).update({ status: 'CONFIRMED' });
      expect((await place(base, token, 'k4')).status).toBe(202);
    });

    it('concurrent placements cannot race past the limit', async () => {
      const base = await api({ ordersInFlightMax: 3 });
      const token = await stack.token({ role: 'customer', sub: 'inflight-race' });
      const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => place(base, token, `race-${i}`)));
      expect(answers.map((a) => a.status).sort()).toEqual([202, 202, 202, 429, 429, 429, 429, 429, 429, 429]);
      expect(Number((await stack.dbs.orders('orders').where({ customer_id: 'inflight-race' }).count('* as n'))[0]!.n)).toBe(3);
    });

    it('defaults to 5, configurable (ORDERS_IN_FLIGHT_MAX)', async () => {
      const defaults = loadConfig({ AUTH_SECRET: TEST_SECRET });
      expect([defaults.ORDERS_IN_FLIGHT_MAX, defaults.ORDER_WAIT_MAX_HOLDS]).toEqual([5, 200]);
      expect([defaults.SAGA_START_CONCURRENCY, defaults.SAGA_START_QUEUE_MAX]).toEqual([16, 2000]);
      expect(loadConfig({ AUTH_SECRET: TEST_SECRET, ORDERS_IN_FLIGHT_MAX: '12' }).ORDERS_IN_FLIGHT_MAX).toBe(12);
      // The app's own default (the test stack's API raises it for the other suites).
      const base = await api({ ordersInFlightMax: undefined });
      const token = await stack.token({ role: 'customer', sub: 'inflight-default' });
      const answers = [];
      for (let i = 0; i < 6; i++) answers.push((await place(base, token, `d-${i}`)).status);
      expect(answers).toEqual([202, 202, 202, 202, 202, 429]);
    });
  });

  describe('?wait holds', () => {
    it('beyond the cap, a waiting request is 503 WAIT_CAPACITY_EXHAUSTED with Retry-After, before anything is recorded; without wait it is served', async () => {
      const base = await api({ orderWaitMaxHolds: 1 });
      const token = await stack.token({ role: 'customer', sub: 'waiter' });
      // No worker: the order stays PENDING, so this request holds its slot for the whole 3 s.
      const holding = place(base, token, 'w1', { wait: 3000 });
      await new Promise((r) => setTimeout(r, 500));
      const refused = await place(base, token, 'w2', { wait: 3000 });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(refused.body).toEqual({ error: { code: 'WAIT_CAPACITY_EXHAUSTED', message: expect.stringContaining('at most 1') } });
      expect(await stack.dbs.orders('idempotency_keys').where({ customer_id: 'waiter', key: 'w2' }).first()).toBeUndefined();
      expect((await place(base, token, 'w3')).status).toBe(202);
      expect((await holding).status).toBe(202);
      // The slot is free again once the held request has answered.
      const started = Date.now();
      expect((await place(base, token, 'w4', { wait: 200 })).status).toBe(202);
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    });
  });

  describe('PSP sandbox steering card tokens', () => {
    it.each(['tok_slow_100', 'tok_flaky_2', 'tok_decline'])('%s is refused 422 SANDBOX_CARD_TOKEN in production, nothing recorded', async (cardToken) => {
      const base = await api({ refuseSandboxCardTokens: true });
      const token = await stack.token({ role: 'customer', sub: `steer-${cardToken}` });
      const res = await place(base, token, 'steer', { cardToken });
      expect(res.status).toBe(422);
      expect(res.body).toEqual({ error: { code: 'SANDBOX_CARD_TOKEN', message: expect.stringContaining('production') } });
      expect(
        await stack.dbs
          .orders('orders')
          .where({ customer_id: `steer-${cardToken}` })
          .first(),
      ).toBeUndefined();
    });

    it('in production an ordinary token is taken; outside production the steering ones are too', async () => {
      const prod = await api({ refuseSandboxCardTokens: true });
      expect((await place(prod, await stack.token({ role: 'customer', sub: 'steer-ok' }), 'ok')).status).toBe(202);
      const dev = await api({ refuseSandboxCardTokens: false });
      expect((await place(dev, await stack.token({ role: 'customer', sub: 'steer-dev' }), 'dev', { cardToken: 'tok_slow_100' })).status).toBe(202);
    });

    it('the API refuses them when NODE_ENV=production (the default follows the environment)', async () => {
      const saved = process.env.NODE_ENV;
      process.env.NODE_ENV = 'production';
      let base: string;
      try {
        base = await api({});
      } finally {
        process.env.NODE_ENV = saved;
      }
      const res = await place(base, await stack.token({ role: 'customer', sub: 'steer-env' }), 'env', { cardToken: 'tok_flaky_1' });
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('SANDBOX_CARD_TOKEN');
    });
  });

  describe('the Temporal Web UI link', () => {
    it("is in restaurants' and admins' answers, never in a customer's", async () => {
      const customer = await stack.token({ role: 'customer', sub: 'link-customer' });
      const placed = await place(stack.baseUrl, customer, 'link');
      expect(placed.status).toBe(202);
      expect(placed.body.workflowId).toBe(`order-${placed.body.orderId}`);
      expect(placed.body).not.toHaveProperty('workflowUrl');
      const path = `/orders/${placed.body.orderId}`;
      const asCustomer = await http(stack.baseUrl, 'GET', path, { token: customer });
      expect(asCustomer.status).toBe(200);
      expect(asCustomer.body).not.toHaveProperty('workflowUrl');
      expect(asCustomer.body.workflowId).toBe(`order-${placed.body.orderId}`);
      for (const principal of [
        { role: 'admin' as const, sub: 'link-admin' },
        { role: 'restaurant' as const, sub: 'link-owner', restaurantId: AUTO },
      ]) {
        const res = await http(stack.baseUrl, 'GET', path, { token: await stack.token(principal) });
        expect(res.status).toBe(200);
        expect(res.body.workflowUrl).toMatch(new RegExp(`/workflows/order-${placed.body.orderId}`));
      }
    });
  });
});

describe('the payment worker and the PSP sandbox in production', () => {
  let sandbox: Server;
  let sandboxUrl: string;
  let other: Server;
  let otherUrl: string;

  beforeAll(async () => {
    const listen = (s: Server) =>
      new Promise<string>((resolve) => s.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(s.address() as AddressInfo).port}`)));
    sandbox = createServer(createPspSandbox().app);
    sandboxUrl = await listen(sandbox);
    // A processor that is not the sandbox: it knows nothing of /_sandbox/.
    other = createServer((_req, res) => res.writeHead(404).end());
    otherUrl = await listen(other);
  });

  afterAll(async () => {
    await Promise.all([sandbox, other].map((s) => new Promise((r) => s.close(r))));
  });

  it('tells the sandbox from another processor, and fails closed when the PSP cannot be reached', async () => {
    expect(await isPspSandbox(sandboxUrl)).toBe(true);
    expect(await isPspSandbox(otherUrl)).toBe(false);
    await expect(isPspSandbox('http://127.0.0.1:1', { attempts: 2 })).rejects.toThrow(/cannot tell whether PSP_URL/);
    const production = { NODE_ENV: 'production' as const, PSP_SANDBOX_ALLOWED: 'false' as const };
    await expect(assertPspAllowed({ ...production, PSP_URL: sandboxUrl })).rejects.toThrow(/refuses to start against it in production/);
    await expect(assertPspAllowed({ ...production, PSP_URL: otherUrl })).resolves.toBeUndefined();
    await expect(assertPspAllowed({ ...production, PSP_SANDBOX_ALLOWED: 'true', PSP_URL: sandboxUrl })).resolves.toBeUndefined();
    await expect(assertPspAllowed({ ...production, NODE_ENV: 'development', PSP_URL: sandboxUrl })).resolves.toBeUndefined();
  });

  it('the payment worker process exits at start with NODE_ENV=production against the sandbox, before connecting to Temporal', async () => {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      AUTH_SECRET: TEST_SECRET,
      PAYLOAD_KEYS: TEST_ONLY_PAYLOAD_KEYS, // a keyring, so that the sandbox is what it refuses
      PSP_URL: sandboxUrl,
      TEMPORAL_ADDRESS: '127.0.0.1:1',
      LOG_LEVEL: 'silent',
    };
    const { code, output } = await runToExit('workers/payment-worker.ts', env);
    expect(code).toBe(1);
    expect(output).toContain('is the PSP sandbox: the payment worker refuses to start against it in production');
    expect(output).not.toContain('Temporal not reachable');
  }, 60_000);
});
