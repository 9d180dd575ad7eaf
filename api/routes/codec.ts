import type { RequestHandler, Router } from 'express';
import { decodeJwt } from 'jose';
import { z } from 'zod';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { InvalidTokenError, verifyToken, type TokenLifetimes } from '../../lib/node/auth';
import { PayloadDecryptionError } from '../../lib/node/payload-codec';
import { HttpError } from '../errors';
import { mountApi, type MountOptions } from '../mount';
import { component, defineRoute, type Handlers } from '../route';
import { Unauthenticated, Unprocessable } from '../services/errors';

// The codec endpoint: Temporal's remote codec protocol (POST <endpoint>/decode and /encode, a JSON
// body `{"payloads": [{"metadata": {name: base64}, "data": base64}]}` answered in the same shape), so
// that the Web UI (--ui-codec-endpoint, TEMPORAL_CODEC_ENDPOINT) and the CLI (--codec-endpoint) show
// operators the payloads every process encrypts (lib/node/payload-codec.ts). Decrypted payloads
// hold personal data: admins only, and browsers only from the Web UI's origin (CORS).
//
// The CLI sends `--codec-auth "Bearer <token>"`. The Web UI cannot send our bearer token (it passes
// only its own OIDC token, and only to an https endpoint); it can send cookies ("Include
// cross-origin credentials"), so an operator's token can also be kept in an HttpOnly cookie that only
// /codec/ sees: POST /codec/session with the token sets it, from the API's own pages (the operator's
// desk has a button for it; docs/runbook.md, "Reading encrypted histories").

export const CODEC_COOKIE = 'codec_session';
/** The longest a codec cookie lives (it never outlives its token). */
const COOKIE_MAX_AGE_SECONDS = 12 * 3600;
/** Histories are decoded in batches of events: a larger body than the API's 32 KB. */
export const CODEC_BODY_LIMIT = '4mb';

const base64 = z
  .string()
  .max(6_000_000)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64');
const JsonPayload = z
  .object({
    metadata: z.record(z.string().min(1).max(256), base64).optional(),
    data: base64.optional(),
  })
  .strict();

export const CodecPayloads = component('CodecPayloads', z.object({ payloads: z.array(JsonPayload).max(2000) }).strict(), {
  description: "Temporal's remote codec format: each payload's metadata values and data in base64.",
  example: { payloads: [{ metadata: { encoding: 'YmluYXJ5L2VuY3J5cHRlZA==', 'encryption-key-id': 'azE=' }, data: 'base64…' }] },
});

const operator = { roles: ['admin'] } as const;
const namespaceHeader = {
  name: 'X-Namespace',
  schema: z.string().max(256),
  required: false,
  description: "Sent by the Web UI (the namespace of the payloads); one keyring serves this API's namespace",
} as const;

const codecRoute = (direction: 'decode' | 'encode', summary: string, description: string) =>
  defineRoute({
    method: 'post',
    path: `/codec/${direction}`,
    tag: 'Admin',
    summary,
    description: `${description} Admins only, with \`Authorization: Bearer <token>\` or the cookie POST /codec/session sets. A browser may call it only from the Temporal Web UI's origin (CODEC_CORS_ORIGINS, default the origin of TEMPORAL_UI_URL): another Origin is a 403, and CORS preflights (OPTIONS) are answered for the allowed one.`,
    access: operator,
    headers: { namespace: namespaceHeader },
    body: { component: CodecPayloads },
    responses: { 200: { description: `The payloads, ${direction}d, in the same order`, body: CodecPayloads } },
    errors: direction === 'decode' ? [422] : [],
  });

export const codecApi = {
  codecDecode: codecRoute(
    'decode',
    'Decrypt Temporal payloads (remote codec for the Web UI and the CLI)',
    'Payloads encrypted by this system (`binary/encrypted`) come back as the workflow wrote them; others come back unchanged. A payload of a key the keyring does not hold, or that fails authentication, is a 422 `PAYLOAD_NOT_DECRYPTABLE`.',
  ),
  codecEncode: codecRoute(
    'encode',
    'Encrypt Temporal payloads (remote codec for the Web UI and the CLI)',
    'Encrypts each payload with the current key, as the workers do (for inputs an operator sends from the Web UI or the CLI).',
  ),
  codecSession: defineRoute({
    method: 'post',
    path: '/codec/session',
    tag: 'Admin',
    summary: "Keep the caller's token in a cookie for the codec endpoint (the Web UI's way to authenticate)",
    description:
      'Sets `codec_session` (HttpOnly, SameSite=Strict, Path=/codec, Secure over https) to the bearer token of this request, for at most the rest of its life and 12 hours. The Web UI then sends it with "Include cross-origin credentials" on. Only the Authorization header is accepted here, and a browser may call it only from the API\'s own pages (the operator\'s desk): another Origin is a 403.',
    access: operator,
    responses: { 204: { description: 'The cookie is set', headers: { 'Set-Cookie': { description: 'codec_session=…', schema: { type: 'string' } } } } },
  }),
};

