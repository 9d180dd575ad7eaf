import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import Ajv2020 from 'ajv/dist/2020';
import type { Client } from '@temporalio/client';
import type express from 'express';
import { createApp } from '../api/app';
import { buildOpenApiDocument, ROUTE_TABLES } from '../api/openapi';
import type { Db } from '../db/knex';
import { mintToken } from '../lib/node/auth';
import { NO_RATE_LIMIT } from '../api/security';
import { createLogger } from '../lib/node/logger';
import { createRegistry } from '../lib/node/metrics';
import { TEST_PAYLOAD_CODEC } from './support/payload-keys';

// The OpenAPI document is generated from the route definitions the Express wiring is built from
// (api/routes/*). These tests keep it honest without a database: every route Express has is in the
// document and every operation of the document is a route; every operation's real answers have a
// documented status and a body its documented schema accepts; samples the routes refuse (400) the
// document's schemas refuse too, while samples the routes let through, it accepts.

const SECRET = 'openapi-test-secret-0123456789-0123456789';

/** A database that is down: a request that passes validation fails later (503/500), never with a 400. */
const down = new Proxy(() => undefined, {
  apply() {
    throw Object.assign(new Error('connect ECONNREFUSED (no database in this test)'), { code: 'ECONNREFUSED' });
  },
  get() {
    throw Object.assign(new Error('connect ECONNREFUSED (no database in this test)'), { code: 'ECONNREFUSED' });
  },
}) as unknown as Db;

function buildApp(): express.Express {
  return createApp({
    ordersDb: down,
    restaurantsDb: down,
    menuReadDb: down,
    temporal: {} as Client,
    logger: createLogger('openapi-test', 'silent'),
    registry: createRegistry('api'),
    authSecret: SECRET,
    taskQueuePrefix: 'openapi-',
    acceptanceWindowSeconds: 300,
    temporalUiUrl: 'http://127.0.0.1:8233',
    namespace: 'default',
    rateLimit: NO_RATE_LIMIT,
    payloadCodec: TEST_PAYLOAD_CODEC,
  });
}

/** Every (method, path) Express routes, in OpenAPI's path syntax. */
function expressRoutes(app: express.Express): string[] {
  const found: string[] = [];
  const walk = (stack: any[]) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods)) found.push(`${method.toUpperCase()} ${String(layer.route.path).replace(/:(\w+)/g, '{$1}')}`);
      } else if (layer.name === 'router' && layer.handle?.stack) {
        // Our routers are mounted at the root; a prefix would need adding here.
        expect(layer.slash).toBe(true);
        walk(layer.handle.stack);
      }
    }
  };
  walk((app as any).router.stack);
  return found;
}

