import path from 'node:path';
import express from 'express';
import { z } from 'zod';
import { FAILURE_REASONS, MENU_ITEM_STATUSES, ORDER_STATUSES, PAYMENT_STATUSES } from '../lib/workflow-safe/domain';
import {
  createMenuItemBody,
  emptyBody,
  idempotencyKeyHeader,
  noQuery,
  pageQuery,
  pathId,
  placeOrderBody,
  placeOrderQuery,
  rejectBody,
  restaurantOrdersQuery,
  updateMenuItemBody,
} from './validation';

// The OpenAPI 3.1 document of the HTTP API (../shared/API.md plus what the code adds), served at
// GET /openapi.json and browsable at /docs. Request bodies, query strings, path ids and the
// Idempotency-Key header are converted from the very zod schemas the routes validate with
// (api/validation.ts, zod 4's z.toJSONSchema), so the document cannot drift from behaviour;
// test/openapi.test.ts checks that every Express route is documented and that the document refuses
// what the routes refuse. Response shapes are described here (the routes do not validate them).

type JsonSchema = Record<string, unknown>;

/** JSON Schema 2020-12 (the dialect of OpenAPI 3.1) of what a client may send. */
function requestSchema(schema: z.ZodType): JsonSchema {
  const { $schema: _dialect, ...json } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return json;
}

/** Query strings arrive as text; their parameters are documented with the parsed type (integers and their bounds). */
function queryParameters(schema: z.ZodObject): JsonSchema[] {
  const input = requestSchema(schema) as { required?: string[] };
  const { properties = {} } = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' }) as { properties?: Record<string, JsonSchema> };
  return Object.entries(properties).map(([name, prop]) => ({
    name,
    in: 'query',
    required: (input.required ?? []).includes(name),
    schema: prop,
    ...(QUERY_NOTES[name] ? { description: QUERY_NOTES[name] } : {}),
  }));
}

const QUERY_NOTES: Record<string, string> = {
  limit: 'Page size (digits only).',
  cursor: 'The `nextCursor` of the previous page; opaque.',
  wait: 'Hold the answer up to this many milliseconds (digits only) until the order leaves `PENDING`.',
  status: 'Only orders in this status.',
};

const idParam = (name: string, where = 'path'): JsonSchema => ({ name, in: where, required: true, schema: requestSchema(pathId) });

// Response shapes (documentation only).
const orderStatus = z.enum(ORDER_STATUSES);
const failureReason = z.enum(FAILURE_REASONS).nullable();
const responses = {
  Error: z
    .object({
      error: z.object({
        code: z.string().meta({ description: 'UPPER_SNAKE code, e.g. VALIDATION_FAILED, NOT_FOUND, VERSION_CONFLICT' }),
        message: z.string().meta({ description: 'For a person' }),
        details: z.unknown().optional().meta({ description: 'Present for some codes: validation issues, the current menu item on a conflict, ...' }),
      }),
    })
    .meta({ description: 'Every 4xx and 5xx answer' }),
  PlacedOrder: z.object({
    orderId: z.string(),
    status: orderStatus,
    totalAmount: z.number().int().meta({ description: 'KRW' }),
    workflowId: z.string().meta({ description: '`order-<orderId>`: the saga in Temporal' }),
    workflowUrl: z.string().meta({ description: "The saga in Temporal's Web UI" }),
  }),
  Order: z.object({
    orderId: z.string(),
    restaurantId: z.string(),
    customerId: z.string(),
    status: orderStatus,
    items: z.array(z.object({ menuId: z.string(), name: z.string(), unitPrice: z.number().int(), quantity: z.number().int() })),
    totalAmount: z.number().int(),
    deliveryAddress: z.string(),
    payment: z.object({ status: z.enum(PAYMENT_STATUSES).nullable() }),
    failureReason: failureReason.meta({ description: 'Set for REJECTED and CANCELLED' }),
    acceptanceDeadline: z.string().nullable().meta({ description: 'ISO time until which the restaurant may accept' }),
    createdAt: z.string(),
    updatedAt: z.string(),
    workflowId: z.string(),
    workflowUrl: z.string(),
  }),
  OrderStatusAnswer: z.object({ status: orderStatus }),
  RestaurantOrdersPage: z.object({
    orders: z.array(
      z.object({
        orderId: z.string(),
        customerId: z.string(),
        status: orderStatus,
        totalAmount: z.number().int(),
        failureReason,
        acceptanceDeadline: z.string().nullable(),
        createdAt: z.string(),
      }),
    ),
    nextCursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last page' }),
  }),
  RestaurantsPage: z.object({
    restaurants: z.array(z.object({ restaurantId: z.string(), name: z.string(), autoAccept: z.boolean() })),
    nextCursor: z.string().nullable(),
  }),
  Menu: z.object({
    restaurantId: z.string(),
    name: z.string(),
    items: z.array(z.object({ menuId: z.string(), name: z.string(), price: z.number().int(), status: z.enum(MENU_ITEM_STATUSES), version: z.number().int() })),
    asOf: z.string().nullable().meta({ description: 'Commit time of the last source change the read model has applied (CDC)' }),
  }),
  MenuItemVersion: z.object({ menuId: z.string(), version: z.number().int() }),
} as const;

