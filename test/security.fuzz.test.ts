import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { menuIdFor, restaurantIdFor } from '../db/seed';
import {
  createMenuItemBody,
  emptyBody,
  idempotencyKeyHeader,
  noQuery,
  pageQuery,
  placeOrderBody,
  placeOrderQuery,
  rejectBody,
  restaurantOrdersQuery,
  updateMenuItemBody,
} from '../api/validation';
import { hostileAuthorizations } from './support/fuzz-tokens';
import {
  countResponse,
  describeRequest,
  emptyCounts,
  errorShapeProblem,
  headerAsReceived,
  headerSafe,
  hostile,
  hostileBody,
  hostileJson,
  hostileNumber,
  hostileOneOf,
  hostileQuery,
  hostileString,
  invalidSegment,
  MAX_FUZZ_HEADER_VALUE,
  mutateObject,
  requestArbitrary,
  sendFuzzRequest,
  snapshotRows,
  unknownSegment,
  type FuzzBody,
  type RouteCounts,
  type RouteFuzzSpec,
  type Tagged,
} from './support/fuzz';
import { placeOrder, waitForOrder } from './support/orders';
import { http, startStack, TEST_SECRET, type TestStack } from './support/stack';

// Property-based fuzzing of every route of the API with fast-check: each generated request has at
// least one hostile part (path, token, query, header or body), so every answer must be a 4xx in the
// error shape, the process must stay up, and no row in any database may change.
//
// FUZZ_RUNS (default 1000) requests per route; FUZZ_SEED replays a run (the seed is printed).

const RUNS = Number(process.env.FUZZ_RUNS ?? 1000);
const BATCH = 8; // requests in flight at once
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

const SEEDED_RESTAURANTS = 6;
const ITEMS_PER_RESTAURANT = 5;
const MANUAL = restaurantIdFor(1); // waits for a decision
const OTHER = restaurantIdFor(2);
const AUTO = restaurantIdFor(3); // auto-accepts
const KNOWN_RESTAURANTS = Array.from({ length: SEEDED_RESTAURANTS }, (_, i) => restaurantIdFor(i + 1));
const menuOf = (restaurantId: string) =>
  KNOWN_RESTAURANTS.includes(restaurantId) ? Array.from({ length: ITEMS_PER_RESTAURANT }, (_, i) => menuIdFor(Number(restaurantId.slice(4)), i + 1)) : [];
const KNOWN_MENU_ITEMS = KNOWN_RESTAURANTS.flatMap(menuOf);

