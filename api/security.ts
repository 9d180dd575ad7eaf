import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Express, Request, RequestHandler } from 'express';
import helmet from 'helmet';
import { rateLimit, ipKeyGenerator } from 'express-rate-limit';
import { DEFAULT_RATE_LIMITS } from '../lib/node/config';
import type { Logger } from '../lib/node/logger';
import { HttpError } from './errors';

// The HTTP edge's defences that are not about a single route: security headers, per-client rate
// limiting, JSON-only bodies, and error answers for requests Node refuses before Express sees them.

/** Standard security headers (CSP, nosniff, frame-ancestors, HSTS, no referrer, ...) from helmet. */
export function securityHeaders(): RequestHandler {
  return helmet();
}

export interface RateLimitSettings {
  /** Length of the fixed window, in milliseconds. */
  windowMs: number;
  /** Requests per window for each role, by token subject; 0 switches that role's limit off. */
  customer: number;
  restaurant: number;
  admin: number;
  /** Requests per window for callers without a (valid) token, by IP address; 0: off. */
  anonymous: number;
  /** Requests per window to /readyz and /metrics, by IP address; 0: off. */
  probes: number;
}

/**
 * Defaults (RATE_LIMIT_*): a customer's app makes a few requests a minute and a restaurant's or an
 * operator's screen polls every few seconds, so 300 and 600 a minute are never reached by a real
 * client and stop a script at 5-10 requests a second. Probes: a scraper every 15 s and a health check
 * every 10 s are a dozen a minute.
 */
export const DEFAULT_RATE_LIMIT: RateLimitSettings = { ...DEFAULT_RATE_LIMITS };

/** No limit at all (tools and tests that drive far more than one client's load through one subject). */
export const NO_RATE_LIMIT: RateLimitSettings = { windowMs: 60_000, customer: 0, restaurant: 0, admin: 0, anonymous: 0, probes: 0 };

type Limited = Request & { rateLimit?: { used?: number; limit?: number } };

function limiter(
  windowMs: number,
  limitOf: (req: Request) => number,
  keyOf: (req: Request) => string,
  who: (req: Request) => unknown,
  logger: Logger,
): RequestHandler {
  return rateLimit({
    windowMs,
    limit: limitOf,
    skip: (req) => limitOf(req) <= 0,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: keyOf,
    handler: (req, res, next) => {
      const limit = limitOf(req);
      // express-rate-limit has already set Retry-After from the window's reset time.
      const header = Number(res.getHeader('retry-after'));
      const retryAfterSeconds = Number.isFinite(header) && header > 0 ? Math.ceil(header) : Math.ceil(windowMs / 1000);
      // Logged once per client and window, not for every refused request of a flood.
      if ((req as Limited).rateLimit?.used === limit + 1) logger.warn({ method: req.method, path: req.path, client: who(req) }, 'rate limited');
      next(
        new HttpError(
          429,
          'RATE_LIMITED',
          `Too many requests; retry in ${retryAfterSeconds} s`,
          { retryAfterSeconds, limit, windowSeconds: Math.ceil(windowMs / 1000) },
          { 'retry-after': String(retryAfterSeconds) },
        ),
      );
    },
    logger: { warn: (err, msg) => logger.warn({ err }, msg ?? 'rate limiter'), error: (err, msg) => logger.error({ err }, msg ?? 'rate limiter') },
  });
}

const byAddress = (req: Request) => `ip:${ipKeyGenerator(req.ip ?? 'unknown')}`;

/**
 * Per-client rate limiting. A client is the token's role and subject when the request carries a valid
 * token (limited by its role's setting), else its IP address (an IPv6 client by its /56; the
 * anonymous setting), so bad-token floods are limited by address. Must run after readCredentials.
 * Over the limit: 429 RATE_LIMITED with Retry-After, in the API's error shape. Counters live in
 * process memory: each API instance limits on its own.
 */
export function rateLimiter(settings: RateLimitSettings, logger: Logger): RequestHandler {
  return limiter(
    settings.windowMs,
    (req) => (req.principal ? settings[req.principal.role] : settings.anonymous),
    (req) => (req.principal ? `sub:${req.principal.role}:${req.principal.sub}` : byAddress(req)),
    (req) => (req.principal ? `${req.principal.role}:${req.principal.sub}` : req.ip),
    logger,
  );
}

/** /readyz and /metrics: public and not free (every /readyz queries each dependency), so limited per IP address. */
export function probeRateLimiter(settings: RateLimitSettings, logger: Logger): RequestHandler {
  return limiter(
    settings.windowMs,
    () => settings.probes,
    (req) => `probe:${byAddress(req)}`,
    (req) => req.ip,
    logger,
  );
}

/**
 * Every body this API takes is JSON: a body of another type is a 415, not silently read as `{}`.
 * A request without a body (no Content-Length or 0, no Transfer-Encoding) passes whatever its type.
 */
export const requireJsonBody: RequestHandler = (req, _res, next) => {
  const length = req.headers['content-length'];
  const hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && Number(length) > 0);
  // Exactly what express.json() parses: a body it would skip would otherwise be read as `{}`.
  if (!hasBody || req.is('application/json')) return next();
  next(new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Request bodies must be JSON (Content-Type: application/json)'));
};

/** `TRUST_PROXY`: "false" (the socket's address is the client), "true", a hop count, or addresses/subnets. */
export function trustProxySetting(value: string | number | boolean | undefined): string | number | boolean {
  if (value === undefined || value === 'false' || value === '') return false;
  if (value === 'true') return true;
  if (typeof value === 'string' && /^\d+$/.test(value)) return Number(value);
  return value;
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 413: 'Payload Too Large', 431: 'Request Header Fields Too Large' };

function clientErrorAnswer(code: string | undefined): { status: number; code: string; message: string } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, code: 'HEADERS_TOO_LARGE', message: 'The request headers are too large' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, code: 'REQUEST_TIMEOUT', message: 'The request was not received in time' };
    default:
      return { status: 400, code: 'BAD_REQUEST', message: 'The request is not valid HTTP' };
  }
}

/**
 * Requests Node's HTTP parser refuses (headers over 16 KB, invalid header characters, malformed
 * request lines, timeouts, an unsupported Expect) never reach Express; by default Node answers them
 * with an empty body. This answers them in the API's error shape instead, and bounds how long a
 * client may take to send its request (slow-loris).
 */
export function hardenServer(server: Server): void {
  server.headersTimeout = 20_000;
  server.requestTimeout = 30_000;
  // An `Expect` other than 100-continue: Node would answer a bare 417.
  server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) => {
    const body = JSON.stringify({ error: { code: 'EXPECTATION_FAILED', message: 'Only "Expect: 100-continue" is supported' } });
    res.writeHead(417, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-content-type-options': 'nosniff',
      connection: 'close',
    });
    res.end(body);
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const answer = clientErrorAnswer(err.code);
    const body = JSON.stringify({ error: { code: answer.code, message: answer.message } });
    socket.end(
      `HTTP/1.1 ${answer.status} ${REASONS[answer.status] ?? 'Error'}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'X-Content-Type-Options: nosniff\r\n' +
        'Connection: close\r\n\r\n' +
        body,
    );
  });
}

/** Makes `app.listen(...)` return a hardened server (used by api/server.ts and the test stack alike). */
export function hardenListen(app: Express): void {
  const listen = app.listen.bind(app) as (...args: unknown[]) => Server;
  app.listen = ((...args: unknown[]) => {
    const server = listen(...args);
    hardenServer(server);
    return server;
  }) as Express['listen'];
}