const toPayload = (p: z.output<typeof JsonPayload>): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))])),
  data: new Uint8Array(Buffer.from(p.data ?? '', 'base64')),
});
const toJson = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')])),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

const BEARER = /^Bearer +([A-Za-z0-9_\-.]{1,4096}) *$/i;

export function codecRoutes(codec: PayloadCodec, options: MountOptions = {}): Router {
  const handlers: Handlers<typeof codecApi> = {
    async codecDecode({ body }) {
      try {
        return { status: 200, body: { payloads: (await codec.decode(body.payloads.map(toPayload))).map(toJson) } };
      } catch (err) {
        if (err instanceof PayloadDecryptionError) throw new Unprocessable('PAYLOAD_NOT_DECRYPTABLE', err.message);
        throw err;
      }
    },
    async codecEncode({ body }) {
      return { status: 200, body: { payloads: (await codec.encode(body.payloads.map(toPayload))).map(toJson) } };
    },
    async codecSession(_input, req) {
      const token = BEARER.exec(req.header('authorization') ?? '')?.[1];
      if (!token) throw new Unauthenticated('POST /codec/session takes the token from the Authorization header');
      const exp = decodeJwt(token).exp ?? 0;
      const maxAge = Math.max(0, Math.min(COOKIE_MAX_AGE_SECONDS, exp - Math.floor(Date.now() / 1000)));
      const cookie = [`${CODEC_COOKIE}=${token}`, 'Path=/codec', 'HttpOnly', 'SameSite=Strict', `Max-Age=${maxAge}`, ...(req.secure ? ['Secure'] : [])];
      return { status: 204, headers: { 'set-cookie': cookie.join('; '), 'cache-control': 'no-store' } };
    },
  };
  return mountApi(codecApi, handlers, options);
}

/**
 * CORS for /codec/: a browser's request to decode or encode is answered only from an allowed origin
 * (with credentials, so the codec cookie goes along); a request from any other origin is a 403 before
 * it is read. POST /codec/session only from the API's own origin (the operator's desk). Requests
 * without Origin (the CLI, curl) pass. Mount before credentials are read: a preflight carries none.
 */
export function codecCors(allowedOrigins: readonly string[]): RequestHandler {
  const allowed = new Set(allowedOrigins);
  return (req, res, next) => {
    res.vary('Origin');
    const origin = req.header('origin');
    if (origin === undefined) return next();
    // The cookie is set from the API's own pages (the operator's desk), never cross-origin.
    if (req.path === '/session') {
      const own = `${req.protocol}://${req.get('host') ?? ''}`;
      return next(origin === own ? undefined : new HttpError(403, 'FORBIDDEN', "POST /codec/session is answered to the API's own pages only"));
    }
    if (!allowed.has(origin)) return next(new HttpError(403, 'FORBIDDEN', `Origin ${origin.slice(0, 200)} may not use the codec endpoint`));
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Access-Control-Allow-Credentials', 'true');
    if (req.method !== 'OPTIONS') return next();
    res.setHeader('Access-Control-Allow-Methods', 'POST');
    res.setHeader('Access-Control-Allow-Headers', 'Authorization, Authorization-Extras, Content-Type, X-Namespace');
    res.setHeader('Access-Control-Max-Age', '600');
    res.status(204).end();
  };
}

/**
 * The codec cookie as credentials, for /codec/decode and /codec/encode only, when the request has no
 * Authorization header (which readCredentials has read). A bad cookie is a 401 like a bad token.
 */
export function readCodecCookie(secret: string, maxLifetimes?: TokenLifetimes): RequestHandler {
  return async (req, _res, next) => {
    if (req.principal || req.credentialsError || req.header('authorization') !== undefined) return next();
    if (req.path !== '/decode' && req.path !== '/encode') return next();
    const token = cookieValue(req.header('cookie'), CODEC_COOKIE);
    if (token === undefined) return next();
    try {
      req.principal = await verifyToken(token, secret, maxLifetimes);
    } catch (err) {
      req.credentialsError = new Unauthenticated(err instanceof InvalidTokenError ? `Invalid codec cookie: ${err.message}` : 'Invalid codec cookie');
    }
    next();
  };
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
