import { createHash, randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Db } from '../../db/knex';
import type { Logger } from '../../lib/node/logger';
import { insertOrder } from '../../db/orders/store';
import type { OrderSagaInput, OrderStatus } from '../../lib/workflow-safe/domain';
import type { Principal } from '../../lib/node/auth';
import { sagaInputFromRows, startOrderSaga } from '../../lib/order-saga-starter';
import { orderWorkflowId, workflowUiUrl } from '../../lib/workflow-safe/task-queues';
import type { PlaceOrderBody } from '../validation';
import { NotFound, TooManyRequests, Unavailable, Unprocessable } from './errors';
import { createOrderDecisions } from './order-decisions';
import { createOrderQueries } from './order-queries';
import { loadOrder, type OrderRow, waitWhilePending } from './order-rows';

// The order service of the API: placing an order (idempotently, priced from the read model, its saga
// started), reading orders (order-queries.ts) and the decisions sent to the saga (order-decisions.ts).

export interface OrderServiceDeps {
  ordersDb: Db;
  menuReadDb: Db;
  temporal: Client;
  taskQueuePrefix: string;
  acceptanceWindowSeconds: number;
  temporalUiUrl: string;
  namespace: string;
  logger?: Logger;
  /** How long accept/reject/cancel wait for the saga to act before answering with the current status. */
  decisionWaitMs?: number;
  /** A customer's orders not yet final (PENDING, AWAITING_RESTAURANT) beyond which a new one is refused (0: no limit). */
  ordersInFlightMax?: number;
  /** POST /orders?wait= requests held open at once (0: no cap). */
  waitMaxHolds?: number;
  /** Refuse the PSP sandbox's steering card tokens (production). */
  refuseSandboxCardTokens?: boolean;
  /**
   * Start sagas with `requestEagerStart`: only when `temporal` shares its NativeConnection with an
   * order workflow worker of this process (processes/api-order-worker.ts, API_ORDER_WORKER).
   */
  eagerSagaStart?: boolean;
}

/** Customers see their orders without the link to Temporal's Web UI (an operator's tool). */
export interface PlaceOrderResult {
  created: boolean;
  order: { orderId: string; status: OrderStatus; totalAmount: number; workflowId: string };
}

/**
 * Card tokens that steer the PSP sandbox (psp/sandbox.ts: slow, flaky, declining on purpose). A real
 * processor issues none of these, so in production they are a probe or a mistake: refused.
 */
const SANDBOX_STEERING_TOKEN = /^tok_(?:slow_|flaky_|decline$)/;

/** Statuses of an order still in flight: its saga has not finished. */
const IN_FLIGHT = ['PENDING', 'AWAITING_RESTAURANT'] as const;

function requestHash(body: PlaceOrderBody): string {
  const canonical = {
    restaurantId: body.restaurantId,
    items: [...body.items].sort((a, b) => a.menuId.localeCompare(b.menuId)),
    deliveryAddress: body.deliveryAddress,
    cardToken: body.paymentMethod.cardToken,
  };
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex');
}

/** How long POST /orders waits for Temporal to take a saga's start before leaving it to the sweeper. */
const START_SAGA_DEADLINE_MS = 5_000;

export function createOrderService(deps: OrderServiceDeps) {
  const uiUrl = (workflowId: string) => workflowUiUrl(deps.temporalUiUrl, deps.namespace, workflowId);
  return {
    uiUrl,
    ...createOrderPlacement(deps),
    ...createOrderQueries({ ordersDb: deps.ordersDb, menuReadDb: deps.menuReadDb, uiUrl }),
    ...createOrderDecisions({ ordersDb: deps.ordersDb, temporal: deps.temporal, decisionWaitMs: deps.decisionWaitMs ?? 10_000 }),
  };
}

export type OrderService = ReturnType<typeof createOrderService>;

/**
 * POST /orders: one order per customer and Idempotency-Key, priced from the read model, recorded as
 * PENDING with its key in one transaction, then its saga started.
 */
