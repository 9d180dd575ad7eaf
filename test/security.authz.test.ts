import type { Express } from 'express';
import { createApp } from '../api/app';
import { menuIdFor, restaurantIdFor } from '../db/seed';
import { hostileAuthorizations } from './support/fuzz-tokens';
import { snapshotRows } from './support/fuzz';
import { placeOrder, waitForOrder } from './support/orders';
import { eventually, startStack, TEST_SECRET, type TestStack } from './support/stack';
import { TEST_PAYLOAD_CODEC } from './support/payload-keys';
import { defaultPayloadConverter } from '@temporalio/common';

// Who may do what (the OpenAPI document says it per route), as one table: every route the app serves × every kind of caller. A cell
// is the status that caller must get. Refusals are 401 (no or bad credentials), 403 (wrong role, or
// a restaurant path that is not the caller's restaurant) or 404 (another party's order: the caller
// may not learn that it exists). The refused cells run first and must change no row anywhere.

const MANUAL = restaurantIdFor(1); // the "own" restaurant: waits for decisions
const OTHER = restaurantIdFor(2);
const AUTO = restaurantIdFor(3); // auto-accepts

const CALLERS = ['anonymous', 'badToken', 'customerA', 'customerB', 'restaurantOwn', 'restaurantOther', 'admin'] as const;
type Caller = (typeof CALLERS)[number];

interface Ctx {
  stack: TestStack;
  /** An order of customer A at MANUAL, waiting for MANUAL's decision (never decided by this file's refused cells). */
  sharedOrder: string;
  /** A new waiting order of customer A at MANUAL, for a cell that is allowed to decide or cancel it. */
  freshOrder(): Promise<string>;
}

interface Req {
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
}

interface Row {
  route: string;
  /** The request; `allowed` cells may change state, so they get fresh resources where needed. */
  request(ctx: Ctx, allowed: boolean): Promise<Req> | Req;
  expect: Record<Caller, number>;
  /** What an allowed answer says (checked when the cell is allowed). */
  answer?: Record<string, unknown>;
}

const anyone = (status: number): Record<Caller, number> => ({
  anonymous: status,
  badToken: 401,
  customerA: status,
  customerB: status,
  restaurantOwn: status,
  restaurantOther: status,
  admin: status,
});
const ops = (status: number): Record<Caller, number> => ({ ...anyone(status), badToken: status });
const restaurantOrAdmin = (status: number): Record<Caller, number> => ({
  anonymous: 401,
  badToken: 401,
  customerA: 403,
  customerB: 403,
  restaurantOwn: status,
  restaurantOther: 403,
  admin: status,
});
const restaurantOnly = (status: number): Record<Caller, number> => ({ ...restaurantOrAdmin(status), admin: 403 });

const adminOnly = (status: number): Record<Caller, number> => ({
  anonymous: 401,
  badToken: 401,
  customerA: 403,
  customerB: 403,
  restaurantOwn: 403,
  restaurantOther: 403,
  admin: status,
});
const deskAction = (orderId: string, action: string): Req => ({
  method: 'POST',
  path: `/admin/orders/${orderId}/${action}`,
  headers: { 'idempotency-key': `authz-${++keys}` },
  body: { reason: 'authz table' },
});

/** An order whose payment step has failed and waits to retry (the PSP failed it, then came back). */
async function failingOrder(stack: TestStack): Promise<string> {
  const customer = await stack.token({ role: 'customer', sub: 'cust-a' });
  stack.psp.setFaults({ failRate: 1 });
  try {
    const placed = await placeOrder(stack, customer, { restaurantId: AUTO, items: [{ menuId: menuIdFor(3, 2), quantity: 1 }] });
    const saga = stack.client.workflow.getHandle(`order-${placed.body.orderId}`);
    await eventually(async () => ((await saga.describe()).raw.pendingActivities?.[0]?.attempt ?? 0) >= 2, 30_000, 100);
    return placed.body.orderId;
  } finally {
    stack.psp.setFaults({ failRate: 0 });
  }
}

