import { Router, type NextFunction, type Request, type Response } from 'express';
import { assertActsFor, principalOf, requireRole } from '../auth';
import { HttpError } from '../errors';
import type { OrderService } from '../services/orders';
import { idempotencyKeyHeader, parse, pathId, placeOrderBody, rejectBody, restaurantOrdersQuery, waitQuery } from '../validation';

const asyncRoute =
  (fn: (req: Request, res: Response) => Promise<void>) =>
  (req: Request, res: Response, next: NextFunction) => {
    fn(req, res).catch(next);
  };

export function orderRoutes(orders: OrderService): Router {
  const r = Router();

  r.post(
    '/orders',
    requireRole('customer'),
    asyncRoute(async (req, res) => {
      const rawKey = req.header('idempotency-key');
      if (rawKey === undefined) throw new HttpError(400, 'IDEMPOTENCY_KEY_REQUIRED', 'The Idempotency-Key header is required');
      const key = parse(idempotencyKeyHeader, rawKey, 'Idempotency-Key header');
      const body = parse(placeOrderBody, req.body);
      const waitMs = req.query.wait === undefined ? 0 : parse(waitQuery, req.query.wait, 'wait parameter');
      const { created, order } = await orders.placeOrder(principalOf(req), key, body, waitMs);
      res.status(created ? 202 : 200).location(`/orders/${order.orderId}`).json(order);
    }),
  );

  r.get(
    '/orders/:orderId',
    requireRole('customer', 'restaurant', 'admin'),
    asyncRoute(async (req, res) => {
      res.json(await orders.getOrder(principalOf(req), parse(pathId, req.params.orderId, 'path')));
    }),
  );

  r.post(
    '/orders/:orderId/cancel',
    requireRole('customer'),
    asyncRoute(async (req, res) => {
      res.json(await orders.cancel(principalOf(req), parse(pathId, req.params.orderId, 'path')));
    }),
  );

  r.get(
    '/restaurants/:restaurantId/orders',
    requireRole('restaurant', 'admin'),
    asyncRoute(async (req, res) => {
      const restaurantId = parse(pathId, req.params.restaurantId, 'path');
      assertActsFor(principalOf(req), restaurantId, true);
      res.json(await orders.listRestaurantOrders(restaurantId, parse(restaurantOrdersQuery, req.query, 'query')));
    }),
  );

  r.post(
    '/restaurants/:restaurantId/orders/:orderId/accept',
    requireRole('restaurant'),
    asyncRoute(async (req, res) => {
      const restaurantId = parse(pathId, req.params.restaurantId, 'path');
      assertActsFor(principalOf(req), restaurantId, false);
      res.json(await orders.decide(restaurantId, parse(pathId, req.params.orderId, 'path'), { decision: 'ACCEPT' }));
    }),
  );

  r.post(
    '/restaurants/:restaurantId/orders/:orderId/reject',
    requireRole('restaurant'),
    asyncRoute(async (req, res) => {
      const restaurantId = parse(pathId, req.params.restaurantId, 'path');
      assertActsFor(principalOf(req), restaurantId, false);
      const body = parse(rejectBody, req.body ?? {});
      res.json(
        await orders.decide(restaurantId, parse(pathId, req.params.orderId, 'path'), { decision: 'REJECT', ...(body.reason ? { reason: body.reason } : {}) }),
      );
    }),
  );

  return r;
}

export { asyncRoute };