describe('security fuzz: hostile requests against every route (real stack)', () => {
  let stack: TestStack;
  let baseline: Record<string, string>;
  const counts: Record<string, RouteCounts> = {};
  const specs: RouteFuzzSpec[] = [];
  let knownOrders: string[] = [];
  let tokens: Record<'customerA' | 'restaurantOwn' | 'admin', string>;
  let waitingOrder: string;

  beforeAll(async () => {
    stack = await startStack('secfuzz', { seed: { restaurants: SEEDED_RESTAURANTS, itemsPerRestaurant: ITEMS_PER_RESTAURANT } });
    const token = (sub: string, role: 'customer' | 'restaurant' | 'admin', restaurantId?: string) =>
      stack.token({ role, sub, ...(restaurantId ? { restaurantId } : {}) }).then((t) => `Bearer ${t}`);
    const auth = {
      customerA: await token('cust-a', 'customer'),
      customerB: await token('cust-b', 'customer'),
      restaurantOwn: await token('owner-1', 'restaurant', MANUAL),
      restaurantOther: await token('owner-2', 'restaurant', OTHER),
      restaurantAuto: await token('owner-3', 'restaurant', AUTO),
      admin: await token('admin-1', 'admin'),
    };
    const bad = await hostileAuthorizations(TEST_SECRET);

    // Fixtures: an order waiting for MANUAL, and a confirmed one at AUTO (both of customer A).
    const waiting = await placeOrder(stack, auth.customerA.slice(7), { restaurantId: MANUAL, items: [{ menuId: menuIdFor(1, 1), quantity: 1 }] });
    const confirmed = await placeOrder(stack, auth.customerA.slice(7), { restaurantId: AUTO, items: [{ menuId: menuIdFor(3, 1), quantity: 2 }] });
    await waitForOrder(stack, auth.customerA.slice(7), waiting.body.orderId, ['AWAITING_RESTAURANT']);
    await waitForOrder(stack, auth.customerA.slice(7), confirmed.body.orderId, ['CONFIRMED']);
    const orderA: string = waiting.body.orderId;
    const orderC: string = confirmed.body.orderId;
    knownOrders = [orderA, orderC];
    tokens = { customerA: auth.customerA.slice(7), restaurantOwn: auth.restaurantOwn.slice(7), admin: auth.admin.slice(7) };
    waitingOrder = orderA;
    const row = await stack.dbs.orders('orders').where({ order_id: orderA }).first();
    const validCursor = Buffer.from(`${new Date(row.created_at).toISOString()}|${orderA}`).toString('base64url');

    // ---- components shared by the routes
    const badAuth = hostile('auth:bad-token', fc.constantFrom(...Object.values(bad)));
    const refused = (fault: string, ...values: Array<string | undefined>) => hostile(fault, fc.constantFrom(...values));
    const authOf = (valid: Array<string | undefined>, ...others: Array<fc.Arbitrary<Tagged<string | undefined>>>) => ({
      valid: fc.constantFrom(...valid),
      hostile: hostileOneOf(badAuth, ...others),
    });
    const fixed = (value: string, ...hostiles: Array<fc.Arbitrary<Tagged<string>>>) => ({ valid: fc.constant(value), hostile: fc.oneof(...hostiles) });
    const query = (schema: Parameters<typeof hostileQuery>[0], ...valid: string[]) => ({ valid: fc.constantFrom('', ...valid), hostile: hostileQuery(schema) });
    const unknownRestaurant = unknownSegment('rst_', KNOWN_RESTAURANTS);
    const unknownOrder = unknownSegment('ord_', knownOrders);
    const unknownMenuItem = unknownSegment('mnu_', KNOWN_MENU_ITEMS);
    const jsonBody = (value: unknown): FuzzBody => ({ raw: JSON.stringify(value), contentType: 'application/json' });
    const noBody = {
      valid: fc.constantFrom<FuzzBody | undefined>(
        undefined,
        jsonBody({}),
        { raw: '', contentType: 'application/json' },
        { raw: '', contentType: 'text/plain' },
      ),
      hostile: hostileBody(emptyBody, [{}], fc.oneof(fc.dictionary(hostileString, hostileJson, { minKeys: 1, maxKeys: 3 }), hostileJson)),
    };
    const headerValue = (schemaOk: (v: string) => boolean) =>
      hostileString.map((v) => headerSafe(v).slice(0, MAX_FUZZ_HEADER_VALUE)).filter((v) => !schemaOk(headerAsReceived(v)));
    const badIdempotencyKey = hostile(
      'header:bad-idempotency-key',
      headerValue((v) => idempotencyKeyHeader.safeParse(v).success),
    ).map(({ value, fault }) => ({ value: { 'idempotency-key': value }, fault }));

    // ---- POST /orders bodies
    const validOrder = {
      restaurantId: AUTO,
      items: [{ menuId: menuIdFor(3, 1), quantity: 1 }],
      deliveryAddress: '서울시 강남구 테헤란로 1',
      paymentMethod: { cardToken: 'tok_ok' },
    };
    const line = (menuId: string, quantity = 1) => ({ menuId, quantity });
    const lineMutation = mutateObject(line(menuIdFor(3, 2)), { quantity: hostileNumber, menuId: hostileString });
    const orderMutations = mutateObject(validOrder, {
      restaurantId: hostileString,
      deliveryAddress: hostileString,
      paymentMethod: mutateObject({ cardToken: 'tok_ok' }, { cardToken: hostileString }),
      items: fc.oneof(
        fc.constant([]),
        fc.array(lineMutation, { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 51, max: 300 }).map((n) => Array.from({ length: n }, (_, i) => line(`mnu_x_${i}`))),
        fc.constantFrom(menuIdFor(3, 1), menuIdFor(3, 2)).map((m) => [line(m), line(m)]),
        fc.tuple(fc.integer({ min: 100, max: 10_000 }), fc.boolean()).map(([q, neg]) => [line(menuIdFor(3, 1), neg ? -q : q)]),
      ),
    });
    // Well-formed orders that must still be refused before any saga starts: an unknown restaurant, or
    // an item that is unknown or from another restaurant (404 / 422). Their text fields carry the
    // hostile strings that pass the schema (injections, unicode) through to the database lookups.
    const doomedOrder = fc
      .record({
        restaurantId: fc.oneof(
          fc.constantFrom(...KNOWN_RESTAURANTS),
          unknownRestaurant.map((t) => t.value),
        ),
        items: fc.uniqueArray(
          fc.record({
            menuId: fc.oneof(
              fc.constantFrom(...KNOWN_MENU_ITEMS),
              unknownMenuItem.map((t) => t.value),
            ),
            quantity: fc.integer({ min: 1, max: 99 }),
          }),
          { minLength: 1, maxLength: 50, selector: (l) => l.menuId },
        ),
        deliveryAddress: hostileString,
        paymentMethod: fc.record({ cardToken: fc.oneof(hostileString, fc.constantFrom('tok_ok', 'tok_decline', 'tok_slow_30000', 'tok_flaky_99')) }),
      })
      .filter(
        (b) =>
          placeOrderBody.safeParse(b).success &&
          (!KNOWN_RESTAURANTS.includes(b.restaurantId) || b.items.some((l) => !menuOf(b.restaurantId).includes(l.menuId))),
      )
      .map((b) => ({ value: jsonBody(b) as FuzzBody | undefined, fault: 'body:unknown-restaurant-or-item' }));

    // ---- menu bodies
    const validItem = { name: '떡볶이 세트', price: 7000 };
    const itemFieldValues = { name: hostileString, price: hostileNumber, status: fc.constantFrom('on_sale', 'DELETED', '', 'HIDDEN ', 'ON_SALE\u0000') };
    const validPatch = { name: '김치찌개', price: 9000, status: 'ON_SALE' };

    specs.push(
      {
        route: 'GET /restaurants',
        auth: authOf([undefined, auth.customerA, auth.restaurantOwn, auth.admin]),
        query: query(pageQuery, 'limit=10', `cursor=${OTHER}`, `limit=200&cursor=${MANUAL}`),
      },
      {
        route: 'GET /restaurants/:restaurantId/menu',
        params: { restaurantId: fixed(MANUAL, invalidSegment, unknownRestaurant) },
        auth: authOf([undefined, auth.customerA, auth.restaurantOwn, auth.restaurantOther, auth.admin]),
        query: query(noQuery),
      },
      {
        route: 'POST /restaurants/:restaurantId/menu-items',
        // Only ids that refuse every allowed token (admins may act for any existing restaurant).
        params: { restaurantId: fixed(MANUAL, invalidSegment, unknownRestaurant) },
        auth: authOf(
          [auth.restaurantOwn, auth.admin],
          refused('auth:none', undefined),
          refused('auth:wrong-role', auth.customerA),
          refused('auth:other-restaurant', auth.restaurantOther),
        ),
        query: query(noQuery),
        headers: {
          valid: fc.oneof(
            fc.constant({}),
            fc.uuid().map((k) => ({ 'idempotency-key': k })),
          ),
          hostile: badIdempotencyKey,
        },
        body: {
          valid: fc.constantFrom(jsonBody(validItem), jsonBody({ ...validItem, status: 'HIDDEN' })),
          hostile: hostileBody(createMenuItemBody, [validItem], mutateObject({ ...validItem, status: 'ON_SALE' }, itemFieldValues)),
        },
      },
      {
        route: 'PATCH /restaurants/:restaurantId/menu-items/:menuId',
        params: {
          restaurantId: fixed(MANUAL, invalidSegment, unknownRestaurant),
          // Another restaurant's item under this restaurant's path is unknown here (404).
          menuId: fixed(
            menuIdFor(1, 1),
            invalidSegment,
            unknownMenuItem,
            hostile('path:other-restaurants-item', fc.constantFrom(menuIdFor(2, 1), menuIdFor(3, 1))),
          ),
        },
        auth: authOf(
          [auth.restaurantOwn, auth.admin],
          refused('auth:none', undefined),
          refused('auth:wrong-role', auth.customerA),
          refused('auth:other-restaurant', auth.restaurantOther),
        ),
        query: query(noQuery),
        headers: {
          valid: fc.constantFrom({ 'if-match': '1' }, { 'if-match': '"1"' }, { 'if-match': 'W/"1"' }),
          hostile: fc.oneof(
            fc.constant({ value: {}, fault: 'header:missing-if-match' }),
            hostile(
              'header:bad-if-match',
              headerValue((v) => /^\s*(?:W\/)?"?(\d{1,9})"?\s*$/.test(v)),
            ).map(({ value, fault }) => ({ value: { 'if-match': value }, fault })),
            hostile('header:stale-if-match', fc.oneof(fc.constant(0), fc.integer({ min: 2, max: 999_999_999 }))).map(({ value, fault }) => ({
              value: { 'if-match': String(value) },
              fault,
            })),
          ),
        },
        body: {
          valid: fc.constantFrom(jsonBody({ price: 9500 }), jsonBody({ name: '김치찌개 (대)' }), jsonBody({ status: 'SOLD_OUT' })),
          hostile: hostileBody(updateMenuItemBody, [validPatch], fc.oneof(fc.constant({}), mutateObject(validPatch, itemFieldValues))),
        },
      },
      {
        route: 'POST /orders',
        auth: authOf([auth.customerA, auth.customerB], refused('auth:none', undefined), refused('auth:wrong-role', auth.restaurantOwn, auth.admin)),
        query: query(placeOrderQuery, 'wait=0', 'wait=250'),
        headers: {
          valid: fc.uuid().map((k) => ({ 'idempotency-key': k })),
          hostile: fc.oneof(fc.constant({ value: {}, fault: 'header:missing-idempotency-key' }), badIdempotencyKey),
        },
        body: {
          valid: fc.constant(jsonBody(validOrder)),
          hostile: fc.oneof({ arbitrary: hostileBody(placeOrderBody, [validOrder], orderMutations), weight: 3 }, { arbitrary: doomedOrder, weight: 1 }),
        },
      },
      {
        route: 'GET /orders/:orderId',
        params: { orderId: fixed(orderA, invalidSegment, unknownOrder) },
        auth: authOf(
          [auth.customerA, auth.restaurantOwn, auth.admin],
          refused('auth:none', undefined),
          refused('auth:other-party', auth.customerB, auth.restaurantOther, auth.restaurantAuto),
        ),
        query: query(noQuery),
      },
      {
        route: 'POST /orders/:orderId/cancel',
        params: { orderId: fixed(orderA, invalidSegment, unknownOrder) },
        auth: authOf(
          [auth.customerA],
          refused('auth:none', undefined),
          refused('auth:other-party', auth.customerB),
          refused('auth:wrong-role', auth.restaurantOwn, auth.admin),
        ),
        query: query(noQuery),
        body: noBody,
      },
      {
        route: 'GET /restaurants/:restaurantId/orders',
        // An unknown but well-formed id is an empty list for an admin, so only ids that are not ids.
        params: { restaurantId: fixed(MANUAL, invalidSegment) },
        auth: authOf(
          [auth.restaurantOwn, auth.admin],
          refused('auth:none', undefined),
          refused('auth:wrong-role', auth.customerA),
          refused('auth:other-restaurant', auth.restaurantOther),
        ),
        query: query(restaurantOrdersQuery, 'status=AWAITING_RESTAURANT', 'limit=1', `cursor=${validCursor}`),
      },
      ...(['accept', 'reject'] as const).map((decision): RouteFuzzSpec => ({
        route: `POST /restaurants/:restaurantId/orders/:orderId/${decision}`,
        params: {
          restaurantId: fixed(MANUAL, invalidSegment, unknownRestaurant),
          // AUTO's confirmed order under MANUAL's path is unknown there (404).
          orderId: fixed(orderA, invalidSegment, unknownOrder, hostile('path:other-restaurants-order', fc.constant(orderC))),
        },
        auth: authOf(
          [auth.restaurantOwn],
          refused('auth:none', undefined),
          refused('auth:wrong-role', auth.customerA, auth.admin),
          refused('auth:other-restaurant', auth.restaurantOther, auth.restaurantAuto),
        ),
        query: query(noQuery),
        body:
          decision === 'accept'
            ? noBody
            : {
                valid: fc.constantFrom<FuzzBody | undefined>(undefined, jsonBody({}), jsonBody({ reason: '재료 소진' })),
                hostile: hostileBody(rejectBody, [{ reason: '재료 소진' }], mutateObject({ reason: '재료 소진' }, { reason: hostileString })),
              },
      })),
    );
    // The fixtures' sagas have settled once two snapshots a moment apart agree.
    let previous = '';
    for (;;) {
      baseline = await snapshotRows(stack);
      if (JSON.stringify(baseline) === previous) break;
      previous = JSON.stringify(baseline);
      await new Promise((r) => setTimeout(r, 500));
    }
    console.log(`security fuzz: seed ${SEED} (FUZZ_SEED=${SEED} replays it), ${RUNS} requests per route, ${BATCH} in flight`);
  });

  afterAll(async () => {
    if (Object.keys(counts).length > 0) {
      const statuses = [...new Set(Object.values(counts).flatMap((c) => Object.keys(c.statuses)))].sort();
      const table = Object.entries(counts).map(([route, c]) => [route, String(c.sent), ...statuses.map((st) => String(c.statuses[st] ?? ''))]);
      console.log(
        `security fuzz summary (seed ${SEED}):\n${formatTable(['route', 'requests', ...statuses.map((st) => `HTTP ${st}`)], table)}\n\nfaults per route:\n${Object.entries(
          counts,
        )
          .map(([r, c]) => `  ${r}: ${JSON.stringify(c.faults)}`)
          .join('\n')}`,
      );
      const out = path.resolve(__dirname, '..', 'test-results');
      fs.mkdirSync(out, { recursive: true });
      fs.writeFileSync(path.join(out, 'security-fuzz.json'), JSON.stringify({ seed: SEED, runsPerRoute: RUNS, routes: counts }, null, 2));
    }
    await stack?.stop();
  });

  const ROUTES = [
    'GET /restaurants',
    'GET /restaurants/:restaurantId/menu',
    'POST /restaurants/:restaurantId/menu-items',
    'PATCH /restaurants/:restaurantId/menu-items/:menuId',
    'POST /orders',
    'GET /orders/:orderId',
    'POST /orders/:orderId/cancel',
    'GET /restaurants/:restaurantId/orders',
    'POST /restaurants/:restaurantId/orders/:orderId/accept',
    'POST /restaurants/:restaurantId/orders/:orderId/reject',
  ];

  it('fuzzes every route of the API', () => {
    expect(specs.map((s) => s.route).sort()).toEqual([...ROUTES].sort());
  });

  it.each(ROUTES)('%s: every hostile request answers 4xx in the error shape; the process stays up; no row changes', async (route) => {
    const spec = specs.find((s) => s.route === route)!;
    const c = (counts[route] = emptyCounts());
    await fc.assert(
      fc.asyncProperty(fc.array(requestArbitrary(spec), { minLength: BATCH, maxLength: BATCH }), async (batch) => {
        c.generated += batch.length;
        const answers = await Promise.all(
          batch.map(async (req) => {
            const res = await sendFuzzRequest(stack.baseUrl, req);
            countResponse(c, req, res);
            return { req, res };
          }),
        );
        for (const { req, res } of answers) {
          const problem = errorShapeProblem(res);
          if (problem) throw new Error(`${problem}\n  request: ${describeRequest(req)}\n  answer: ${res.status} ${res.text.slice(0, 500)}`);
          if (res.status === 429) throw new Error('rate limited: the fuzz suite must run under the limit (raise TEST_RATE_LIMIT in test/support/stack.ts)');
        }
      }),
      { numRuns: Math.ceil(RUNS / BATCH), seed: SEED, endOnFailure: true, reporter: shortReport },
    );
    expect(c.sent).toBeGreaterThanOrEqual(RUNS);
    expect((await http(stack.baseUrl, 'GET', '/healthz')).status).toBe(200);
    expect(await snapshotRows(stack)).toEqual(baseline);
  });

  it('well-formed reads with odd values answer 200 or 404, never 5xx', async () => {
    const admin = await stack.token({ role: 'admin', sub: 'admin-1' });
    const id = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
    const reads = fc.oneof(
      fc.tuple(fc.integer({ min: 1, max: 200 }), fc.option(id)).map(([limit, cursor]) => `/restaurants?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`),
      id.map((r) => `/restaurants/${r}/menu`),
      id.map((o) => `/orders/${o}`),
      fc
        .tuple(
          id,
          fc.date({ min: new Date(0), max: new Date(Date.UTC(9999, 11, 30)), noInvalidDate: true }),
          id,
          fc.constantFrom('', '&status=CONFIRMED', '&status=PENDING'),
        )
        .map(([r, at, o, status]) => `/restaurants/${r}/orders?cursor=${Buffer.from(`${at.toISOString()}|${o}`).toString('base64url')}${status}`),
    );
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(reads, { minLength: BATCH, maxLength: BATCH }), async (paths) => {
        const answers = await Promise.all(paths.map((p) => http(stack.baseUrl, 'GET', p, { token: admin })));
        sent += answers.length;
        answers.forEach((res, i) => {
          if (res.status !== 200 && res.status !== 404) throw new Error(`GET ${paths[i]} → ${res.status} ${JSON.stringify(res.body)}`);
        });
      }),
      { numRuns: Math.ceil(300 / BATCH), seed: SEED, endOnFailure: true, reporter: shortReport },
    );
    expect(sent).toBeGreaterThanOrEqual(300);
    expect(await snapshotRows(stack)).toEqual(baseline);
  });

  // Each of these answered 5xx, broke the contract, or was accepted and did harm before this suite
  // existed; the fuzz properties above found them. Kept as plain cases so they run on every seed.
  const cursorOf = (at: string, orderId: string) => Buffer.from(`${at}|${orderId}`).toString('base64url');
  const found: Array<{
    name: string;
    was: string;
    method: string;
    path: () => string;
    who: keyof typeof tokens | null;
    body?: unknown;
    rawBody?: string;
    headers?: Record<string, string>;
    status: number;
    code: string;
  }> = [
    {
      name: 'a NUL in the restaurants cursor',
      was: '500 (Postgres: invalid byte sequence 0x00)',
      method: 'GET',
      path: () => '/restaurants?cursor=%00',
      who: null,
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'a restaurant-orders cursor dated before year 1',
      was: '500 (Postgres: timestamp out of range)',
      method: 'GET',
      path: () => `/restaurants/${MANUAL}/orders?cursor=${cursorOf('-271821-04-20T00:00:00.000Z', 'ord_x')}`,
      who: 'admin',
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'a restaurant-orders cursor with a NUL in its order id',
      was: '500 (Postgres: invalid byte sequence 0x00)',
      method: 'GET',
      path: () => `/restaurants/${MANUAL}/orders?cursor=${cursorOf('2026-01-01T00:00:00.000Z', 'ord_\u0000')}`,
      who: 'admin',
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'a NUL in the delivery address',
      was: '500 (the order insert failed in Postgres)',
      method: 'POST',
      path: () => '/orders',
      who: 'customerA',
      headers: { 'idempotency-key': 'fuzz-found-nul-address' },
      body: {
        restaurantId: AUTO,
        items: [{ menuId: menuIdFor(3, 1), quantity: 1 }],
        deliveryAddress: '서울시\u0000강남구',
        paymentMethod: { cardToken: 'tok_ok' },
      },
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'a lone surrogate in the delivery address',
      was: '202: the order was stored with U+FFFD in place of the character',
      method: 'POST',
      path: () => '/orders',
      who: 'customerA',
      headers: { 'idempotency-key': 'fuzz-found-lone-surrogate' },
      rawBody: `{"restaurantId":"${AUTO}","items":[{"menuId":"${menuIdFor(3, 1)}","quantity":1}],"deliveryAddress":"\\ud800 강남구","paymentMethod":{"cardToken":"tok_ok"}}`,
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'a NUL in a new menu item name',
      was: '500 (the insert failed in Postgres)',
      method: 'POST',
      path: () => `/restaurants/${MANUAL}/menu-items`,
      who: 'restaurantOwn',
      body: { name: '떡볶이\u0000', price: 7000 },
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'a NUL in a menu item rename',
      was: '500 (the update failed in Postgres)',
      method: 'PATCH',
      path: () => `/restaurants/${MANUAL}/menu-items/${menuIdFor(1, 1)}`,
      who: 'restaurantOwn',
      headers: { 'if-match': '1' },
      body: { name: '김치\u0000찌개' },
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'a NUL in a rejection reason',
      was: '200, then the saga retried rejectTicket forever (Postgres refuses the reason), holding the payment',
      method: 'POST',
      path: () => `/restaurants/${MANUAL}/orders/${waitingOrder}/reject`,
      who: 'restaurantOwn',
      body: { reason: '재료\u0000소진' },
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'an oversized body',
      was: '413 PAYLOAD_TOO_LARGE (the contract: oversized bodies are 400)',
      method: 'POST',
      path: () => '/orders',
      who: 'customerA',
      headers: { 'idempotency-key': 'fuzz-found-oversized' },
      body: {
        restaurantId: AUTO,
        items: [{ menuId: menuIdFor(3, 1), quantity: 1 }],
        deliveryAddress: 'x'.repeat(40_000),
        paymentMethod: { cardToken: 'tok_ok' },
      },
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'a text/plain body on accept',
      was: '200: the order was accepted (the body was read as {})',
      method: 'POST',
      path: () => `/restaurants/${MANUAL}/orders/${waitingOrder}/accept`,
      who: 'restaurantOwn',
      rawBody: 'accept please',
      headers: { 'content-type': 'text/plain' },
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    },
    {
      name: 'unknown fields in a cancel body',
      was: '200: the order was cancelled (the body was ignored)',
      method: 'POST',
      path: () => `/orders/${waitingOrder}/cancel`,
      who: 'customerA',
      body: { orderId: 'ord_someone_else', refund: true },
      status: 400,
      code: 'VALIDATION_FAILED',
    },
  ];

  it.each(found)('found by fuzzing: $name → $status $code (was: $was)', async (c) => {
    const res = await http(stack.baseUrl, c.method, c.path(), {
      ...(c.who ? { token: tokens[c.who] } : {}),
      ...(c.headers ? { headers: c.headers } : {}),
      ...(c.body !== undefined ? { body: c.body } : {}),
      ...(c.rawBody !== undefined ? { rawBody: c.rawBody } : {}),
    });
    expect(res.status).toBe(c.status);
    expect(res.body.error.code).toBe(c.code);
    expect(await snapshotRows(stack)).toEqual(baseline);
  });

  it("answers, errors included, carry helmet's security headers", async () => {
    for (const [method, p] of [
      ['GET', '/restaurants'],
      ['GET', '/orders/ord_x'],
      ['POST', '/orders'],
      ['GET', '/no-such-route'],
      ['GET', '/healthz'],
    ] as const) {
      const res = await fetch(`${stack.baseUrl}${p}`, { method });
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
      expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
      expect(res.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('cross-origin-resource-policy')).toBe('same-origin');
      expect(res.headers.get('x-powered-by')).toBeNull();
    }
  });

  // Requests Node's HTTP parser refuses never reach Express; api/security.ts answers them in the
  // error shape. fetch cannot send these, so they go over a raw socket.
  it.each([
    ['oversized headers', `GET /restaurants HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'HEADERS_TOO_LARGE'],
    ['a control character in a header value', 'GET /restaurants HTTP/1.1\r\nHost: x\r\nIdempotency-Key: a\x01b\r\n\r\n', 400, 'BAD_REQUEST'],
    ['a NUL in the Authorization header', 'GET /restaurants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\x00b\r\n\r\n', 400, 'BAD_REQUEST'],
    ['a header without a colon', 'GET /restaurants HTTP/1.1\r\nHost: x\r\nno-colon-here\r\n\r\n', 400, 'BAD_REQUEST'],
    ['a malformed request line', 'GET\r\n\r\n', 400, 'BAD_REQUEST'],
    ['an invalid Content-Length', 'POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n', 400, 'BAD_REQUEST'],
    [
      'both Content-Length and Transfer-Encoding',
      'POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
      'BAD_REQUEST',
    ],
    ['an unsupported Expect', 'POST /orders HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nContent-Length: 2\r\n\r\n{}', 417, 'EXPECTATION_FAILED'],
  ])('a request Node refuses (%s) is answered in the error shape', async (_name, raw, status, code) => {
    const answer = await rawRequest(stack.baseUrl, raw);
    const [head, body] = answer.split('\r\n\r\n');
    expect(head).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(head).toMatch(/content-type: application\/json/i);
    expect(JSON.parse(body ?? '')).toEqual({ error: { code, message: expect.any(String) } });
    expect((await http(stack.baseUrl, 'GET', '/healthz')).status).toBe(200);
  });
});

/** fast-check's default report prints the whole batch; the property's own error names the request. */
function shortReport<T>(details: fc.RunDetails<T>): void {
  if (!details.failed) return;
  const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  throw new Error(`fuzz property failed (seed ${details.seed}, path ${details.counterexamplePath}; replay with FUZZ_SEED=${details.seed}):\n${cause}`);
}

function rawRequest(baseUrl: string, raw: string): Promise<string> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.end(raw));
    const chunks: Buffer[] = [];
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer')));
  });
}

function formatTable(columns: string[], rows: string[][]): string {
  const width = (i: number) => Math.max(columns[i]!.length, ...rows.map((r) => r[i]!.length));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(width(i)) : cell.padStart(width(i)))).join('  ');
  return [line(columns), ...rows.map(line)].join('\n');
}