let keys = 0;
const orderBody = {
  restaurantId: AUTO,
  items: [{ menuId: menuIdFor(3, 1), quantity: 1 }],
  deliveryAddress: '서울시 강남구 테헤란로 1',
  paymentMethod: { cardToken: 'tok_ok' },
};

const TABLE: Row[] = [
  // Operations and documentation: no credentials are read (a bad token does not matter).
  { route: 'GET /healthz', request: () => ({ method: 'GET', path: '/healthz' }), expect: ops(200) },
  { route: 'GET /readyz', request: () => ({ method: 'GET', path: '/readyz' }), expect: ops(200) },
  { route: 'GET /metrics', request: () => ({ method: 'GET', path: '/metrics' }), expect: ops(200) },
  { route: 'GET /', request: () => ({ method: 'GET', path: '/' }), expect: ops(302) },
  // The API's own description: public, like the contract it describes.
  { route: 'GET /openapi.json', request: () => ({ method: 'GET', path: '/openapi.json' }), expect: ops(200) },
  { route: 'GET /docs', request: () => ({ method: 'GET', path: '/docs/' }), expect: ops(200) },
  { route: 'GET /docs/init.js', request: () => ({ method: 'GET', path: '/docs/init.js' }), expect: ops(200) },
  // Menus
  { route: 'GET /restaurants', request: () => ({ method: 'GET', path: '/restaurants' }), expect: anyone(200) },
  { route: 'GET /restaurants/:restaurantId/menu', request: () => ({ method: 'GET', path: `/restaurants/${MANUAL}/menu` }), expect: anyone(200) },
  {
    route: 'POST /restaurants/:restaurantId/menu-items',
    request: () => ({ method: 'POST', path: `/restaurants/${MANUAL}/menu-items`, body: { name: `authz item ${++keys}`, price: 1000 } }),
    expect: restaurantOrAdmin(201),
  },
  {
    route: 'PATCH /restaurants/:restaurantId/menu-items/:menuId',
    request: async ({ stack }, allowed) => {
      const menuId = menuIdFor(1, 2);
      const { version } = await stack.dbs.restaurants('menu_items').where({ menu_id: menuId }).first();
      return {
        method: 'PATCH',
        path: `/restaurants/${MANUAL}/menu-items/${menuId}`,
        headers: { 'if-match': String(version) },
        body: { price: allowed ? 9100 + Number(version) : 1 },
      };
    },
    expect: restaurantOrAdmin(200),
  },
  // Orders
  {
    route: 'POST /orders',
    request: () => ({ method: 'POST', path: '/orders', headers: { 'idempotency-key': `authz-${++keys}` }, body: orderBody }),
    expect: { anonymous: 401, badToken: 401, customerA: 202, customerB: 202, restaurantOwn: 403, restaurantOther: 403, admin: 403 },
    answer: { totalAmount: expect.any(Number) },
  },
  {
    route: 'GET /orders/:orderId',
    request: ({ sharedOrder }) => ({ method: 'GET', path: `/orders/${sharedOrder}` }),
    expect: { anonymous: 401, badToken: 401, customerA: 200, customerB: 404, restaurantOwn: 200, restaurantOther: 404, admin: 200 },
  },
  {
    route: 'POST /orders/:orderId/cancel',
    request: async (ctx, allowed) => ({ method: 'POST', path: `/orders/${allowed ? await ctx.freshOrder() : ctx.sharedOrder}/cancel` }),
    expect: { anonymous: 401, badToken: 401, customerA: 200, customerB: 404, restaurantOwn: 403, restaurantOther: 403, admin: 403 },
    answer: { status: 'CANCELLED' },
  },
  { route: 'GET /restaurants/:restaurantId/orders', request: () => ({ method: 'GET', path: `/restaurants/${MANUAL}/orders` }), expect: restaurantOrAdmin(200) },
  {
    route: 'POST /restaurants/:restaurantId/orders/:orderId/accept',
    request: async (ctx, allowed) => ({ method: 'POST', path: `/restaurants/${MANUAL}/orders/${allowed ? await ctx.freshOrder() : ctx.sharedOrder}/accept` }),
    expect: restaurantOnly(200),
    answer: { status: 'CONFIRMED' },
  },
  {
    route: 'POST /restaurants/:restaurantId/orders/:orderId/reject',
    request: async (ctx, allowed) => ({
      method: 'POST',
      path: `/restaurants/${MANUAL}/orders/${allowed ? await ctx.freshOrder() : ctx.sharedOrder}/reject`,
      body: { reason: '재료 소진' },
    }),
    expect: restaurantOnly(200),
    answer: { status: 'REJECTED' },
  },
  // The operator's desk: admins only. Refused cells name the shared order (refused before anything is read or recorded).
  { route: 'GET /admin/orders', request: () => ({ method: 'GET', path: '/admin/orders?attention=true' }), expect: adminOnly(200) },
  {
    route: 'GET /admin/orders/:orderId/story',
    request: ({ sharedOrder }) => ({ method: 'GET', path: `/admin/orders/${sharedOrder}/story` }),
    expect: adminOnly(200),
    answer: { timeline: expect.any(Array) },
  },
  {
    route: 'POST /admin/orders/:orderId/cancel',
    request: async (ctx, allowed) => deskAction(allowed ? await ctx.freshOrder() : ctx.sharedOrder, 'cancel'),
    expect: adminOnly(200),
    answer: { action: 'cancel', status: 'DONE' },
  },
  {
    route: 'POST /admin/orders/:orderId/retry',
    request: async (ctx, allowed) => deskAction(allowed ? await failingOrder(ctx.stack) : ctx.sharedOrder, 'retry'),
    expect: adminOnly(200),
    answer: { action: 'retry', status: 'DONE' },
  },
  {
    route: 'POST /admin/orders/:orderId/reconcile',
    request: async (ctx, allowed) => deskAction(allowed ? await ctx.freshOrder() : ctx.sharedOrder, 'reconcile'),
    expect: adminOnly(200),
    answer: { action: 'reconcile', status: 'DONE' },
  },
  // The codec endpoint: decrypted payloads hold personal data, admins only.
  {
    route: 'POST /codec/decode',
    request: async () => ({ method: 'POST', path: '/codec/decode', body: { payloads: [await encryptedPayload()] } }),
    expect: adminOnly(200),
    answer: { payloads: [expect.objectContaining({ data: Buffer.from('"authz"').toString('base64') })] },
  },
  {
    route: 'POST /codec/encode',
    request: () => ({
      method: 'POST',
      path: '/codec/encode',
      body: { payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: 'e30=' }] },
    }),
    expect: adminOnly(200),
    answer: { payloads: [expect.objectContaining({ metadata: expect.objectContaining({ encoding: Buffer.from('binary/encrypted').toString('base64') }) })] },
  },
  { route: 'POST /codec/session', request: () => ({ method: 'POST', path: '/codec/session' }), expect: adminOnly(204) },
];

