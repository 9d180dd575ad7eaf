import querystring from 'node:querystring';
import fc from 'fast-check';
import type { z } from 'zod';
import { pathId } from '../../api/validation';
import type { TestStack } from './stack';

// Building blocks of the security fuzz suite (test/security.fuzz.test.ts): hostile values, requests
// made of components that are each either valid or hostile, oracles that say what the server must
// refuse, the error-shape check, and row snapshots of every service database.

// ---------------------------------------------------------------------------------------------
// Hostile values

/** Strings that have hurt web services: injections, unicode edge cases, overlong, numeric-looking. */
export const NASTY_STRINGS: string[] = [
  '',
  ' ',
  '\t\n',
  '\u0000',
  'a\u0000b',
  'null',
  'undefined',
  'NaN',
  'true',
  '0',
  '-1',
  '1e309',
  '9'.repeat(400),
  "' OR '1'='1",
  "'; DROP TABLE orders; --",
  '" OR ""="',
  '1; SELECT pg_sleep(10)--',
  "rst_0001' --",
  "rst_0001'||'",
  'rst_0001;',
  "\\'",
  '$1',
  '%s%s%s%n',
  '%00',
  '{{7*7}}',
  '${7*7}',
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  '../../../etc/passwd',
  '..\\..\\windows\\win.ini',
  '__proto__',
  'constructor',
  'prototype',
  '{"$gt": ""}',
  '{"__proto__": {"role": "admin"}}',
  '[object Object]',
  '\ud800',
  '\udfff',
  'a\ud83db',
  '\ufeff',
  '\u202eadmin',
  'zero\u200bwidth',
  '\u2028\u2029',
  `e${'\u0301'.repeat(200)}`,
  'Z\u0338\u0322\u031b\u032c\u0359\u0353\u031d\u033b\u0310\u0307\u0314',
  '🍕'.repeat(40),
  '👨‍👩‍👧‍👦',
  '\uffff\ufffe',
  'İıſK',
  'ＡＤＭＩＮ',
  '𝕒𝕕𝕞𝕚𝕟',
  '서울시 강남구 테헤란로 1'.repeat(30),
  'x'.repeat(65),
  'x'.repeat(129),
  'x'.repeat(501),
  'x'.repeat(5000),
];

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...NASTY_STRINGS), weight: 5 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }), weight: 1 },
  {
    arbitrary: fc.string({
      unit: fc.oneof(loneSurrogate, fc.constantFrom('\u0000', '\u001b', '\u007f', '\u202e', '\u200b', '\ufeff', 'a', '"', '\\')),
      maxLength: 12,
    }),
    weight: 1,
  },
  { arbitrary: fc.tuple(fc.constantFrom('a', '💥', '\u0000', 'é', ' '), fc.integer({ min: 60, max: 3000 })).map(([c, n]) => c.repeat(n)), weight: 1 },
);

export const hostileNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(
    0,
    -0,
    -1,
    1.5,
    0.1,
    99.999,
    100,
    1e7 + 1,
    1e308,
    -1e308,
    2 ** 53,
    2 ** 53 + 2,
    Number.MAX_SAFE_INTEGER,
    5e-324,
    1e21,
    -2147483649,
    4294967296,
  ),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

const hostileKey = fc.oneof(fc.constantFrom('constructor', 'prototype', '$where', 'role', 'restaurantId', 'items', 'price', 'status', '', ' '), hostileString);

/** Any JSON value, biased towards the hostile strings and numbers above. */
export const hostileJson: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    hostileString,
    hostileNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(hostileKey, tie('value'), { maxKeys: 5 }),
  ),
})).value;

// ---------------------------------------------------------------------------------------------
// Requests made of components

/** A component's value and, when hostile, the fault it carries (which must make the server refuse). */
export interface Tagged<T> {
  value: T;
  fault?: string;
}

export interface Component<T> {
  valid: fc.Arbitrary<T>;
  hostile: fc.Arbitrary<Tagged<T>>;
}

export interface FuzzBody {
  raw: string;
  /** undefined: no Content-Type header (fetch then sends text/plain for a string body). */
  contentType?: string;
  contentEncoding?: string;
}