function createOrderPlacement(deps: OrderServiceDeps) {
  const { ordersDb, menuReadDb, temporal } = deps;

  /**
   * Starts the saga (idempotently). The order is already committed, and its row is its saga's outbox:
   * when Temporal cannot take the start within START_SAGA_DEADLINE_MS (restarting, overloaded), the
   * client is still answered 202 and the order worker's sweeper starts the saga within a minute.
   * Answering 503 instead made every client retry a request that had already succeeded, which is
   * what a lunch spike during a Temporal restart cannot afford. True when the saga runs now.
   */
  async function startSaga(input: OrderSagaInput): Promise<boolean> {
    try {
      await temporal.withDeadline(Date.now() + START_SAGA_DEADLINE_MS, () =>
        startOrderSaga(temporal, input, deps.taskQueuePrefix, 'first-run', { eager: deps.eagerSagaStart }),
      );
      return true;
    } catch (err) {
      deps.logger?.warn(
        { err, orderId: input.orderId, workflowId: orderWorkflowId(input.orderId) },
        'could not start the order saga now; the order is recorded and the sweeper will start it',
      );
      return false;
    }
  }

  async function priceFromReadModel(body: PlaceOrderBody): Promise<OrderSagaInput['items']> {
    const restaurant = await menuReadDb('restaurants_read').where({ restaurant_id: body.restaurantId }).first();
    if (!restaurant) throw new NotFound('Restaurant');
    const rows = await menuReadDb('menu_items_read').whereIn(
      'menu_id',
      body.items.map((i) => i.menuId),
    );
    const byId = new Map(rows.map((r) => [r.menu_id as string, r]));
    const unavailable = body.items.filter((i) => {
      const row = byId.get(i.menuId);
      return !row || row.restaurant_id !== body.restaurantId || row.status !== 'ON_SALE';
    });
    if (unavailable.length > 0) {
      throw new Unprocessable('ITEM_UNAVAILABLE', 'Some items are unknown, not on sale, or from another restaurant', {
        menuIds: unavailable.map((i) => i.menuId),
      });
    }
    return body.items.map((i) => {
      const row = byId.get(i.menuId)!;
      return { menuId: i.menuId, name: row.name, unitPrice: Number(row.price), quantity: i.quantity, menuVersion: row.version };
    });
  }

  const view = (row: OrderRow): PlaceOrderResult['order'] => ({
    orderId: row.order_id,
    status: row.status,
    totalAmount: Number(row.total_amount),
    workflowId: row.workflow_id,
  });

  let waitHolds = 0;
  /**
   * Runs `fn` holding one of the process's `?wait` slots: each held request keeps a socket and polls
   * the database, so at most waitMaxHolds at once; beyond that 503 WAIT_CAPACITY_EXHAUSTED, before
   * anything is recorded (the same request may be sent again, or without `wait`).
   */
  async function holdingWait<T>(waitMs: number, fn: () => Promise<T>): Promise<T> {
    const max = deps.waitMaxHolds ?? 0;
    if (waitMs <= 0 || max <= 0) return fn();
    if (waitHolds >= max)
      throw new Unavailable(
        'WAIT_CAPACITY_EXHAUSTED',
        `Too many requests are waiting for their order right now (at most ${max}); retry, or send it without wait`,
      );
    waitHolds++;
    try {
      return await fn();
    } finally {
      waitHolds--;
    }
  }

  /** The order an earlier request with this key made (its saga started if it was not), or undefined. */
  async function replayExisting(customerId: string, key: string, hash: string, cardToken: string, waitMs: number): Promise<PlaceOrderResult | undefined> {
    const existing = await ordersDb('idempotency_keys').where({ customer_id: customerId, key }).first();
    if (!existing) return undefined;
    if (existing.request_hash !== hash) throw new Unprocessable('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with a different request body');
    let row = await loadOrder(ordersDb, existing.order_id);
    if (!row) throw new Error(`idempotency key points at missing order ${existing.order_id}`);
    // The first attempt may have stopped before the saga started: make sure it runs.
    if (row.status === 'PENDING') {
      const items = await ordersDb('order_items').where({ order_id: row.order_id }).orderBy('line_no');
      const started = await startSaga(sagaInputFromRows({ ...row, card_token: row.card_token ?? cardToken }, items, deps.acceptanceWindowSeconds));
      if (started && waitMs > 0) row = (await waitWhilePending(ordersDb, row.order_id, waitMs)) ?? row;
    }
    return { created: false, order: view(row) };
  }

  /**
   * The key and the PENDING order commit together: a retry finds one or the other, never half. False
   * when another request holds the key. A customer's placements take turns (a transaction-scoped
   * advisory lock on the customer), so the in-flight count cannot be raced past its limit.
   */
  async function claimKey(customerId: string, key: string, hash: string, input: OrderSagaInput): Promise<boolean> {
    const max = deps.ordersInFlightMax ?? 0;
    return ordersDb.transaction(async (trx) => {
      if (max > 0) await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [`orders-in-flight:${customerId}`]);
      const rows = await trx('idempotency_keys')
        .insert({ customer_id: customerId, key, request_hash: hash, order_id: input.orderId })
        .onConflict(['customer_id', 'key'])
        .ignore()
        .returning('order_id');
      if (rows.length === 0) return false;
      if (max > 0) {
        const open = await trx('orders').where({ customer_id: customerId }).whereIn('status', IN_FLIGHT).count<{ n: string }[]>('* as n');
        const inFlight = Number(open[0]?.n ?? 0);
        if (inFlight >= max)
          throw new TooManyRequests(
            'TOO_MANY_ORDERS_IN_FLIGHT',
            `You have ${inFlight} orders in progress (at most ${max}); place this one when one of them is done`,
            { limit: max, inFlight },
          );
      }
      await insertOrder(trx, input);
      return true;
    });
  }

  /** Replays the order an earlier request with this key made, or records a new one and starts its saga. */
  async function place(principal: Principal, key: string, body: PlaceOrderBody, waitMs: number): Promise<PlaceOrderResult> {
    const hash = requestHash(body);
    const replay = await replayExisting(principal.sub, key, hash, body.paymentMethod.cardToken, waitMs);
    if (replay) return replay;

    const items = await priceFromReadModel(body);
    const input: OrderSagaInput = {
      orderId: `ord_${randomUUID().replace(/-/g, '')}`,
      customerId: principal.sub,
      restaurantId: body.restaurantId,
      items,
      totalAmount: items.reduce((sum, i) => sum + i.unitPrice * i.quantity, 0),
      deliveryAddress: body.deliveryAddress,
      cardToken: body.paymentMethod.cardToken,
      acceptanceWindowSeconds: deps.acceptanceWindowSeconds,
    };
    if (!(await claimKey(principal.sub, key, hash, input))) {
      // A concurrent request with the same key won the race: answer with its order.
      const again = await replayExisting(principal.sub, key, hash, body.paymentMethod.cardToken, waitMs);
      if (again) return again;
      throw new Error('idempotency key claimed but not found');
    }
    const started = await startSaga(input);
    const row = started && waitMs > 0 ? await waitWhilePending(ordersDb, input.orderId, waitMs) : undefined;
    return {
      created: true,
      order: row ? view(row) : { orderId: input.orderId, status: 'PENDING', totalAmount: input.totalAmount, workflowId: orderWorkflowId(input.orderId) },
    };
  }

  return {
    async placeOrder(principal: Principal, key: string, body: PlaceOrderBody, waitMs: number): Promise<PlaceOrderResult> {
      if (deps.refuseSandboxCardTokens && SANDBOX_STEERING_TOKEN.test(body.paymentMethod.cardToken))
        throw new Unprocessable('SANDBOX_CARD_TOKEN', "This card token only steers the PSP sandbox's test behaviours; it is refused in production");
      return holdingWait(waitMs, () => place(principal, key, body, waitMs));
    },
  };
}
