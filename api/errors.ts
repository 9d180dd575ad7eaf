import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from '../lib/node/logger';

/** A failure with a place in the API contract: its status, code and a message for a person. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const notFound = (what: string) => new HttpError(404, 'NOT_FOUND', `${what} not found`);
export const forbidden = (message = 'You may not act on this resource') => new HttpError(403, 'FORBIDDEN', message);

export const unknownRoute: RequestHandler = (req, _res, next) => {
  next(new HttpError(404, 'NOT_FOUND', `No route for ${req.method} ${req.path}`));
};

/**
 * Errors raised by Express and body-parser before a route runs, mapped to the contract: malformed
 * JSON and oversized bodies are 400s (API.md: "oversized bodies: 400"), an undecodable path is a 400,
 * an unsupported body encoding a 415. Returns undefined for anything that is not the client's fault.
 */
function requestError(err: any): HttpError | undefined {
  switch (err?.type) {
    case 'entity.parse.failed':
      return new HttpError(400, 'MALFORMED_JSON', 'The request body is not valid JSON');
    case 'entity.too.large':
      return new HttpError(400, 'VALIDATION_FAILED', 'The request body is too large', [
        { path: '', message: `at most ${Number(err.limit)} bytes` },
      ]);
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Unsupported body encoding');
    case 'request.aborted':
      return new HttpError(400, 'BAD_REQUEST', 'The request body was not received completely');
    case 'request.size.invalid':
      return new HttpError(400, 'BAD_REQUEST', 'The request body does not match its Content-Length');
    default:
      break;
  }
  // Express could not percent-decode a path parameter.
  if (err instanceof URIError) return new HttpError(400, 'VALIDATION_FAILED', 'The request path is not valid percent-encoding');
  if (typeof err?.status === 'number' && err.status >= 400 && err.status < 500) return new HttpError(err.status, 'BAD_REQUEST', 'The request could not be read');
  return undefined;
}

// Connection refused/reset, Postgres shutting down or starting, pool acquisition timeouts: a
// retry will do, so these are 503s, not 500s.
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006']);
function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: string; name?: string; message?: string } | undefined;
  if (!e) return false;
  if (e.code && UNAVAILABLE_CODES.has(e.code)) return true;
  if (e.name === 'KnexTimeoutError') return true;
  return /Connection terminated|connect ECONNREFUSED|terminating connection/.test(e.message ?? '');
}

/** The one place that turns errors into the API's error shape; unknown errors are hidden as 500. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    if (res.headersSent) return;
    let httpError: HttpError;
    if (err instanceof HttpError) {
      httpError = err;
    } else {
      const fromRequest = requestError(err);
      if (fromRequest) {
        httpError = fromRequest;
      } else if (isDatabaseUnavailable(err)) {
        httpError = new HttpError(503, 'DATABASE_UNAVAILABLE', 'A database is not reachable right now; retry', undefined, { 'retry-after': '1' });
      } else {
        logger.error({ err, method: req.method, path: req.path }, 'unhandled error');
        httpError = new HttpError(500, 'INTERNAL', 'Something went wrong on our side');
      }
    }
    if (httpError.status >= 500 && httpError.status !== 500) logger.warn({ code: httpError.code, msg: httpError.message }, 'unavailable');
    for (const [k, v] of Object.entries(httpError.headers ?? {})) res.setHeader(k, v);
    res.status(httpError.status).json({
      error: {
        code: httpError.code,
        message: httpError.message,
        ...(httpError.details !== undefined ? { details: httpError.details } : {}),
      },
    });
  };
}
