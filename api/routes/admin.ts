import type { Router } from 'express';
import { AdminOrdersPage, adminOrdersQuery, OperatorAction, OperatorActionRequest, OrderStory, RetryStepRequest } from '../admin-schemas';
import { mountApi, type MountOptions } from '../mount';
import { bindOrder } from '../request-log';
import { defineRoute, type Handlers } from '../route';
import type { Logger } from '../../lib/node/logger';
import type { ActionName, AdminActions } from '../services/admin-actions';
import { ATTENTION_DEFAULTS, type AdminOrders } from '../services/admin-orders';
import type { AdminStory } from '../services/admin-story';
import { InvalidInput } from '../services/errors';
import { idempotencyKeyHeader, pathId } from '../validation';

// The operator's desk: admins only. An order's story across every service, the orders that need an
// operator, search, and three safe actions (cancel through the saga, retry a step now, reconcile
// now), each audited and idempotent.

const admin = { roles: ['admin'] } as const;

const idempotencyKey = {
  name: 'Idempotency-Key',
  schema: idempotencyKeyHeader,
  required: true,
  description: 'Required: one action per key and operator (1-128 printable ASCII); the same key again replays the first answer',
  missing: () => new InvalidInput('The Idempotency-Key header is required', undefined, 'IDEMPOTENCY_KEY_REQUIRED'),
} as const;

const actionAnswers = {
  200: { description: 'Done (or the replay of an action already done with this key)', body: OperatorAction },
  202: { description: 'Requested: the saga or the reconciler is still at it (send the same key again to follow it)', body: OperatorAction },
} as const;

const action = (name: ActionName, summary: string, description: string) =>
  defineRoute({
    method: 'post',
    path: `/admin/orders/:orderId/${name}`,
    tag: 'Admin',
    summary,
    description: `${description} Audited: the operator, the time and the required reason are kept (operator_actions) and shown on the order's story. Idempotent per Idempotency-Key; the same key with another body is 422 \`IDEMPOTENCY_KEY_REUSED\`.`,
    access: admin,
    headers: { idempotencyKey },
    body: { component: OperatorActionRequest },
    responses: actionAnswers,
    errors: [409, 422],
  });

export const adminApi = {
  orderStory: defineRoute({
    method: 'get',
    path: '/admin/orders/:orderId/story',
    tag: 'Admin',
    summary: "An order's story: every service's record of it on one timeline",
    description:
      "The order row and its status history, the payment row and its events (read-only), the PSP's own operations for it, the ticket, the saga's history as the Web UI shows it, the reconciler's repair workflow and the operators' actions, each entry with its time and source. A source that cannot be read is named in `sources`.",
    access: admin,
    responses: { 200: { description: 'The story', body: OrderStory } },
  }),

  adminOrders: defineRoute({
    method: 'get',
    path: '/admin/orders',
    tag: 'Admin',
    summary: 'Search orders, or (attention=true) the orders that need an operator',
    description:
      "Search by `orderId`, `customerId`, `restaurantId` and `status`, newest first, keyset-paged. With `attention=true`: orders not final past `olderThanSeconds`, sagas whose step keeps failing (`failingAttempts`) or whose compensation is retrying, sagas that ended with the order open, and final orders the PSP disagrees with (the audit's PSP check), each finding with the stage the order is at.",
    access: admin,
    query: adminOrdersQuery,
    responses: { 200: { description: 'One page', body: AdminOrdersPage } },
  }),

  operatorCancel: action(
    'cancel',
    'Cancel the order through its saga (every compensation runs)',
    "A Temporal cancel request to the saga: before the restaurant's decision it compensates and closes the order `CANCELLED` / `OPERATOR_CANCELLED`. After the decision the saga would ignore it, so it is refused: 409 `PAST_DECISION`; a saga that no longer runs is 409 `SAGA_NOT_RUNNING`, a final order 409 `ORDER_CLOSED`. Never a terminate.",
  ),

  operatorRetry: {
    ...action(
      'retry',
      'Retry a saga step now (skip its backoff)',
      "Resets the retry of the saga's pending step that is furthest into its retries (or `activityId`), with Temporal's ResetActivity: it runs again at once, from attempt 1. 409 `NO_STEP_TO_RETRY` when no step waits to retry.",
    ),
    body: { component: RetryStepRequest },
  },

  operatorReconcile: action(
    'reconcile',
    'Run the reconciler for this order now',
    'One `reconcileOrders` pass narrowed to this order (with the configured grace period): starts a missing saga, repairs an order whose saga ended (repair-<orderId>), or leaves it alone and says why. 409 `ORDER_CLOSED` for a final order.',
  ),
};

function adminHandlers(deps: { story: AdminStory; orders: AdminOrders; actions: AdminActions }): Handlers<typeof adminApi> {
  const perform = async (
    name: ActionName,
    input: { principal: { sub: string }; params: { orderId: string }; headers: { idempotencyKey: string }; body: { reason: string; activityId?: string } },
    log: Logger,
  ) => {
    const { status, action: view } = await deps.actions.perform(
      {
        operator: input.principal.sub,
        orderId: input.params.orderId,
        action: name,
        reason: input.body.reason,
        idempotencyKey: input.headers.idempotencyKey,
        activityId: input.body.activityId,
      },
      log,
    );
    return status === 200 ? { status, body: view } : { status, body: view };
  };
  return {
    async orderStory({ params }) {
      return { status: 200, body: await deps.story.story(params.orderId) };
    },
    async adminOrders({ query }) {
      if (query.attention === 'true') {
        return {
          status: 200,
          body: await deps.orders.attention({
            olderThanSeconds: query.olderThanSeconds ?? ATTENTION_DEFAULTS.olderThanSeconds,
            failingAttempts: query.failingAttempts ?? ATTENTION_DEFAULTS.failingAttempts,
            pspWindowSeconds: query.pspWindowSeconds ?? ATTENTION_DEFAULTS.pspWindowSeconds,
            limit: query.limit,
          }),
        };
      }
      return { status: 200, body: await deps.orders.search(query) };
    },
    operatorCancel: (input, req) => perform('cancel', input, req.log),
    operatorRetry: (input, req) => perform('retry', input, req.log),
    operatorReconcile: (input, req) => perform('reconcile', input, req.log),
  };
}

export function adminRoutes(deps: { story: AdminStory; orders: AdminOrders; actions: AdminActions }, options: MountOptions = {}): Router {
  const router = mountApi(adminApi, adminHandlers(deps), options);
  // Every line logged for a request about an order names it and its saga.
  router.param('orderId', (req, res, next, orderId: string) => {
    if (pathId.safeParse(orderId).success) bindOrder(req, res, orderId);
    next();
  });
  return router;
}
