import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from '../lib/logger';

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

/** The one place that turns errors into the API's error shape; unknown errors are hidden as 500. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    if (res.headersSent) return;
    let httpError: HttpError;
    if (err instanceof HttpError) {
      httpError = err;
    } else if (err?.type === 'entity.parse.failed') {
      httpError = new HttpError(400, 'MALFORMED_JSON', 'The request body is not valid JSON');
    } else if (err?.type === 'entity.too.large') {
      httpError = new HttpError(413, 'PAYLOAD_TOO_LARGE', 'The request body is too large');
    } else if (err?.type === 'encoding.unsupported' || err?.type === 'charset.unsupported') {
      httpError = new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Unsupported body encoding');
    } else if (typeof err?.status === 'number' && err.status >= 400 && err.status < 500) {
      httpError = new HttpError(err.status, 'BAD_REQUEST', 'The request could not be read');
    } else {
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