const requests = {
  PlaceOrderRequest: { schema: placeOrderBody, note: 'Each `menuId` may appear once. Text may not hold control characters (the address may hold line breaks) or lone surrogates.' },
  RejectRequest: { schema: rejectBody, note: 'The reason may not hold control characters other than line breaks and tabs.' },
  EmptyBody: { schema: emptyBody, note: 'No body, or `{}`.' },
  CreateMenuItemRequest: { schema: createMenuItemBody, note: 'The name may not hold control characters.' },
  UpdateMenuItemRequest: { schema: updateMenuItemBody, note: 'At least one of name, price, status.' },
} as const;

function componentSchemas(): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = {};
  for (const [name, schema] of Object.entries(responses)) {
    const { $schema: _dialect, ...json } = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' }) as JsonSchema;
    out[name] = json;
  }
  for (const [name, { schema, note }] of Object.entries(requests)) out[name] = { ...requestSchema(schema), description: note };
  // The zod refinement "name, price or status is required" of a strict object of optional fields is exactly this.
  out.UpdateMenuItemRequest = { ...out.UpdateMenuItemRequest, minProperties: 1 };
  return out;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: string, description: string, headers?: JsonSchema) => ({ description, content: { 'application/json': { schema: ref(name) } }, ...(headers ? { headers } : {}) });
const EXAMPLES: Partial<Record<keyof typeof requests, unknown>> = {
  PlaceOrderRequest: { restaurantId: 'rst_0003', items: [{ menuId: 'mnu_0003_01', quantity: 2 }], deliveryAddress: '서울시 강남구 테헤란로 1', paymentMethod: { cardToken: 'tok_ok' } },
  RejectRequest: { reason: 'Out of rice' },
  CreateMenuItemRequest: { name: 'Kimchi fried rice', price: 9000, status: 'ON_SALE' },
  UpdateMenuItemRequest: { status: 'SOLD_OUT' },
  EmptyBody: {},
};
const body = (name: keyof typeof requests, required = true) => ({ required, content: { 'application/json': { schema: ref(name), example: EXAMPLES[name] } } });
const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [String(s), { $ref: `#/components/responses/E${s}` }]));
const ERROR_TEXT: Record<number, string> = {
  400: 'Invalid input (`VALIDATION_FAILED`, `MALFORMED_JSON`, `IDEMPOTENCY_KEY_REQUIRED`, ...)',
  401: 'Missing or bad credentials',
  403: "Acting on another party's resource, or a role that may not use this route",
  404: 'Unknown resource (also: an order the caller may not see)',
  409: 'Conflict (`NOT_CANCELLABLE`, `DECISION_ALREADY_MADE`, `ORDER_CLOSED` (also once the saga has begun to close), `NOT_AWAITING_DECISION` (a decision before the order awaits the restaurant), `VERSION_CONFLICT`)',
  415: 'A body that is not JSON',
  422: '`ITEM_UNAVAILABLE` or `IDEMPOTENCY_KEY_REUSED`',
  428: 'If-Match is required',
  429: 'Rate limited (`Retry-After` says when to retry)',
  503: 'A dependency is unreachable (`TEMPORAL_UNAVAILABLE`, database); retry',
};
const COMMON = [400, 401, 429, 503];
const bearer = [{ bearer: [] }];
const optionalBearer = [{}, { bearer: [] }];