export interface RouteFuzzSpec {
  /** As the OpenAPI document names it, e.g. `POST /orders/:orderId/cancel`. */
  route: string;
  params?: Record<string, Component<string>>;
  auth: Component<string | undefined>;
  query: Component<string>;
  headers?: Component<Record<string, string>>;
  body?: Component<FuzzBody | undefined>;
}

export interface FuzzRequest {
  route: string;
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
  body?: FuzzBody;
  faults: string[];
}

export const hostile = <T>(fault: string, arb: fc.Arbitrary<T>): fc.Arbitrary<Tagged<T>> => arb.map((value) => ({ value, fault }));
export const hostileOneOf = <T>(...arbs: Array<fc.Arbitrary<Tagged<T>>>): fc.Arbitrary<Tagged<T>> => fc.oneof(...arbs);

/** Irrelevant headers with hostile values: noise on every request, never a fault by themselves. */
const NOISE_HEADERS = [
  'x-forwarded-for',
  'x-real-ip',
  'forwarded',
  'x-request-id',
  'accept',
  'accept-language',
  'user-agent',
  'origin',
  'referer',
  'cookie',
  'x-http-method-override',
  'x-original-url',
  'x-forwarded-host',
  'range',
];

const noiseHeaders: fc.Arbitrary<Record<string, string>> = fc
  .array(fc.tuple(fc.constantFrom(...NOISE_HEADERS), fc.oneof(hostileString, fc.constantFrom('1.2.3.4', '127.0.0.1, 10.0.0.1', '*/*', 'bytes=0-1'))), {
    maxLength: 3,
  })
  .map((pairs) => Object.fromEntries(pairs.map(([k, v]) => [k, headerSafe(v).slice(0, 1000)])));

/**
 * What fetch can put in a header: bytes, read by Node as latin1. Characters beyond latin1 are sent
 * as their UTF-8 bytes; control characters other than tab cannot be sent by fetch at all (the raw
 * socket tests in security.fuzz.test.ts send those).
 */
// eslint-disable-next-line no-control-regex
const NOT_IN_A_HEADER = /[\u0000-\u0008\u000a-\u001f\u007f]/g;

export function headerSafe(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1').replace(NOT_IN_A_HEADER, '');
}

/**
 * Header values stay under 6 KB so that a request's headers stay under Node's 16 KB limit: a 431 is
 * answered before the body is read, and a client still sending one may see the connection reset
 * instead of the answer. The raw-socket tests send oversized headers on purpose.
 */
export const MAX_FUZZ_HEADER_VALUE = 6000;

/** The header value the server sees (fetch strips leading and trailing whitespace). */
export const headerAsReceived = (v: string) => v.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '');

/**
 * Requests for one route: one component is always hostile, each other one is hostile a quarter of
 * the time. A hostile component must make the server refuse whatever the others are.
 */
export function requestArbitrary(spec: RouteFuzzSpec): fc.Arbitrary<FuzzRequest> {
  const [method, template] = spec.route.split(' ') as [string, string];
  const names = [
    ...Object.keys(spec.params ?? {}).map((p) => `param:${p}`),
    'auth',
    'query',
    ...(spec.headers ? ['headers'] : []),
    ...(spec.body ? ['body'] : []),
  ];
  const componentOf = (name: string): Component<unknown> => {
    if (name.startsWith('param:')) return spec.params![name.slice(6)] as Component<unknown>;
    return (spec as unknown as Record<string, Component<unknown>>)[name]!;
  };
  return fc.integer({ min: 0, max: names.length - 1 }).chain((forced) =>
    fc
      .tuple(
        fc.tuple(
          ...names.map((name, i) => {
            const c = componentOf(name);
            const valid = c.valid.map((value): Tagged<unknown> => ({ value }));
            return i === forced ? c.hostile : fc.oneof({ arbitrary: valid, weight: 3 }, { arbitrary: c.hostile, weight: 1 });
          }),
        ),
        noiseHeaders,
      )
      .map(([parts, noise]) => {
        const byName = new Map(names.map((n, i) => [n, parts[i]!]));
        const path = template.replace(/:([A-Za-z]+)/g, (_m, p: string) => byName.get(`param:${p}`)!.value as string);
        const auth = byName.get('auth')!.value as string | undefined;
        const headers: Record<string, string> = { ...noise, ...((byName.get('headers')?.value as Record<string, string> | undefined) ?? {}) };
        if (auth !== undefined) headers.authorization = auth;
        const body = byName.get('body')?.value as FuzzBody | undefined;
        return {
          route: spec.route,
          method,
          path,
          query: byName.get('query')!.value as string,
          headers,
          ...(body ? { body } : {}),
          faults: names.flatMap((n) => (byName.get(n)!.fault ? [byName.get(n)!.fault!] : [])),
        };
      }),
  );
}