describe('the OpenAPI document', () => {
  const doc = buildOpenApiDocument() as any;
  const app = buildApp();
  let server: Server;
  let base: string;
  let customer: string;
  let restaurant: string;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const ajvQuery = new Ajv2020({ strict: false, coerceTypes: true, useDefaults: true });

  beforeAll(async () => {
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    customer = await mintToken({ role: 'customer', sub: 'cust-openapi' }, SECRET, 600);
    restaurant = await mintToken({ role: 'restaurant', sub: 'owner-openapi', restaurantId: 'rst_0001' }, SECRET, 600);
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('is served at /openapi.json, with a browsable page at /docs/ that needs no inline script', async () => {
    const res = await fetch(`${base}/openapi.json`);
    expect(res.status).toBe(200);
    const served = (await res.json()) as { openapi: string };
    expect(served.openapi).toBe('3.1.0');
    expect(served).toEqual(JSON.parse(JSON.stringify(doc)));

    expect((await fetch(`${base}/docs`, { redirect: 'manual' })).headers.get('location')).toBe('/docs/');
    const page = await fetch(`${base}/docs/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await page.text();
    expect(html).not.toMatch(/<script>(?!<\/script>)|<script(?![^>]*\bsrc=)[^>]*>/);
    for (const src of [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!)) {
      expect({ src, status: (await fetch(new URL(src, `${base}/docs/`))).status }).toEqual({ src, status: 200 });
    }
    // Only Swagger UI's own files are exposed from the package, not its demo page.
    expect((await fetch(`${base}/docs/assets/index.html`)).status).toBe(404);
  });

  it('documents every route registered in Express', () => {
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`),
    );
    const routes = expressRoutes(app);
    expect(routes.length).toBeGreaterThanOrEqual(16);
    expect(routes.filter((r) => !documented.includes(r))).toEqual([]);
    expect(documented.filter((d) => !routes.includes(d))).toEqual([]);
  });

  it('answers every operation, anonymous or as a caller it allows, with a documented status and a body its schema accepts', async () => {
    const roles = new Map(ROUTE_TABLES.flatMap((t) => Object.entries(t)).map(([id, spec]) => [id, typeof spec.access === 'object' ? spec.access.roles : []]));
    const tokenFor = (operationId: string) => {
      const allowed = roles.get(operationId)!;
      if (allowed.includes('customer')) return customer;
      if (allowed.includes('restaurant')) return restaurant;
      return undefined;
    };
    const seen: string[] = [];
    for (const [pathName, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [method, op] of Object.entries(ops)) {
        const url = pathName.replace(/\{(\w+)\}/g, (_m, name: string) => (name === 'restaurantId' ? 'rst_0001' : `${name}_1`));
        for (const token of new Set([undefined, tokenFor(op.operationId)])) {
          const res = await fetch(`${base}${url}`, {
            method: method.toUpperCase(),
            headers: token ? { authorization: `Bearer ${token}` } : {},
            redirect: 'manual',
          });
          const where = `${method.toUpperCase()} ${url}${token ? ' (allowed caller)' : ''} → ${res.status}`;
          seen.push(where);
          let answer = op.responses[String(res.status)];
          if (answer?.$ref) answer = doc.components.responses[answer.$ref.split('/').pop()];
          expect({ where, documented: answer !== undefined }).toEqual({ where, documented: true });
          // Only routes that require a token answer 401 to an anonymous caller.
          const needsToken = !op.security.some((s: object) => Object.keys(s).length === 0);
          if (!token) expect({ where, unauthenticated: res.status === 401 }).toEqual({ where, unauthenticated: needsToken });
          const ref: string | undefined = answer.content?.['application/json']?.schema?.$ref;
          if (!ref) continue;
          const validate = ajv.compile(doc.components.schemas[ref.split('/').pop()!]);
          const body = await res.json();
          expect({ where, body, valid: validate(body) }).toEqual({ where, body, valid: true });
        }
      }
    }
    // Every status class the stand-in stack can produce was met: public answers, refusals, validation, dependencies down.
    expect(seen.join('\n')).toMatch(/→ 200/);
    expect(seen.join('\n')).toMatch(/→ 401/);
    expect(seen.join('\n')).toMatch(/→ 428/);
    expect(seen.join('\n')).toMatch(/→ 503/);
  });

  it('is a well-formed OpenAPI 3.1 document: every $ref resolves and every operation has an id and responses', () => {
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    for (const ref of refs) {
      const target = ref
        .slice(8, -1)
        .replace(/^#\//, '')
        .split('/')
        .reduce((node: any, key) => node?.[key], doc);
      expect({ ref, found: target !== undefined }).toEqual({ ref, found: true });
    }
    const ids = Object.values(doc.paths as Record<string, Record<string, any>>).flatMap((ops) => Object.values(ops).map((op) => op.operationId));
    expect(new Set(ids).size).toBe(ids.length);
    for (const schema of Object.values(doc.components.schemas)) expect(() => ajv.compile(schema as object)).not.toThrow();
  });

  const bodySchema = (pathName: string, method: string) => {
    const ref: string = doc.paths[pathName][method].requestBody.content['application/json'].schema.$ref;
    return ajv.compile(doc.components.schemas[ref.split('/').pop()!]);
  };
  /** The query parameters as one object schema: the API refuses unknown parameters (documented in info). */
  const querySchema = (pathName: string, method: string) => {
    const params = (doc.paths[pathName][method].parameters as any[]).filter((p) => p.in === 'query');
    return ajvQuery.compile({
      type: 'object',
      properties: Object.fromEntries(params.map((p) => [p.name, p.schema])),
      required: params.filter((p) => p.required).map((p) => p.name),
      additionalProperties: false,
    });
  };
  const param = (pathName: string, method: string, name: string) =>
    ajv.compile((doc.paths[pathName][method].parameters as any[]).find((p) => p.name === name).schema);

  async function call(method: string, urlPath: string, opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {}) {
    const res = await fetch(`${base}${urlPath}`, {
      method,
      headers: {
        ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
        ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...opts.headers,
      },
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
    const text = await res.text();
    return { status: res.status, code: text.startsWith('{') ? (JSON.parse(text).error?.code as string | undefined) : undefined };
  }
  const refusedAsInvalid = (r: { status: number; code?: string }) => r.status === 400 && r.code === 'VALIDATION_FAILED';

  const validOrder = {
    restaurantId: 'rst_0001',
    items: [{ menuId: 'mnu_0001_01', quantity: 2 }],
    deliveryAddress: '서울시 강남구 테헤란로 1',
    paymentMethod: { cardToken: 'tok_ok' },
  };
  const orderSamples: Array<[string, unknown, boolean]> = [
    ['a valid order', validOrder, true],
    ['the largest quantity', { ...validOrder, items: [{ menuId: 'mnu_0001_01', quantity: 99 }] }, true],
    ['no items', { ...validOrder, items: [] }, false],
    ['items missing', { ...validOrder, items: undefined }, false],
    ['quantity 0', { ...validOrder, items: [{ menuId: 'mnu_0001_01', quantity: 0 }] }, false],
    ['quantity 100', { ...validOrder, items: [{ menuId: 'mnu_0001_01', quantity: 100 }] }, false],
    ['quantity as a string', { ...validOrder, items: [{ menuId: 'mnu_0001_01', quantity: '2' }] }, false],
    ['a fractional quantity', { ...validOrder, items: [{ menuId: 'mnu_0001_01', quantity: 1.5 }] }, false],
    ['an unknown field', { ...validOrder, coupon: 'FREE' }, false],
    ['an unknown field in a line', { ...validOrder, items: [{ menuId: 'mnu_0001_01', quantity: 1, price: 1 }] }, false],
    ['a restaurant id with a space', { ...validOrder, restaurantId: 'rst 0001' }, false],
    ['a 65-character restaurant id', { ...validOrder, restaurantId: 'r'.repeat(65) }, false],
    ['a card token that is a number', { ...validOrder, paymentMethod: { cardToken: 42 } }, false],
    ['an empty address', { ...validOrder, deliveryAddress: '' }, false],
    ['a 501-character address', { ...validOrder, deliveryAddress: 'a'.repeat(501) }, false],
    ['51 lines', { ...validOrder, items: Array.from({ length: 51 }, (_, i) => ({ menuId: `m${i}`, quantity: 1 })) }, false],
    ['an array body', [validOrder], false],
  ];

  it.each(orderSamples)('POST /orders body: %s (route and document agree)', async (_name, sample, valid) => {
    const res = await call('POST', '/orders', { token: customer, body: sample, headers: { 'idempotency-key': 'k-openapi' } });
    expect(bodySchema('/orders', 'post')(sample)).toBe(valid);
    expect(refusedAsInvalid(res)).toBe(!valid);
  });

  it('POST /orders: what zod refines beyond JSON Schema, the document states in words (and the route refuses)', async () => {
    const description: string = doc.components.schemas.PlaceOrderRequest.description;
    expect(description).toMatch(/once/);
    expect(description).toMatch(/control characters/);
    const twice = {
      ...validOrder,
      items: [
        { menuId: 'mnu_0001_01', quantity: 1 },
        { menuId: 'mnu_0001_01', quantity: 1 },
      ],
    };
    expect(refusedAsInvalid(await call('POST', '/orders', { token: customer, body: twice, headers: { 'idempotency-key': 'k-openapi' } }))).toBe(true);
    const nul = { ...validOrder, deliveryAddress: 'a\u0000b' };
    expect(refusedAsInvalid(await call('POST', '/orders', { token: customer, body: nul, headers: { 'idempotency-key': 'k-openapi' } }))).toBe(true);
  });

  it.each([
    ['k-1', true],
    ['a'.repeat(128), true],
    ['a'.repeat(129), false],
    ['with space', false],
  ])('POST /orders Idempotency-Key %j (route and document agree)', async (key, valid) => {
    const res = await call('POST', '/orders', { token: customer, body: validOrder, headers: { 'idempotency-key': key } });
    expect(param('/orders', 'post', 'Idempotency-Key')(key)).toBe(valid);
    expect(refusedAsInvalid(res)).toBe(!valid);
  });

  it.each([
    ['', {}, true],
    ['?limit=10', { limit: '10' }, true],
    ['?limit=200&cursor=rst_0010', { limit: '200', cursor: 'rst_0010' }, true],
    ['?limit=0', { limit: '0' }, false],
    ['?limit=201', { limit: '201' }, false],
    ['?limit=ten', { limit: 'ten' }, false],
    ['?cursor=a%20b', { cursor: 'a b' }, false],
    ['?page=2', { page: '2' }, false],
    ['?q=%EC%B9%98%ED%82%A8', { q: '치킨' }, true],
    ['?q=%EC%B9%98%ED%82%A8&category=chicken&limit=5', { q: '치킨', category: 'chicken', limit: '5' }, true],
    ['?category=sushi', { category: 'sushi' }, false],
    [`?q=${'a'.repeat(51)}`, { q: 'a'.repeat(51) }, false],
  ])('GET /restaurants%s (route and document agree)', async (qs, query, valid) => {
    const res = await call('GET', `/restaurants${qs}`);
    expect(querySchema('/restaurants', 'get')(query)).toBe(valid);
    expect(refusedAsInvalid(res)).toBe(!valid);
  });

  it.each([
    ['?status=CONFIRMED', { status: 'CONFIRMED' }, true],
    ['?status=SHIPPED', { status: 'SHIPPED' }, false],
    ['?limit=0', { limit: '0' }, false],
    ['?sort=asc', { sort: 'asc' }, false],
  ])('GET /restaurants/{restaurantId}/orders%s (route and document agree)', async (qs, query, valid) => {
    const res = await call('GET', `/restaurants/rst_0001/orders${qs}`, { token: restaurant });
    expect(querySchema('/restaurants/{restaurantId}/orders', 'get')(query)).toBe(valid);
    expect(refusedAsInvalid(res)).toBe(!valid);
  });

  it.each([
    [{ price: 12000 }, true],
    [{ name: 'Bibimbap', status: 'SOLD_OUT' }, true],
    [{}, false],
    [{ price: 0 }, false],
    [{ price: 10_000_001 }, false],
    [{ status: 'GONE' }, false],
    [{ name: 'x'.repeat(101) }, false],
    [{ version: 2 }, false],
  ])('PATCH /restaurants/{restaurantId}/menu-items/{menuId} body %j (route and document agree)', async (sample, valid) => {
    const res = await call('PATCH', '/restaurants/rst_0001/menu-items/mnu_0001_01', { token: restaurant, body: sample, headers: { 'if-match': '1' } });
    expect(bodySchema('/restaurants/{restaurantId}/menu-items/{menuId}', 'patch')(sample)).toBe(valid);
    expect(refusedAsInvalid(res)).toBe(!valid);
  });

  it.each([
    [{ name: 'Tteokbokki', price: 9000 }, true],
    [{ name: 'Tteokbokki', price: 9000, status: 'HIDDEN' }, true],
    [{ name: 'Tteokbokki' }, false],
    [{ name: '', price: 9000 }, false],
    [{ name: 'Tteokbokki', price: -1 }, false],
  ])('POST /restaurants/{restaurantId}/menu-items body %j (route and document agree)', async (sample, valid) => {
    const res = await call('POST', '/restaurants/rst_0001/menu-items', { token: restaurant, body: sample });
    expect(bodySchema('/restaurants/{restaurantId}/menu-items', 'post')(sample)).toBe(valid);
    expect(refusedAsInvalid(res)).toBe(!valid);
  });

  it.each([
    [{}, true],
    [{ reason: 'Too busy' }, true],
    [{ reason: '' }, false],
    [{ reason: 5 }, false],
    [{ why: 'x' }, false],
  ])('POST /restaurants/{restaurantId}/orders/{orderId}/reject body %j (route and document agree)', async (sample, valid) => {
    const res = await call('POST', '/restaurants/rst_0001/orders/ord_1/reject', { token: restaurant, body: sample });
    expect(bodySchema('/restaurants/{restaurantId}/orders/{orderId}/reject', 'post')(sample)).toBe(valid);
    expect(refusedAsInvalid(res)).toBe(!valid);
  });

  it.each([
    [{}, true],
    [{ reason: 'changed my mind' }, false],
  ])('POST /orders/{orderId}/cancel body %j (route and document agree)', async (sample, valid) => {
    const res = await call('POST', '/orders/ord_1/cancel', { token: customer, body: sample });
    expect(bodySchema('/orders/{orderId}/cancel', 'post')(sample)).toBe(valid);
    expect(refusedAsInvalid(res)).toBe(!valid);
  });

  it.each([
    ['ord_1', true],
    ['o'.repeat(64), true],
    ['o'.repeat(65), false],
    ['ord.1', false],
  ])('GET /orders/{orderId} with id %j (route and document agree)', async (id, valid) => {
    const res = await call('GET', `/orders/${encodeURIComponent(id)}`, { token: customer });
    expect(param('/orders/{orderId}', 'get', 'orderId')(id)).toBe(valid);
    expect(refusedAsInvalid(res)).toBe(!valid);
  });
});
