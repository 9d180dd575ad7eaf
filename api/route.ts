import type { Request, Response } from 'express';
import type { z } from 'zod';
import type { Principal, Role } from '../lib/node/auth';
import type { ErrorStatus } from './errors';

// One definition per route: method, path, who may call it, what it takes (path ids, query, headers,
// body), what it answers and which errors it documents. From the same definition come the Express
// wiring (role check, then validation, then a thin handler: api/mount.ts) and the route's
// operation in the OpenAPI document (api/openapi.ts). Route tables live in api/routes/*.

export type Method = 'get' | 'post' | 'patch';

/** A named schema: `#/components/schemas/<name>` in the document. */
export interface Component<S extends z.ZodType = z.ZodType> {
  name: string;
  schema: S;
  /** What the schema's refinements check, in words (JSON Schema cannot say it). */
  description?: string;
  /** Merged into the generated JSON Schema: a refinement that JSON Schema can say after all. */
  jsonSchema?: Record<string, unknown>;
  /** Shown with a request body. */
  example?: unknown;
}

export function component<S extends z.ZodType>(name: string, schema: S, extra: Omit<Component<S>, 'name' | 'schema'> = {}): Component<S> {
  return { name, schema, ...extra };
}

export interface HeaderSpec<S extends z.ZodType = z.ZodType> {
  /** As documented, e.g. `Idempotency-Key` (read case-insensitively). */
  name: string;
  schema: S;
  required: boolean;
  description: string;
  /** The error for a required header that is missing (default: 400 VALIDATION_FAILED). */
  missing?: () => Error;
  /** The error for a value the schema refuses (default: 400 VALIDATION_FAILED with the issues). */
  invalid?: () => Error;
}

export interface BodySpec<S extends z.ZodType = z.ZodType> {
  component: Component<S>;
  /** Default true. A body that is absent is read as `{}` either way. */
  required?: boolean;
}

export interface ResponseSpec {
  description: string;
  body?: Component;
  headers?: Record<string, { description: string; schema: Record<string, unknown> }>;
  /** A body that is not one of our JSON components (operations routes), as OpenAPI content. */
  content?: Record<string, unknown>;
}

/**
 * Who may call: `public` routes are answered before credentials are read (probes, the document);
 * `anyone` reads credentials when given (a bad token is still a 401); otherwise a bearer token with
 * one of the roles, and with `actsForRestaurant` the path's restaurant must be the caller's own
 * (admins may act for any restaurant when `admin` is among the roles).
 */
export type Access = 'public' | 'anyone' | { roles: readonly Role[]; actsForRestaurant?: boolean };

export interface RouteSpec {
  method: Method;
  /** Express syntax; every `:name` is an id (api/validation.ts `pathId`). */
  path: string;
  tag: 'Orders' | 'Menus' | 'Operations' | 'Admin';
  summary: string;
  description?: string;
  access: Access;
  /** Omitted: no query parameter is accepted (any is a 400). */
  query?: z.ZodObject;
  /** By the name the handler reads them with. */
  headers?: Record<string, HeaderSpec>;
  body?: BodySpec;
  responses: Record<number, ResponseSpec>;
  /**
   * Errors the service may answer. Those the wiring itself produces are added by the document:
   * 400, 401, 429 and 503 on every route that reads credentials, 403 with roles, 404 with path
   * ids, 415 with a body, and the status of a required header's `missing` error (428 for If-Match).
   */
  errors?: readonly ErrorStatus[];
}

export type RouteTable = Record<string, RouteSpec>;

/** Keeps the literal types of a definition (statuses, header names, roles) for its handler's types. */
export const defineRoute = <const S extends RouteSpec>(spec: S): S => spec;

// ---- What a handler gets and gives back

type ParamNames<P extends string> = P extends `${string}:${infer Name}/${infer Rest}`
  ? Name | ParamNames<`/${Rest}`>
  : P extends `${string}:${infer Name}`
    ? Name
    : never;

type HeaderValue<H> = H extends HeaderSpec<infer S> ? (H extends { required: true } ? z.output<S> : z.output<S> | undefined) : never;

export interface Input<S extends RouteSpec> {
  principal: S['access'] extends { roles: readonly Role[] } ? Principal : Principal | undefined;
  params: Record<ParamNames<S['path']>, string>;
  query: S['query'] extends z.ZodObject ? z.output<S['query']> : Record<string, never>;
  headers: { [K in keyof S['headers']]: HeaderValue<S['headers'][K]> };
  body: S['body'] extends BodySpec<infer B> ? z.output<B> : undefined;
}

/** A body already serialized (a cached menu), sent as it is. */
export class JsonText {
  constructor(readonly text: string) {}
}

type ReplyFor<Status, R> = { status: Status; headers?: Record<string, string> } & (R extends { body: Component<infer B> }
  ? { body: z.input<B> | JsonText }
  : { body?: undefined });

/** One of the route's documented answers, with a body of that answer's schema. */
export type Reply<S extends RouteSpec> = { [K in keyof S['responses'] & number]: ReplyFor<K, S['responses'][K]> }[keyof S['responses'] & number];

export type Handler<S extends RouteSpec> = (input: Input<S>, req: Request, res: Response) => Promise<Reply<S>>;

/** A handler for every route of a table (a route without one does not compile). */
export type Handlers<T extends RouteTable> = { [K in keyof T]: Handler<T[K]> };

export const pathParamNames = (path: string): string[] => [...path.matchAll(/:(\w+)/g)].map((m) => m[1]!);
