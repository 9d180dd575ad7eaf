import type { Router } from 'express';
import { mountApi, type MountOptions } from '../mount';
import { bindOrder } from '../request-log';
import { OrderStatusAnswer, Order, PlacedOrder, RestaurantOrdersPage } from '../responses';
import { defineRoute, type Handlers } from '../route';
import { InvalidInput } from '../services/errors';
import type { OrderService } from '../services/orders';
import { EmptyBody, idempotencyKeyHeader, pathId, PlaceOrderRequest, placeOrderQuery, RejectRequest, restaurantOrdersQuery } from '../validation';

// The order saga's routes: each definition is the route's contract (api/route.ts), its handler below
// calls one service function.

const decided = { 200: { description: 'The order after the decision', body: OrderStatusAnswer } } as const;

export const orderApi = {
  placeOrder: defineRoute({
    method: 'post',
    path: '/orders',
    tag: 'Orders',
    summary: 'Place an order (its saga starts in the background)',
    description:
      "Customers only. Prices the order from the read model and refuses unknown, not-on-sale or foreign items (422 `ITEM_UNAVAILABLE`) before any saga starts. The same `Idempotency-Key` with the same body returns the same order (200); with another body, 422 `IDEMPOTENCY_KEY_REUSED`. The answer (202, `PENDING`) comes as soon as the order and its key are recorded; its saga is started in the background, and if the API cannot start it (Temporal down or saturated, too many starts queued) the order worker's sweeper starts it within about a minute, the order showing `PENDING` until then. A customer with `ORDERS_IN_FLIGHT_MAX` (default 5) orders not yet final (`PENDING`, `AWAITING_RESTAURANT`) gets 429 `TOO_MANY_ORDERS_IN_FLIGHT`; a `wait` while the API already holds `ORDER_WAIT_MAX_HOLDS` (default 200) waiting requests gets 503 `WAIT_CAPACITY_EXHAUSTED` (nothing recorded either way). In production the PSP sandbox's steering card tokens (`tok_slow_*`, `tok_flaky_*`, `tok_decline`) are refused: 422 `SANDBOX_CARD_TOKEN`.",
    access: { roles: ['customer'] },
    headers: {
      idempotencyKey: {
        name: 'Idempotency-Key',
        schema: idempotencyKeyHeader,
        required: true,
        description: 'Required: one order per key and customer (1-128 printable ASCII)',
        missing: () => new InvalidInput('The Idempotency-Key header is required', undefined, 'IDEMPOTENCY_KEY_REQUIRED'),
      },
    },
    query: placeOrderQuery,
    body: { component: PlaceOrderRequest },
    responses: {
      202: {
        description: 'Accepted: the order is recorded and its saga about to be started, or already running with `wait` (`Location: /orders/<orderId>`)',
        body: PlacedOrder,
      },
      200: { description: 'The order this Idempotency-Key already made', body: PlacedOrder },
    },
    errors: [404, 422, 429, 503],
  }),

  getOrder: defineRoute({
    method: 'get',
    path: '/orders/:orderId',
    tag: 'Orders',
    summary: 'An order',
    description:
      "The order's customer, its restaurant, or an admin; anyone else gets the same 404 as for an order that does not exist. `workflowUrl` (the saga in Temporal's Web UI) is in restaurants' and admins' answers only.",
    access: { roles: ['customer', 'restaurant', 'admin'] },
    responses: { 200: { description: 'The order', body: Order } },
  }),

  cancelOrder: defineRoute({
    method: 'post',
    path: '/orders/:orderId/cancel',
    tag: 'Orders',
    summary: 'Cancel an order before the restaurant accepts',
    access: { roles: ['customer'] },
    body: { component: EmptyBody, required: false },
    responses: { 200: { description: 'Cancelled (or the current status if the saga takes longer than 10 s)', body: OrderStatusAnswer } },
    errors: [409],
  }),

  listRestaurantOrders: defineRoute({
    method: 'get',
    path: '/restaurants/:restaurantId/orders',
    tag: 'Orders',
    summary: "A restaurant's orders, newest first, paged",
    access: { roles: ['restaurant', 'admin'], actsForRestaurant: true },
    query: restaurantOrdersQuery,
    responses: { 200: { description: 'One page', body: RestaurantOrdersPage } },
  }),

  acceptOrder: defineRoute({
    method: 'post',
    path: '/restaurants/:restaurantId/orders/:orderId/accept',
    tag: 'Orders',
    summary: 'The restaurant accepts (a Temporal Update to the saga)',
    description:
      'That restaurant only. Answers once the saga has acted on the decision, or after 10 s with the current status (the decision is recorded either way).',
    access: { roles: ['restaurant'], actsForRestaurant: true },
    body: { component: EmptyBody, required: false },
    responses: decided,
    errors: [409],
  }),

  rejectOrder: defineRoute({
    method: 'post',
    path: '/restaurants/:restaurantId/orders/:orderId/reject',
    tag: 'Orders',
    summary: 'The restaurant rejects, with an optional reason',
    access: { roles: ['restaurant'], actsForRestaurant: true },
    body: { component: RejectRequest, required: false },
    responses: decided,
    errors: [409],
  }),
};

function orderHandlers(orders: OrderService): Handlers<typeof orderApi> {
  return {
    async placeOrder({ principal, headers, query, body }, req, res) {
      const { created, order } = await orders.placeOrder(principal, headers.idempotencyKey, body, query.wait ?? 0);
      bindOrder(req, res, order.orderId);
      return { status: created ? 202 : 200, body: order, headers: { location: `/orders/${order.orderId}` } };
    },
    async getOrder({ principal, params }) {
      return { status: 200, body: await orders.getOrder(principal, params.orderId) };
    },
    async cancelOrder({ principal, params }) {
      return { status: 200, body: await orders.cancel(principal, params.orderId) };
    },
    async listRestaurantOrders({ params, query }) {
      return { status: 200, body: await orders.listRestaurantOrders(params.restaurantId, query) };
    },
    async acceptOrder({ params }) {
      return { status: 200, body: await orders.decide(params.restaurantId, params.orderId, { decision: 'ACCEPT' }) };
    },
    async rejectOrder({ params, body }) {
      return {
        status: 200,
        body: await orders.decide(params.restaurantId, params.orderId, { decision: 'REJECT', ...(body.reason ? { reason: body.reason } : {}) }),
      };
    },
  };
}

export function orderRoutes(orders: OrderService, options: MountOptions = {}): Router {
  const router = mountApi(orderApi, orderHandlers(orders), options);
  // Every line logged for a request about an order names it and its saga (a malformed id is not logged).
  router.param('orderId', (req, res, next, orderId: string) => {
    if (pathId.safeParse(orderId).success) bindOrder(req, res, orderId);
    next();
  });
  return router;
}
