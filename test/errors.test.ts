import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { errorHandler, HttpError } from '../api/errors';
import { Conflict, Forbidden, InvalidInput, NotFound, PreconditionRequired, Unauthenticated, Unavailable, Unprocessable } from '../api/services/errors';
import { createLogger } from '../lib/node/logger';

// The services throw domain errors; api/errors.ts alone turns them into statuses and the error
// shape. These are the statuses and codes clients already rely on (the OpenAPI document).

describe('the error handler', () => {
  const logged: unknown[] = [];
  const logger = createLogger('errors-test', 'silent');
  logger.error = ((obj: unknown) => void logged.push(obj)) as typeof logger.error;
  let thrown: unknown;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    const app = express();
    // An async handler that throws: Express 5 hands the rejection to the error handler.
    app.get('/throw', async () => {
      await Promise.resolve();
      throw thrown;
    });
    app.use(errorHandler(logger));
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  async function answer(err: unknown) {
    thrown = err;
    const res = await fetch(`${base}/throw`);
    return {
      status: res.status,
      retryAfter: res.headers.get('retry-after'),
      body: (await res.json()) as { error: { code: string; message: string; details?: unknown } },
    };
  }

  it.each([
    [new InvalidInput('The request body is invalid', [{ path: 'items', message: 'too small' }]), 400, 'VALIDATION_FAILED'],
    [new InvalidInput('The Idempotency-Key header is required', undefined, 'IDEMPOTENCY_KEY_REQUIRED'), 400, 'IDEMPOTENCY_KEY_REQUIRED'],
    [new Unauthenticated('A bearer token is required'), 401, 'UNAUTHENTICATED'],
    [new Forbidden(), 403, 'FORBIDDEN'],
    [new NotFound('Order'), 404, 'NOT_FOUND'],
    [new Conflict('NOT_CANCELLABLE', 'The order is already CONFIRMED'), 409, 'NOT_CANCELLABLE'],
    [new Conflict('DECISION_ALREADY_MADE', 'decided'), 409, 'DECISION_ALREADY_MADE'],
    [new Conflict('ORDER_CLOSED', 'closed'), 409, 'ORDER_CLOSED'],
    [new Conflict('NOT_AWAITING_DECISION', 'not yet'), 409, 'NOT_AWAITING_DECISION'],
    [new Conflict('VERSION_CONFLICT', 'changed', { currentVersion: 2 }), 409, 'VERSION_CONFLICT'],
    [new Unprocessable('ITEM_UNAVAILABLE', 'sold out', { menuIds: ['m1'] }), 422, 'ITEM_UNAVAILABLE'],
    [new Unprocessable('IDEMPOTENCY_KEY_REUSED', 'reused'), 422, 'IDEMPOTENCY_KEY_REUSED'],
    [new PreconditionRequired('If-Match: <version> is required'), 428, 'PRECONDITION_REQUIRED'],
    [new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'JSON only'), 415, 'UNSUPPORTED_MEDIA_TYPE'],
  ])('%s → %i %s, in the error shape', async (err, status, code) => {
    const res = await answer(err);
    expect(res.status).toBe(status);
    expect(res.body).toEqual({
      error: {
        code,
        message: (err as Error).message,
        ...((err as { details?: unknown }).details !== undefined ? { details: (err as { details?: unknown }).details } : {}),
      },
    });
    expect(res.retryAfter).toBeNull();
  });

  it('a dependency that is down is a 503 with Retry-After', async () => {
    const temporal = await answer(new Unavailable('TEMPORAL_UNAVAILABLE', 'Could not reach the order workflow; retry'));
    expect(temporal).toEqual({
      status: 503,
      retryAfter: '1',
      body: { error: { code: 'TEMPORAL_UNAVAILABLE', message: 'Could not reach the order workflow; retry' } },
    });
    const database = await answer(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }));
    expect(database).toMatchObject({ status: 503, retryAfter: '1', body: { error: { code: 'DATABASE_UNAVAILABLE' } } });
  });

  it('an unknown error is logged and hidden behind a generic 500', async () => {
    logged.length = 0;
    const res = await answer(new TypeError("Cannot read properties of undefined (reading 'secret_column')"));
    expect(res).toEqual({ status: 500, retryAfter: null, body: { error: { code: 'INTERNAL', message: 'Something went wrong on our side' } } });
    expect(logged).toHaveLength(1);
    expect(JSON.stringify(res.body)).not.toContain('secret_column');
  });
});
