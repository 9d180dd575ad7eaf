import { type Request, type RequestHandler, type Response, Router } from 'express';
import { assertActsFor, requireRole } from './auth';
import { type Handlers, type HeaderSpec, type Input, JsonText, pathParamNames, type ResponseSpec, type RouteSpec, type RouteTable } from './route';
import { InvalidInput } from './services/errors';
import { noQuery, parse, pathId } from './validation';

// The Express side of the route definitions (api/route.ts): per route, the role check, then
// validation of every input in a fixed order, then the route's handler, whose reply is sent as it
// documents it. Express 5 hands a rejected handler to the error handler (api/errors.ts).

/** A reply as the wiring sees it (each handler's own type is narrower: api/route.ts Reply). */
interface AnyReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}
type AnyHandler = (input: Input<RouteSpec>, req: Request, res: Response) => Promise<AnyReply>;

export interface MountOptions {
  /** Check every answer against its documented schema; a mismatch is a 500 (tests turn this on). */
  checkResponses?: boolean;
}

/** An Express router for a table: per route, the role check, then validation, then its handler. */
export function mountApi<T extends RouteTable>(table: T, handlers: Handlers<T>, options: MountOptions = {}): Router {
  const router = Router();
  for (const [operationId, spec] of Object.entries(table) as Array<[keyof T & string, RouteSpec]>) {
    const handler = handlers[operationId] as unknown as AnyHandler;
    const guards: RequestHandler[] = typeof spec.access === 'object' ? [requireRole(...spec.access.roles)] : [];
    router[spec.method](spec.path, ...guards, async (req, res) => {
      const reply = await handler(readInput(spec, req), req, res);
      send(res, operationId, spec, reply, options);
    });
  }
  return router;
}

/** Operations routes (public, written by hand): the same definitions, plain Express handlers. */
export function mountPlain<T extends RouteTable>(table: T, handlers: { [K in keyof T]: RequestHandler }): Router {
  const router = Router();
  for (const [operationId, spec] of Object.entries(table)) router[spec.method](spec.path, handlers[operationId]!);
  return router;
}

// Validation, in a fixed order: path ids, the caller's restaurant, query, headers, body.
function readInput(spec: RouteSpec, req: Request): Input<RouteSpec> {
  const params: Record<string, string> = {};
  for (const name of pathParamNames(spec.path)) params[name] = parse(pathId, req.params[name], 'path', name);
  if (typeof spec.access === 'object' && spec.access.actsForRestaurant)
    assertActsFor(req.principal!, params.restaurantId!, spec.access.roles.includes('admin'));
  const query = parse(spec.query ?? noQuery, req.query, 'query');
  const headers: Record<string, unknown> = {};
  for (const [key, header] of Object.entries(spec.headers ?? {})) headers[key] = readHeader(header, req.header(header.name));
  const body = spec.body ? parse(spec.body.component.schema, req.body ?? {}) : undefined;
  return { principal: req.principal, params, query, headers, body } as Input<RouteSpec>;
}

function readHeader(header: HeaderSpec, raw: string | undefined): unknown {
  if (raw === undefined) {
    if (!header.required) return undefined;
    throw header.missing?.() ?? new InvalidInput(`The ${header.name} header is required`);
  }
  if (header.invalid && !header.schema.safeParse(raw).success) throw header.invalid();
  return parse(header.schema, raw, `${header.name} header`);
}

function send(res: Response, operationId: string, spec: RouteSpec, reply: AnyReply, options: MountOptions): void {
  const documented = spec.responses[reply.status];
  if (options.checkResponses) checkReply(operationId, documented, reply);
  res.status(reply.status);
  for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value);
  if (reply.body instanceof JsonText) res.type('json').send(reply.body.text);
  else if (reply.body !== undefined) res.json(reply.body);
  else res.end();
}

function checkReply(operationId: string, documented: ResponseSpec | undefined, reply: AnyReply): void {
  if (!documented) throw new Error(`${operationId} answered ${reply.status}, which its route does not document`);
  if (!documented.body) return;
  const value = reply.body instanceof JsonText ? JSON.parse(reply.body.text) : reply.body;
  const checked = documented.body.schema.safeParse(value);
  if (!checked.success)
    throw new Error(
      `${operationId} answered ${reply.status} with a body that is not a ${documented.body.name}: ${JSON.stringify(checked.error.issues.slice(0, 5))}`,
    );
}