function operation(op: JsonSchema & { summary: string; tags: string[]; operationId: string }): JsonSchema {
  return op;
}

export function buildOpenApiDocument(): JsonSchema {
  const idempotencyKey = (required: boolean, text: string) => ({ name: 'Idempotency-Key', in: 'header', required, description: text, schema: requestSchema(idempotencyKeyHeader) });
  const noParams = queryParameters(noQuery);
  const paths: Record<string, Record<string, JsonSchema>> = {
    '/orders': {
      post: operation({
        tags: ['Orders'],
        operationId: 'placeOrder',
        summary: 'Place an order (starts its saga)',
        description:
          'Customers only. Prices the order from the read model and refuses unknown, not-on-sale or foreign items (422 `ITEM_UNAVAILABLE`) before any saga starts. The same `Idempotency-Key` with the same body returns the same order (200); with another body, 422 `IDEMPOTENCY_KEY_REUSED`.',
        security: bearer,
        parameters: [idempotencyKey(true, 'Required: one order per key and customer (1-128 printable ASCII)'), ...queryParameters(placeOrderQuery)],
        requestBody: body('PlaceOrderRequest'),
        responses: {
          '202': json('PlacedOrder', 'Accepted: the saga is running (`Location: /orders/<orderId>`)'),
          '200': json('PlacedOrder', 'The order this Idempotency-Key already made'),
          ...errors(...COMMON, 403, 404, 415, 422),
        },
      }),
    },
    '/orders/{orderId}': {
      get: operation({
        tags: ['Orders'],
        operationId: 'getOrder',
        summary: 'An order',
        description: "The order's customer, its restaurant, or an admin; anyone else gets the same 404 as for an order that does not exist.",
        security: bearer,
        parameters: [idParam('orderId'), ...noParams],
        responses: { '200': json('Order', 'The order'), ...errors(...COMMON, 403, 404) },
      }),
    },
    '/orders/{orderId}/cancel': {
      post: operation({
        tags: ['Orders'],
        operationId: 'cancelOrder',
        summary: 'Cancel an order before the restaurant accepts',
        security: bearer,
        parameters: [idParam('orderId'), ...noParams],
        requestBody: body('EmptyBody', false),
        responses: { '200': json('OrderStatusAnswer', 'Cancelled (or the current status if the saga takes longer than 10 s)'), ...errors(...COMMON, 403, 404, 409, 415) },
      }),
    },
    '/restaurants': {
      get: operation({
        tags: ['Menus'],
        operationId: 'listRestaurants',
        summary: 'Restaurants, paged (read model)',
        security: optionalBearer,
        parameters: queryParameters(pageQuery),
        responses: { '200': json('RestaurantsPage', 'One page'), ...errors(...COMMON) },
      }),
    },
    '/restaurants/{restaurantId}/menu': {
      get: operation({
        tags: ['Menus'],
        operationId: 'getMenu',
        summary: "A restaurant's menu (read model, fed by CDC; may be a moment behind)",
        description: 'Hidden items are shown only to that restaurant and to admins.',
        security: optionalBearer,
        parameters: [idParam('restaurantId'), ...noParams],
        responses: { '200': json('Menu', 'The menu'), ...errors(...COMMON, 404) },
      }),
    },
    '/restaurants/{restaurantId}/menu-items': {
      post: operation({
        tags: ['Menus'],
        operationId: 'createMenuItem',
        summary: 'Add a menu item',
        description: 'That restaurant or an admin. With an Idempotency-Key a retry returns the item made the first time (200).',
        security: bearer,
        parameters: [idParam('restaurantId'), idempotencyKey(false, 'Optional: makes a retried create return the same item'), ...noParams],
        requestBody: body('CreateMenuItemRequest'),
        responses: {
          '201': json('MenuItemVersion', 'Created'),
          '200': json('MenuItemVersion', 'The item this Idempotency-Key already made'),
          ...errors(...COMMON, 403, 404, 415, 422),
        },
      }),
    },
    '/restaurants/{restaurantId}/menu-items/{menuId}': {
      patch: operation({
        tags: ['Menus'],
        operationId: 'updateMenuItem',
        summary: 'Change a menu item (optimistic locking)',
        description: 'That restaurant or an admin. A stale version is 409 `VERSION_CONFLICT` with `details.current`, the item as it now stands.',
        security: bearer,
        parameters: [
          idParam('restaurantId'),
          idParam('menuId'),
          { name: 'If-Match', in: 'header', required: true, description: 'The version read: `3`, `"3"` or `W/"3"`', schema: { type: 'string', pattern: '^\\s*(?:W/)?"?\\d{1,9}"?\\s*$' } },
          ...noParams,
        ],
        requestBody: body('UpdateMenuItemRequest'),
        responses: {
          '200': json('MenuItemVersion', 'Changed', { ETag: { description: 'The new version, quoted', schema: { type: 'string' } } }),
          ...errors(...COMMON, 403, 404, 409, 415, 428),
        },
      }),
    },
    '/restaurants/{restaurantId}/orders': {
      get: operation({
        tags: ['Orders'],
        operationId: 'listRestaurantOrders',
        summary: "A restaurant's orders, newest first, paged",
        security: bearer,
        parameters: [idParam('restaurantId'), ...queryParameters(restaurantOrdersQuery)],
        responses: { '200': json('RestaurantOrdersPage', 'One page'), ...errors(...COMMON, 403, 404) },
      }),
    },
    '/restaurants/{restaurantId}/orders/{orderId}/accept': {
      post: operation({
        tags: ['Orders'],
        operationId: 'acceptOrder',
        summary: 'The restaurant accepts (a Temporal Update to the saga)',
        description: 'That restaurant only. Answers once the saga has acted on the decision, or after 10 s with the current status (the decision is recorded either way).',
        security: bearer,
        parameters: [idParam('restaurantId'), idParam('orderId'), ...noParams],
        requestBody: body('EmptyBody', false),
        responses: { '200': json('OrderStatusAnswer', 'The order after the decision'), ...errors(...COMMON, 403, 404, 409, 415) },
      }),
    },
    '/restaurants/{restaurantId}/orders/{orderId}/reject': {
      post: operation({
        tags: ['Orders'],
        operationId: 'rejectOrder',
        summary: 'The restaurant rejects, with an optional reason',
        security: bearer,
        parameters: [idParam('restaurantId'), idParam('orderId'), ...noParams],
        requestBody: body('RejectRequest', false),
        responses: { '200': json('OrderStatusAnswer', 'The order after the decision'), ...errors(...COMMON, 403, 404, 409, 415) },
      }),
    },
    '/healthz': {
      get: operation({ tags: ['Operations'], operationId: 'healthz', summary: 'The process is alive', security: [{}], responses: { '200': { description: '`{"status":"ok"}`' } } }),
    },
    '/readyz': {
      get: operation({
        tags: ['Operations'],
        operationId: 'readyz',
        summary: 'Its databases and Temporal are reachable',
        security: [{}],
        responses: { '200': { description: 'Ready, with each check' }, '503': { description: 'Not ready, with the failing checks' } },
      }),
    },
    '/metrics': {
      get: operation({
        tags: ['Operations'],
        operationId: 'metrics',
        summary: 'Prometheus metrics (requests by route and status, latency, Node process)',
        security: [{}],
        responses: { '200': { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } } },
      }),
    },
    '/openapi.json': {
      get: operation({
        tags: ['Operations'],
        operationId: 'openapi',
        summary: 'This document',
        security: [{}],
        responses: { '200': { description: 'OpenAPI 3.1', content: { 'application/json': { schema: { type: 'object' } } } } },
      }),
    },
    '/docs': {
      get: operation({ tags: ['Operations'], operationId: 'docs', summary: 'This document, browsable (Swagger UI)', security: [{}], responses: { '200': { description: 'HTML' } } }),
    },
    '/docs/init.js': {
      get: operation({
        tags: ['Operations'],
        operationId: 'docsScript',
        summary: "The /docs page's script (starts Swagger UI on /openapi.json)",
        security: [{}],
        responses: { '200': { description: 'JavaScript' } },
      }),
    },
    '/': {
      get: operation({ tags: ['Operations'], operationId: 'home', summary: 'Redirects to the web console (/console/)', security: [{}], responses: { '302': { description: 'To /console/' } } }),
    },
  };

  return {
    openapi: '3.1.0',
    info: {
      title: 'Delivery order saga API',
      version: '1',
      description: [
        'Orders run as a Temporal saga (payment hold, restaurant ticket, decision, capture; compensations on failure); menus are read from a CQRS read model fed by CDC.',
        '',
        'All bodies are JSON (`Content-Type: application/json`, at most 32 KB). Money is an integer amount in KRW. Schemas are strict: an unknown body field **or an unknown query parameter** is a 400, and a repeated query parameter is refused. Every 4xx/5xx answers `{"error": {"code", "message", "details?"}}`.',
        '',
        'Authentication: `Authorization: Bearer <JWT>` (HS256) with claims `role` (`customer`, `restaurant`, `admin`), `sub` and, for restaurants, `restaurantId`. A present but bad token is a 401 on every route, public ones included.',
      ].join('\n'),
    },
    servers: [{ url: '/' }],
    tags: [
      { name: 'Orders', description: 'The order saga' },
      { name: 'Menus', description: 'Menu queries (read model) and commands (source of truth)' },
      { name: 'Operations', description: 'Probes, metrics, this document' },
    ],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: componentSchemas(),
      responses: Object.fromEntries(Object.entries(ERROR_TEXT).map(([status, description]) => [`E${status}`, json('Error', description)])),
    },
    paths,
  };
}

