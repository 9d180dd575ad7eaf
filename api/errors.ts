import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from '../lib/node/logger';
import { DomainError, type DomainErrorKind, Unavailable } from './services/errors';

// The one place that turns failures into HTTP answers: domain errors (api/services/errors.ts) by
// their kind, failures of the HTTP edge itself (HttpError) as they are, errors from Express and
// body-parser by their type, unreachable databases as 503s, and anything else as a hidden 500.
// Every answer has the documented shape {"error": {"code", "message", "details"?}}.

/** A failure of the HTTP edge itself (unknown route, body type, rate limit, ...): it knows its status. */
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

/** The status of each kind of domain error. */
const STATUS_OF: Record<DomainErrorKind, number> = {
  invalidInput: 400,
  unauthenticated: 401,
  forbidden: 403,
  notFound: 404,
  conflict: 409,
  unprocessable: 422,
  preconditionRequired: 428,
  tooManyRequests: 429,
  unavailable: 503,
};

/** Every error status the API documents, with what it means (the OpenAPI document's shared responses). */
export const DOCUMENTED_ERRORS = {
  400: 'Invalid input (`VALIDATION_FAILED`, `MALFORMED_JSON`, `IDEMPOTENCY_KEY_REQUIRED`, ...)',
  401: 'Missing or bad credentials',
  403: "Acting on another party's resource, or a role that may not use this route",
  404: 'Unknown resource (also: an order the caller may not see)',
  409: "Conflict (`NOT_CANCELLABLE`, `DECISION_ALREADY_MADE`, `ORDER_CLOSED` (also once the saga has begun to close), `NOT_AWAITING_DECISION` (a decision before the order awaits the restaurant), `VERSION_CONFLICT`; the operator's desk: `PAST_DECISION` (a cancel after the restaurant decided), `SAGA_NOT_RUNNING`, `NO_STEP_TO_RETRY`)",
  415: 'A body that is not JSON',
  422: '`ITEM_UNAVAILABLE`, `IDEMPOTENCY_KEY_REUSED`, (codec endpoint) `PAYLOAD_NOT_DECRYPTABLE`, or (production only) `SANDBOX_CARD_TOKEN`: a card token that only steers the PSP sandbox (`tok_slow_*`, `tok_flaky_*`, `tok_decline`)',
  428: 'If-Match is required',
  429: '`RATE_LIMITED`: too many requests in the window for this client (`Retry-After` says when to retry); `TOO_MANY_ORDERS_IN_FLIGHT` (`POST /orders`): the customer already has the most orders not yet final (`details.limit`, `details.inFlight`)',
  503: 'A dependency is unreachable (`TEMPORAL_UNAVAILABLE`, `DATABASE_UNAVAILABLE`), or (`POST /orders?wait=`) `WAIT_CAPACITY_EXHAUSTED`: too many requests are already held waiting; retry (`Retry-After`)',
} as const;
export type ErrorStatus = keyof typeof DOCUMENTED_ERRORS;

/** What may go wrong on any route of the API: bad input, bad credentials, rate limits, a dependency down. */
export const COMMON_ERRORS: ErrorStatus[] = [400, 401, 429, 503];

function fromDomain(err: DomainError): HttpError {
  const headers = err instanceof Unavailable ? { 'retry-after': String(err.retryAfterSeconds) } : undefined;
  return new HttpError(STATUS_OF[err.kind], err.code, err.message, err.details, headers);
}

export const unknownRoute: RequestHandler = (req, _res, next) => {
  next(new HttpError(404, 'NOT_FOUND', `No route for ${req.method} ${req.path}`));
};

/**
 * Errors raised by Express and body-parser before a route runs, mapped to the contract: malformed
 * JSON and oversized bodies are 400s (the contract: an oversized body is a bad request), an undecodable path is a 400,
 * an unsupported body encoding a 415. Returns undefined for anything that is not the client's fault.
 */
function requestError(err: any): HttpError | undefined {
  switch (err?.type) {
    case 'entity.parse.failed':
      return new HttpError(400, 'MALFORMED_JSON', 'The request body is not valid JSON');
    case 'entity.too.large':
      return new HttpError(400, 'VALIDATION_FAILED', 'The request body is too large', [{ path: '', message: `at most ${Number(err.limit)} bytes` }]);
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
  if (typeof err?.status === 'number' && err.status >= 400 && err.status < 500)
    return new HttpError(err.status, 'BAD_REQUEST', 'The request could not be read');
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

/** The answer for an error, or undefined when it is not one the API knows (a bug: hidden as a 500). */
export function toHttpError(err: unknown): HttpError | undefined {
  if (err instanceof HttpError) return err;
  if (err instanceof DomainError) return fromDomain(err);
  const fromRequest = requestError(err);
  if (fromRequest) return fromRequest;
  if (isDatabaseUnavailable(err)) return fromDomain(new Unavailable('DATABASE_UNAVAILABLE', 'A database is not reachable right now; retry'));
  return undefined;
}

/** The one place that turns errors into the API's error shape; unknown errors are logged and hidden as 500. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    if (res.headersSent) return;
    let httpError = toHttpError(err);
    if (!httpError) {
      logger.error({ err, method: req.method, path: req.path }, 'unhandled error');
      httpError = new HttpError(500, 'INTERNAL', 'Something went wrong on our side');
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
