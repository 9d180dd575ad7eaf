import { Router } from 'express';
import { assertActsFor, principalOf, requireRole } from '../auth';
import { InvalidInput } from '../services/errors';
import { bindOrder } from '../request-log';
import type { OrderService } from '../services/orders';
import { emptyBody, idempotencyKeyHeader, noQuery, parse, pathId, placeOrderBody, placeOrderQuery, rejectBody, restaurantOrdersQuery } from '../validation';

export function orderRoutes(orders: OrderService): Router {
  const r = Router();
  // Every line logged for a request about an order names it and its saga (a malformed id is not logged).
  r.param('orderId', (req, res, next, orderId: string) => {
    if (pathId.safeParse(orderId).success) bindOrder(req, res, orderId);
    next();
  });

  r.post(
    '/orders',
    requireRole('customer'),
    async (req, res) => {
      const rawKey = req.header('idempotency-key');
      if (rawKey === undefined) throw new InvalidInput('The Idempotency-Key header is required', undefined, 'IDEMPOTENCY_KEY_REQUIRED');
      const key = parse(idempotencyKeyHeader, rawKey, 'Idempotency-Key header');
      const body = parse(placeOrderBody, req.body ?? {});
      const waitMs = parse(placeOrderQuery, req.query, 'query').wait ?? 0;
      const { created, order } = await orders.placeOrder(principalOf(req), key, body, waitMs);
      bindOrder(req, res, order.orderId);
      res.status(created ? 202 : 200).location(`/orders/${order.orderId}`).json(order);
    },
  );

  r.get(
    '/orders/:orderId',
    requireRole('customer', 'restaurant', 'admin'),
    async (req, res) => {
      const orderId = parse(pathId, req.params.orderId, 'path');
      parse(noQuery, req.query, 'query');
      res.json(await orders.getOrder(principalOf(req), orderId));
    },
  );

  r.post(
    '/orders/:orderId/cancel',
    requireRole('customer'),
    async (req, res) => {
      const orderId = parse(pathId, req.params.orderId, 'path');
      parse(noQuery, req.query, 'query');
      parse(emptyBody, req.body ?? {});
      res.json(await orders.cancel(principalOf(req), orderId));
    },
  );

  r.get(
    '/restaurants/:restaurantId/orders',
    requireRole('restaurant', 'admin'),
    async (req, res) => {
      const restaurantId = parse(pathId, req.params.restaurantId, 'path');
      assertActsFor(principalOf(req), restaurantId, true);
      res.json(await orders.listRestaurantOrders(restaurantId, parse(restaurantOrdersQuery, req.query, 'query')));
    },
  );

  r.post(
    '/restaurants/:restaurantId/orders/:orderId/accept',
    requireRole('restaurant'),
    async (req, res) => {
      const restaurantId = parse(pathId, req.params.restaurantId, 'path');
      assertActsFor(principalOf(req), restaurantId, false);
      const orderId = parse(pathId, req.params.orderId, 'path');
      parse(noQuery, req.query, 'query');
      parse(emptyBody, req.body ?? {});
      res.json(await orders.decide(restaurantId, orderId, { decision: 'ACCEPT' }));
    },
  );

  r.post(
    '/restaurants/:restaurantId/orders/:orderId/reject',
    requireRole('restaurant'),
    async (req, res) => {
      const restaurantId = parse(pathId, req.params.restaurantId, 'path');
      assertActsFor(principalOf(req), restaurantId, false);
      parse(noQuery, req.query, 'query');
      const body = parse(rejectBody, req.body ?? {});
      res.json(
        await orders.decide(restaurantId, parse(pathId, req.params.orderId, 'path'), { decision: 'REJECT', ...(body.reason ? { reason: body.reason } : {}) }),
      );
    },
  );

  return r;
}