/** The Swagger UI files shipped by swagger-ui-dist and our own page and initializer (no inline script, for helmet's CSP). */
const SWAGGER_UI_DIR = path.dirname(require.resolve('swagger-ui-dist/package.json'));
const DOCS_PAGE_DIR = path.join(__dirname, 'openapi-ui');
const UI_ASSET = /^\/(swagger-ui(-bundle|-standalone-preset)?\.(js|css)(\.map)?|favicon-(16x16|32x32)\.png)$/;

/** GET /openapi.json and the browsable /docs page. */
export function openApiRoutes(): express.Router {
  const document = buildOpenApiDocument();
  const r = express.Router();
  r.get('/openapi.json', (_req, res) => {
    res.json(document);
  });
  r.get('/docs', (req, res, next) => {
    // A trailing slash keeps the page's relative asset URLs under /docs/.
    if (!req.originalUrl.split('?')[0]!.endsWith('/')) return res.redirect(301, '/docs/');
    res.sendFile(path.join(DOCS_PAGE_DIR, 'index.html'), (err) => err && next(err));
  });
  r.get('/docs/init.js', (_req, res, next) => res.sendFile(path.join(DOCS_PAGE_DIR, 'init.js'), (err) => err && next(err)));
  // Only Swagger UI's own assets: not the package's demo page, which points at a remote document.
  const assets = express.static(SWAGGER_UI_DIR, { index: false, maxAge: '1d' });
  r.use('/docs/assets', (req, res, next) => (UI_ASSET.test(req.path) ? assets(req, res, next) : next()));
  return r;
}
