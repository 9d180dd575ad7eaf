import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Express, RequestHandler } from 'express';
import helmet from 'helmet';
import { rateLimit, ipKeyGenerator } from 'express-rate-limit';
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
  /** Requests one client may make per window; 0 switches the limiter off. */
  limit: number;
}

/** Defaults (RATE_LIMIT_WINDOW_MS, RATE_LIMIT_MAX): a backstop against floods, far above what one person or the test suites do. */
export const DEFAULT_RATE_LIMIT: RateLimitSettings = { windowMs: 60_000, limit: 20_000 };

/**
 * Per-client rate limiting. A client is the token's role and subject when the request carries a valid
 * token, else its IP address (an IPv6 client by its /56), so bad-token floods are limited by address.
 * Must run after readCredentials. Over the limit: 429 RATE_LIMITED with Retry-After, in the API's
 * error shape. Counters live in process memory: each API instance limits on its own.
 */
export function rateLimiter(settings: RateLimitSettings, logger: Logger): RequestHandler {
  if (settings.limit <= 0) return (_req, _res, next) => next();
  return rateLimit({
    windowMs: settings.windowMs,
    limit: settings.limit,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: (req) => (req.principal ? `sub:${req.principal.role}:${req.principal.sub}` : `ip:${ipKeyGenerator(req.ip ?? 'unknown')}`),
    handler: (req, res, next) => {
      // express-rate-limit has already set Retry-After from the window's reset time.
      const header = Number(res.getHeader('retry-after'));
      const retryAfterSeconds = Number.isFinite(header) && header > 0 ? Math.ceil(header) : Math.ceil(settings.windowMs / 1000);
      // Logged once per client and window, not for every refused request of a flood.
      const used = (req as typeof req & { rateLimit?: { used?: number } }).rateLimit?.used;
      if (used === settings.limit + 1)
        logger.warn({ method: req.method, path: req.path, client: req.principal ? `${req.principal.role}:${req.principal.sub}` : req.ip }, 'rate limited');
      next(
        new HttpError(
          429,
          'RATE_LIMITED',
          `Too many requests; retry in ${retryAfterSeconds} s`,
          { retryAfterSeconds, limit: settings.limit, windowSeconds: Math.ceil(settings.windowMs / 1000) },
          {
            'retry-after': String(retryAfterSeconds),
          },
        ),
      );
    },
    logger: { warn: (err, msg) => logger.warn({ err }, msg ?? 'rate limiter'), error: (err, msg) => logger.error({ err }, msg ?? 'rate limiter') },
  });
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