// ---------------------------------------------------------------------------------------------
// Path ids

/** Percent-encodes a path segment as a raw client would (lone surrogates go out as U+FFFD's bytes). */
export function encodeSegment(s: string): string {
  return Array.from(Buffer.from(s, 'utf8'))
    .map((b) => (/[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`))
    .join('');
}

const RAW_SEGMENTS = ['%', '%zz', '%E0%A4%A', '%C0%AE', '%00', '%2F', '%2f..%2f', '%252e', ';', ';x=1', 'a;b', '*', '%7e', '%F0%9F', '%ED%A0%80'];

/**
 * Would Express refuse this raw path segment (undecodable, or not an id)? Dot segments (`.`, `..`,
 * `%2e%2e`) are resolved by the client's URL parser into another path, which may be a real route
 * (`GET /` redirects to the console), so they are not hostile values for the route under test.
 */
export function segmentRefused(raw: string): boolean {
  if (/^(\.|%2e){1,2}$/i.test(raw)) return false;
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return true;
  }
  return !pathId.safeParse(decoded).success;
}

/** Path segments that are not ids at all: 400 (or 404 when they reroute the request). */
export const invalidSegment: fc.Arbitrary<Tagged<string>> = fc
  .oneof(
    { arbitrary: hostileString.map(encodeSegment).filter(segmentRefused), weight: 4 },
    { arbitrary: fc.constantFrom(...RAW_SEGMENTS).filter(segmentRefused), weight: 1 },
  )
  .map((value) => ({ value, fault: 'path:not-an-id' }));

/** Well-formed ids that name nothing (404, or 403 where the token names another restaurant). */
export function unknownSegment(prefix: string, known: string[]): fc.Arbitrary<Tagged<string>> {
  return fc
    .oneof(
      fc.stringMatching(/^[0-9a-f]{8,32}$/).map((s) => `${prefix}${s}`),
      fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
      fc.constantFrom(`${prefix}0000`, `${prefix}9999`, `${prefix.toUpperCase()}0001`, `${prefix}0001_`),
    )
    .filter((s) => s.length <= 64 && !known.includes(s))
    .map((value) => ({ value, fault: 'path:unknown-id' }));
}

// ---------------------------------------------------------------------------------------------
// Query strings

const QUERY_KEYS = [
  'limit',
  'cursor',
  'status',
  'wait',
  'x',
  '__proto__',
  'constructor',
  'limit[]',
  'limit[0]',
  'cursor[$ne]',
  'status[]',
  'LIMIT',
  'Wait',
  '',
];
const QUERY_VALUES = [
  '',
  '-1',
  '0',
  '1',
  '50',
  '200',
  '201',
  '30001',
  '1e2',
  '0x10',
  ' 5',
  '5 ',
  '+5',
  '1.5',
  'NaN',
  'Infinity',
  '99999999999999999999',
  'null',
  'AWAITING_RESTAURANT',
  'awaiting_restaurant',
  'rst_0001',
  'ord_x',
  "' OR 1=1--",
];

const queryPart = fc.oneof(
  { arbitrary: fc.constantFrom(...QUERY_KEYS, ...QUERY_VALUES).map(encodeURIComponent), weight: 4 },
  { arbitrary: hostileString.map((s) => encodeSegment(s)), weight: 2 },
  // Raw characters the URL parser keeps as they are ('#' would start a fragment).
  { arbitrary: fc.string({ unit: fc.constantFrom('%', '&', '=', '+', '[', ']', '?', ';', 'a', '.'), maxLength: 6 }), weight: 1 },
);

/** The parsed query the server sees (app.ts: `query parser` = simple, i.e. node:querystring). */
export function queryAsReceived(raw: string): Record<string, unknown> {
  const search = new URL(`http://h/p?${raw}`).search.slice(1);
  return { ...querystring.parse(search) };
}

/** Query strings the schema refuses. */
export function hostileQuery(schema: z.ZodType): fc.Arbitrary<Tagged<string>> {
  return fc
    .oneof(
      {
        arbitrary: fc.array(fc.tuple(queryPart, queryPart), { minLength: 1, maxLength: 5 }).map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&')),
        weight: 5,
      },
      {
        arbitrary: fc
          .tuple(fc.constantFrom('limit', 'cursor', 'status', 'wait'), fc.integer({ min: 2, max: 30 }))
          .map(([k, n]) => Array.from({ length: n }, (_, i) => `${k}=${i}`).join('&')),
        weight: 1,
      },
      { arbitrary: fc.integer({ min: 100, max: 1500 }).map((n) => Array.from({ length: n }, (_, i) => `p${i}=${i}`).join('&')), weight: 1 },
    )
    .filter((raw) => !schema.safeParse(queryAsReceived(raw)).success)
    .map((value) => ({ value, fault: 'query' }));
}

// ---------------------------------------------------------------------------------------------
// Bodies

export const BODY_LIMIT_BYTES = 32 * 1024;

/** Content types the API refuses for a non-empty body (415), checked by hand against body-parser. */
export const REFUSED_CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'application/xml',
  'application/vnd.api+json',
  'application/jsonx',
  'json',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'application/json; charset=ebcdic',
  '*/*',
  '',
];

export const JSON_CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'Application/JSON', 'application/json;charset=UTF-8'];

export type BodyVerdict = { refused: true; why: string } | { refused: false; value: unknown };

/** What the server makes of a body before any route looks at it (conservative: "refused" only when sure). */
export function bodyAsReceived(body: FuzzBody | undefined): BodyVerdict {
  if (!body || body.raw.length === 0) return { refused: false, value: {} };
  const type = (body.contentType ?? 'text/plain;charset=UTF-8').toLowerCase().replace(/\s+/g, '');
  if (!(type === 'application/json' || type.startsWith('application/json;'))) return { refused: true, why: 'content-type' };
  const charset = /charset=([^;]+)/.exec(type)?.[1];
  if (charset !== undefined && charset !== 'utf-8') return { refused: true, why: 'charset' };
  if (body.contentEncoding !== undefined && body.contentEncoding.toLowerCase() !== 'identity') return { refused: true, why: 'content-encoding' };
  if (Buffer.byteLength(body.raw) > BODY_LIMIT_BYTES) return { refused: true, why: 'too-large' };
  const text = body.raw.replace(/^\ufeff/, '');
  if (!/^[ \t\n\r]*[[{]/.test(text)) return { refused: true, why: 'not-an-object' };
  try {
    return { refused: false, value: JSON.parse(text) };
  } catch {
    return { refused: true, why: 'malformed' };
  }
}

const json = (value: unknown): FuzzBody => ({ raw: JSON.stringify(value), contentType: 'application/json' });

/** Raw bodies that are not JSON the server can read. */
const MALFORMED = [
  '{',
  '{"restaurantId": }',
  "{'restaurantId': 'rst_0001'}",
  '{"a":1,}',
  '{"a":1}{"b":2}',
  '{"a": NaN}',
  '{"a": Infinity}',
  '{"a": undefined}',
  '{"a": 0x10}',
  '{"a": 01}',
  '{/* comment */}',
  '{"a":"\\x41"}',
  '{"a":"\\ud800"',
  '{"a" "b"}',
  '[1,2',
  'null',
  'true',
  '1',
  '"string"',
  '\u0000{}',
  '{"__proto__": ',
];

/**
 * Hostile bodies for a route: refused by body-parser (malformed, oversized, wrong type, encoding,
 * charset, deep nesting) or by the route's schema (mutations of a valid body, random JSON).
 */
export function hostileBody(schema: z.ZodType, validExamples: unknown[], mutations: fc.Arbitrary<unknown>): fc.Arbitrary<Tagged<FuzzBody | undefined>> {
  const example = fc.constantFrom(...validExamples);
  const refused = (b: FuzzBody) => {
    const seen = bodyAsReceived(b);
    return seen.refused || !schema.safeParse(seen.value).success;
  };
  const tag = (fault: string) => (b: FuzzBody) => ({ value: b as FuzzBody | undefined, fault });
  return fc.oneof(
    { arbitrary: mutations.map(json).filter(refused).map(tag('body:schema')), weight: 6 },
    { arbitrary: hostileJson.map(json).filter(refused).map(tag('body:random-json')), weight: 2 },
    {
      arbitrary: fc
        .constantFrom(...MALFORMED)
        .map((raw) => ({ raw, contentType: 'application/json' }))
        .filter(refused)
        .map(tag('body:malformed')),
      weight: 2,
    },
    {
      // Truncated valid bodies.
      arbitrary: fc
        .tuple(example, fc.nat())
        .map(([v, n]) => {
          const raw = JSON.stringify(v);
          return { raw: raw.slice(0, Math.max(1, n % raw.length)), contentType: 'application/json' };
        })
        .filter(refused)
        .map(tag('body:malformed')),
      weight: 1,
    },
    {
      arbitrary: fc
        .tuple(fc.integer({ min: 50, max: 15000 }), fc.constantFrom('[]', '{}'), fc.boolean())
        .map(([depth, kind, wrapped]) => {
          const nested = kind === '[]' ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
          return { raw: wrapped ? `{"items":${nested}}` : nested, contentType: 'application/json' };
        })
        .filter(refused)
        .map(tag('body:deep-nesting')),
      weight: 1,
    },
    {
      arbitrary: fc
        .tuple(example, fc.integer({ min: BODY_LIMIT_BYTES + 1, max: 4 * BODY_LIMIT_BYTES }), fc.constantFrom('pad', 'unknown'))
        .map(([v, size, how]) => ({
          raw: JSON.stringify({ ...(v as object), [how === 'pad' ? 'padding' : 'x'.repeat(8)]: 'x'.repeat(size) }),
          contentType: 'application/json',
        }))
        .map(tag('body:too-large')),
      weight: 1,
    },
    {
      arbitrary: fc
        .tuple(example, fc.constantFrom(...REFUSED_CONTENT_TYPES, undefined))
        .map(([v, contentType]) => ({ raw: JSON.stringify(v), ...(contentType !== undefined ? { contentType } : {}) }))
        .map(tag('body:content-type')),
      weight: 1,
    },
    {
      arbitrary: fc
        .tuple(example, fc.constantFrom('gzip', 'deflate', 'br', 'compress', 'x-unknown', 'gzip, gzip'))
        .map(([v, contentEncoding]) => ({ ...json(v), contentEncoding }))
        .map(tag('body:content-encoding')),
      weight: 1,
    },
    {
      // Prototype-pollution keys written into the JSON text itself.
      arbitrary: fc
        .tuple(example, fc.constantFrom('__proto__', 'constructor', 'prototype'))
        .map(([v, key]) => ({ raw: JSON.stringify(v).replace(/^\{/, `{"${key}":{"role":"admin","isAdmin":true},`), contentType: 'application/json' }))
        .filter(refused)
        .map(tag('body:prototype-pollution')),
      weight: 1,
    },
  );
}

/** A field-level mutation of a valid object: drop a field, add one, or replace a value with a hostile one. */
export function mutateObject(base: Record<string, unknown>, fieldValues: Record<string, fc.Arbitrary<unknown>> = {}): fc.Arbitrary<unknown> {
  const keys = Object.keys(base);
  const valueFor = (k: string) => (fieldValues[k] ? fc.oneof(fieldValues[k]!, hostileJson) : hostileJson);
  return fc.oneof(
    fc.constantFrom(...keys).map((k) => Object.fromEntries(Object.entries(base).filter(([key]) => key !== k))),
    fc
      .tuple(
        hostileKey.filter((k) => !keys.includes(k)),
        hostileJson,
      )
      .map(([k, v]) => ({ ...base, [k]: v })),
    fc.constantFrom(...keys).chain((k) => valueFor(k).map((v) => ({ ...base, [k]: v }))),
    fc
      .tuple(fc.constantFrom(...keys), fc.constantFrom(...keys))
      .chain(([a, b]) => fc.tuple(valueFor(a), valueFor(b)).map(([va, vb]) => ({ ...base, [a]: va, [b]: vb }))),
  );
}

// ---------------------------------------------------------------------------------------------
// Sending and checking

export interface FuzzResponse {
  status: number;
  text: string;
  headers: Headers;
}

export async function sendFuzzRequest(baseUrl: string, req: FuzzRequest): Promise<FuzzResponse> {
  const headers: Record<string, string> = { ...req.headers };
  if (req.body?.contentType !== undefined) headers['content-type'] = req.body.contentType;
  if (req.body?.contentEncoding !== undefined) headers['content-encoding'] = req.body.contentEncoding;
  const url = `${baseUrl}${req.path}${req.query ? `?${req.query}` : ''}`;
  const res = await fetch(url, { method: req.method, headers, body: req.body?.raw, redirect: 'manual', signal: AbortSignal.timeout(20_000) });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** Why an answer is not a 4xx in the API's error shape (undefined when it is). */
export function errorShapeProblem(res: FuzzResponse): string | undefined {
  if (res.status < 400 || res.status > 499) return `status ${res.status}`;
  if (!(res.headers.get('content-type') ?? '').startsWith('application/json')) return `content-type ${res.headers.get('content-type')}`;
  if (res.headers.get('x-content-type-options') !== 'nosniff') return 'no X-Content-Type-Options: nosniff';
  let body: any;
  try {
    body = JSON.parse(res.text);
  } catch {
    return 'body is not JSON';
  }
  if (!body || typeof body !== 'object' || Object.keys(body).join() !== 'error') return 'body is not {"error": ...}';
  const e = body.error;
  if (!e || typeof e !== 'object') return 'error is not an object';
  if (typeof e.code !== 'string' || !/^[A-Z][A-Z0-9_]*$/.test(e.code)) return `bad code ${JSON.stringify(e.code)}`;
  if (typeof e.message !== 'string' || e.message.length === 0) return 'no message';
  const extra = Object.keys(e).filter((k) => !['code', 'message', 'details'].includes(k));
  if (extra.length > 0) return `unexpected error fields ${extra.join()}`;
  if (/node_modules|\n\s+at |\.ts:\d+:\d+/.test(res.text)) return 'a stack trace leaked';
  if (res.status === 429 && !res.headers.get('retry-after')) return '429 without Retry-After';
  return undefined;
}

export function describeRequest(req: FuzzRequest): string {
  const clip = (s: string, n = 300) => (s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s);
  const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, clip(v, 120)]));
  return JSON.stringify({
    faults: req.faults,
    method: req.method,
    path: clip(req.path),
    query: clip(req.query),
    headers,
    body: req.body ? { ...req.body, raw: clip(req.body.raw) } : undefined,
  });
}

export interface RouteCounts {
  generated: number;
  sent: number;
  statuses: Record<string, number>;
  codes: Record<string, number>;
  faults: Record<string, number>;
}

export function emptyCounts(): RouteCounts {
  return { generated: 0, sent: 0, statuses: {}, codes: {}, faults: {} };
}

export function countResponse(counts: RouteCounts, req: FuzzRequest, res: FuzzResponse): void {
  counts.sent += 1;
  counts.statuses[res.status] = (counts.statuses[res.status] ?? 0) + 1;
  try {
    const code = JSON.parse(res.text)?.error?.code;
    if (typeof code === 'string') counts.codes[code] = (counts.codes[code] ?? 0) + 1;
  } catch {
    // counted by status only
  }
  for (const f of new Set(req.faults)) counts.faults[f] = (counts.faults[f] ?? 0) + 1;
}

// ---------------------------------------------------------------------------------------------
// Database snapshots

const TABLES: Array<[keyof Pick<TestStack['dbs'], 'orders' | 'payments' | 'restaurants' | 'menuRead'>, string]> = [
  ['orders', 'orders'],
  ['orders', 'order_items'],
  ['orders', 'order_status_history'],
  ['orders', 'idempotency_keys'],
  ['payments', 'payments'],
  ['payments', 'payment_events'],
  ['restaurants', 'restaurants'],
  ['restaurants', 'menu_items'],
  ['restaurants', 'tickets'],
  ['menuRead', 'restaurants_read'],
  ['menuRead', 'menu_items_read'],
];

/** Row count and an md5 over every row of every business table, in all four databases. */
export async function snapshotRows(stack: TestStack): Promise<Record<string, string>> {
  const entries = await Promise.all(
    TABLES.map(async ([db, table]) => {
      const { rows } = await stack.dbs[db].raw(
        `select count(*)::int as n, coalesce(md5(string_agg(t::text, E'\\n' order by t::text)), '-') as sum from ${table} t`,
      );
      return [`${db}.${table}`, `${rows[0].n} rows, md5 ${rows[0].sum}`] as const;
    }),
  );
  return Object.fromEntries(entries);
}
