import { COMMON_ERRORS, DOCUMENTED_ERRORS, type ErrorStatus, toHttpError } from './errors';
import { componentSchema, type JsonSchema, queryParameters, requestSchema } from './json-schema';
import { ErrorBody } from './responses';
import { type Access, type Component, pathParamNames, type RouteSpec, type RouteTable } from './route';
import { adminApi } from './routes/admin';
import { codecApi } from './routes/codec';
import { menuApi } from './routes/menus';
import { operationsApi } from './routes/operations';
import { orderApi } from './routes/orders';
import { pathId } from './validation';

// The OpenAPI 3.1 document of the HTTP API, served at GET /openapi.json and browsable at /docs. It is
// generated from the route tables (api/routes/*), the same definitions the Express wiring validates
// with (api/mount.ts), so it cannot drift from behaviour: request bodies, query strings, path ids and
// headers from their zod schemas, answers from the response schemas the handlers' replies are typed
// by, errors from the wiring and from what each route's service may answer.

/** Every route the API serves. */
export const ROUTE_TABLES: readonly RouteTable[] = [orderApi, menuApi, adminApi, codecApi, operationsApi];

const INFO = {
  title: 'Delivery order saga API',
  version: '1',
  description: [
    'Orders run as a Temporal saga (payment hold, restaurant ticket, decision, capture; compensations on failure); menus are read from a CQRS read model fed by CDC.',
    '',
    'All bodies are JSON (`Content-Type: application/json`, at most 32 KB). Money is an integer amount in KRW. Schemas are strict: an unknown body field **or an unknown query parameter** is a 400, and a repeated query parameter is refused. Every 4xx/5xx answers `{"error": {"code", "message", "details?"}}`.',
    '',
    "Authentication: `Authorization: Bearer <JWT>` (HS256) with claims `iss` (`delivery-order-saga`), `aud` (`delivery-order-saga-api`), `iat`, `exp`, `role` (`customer`, `restaurant`, `admin`), `sub` and, for restaurants, `restaurantId`. A token may live (`exp - iat`) at most its role's maximum (by default 7 days for customers, 1 day for restaurants, 12 hours for admins). A present but bad token is a 401 on every route, public ones included.",
    '',
    "Limits: requests per minute per token subject (by default 300 for customers, 600 for restaurants and admins), per client address without a token (300), and to `/readyz` and `/metrics` (120): over them, 429 `RATE_LIMITED` with `Retry-After`. `POST /orders` also refuses a customer's order beyond 5 not yet final (429 `TOO_MANY_ORDERS_IN_FLIGHT`) and a `wait` when too many requests already wait (503 `WAIT_CAPACITY_EXHAUSTED`).",
  ].join('\n'),
};

const TAGS = [
  { name: 'Orders', description: 'The order saga' },
  { name: 'Menus', description: 'Menu queries (read model) and commands (source of truth)' },
  {
    name: 'Admin',
    description: "The operator's desk (admins only): an order's story across every service, the orders that need an operator, and audited, idempotent actions",
  },
  { name: 'Operations', description: 'Probes, metrics, this document' },
];

export function buildOpenApiDocument(tables: readonly RouteTable[] = ROUTE_TABLES): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const table of tables) {
    for (const [operationId, spec] of Object.entries(table)) {
      const openApiPath = spec.path.replace(/:(\w+)/g, '{$1}');
      paths[openApiPath] = { ...paths[openApiPath], [spec.method]: operationOf(operationId, spec) };
    }
  }
  return {
    openapi: '3.1.0',
    info: INFO,
    servers: [{ url: '/' }],
    tags: TAGS,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: componentSchemas(tables),
      responses: Object.fromEntries(Object.entries(DOCUMENTED_ERRORS).map(([status, description]) => [`E${status}`, jsonResponse(ErrorBody, description)])),
    },
    paths,
  };
}

function operationOf(operationId: string, spec: RouteSpec): JsonSchema {
  const parameters = parametersOf(spec);
  return {
    tags: [spec.tag],
    operationId,
    summary: spec.summary,
    ...(spec.description ? { description: spec.description } : {}),
    security: securityOf(spec.access),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(spec.body
      ? {
          requestBody: {
            required: spec.body.required ?? true,
            content: { 'application/json': { schema: ref(spec.body.component), example: spec.body.component.example } },
          },
        }
      : {}),
    responses: { ...answersOf(spec), ...Object.fromEntries(errorsOf(spec).map((s) => [String(s), { $ref: `#/components/responses/E${s}` }])) },
  };
}

function securityOf(access: Access): JsonSchema[] {
  if (access === 'public') return [{}];
  if (access === 'anyone') return [{}, { bearer: [] }];
  return [{ bearer: [] }];
}

/** Path ids, then headers, then the query string (public routes read none of them). */
function parametersOf(spec: RouteSpec): JsonSchema[] {
  if (spec.access === 'public') return [];
  const ids = pathParamNames(spec.path).map((name) => ({ name, in: 'path', required: true, schema: requestSchema(pathId) }));
  const headers = Object.values(spec.headers ?? {}).map((h) => ({
    name: h.name,
    in: 'header',
    required: h.required,
    description: h.description,
    schema: requestSchema(h.schema),
  }));
  return [...ids, ...headers, ...(spec.query ? queryParameters(spec.query) : [])];
}

function answersOf(spec: RouteSpec): Record<string, JsonSchema> {
  return Object.fromEntries(
    Object.entries(spec.responses).map(([status, r]) => [
      status,
      r.body ? jsonResponse(r.body, r.description, r.headers) : { description: r.description, ...(r.content ? { content: r.content } : {}) },
    ]),
  );
}

/**
 * What the route's wiring may refuse with (api/mount.ts), and what its service may answer. Public
 * routes answer no documented error.
 */
function errorsOf(spec: RouteSpec): ErrorStatus[] {
  if (spec.access === 'public') return [];
  const fromWiring: ErrorStatus[] = [
    ...COMMON_ERRORS,
    ...(typeof spec.access === 'object' ? [403 as const] : []),
    ...(pathParamNames(spec.path).length > 0 ? [404 as const] : []),
    ...(spec.body ? [415 as const] : []),
    ...Object.values(spec.headers ?? {}).flatMap((h) => (h.required && h.missing ? [toHttpError(h.missing())!.status as ErrorStatus] : [])),
  ];
  return [...new Set([...fromWiring, ...(spec.errors ?? [])])].sort((a, b) => a - b);
}

const ref = (c: Component) => ({ $ref: `#/components/schemas/${c.name}` });

function jsonResponse(body: Component, description: string, headers?: JsonSchema): JsonSchema {
  return { description, content: { 'application/json': { schema: ref(body) } }, ...(headers ? { headers } : {}) };
}

/** Every component a route names: request bodies as a client may send them, answers as the API sends them. */
function componentSchemas(tables: readonly RouteTable[]): Record<string, JsonSchema> {
  const used = new Map<string, { component: Component; io: 'input' | 'output' }>([[ErrorBody.name, { component: ErrorBody, io: 'output' }]]);
  const use = (component: Component, io: 'input' | 'output') => {
    const seen = used.get(component.name);
    if (seen && seen.component !== component) throw new Error(`two components are named ${component.name}`);
    used.set(component.name, { component, io });
  };
  for (const spec of tables.flatMap((t) => Object.values(t))) {
    if (spec.body) use(spec.body.component, 'input');
    for (const r of Object.values(spec.responses)) if (r.body) use(r.body, 'output');
  }
  return Object.fromEntries([...used].map(([name, { component, io }]) => [name, componentSchema(component, io)]));
}