/** A payload as the workers write it, in the codec endpoint's JSON. */
async function encryptedPayload() {
  const [p] = await TEST_PAYLOAD_CODEC.encode([defaultPayloadConverter.toPayload('authz')]);
  return {
    metadata: Object.fromEntries(Object.entries(p!.metadata!).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])),
    data: Buffer.from(p!.data!).toString('base64'),
  };
}

const CODE_OF: Record<number, string> = { 401: 'UNAUTHENTICATED', 403: 'FORBIDDEN', 404: 'NOT_FOUND' };

/** `METHOD /path` of every route an Express app serves (nested routers included). */
function routesOf(app: Express): string[] {
  const out: string[] = [];
  const walk = (stack: any[]) => {
    for (const layer of stack) {
      if (layer.route) for (const m of Object.keys(layer.route.methods)) out.push(`${m.toUpperCase()} ${layer.route.path}`);
      else if (layer.name === 'router' && layer.handle?.stack) walk(layer.handle.stack);
    }
  };
  walk((app as any).router.stack);
  return out;
}

describe('authorization: every route × every kind of caller (real stack)', () => {
  let stack: TestStack;
  let ctx: Ctx;
  const authorization: Partial<Record<Caller, string>> = {};
  let baseline: Record<string, string>;

  beforeAll(async () => {
    stack = await startStack('secauthz');
    const bearer = async (p: Parameters<TestStack['token']>[0]) => `Bearer ${await stack.token(p)}`;
    authorization.badToken = (await hostileAuthorizations(TEST_SECRET)).expired!;
    authorization.customerA = await bearer({ role: 'customer', sub: 'cust-a' });
    authorization.customerB = await bearer({ role: 'customer', sub: 'cust-b' });
    authorization.restaurantOwn = await bearer({ role: 'restaurant', sub: 'owner-1', restaurantId: MANUAL });
    authorization.restaurantOther = await bearer({ role: 'restaurant', sub: 'owner-2', restaurantId: OTHER });
    authorization.admin = await bearer({ role: 'admin', sub: 'admin-1' });
    const customerA = authorization.customerA.slice(7);
    const freshOrder = async () => {
      const placed = await placeOrder(stack, customerA, { restaurantId: MANUAL, items: [{ menuId: menuIdFor(1, 1), quantity: 1 }] });
      await waitForOrder(stack, customerA, placed.body.orderId, ['AWAITING_RESTAURANT']);
      return placed.body.orderId as string;
    };
    ctx = { stack, sharedOrder: await freshOrder(), freshOrder };
    baseline = await snapshotRows(stack);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  // Redirects are answers too (GET / → the console), so they are not followed.
  const send = async (who: Caller, req: Req): Promise<{ status: number; body: any }> => {
    const headers: Record<string, string> = { ...(req.headers ?? {}), ...(authorization[who] ? { authorization: authorization[who]! } : {}) };
    if (req.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${stack.baseUrl}${req.path}`, {
      method: req.method,
      headers,
      body: req.body === undefined ? undefined : JSON.stringify(req.body),
      redirect: 'manual',
    });
    const text = await res.text();
    return { status: res.status, body: (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text };
  };

  it('the table has a row for every route the API serves, and every caller in every row', () => {
    const app = createApp(stack.apiDeps());
    expect(TABLE.map((r) => r.route).sort()).toEqual([...new Set(routesOf(app))].sort());
    for (const row of TABLE) expect(Object.keys(row.expect).sort()).toEqual([...CALLERS].sort());
  });

  const cells = TABLE.flatMap((row) => CALLERS.map((who) => ({ route: row.route, who, status: row.expect[who], row })));

  describe('refused', () => {
    it.each(cells.filter((c) => c.status >= 400))('$route as $who → $status', async ({ row, who, status }) => {
      const res = await send(who, await row.request(ctx, false));
      expect(res.status).toBe(status);
      expect(res.body).toEqual({ error: { code: CODE_OF[status], message: expect.any(String) } });
    });

    it('the refusals changed no row in any database, and the shared order still waits', async () => {
      expect(await snapshotRows(stack)).toEqual(baseline);
      const order = await stack.dbs.orders('orders').where({ order_id: ctx.sharedOrder }).first();
      expect(order.status).toBe('AWAITING_RESTAURANT');
    });
  });

  describe('allowed', () => {
    it.each(cells.filter((c) => c.status < 400))('$route as $who → $status', async ({ row, who, status }) => {
      const res = await send(who, await row.request(ctx, true));
      expect(res.status).toBe(status);
      if (row.answer) expect(res.body).toMatchObject(row.answer);
    });
  });

  describe('another party’s resources: refused without saying whether they exist', () => {
    const body = async (who: Caller, req: Req) => {
      const res = await send(who, req);
      return { status: res.status, body: res.body };
    };

    it('another customer’s order answers exactly like an order that does not exist (GET and cancel)', async () => {
      expect(await body('customerB', { method: 'GET', path: `/orders/${ctx.sharedOrder}` })).toEqual(
        await body('customerB', { method: 'GET', path: '/orders/ord_does_not_exist' }),
      );
      expect(await body('customerB', { method: 'POST', path: `/orders/${ctx.sharedOrder}/cancel` })).toEqual(
        await body('customerB', { method: 'POST', path: '/orders/ord_does_not_exist/cancel' }),
      );
      expect((await body('customerB', { method: 'GET', path: `/orders/${ctx.sharedOrder}` })).status).toBe(404);
    });

    it('another restaurant’s order answers like an unknown one, also under the caller’s own path', async () => {
      expect(await body('restaurantOther', { method: 'GET', path: `/orders/${ctx.sharedOrder}` })).toEqual(
        await body('restaurantOther', { method: 'GET', path: '/orders/ord_does_not_exist' }),
      );
      for (const decision of ['accept', 'reject']) {
        const own = await body('restaurantOther', { method: 'POST', path: `/restaurants/${OTHER}/orders/${ctx.sharedOrder}/${decision}` });
        expect(own).toEqual(await body('restaurantOther', { method: 'POST', path: `/restaurants/${OTHER}/orders/ord_does_not_exist/${decision}` }));
        expect(own.status).toBe(404);
      }
    });

    it('a restaurant path that is not the caller’s is 403 whether or not that restaurant or order exists', async () => {
      const refusals = await Promise.all([
        body('restaurantOther', { method: 'GET', path: `/restaurants/${MANUAL}/orders` }),
        body('restaurantOther', { method: 'GET', path: '/restaurants/rst_9999/orders' }),
        body('restaurantOther', { method: 'POST', path: `/restaurants/${MANUAL}/orders/${ctx.sharedOrder}/accept` }),
        body('restaurantOther', { method: 'POST', path: `/restaurants/${MANUAL}/orders/ord_does_not_exist/accept` }),
        body('restaurantOther', { method: 'POST', path: '/restaurants/rst_9999/orders/ord_does_not_exist/accept' }),
        body('restaurantOther', { method: 'POST', path: `/restaurants/${MANUAL}/menu-items`, body: { name: 'x', price: 1 } }),
        body('restaurantOther', { method: 'POST', path: '/restaurants/rst_9999/menu-items', body: { name: 'x', price: 1 } }),
      ]);
      for (const r of refusals) expect(r).toEqual({ status: 403, body: { error: { code: 'FORBIDDEN', message: 'You may not act for this restaurant' } } });
    });

    it('a restaurant cannot change another restaurant’s menu item through its own path (404)', async () => {
      const res = await send('restaurantOwn', {
        method: 'PATCH',
        path: `/restaurants/${MANUAL}/menu-items/${menuIdFor(2, 1)}`,
        headers: { 'if-match': '1' },
        body: { price: 1 },
      });
      expect(res.status).toBe(404);
      const item = await stack.dbs
        .restaurants('menu_items')
        .where({ menu_id: menuIdFor(2, 1) })
        .first();
      expect(item.version).toBe(1);
      expect(Number(item.price)).not.toBe(1);
    });

    it('a hidden menu item is shown only to its restaurant and to admins', async () => {
      const menuId = menuIdFor(1, 5);
      const hidden = await send('restaurantOwn', {
        method: 'PATCH',
        path: `/restaurants/${MANUAL}/menu-items/${menuId}`,
        headers: { 'if-match': '1' },
        body: { status: 'HIDDEN' },
      });
      expect(hidden.status).toBe(200);
      const ids = async (who: Caller) =>
        (await send(who, { method: 'GET', path: `/restaurants/${MANUAL}/menu` })).body.items.map((i: { menuId: string }) => i.menuId) as string[];
      await eventually(async () => !(await ids('anonymous')).includes(menuId));
      for (const who of ['anonymous', 'customerA', 'restaurantOther'] as const) expect(await ids(who)).not.toContain(menuId);
      for (const who of ['restaurantOwn', 'admin'] as const) expect(await ids(who)).toContain(menuId);
    });
  });
});
