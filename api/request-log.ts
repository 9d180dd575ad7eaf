import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from '../lib/node/logger';
import { orderWorkflowId } from '../lib/workflow-safe/task-queues';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** This request's logger: the process logger with `reqId`, and `orderId`/`workflowId` once known. */
      log: Logger;
    }
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * A request-scoped child logger (`req.log`) and one line per finished request. The request id is the
 * caller's `X-Request-Id` when it is a short plain token, else a new UUID, and is echoed back. A
 * request about an order (bindOrder) logs its `orderId` and `workflowId`, so a grep for either finds
 * the API's lines next to the workers' lines about the same saga. Probes and scrapes log at debug.
 */
export function requestLogger(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const incoming = req.header('x-request-id');
    const reqId = incoming !== undefined && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('x-request-id', reqId);
    req.log = logger.child({ reqId });
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const route = req.route?.path ? `${req.baseUrl}${req.route.path as string}` : undefined;
      const fields = { method: req.method, route: route ?? 'unmatched', status: res.statusCode, durationMs: Number(process.hrtime.bigint() - started) / 1e6 };
      if (QUIET_PATHS.has(req.path)) req.log.debug(fields, 'request finished');
      else req.log.info(fields, 'request finished');
    });
    next();
  };
}

/** From here on, every line of this request names the order and its saga. */
export function bindOrder(req: Request, res: Response, orderId: string): void {
  if (res.locals.orderId === orderId) return;
  res.locals.orderId = orderId;
  req.log = req.log.child({ orderId, workflowId: orderWorkflowId(orderId) });
}
