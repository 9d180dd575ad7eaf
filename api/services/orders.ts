import { createHash, randomUUID } from 'node:crypto';
import { type Client, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../../db/knex';
import type { Logger } from '../../lib/logger';
import { insertOrder } from '../../activities/order';
import type { FailureReason, OrderSagaInput, OrderStatus, PaymentStatus } from '../../lib/domain';
import { TERMINAL_ORDER_STATUSES } from '../../lib/domain';
import type { Principal } from '../../lib/auth';
import { sagaInputFromRows, startOrderSaga } from '../../lib/order-saga-starter';
import { orderWorkflowId, workflowUiUrl } from '../../lib/task-queues';
import { cancelUpdate, decideUpdate, UPDATE_REFUSALS } from '../../workflows/messages';
import { Conflict, type ConflictCode, DomainError, InvalidInput, NotFound, Unavailable, Unprocessable } from './errors';
import type { PlaceOrderBody } from '../validation';

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
}

interface OrderRow {
  order_id: string;
  customer_id: string;
  restaurant_id: string;
  status: OrderStatus;
  failure_reason: FailureReason | null;
  total_amount: number;
  delivery_address: string;
  payment_status: PaymentStatus | null;
  acceptance_deadline: Date | null;
  workflow_id: string;
  card_token: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface PlaceOrderResult {
  created: boolean;
  order: { orderId: string; status: OrderStatus; totalAmount: number; workflowId: string; workflowUrl: string };
}

function requestHash(body: PlaceOrderBody): string {
  const canonical = {
    restaurantId: body.restaurantId,
    items: [...body.items].sort((a, b) => a.menuId.localeCompare(b.menuId)),
    deliveryAddress: body.deliveryAddress,
    cardToken: body.paymentMethod.cardToken,
  };
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex');
}

export function createOrderService(deps: OrderServiceDeps) {
  const { ordersDb, menuReadDb, temporal } = deps;
  const decisionWaitMs = deps.decisionWaitMs ?? 10_000;
  const uiUrl = (workflowId: string) => workflowUiUrl(deps.temporalUiUrl, deps.namespace, workflowId);

  /** Starts the saga (idempotently); Temporal being unreachable is a 503 the client retries. */
  async function startSaga(input: OrderSagaInput): Promise<void> {
    try {
      await startOrderSaga(temporal, input, deps.taskQueuePrefix);
    } catch (err) {
      deps.logger?.warn({ err, orderId: input.orderId, workflowId: orderWorkflowId(input.orderId) }, 'could not start the order saga');
      throw new Unavailable('TEMPORAL_UNAVAILABLE', 'The order was recorded but could not be started yet; retry with the same Idempotency-Key');
    }
  }

  async function loadOrder(orderId: string): Promise<OrderRow | undefined> {
    return ordersDb<OrderRow>('orders').where({ order_id: orderId }).first();
  }

  async function waitWhilePending(orderId: string, waitMs: number): Promise<OrderRow | undefined> {
    const deadline = Date.now() + waitMs;
    let row = await loadOrder(orderId);
    while (row && row.status === 'PENDING' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
      row = await loadOrder(orderId);
    }
    return row;
  }

  async function priceFromReadModel(body: PlaceOrderBody): Promise<OrderSagaInput['items']> {
    const restaurant = await menuReadDb('restaurants_read').where({ restaurant_id: body.restaurantId }).first();
    if (!restaurant) throw new NotFound('Restaurant');
    const rows = await menuReadDb('menu_items_read').whereIn('menu_id', body.items.map((i) => i.menuId));
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

  function view(row: OrderRow) {
    return { orderId: row.order_id, status: row.status, totalAmount: Number(row.total_amount), workflowId: row.workflow_id, workflowUrl: uiUrl(row.workflow_id) };
  }

  async function replayExisting(customerId: string, key: string, hash: string, cardToken: string, waitMs: number): Promise<PlaceOrderResult | undefined> {
    const existing = await ordersDb('idempotency_keys').where({ customer_id: customerId, key }).first();
    if (!existing) return undefined;
    if (existing.request_hash !== hash) {
      throw new Unprocessable('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with a different request body');
    }
    let row = await loadOrder(existing.order_id);
    if (!row) throw new Error(`idempotency key points at missing order ${existing.order_id}`);
    // The first attempt may have stopped before the saga started: make sure it runs.
    if (row.status === 'PENDING') {
      const items = await ordersDb('order_items').where({ order_id: row.order_id }).orderBy('line_no');
      await startSaga(sagaInputFromRows({ ...row, card_token: row.card_token ?? cardToken }, items, deps.acceptanceWindowSeconds));
      if (waitMs > 0) row = (await waitWhilePending(row.order_id, waitMs)) ?? row;
    }
    return { created: false, order: view(row) };
  }

  return {
    uiUrl,

    async placeOrder(principal: Principal, key: string, body: PlaceOrderBody, waitMs: number): Promise<PlaceOrderResult> {
      const hash = requestHash(body);
      const replay = await replayExisting(principal.sub, key, hash, body.paymentMethod.cardToken, waitMs);
      if (replay) return replay;

      const items = await priceFromReadModel(body);
      const totalAmount = items.reduce((sum, i) => sum + i.unitPrice * i.quantity, 0);
      const input: OrderSagaInput = {
        orderId: `ord_${randomUUID().replace(/-/g, '')}`,
        customerId: principal.sub,
        restaurantId: body.restaurantId,
        items,
        totalAmount,
        deliveryAddress: body.deliveryAddress,
        cardToken: body.paymentMethod.cardToken,
        acceptanceWindowSeconds: deps.acceptanceWindowSeconds,
      };
      // The key and the PENDING order commit together: a retry finds one or the other, never half.
      const claimed = await ordersDb.transaction(async (trx) => {
        const rows = await trx('idempotency_keys')
          .insert({ customer_id: principal.sub, key, request_hash: hash, order_id: input.orderId })
          .onConflict(['customer_id', 'key'])
          .ignore()
          .returning('order_id');
        if (rows.length === 0) return false;
        await insertOrder(trx, input);
        return true;
      });
      if (!claimed) {
        // A concurrent request with the same key won the race: answer with its order.
        const again = await replayExisting(principal.sub, key, hash, body.paymentMethod.cardToken, waitMs);
        if (again) return again;
        throw new Error('idempotency key claimed but not found');
      }
      await startSaga(input);
      const row = waitMs > 0 ? await waitWhilePending(input.orderId, waitMs) : undefined;
      return {
        created: true,
        order: row ? view(row) : { orderId: input.orderId, status: 'PENDING', totalAmount, workflowId: orderWorkflowId(input.orderId), workflowUrl: uiUrl(orderWorkflowId(input.orderId)) },
      };
    },

    /** The order as its customer, its restaurant or an admin may see it; 404 for anyone else. */
    async getOrder(principal: Principal, orderId: string) {
      const row = await loadOrder(orderId);
      if (!row || !maySee(principal, row)) throw new NotFound('Order');
      const items = await ordersDb('order_items').where({ order_id: orderId }).orderBy('line_no');
      return {
        orderId: row.order_id,
        restaurantId: row.restaurant_id,
        customerId: row.customer_id,
        status: row.status,
        items: items.map((i) => ({ menuId: i.menu_id, name: i.name, unitPrice: Number(i.unit_price), quantity: i.quantity })),
        totalAmount: Number(row.total_amount),
        deliveryAddress: row.delivery_address,
        payment: { status: row.payment_status },
        failureReason: row.failure_reason,
        acceptanceDeadline: row.acceptance_deadline?.toISOString() ?? null,
        createdAt: row.created_at.toISOString(),
        updatedAt: row.updated_at.toISOString(),
        workflowId: row.workflow_id,
        workflowUrl: uiUrl(row.workflow_id),
      };
    },

    async listRestaurantOrders(restaurantId: string, q: { status?: OrderStatus; limit: number; cursor?: string }) {
      let query = ordersDb<OrderRow>('orders').where({ restaurant_id: restaurantId });
      if (q.status) query = query.andWhere({ status: q.status });
      if (q.cursor) {
        const [at, id] = decodeCursor(q.cursor);
        query = query.andWhere((w) => w.where('created_at', '<', at).orWhere((w2) => w2.where('created_at', '=', at).andWhere('order_id', '<', id)));
      }
      const rows = await query.orderBy([{ column: 'created_at', order: 'desc' }, { column: 'order_id', order: 'desc' }]).limit(q.limit + 1);
      // No orders: tell "no such restaurant" (an admin's typo) from "nothing yet", from the read model.
      if (rows.length === 0 && !q.cursor && !(await menuReadDb('restaurants_read').where({ restaurant_id: restaurantId }).first())) throw new NotFound('Restaurant');
      const page = rows.slice(0, q.limit);
      const last = page[page.length - 1];
      return {
        orders: page.map((r) => ({
          orderId: r.order_id,
          customerId: r.customer_id,
          status: r.status,
          totalAmount: Number(r.total_amount),
          failureReason: r.failure_reason,
          acceptanceDeadline: r.acceptance_deadline?.toISOString() ?? null,
          createdAt: r.created_at.toISOString(),
        })),
        nextCursor: rows.length > q.limit && last ? encodeCursor(last.created_at, last.order_id) : null,
      };
    },

    async decide(restaurantId: string, orderId: string, decision: { decision: 'ACCEPT' } | { decision: 'REJECT'; reason?: string }) {
      const row = await loadOrder(orderId);
      if (!row || row.restaurant_id !== restaurantId) throw new NotFound('Order');
      if (TERMINAL_ORDER_STATUSES.includes(row.status)) return settledDecision(row, decision.decision);
      return sendUpdate(row, () => temporal.workflow.getHandle(row.workflow_id).executeUpdate(decideUpdate, { args: [decision] }), async () =>
        settledDecision((await loadOrder(orderId)) ?? row, decision.decision),
      );
    },

    async cancel(principal: Principal, orderId: string) {
      const row = await loadOrder(orderId);
      if (!row || row.customer_id !== principal.sub) throw new NotFound('Order');
      if (row.status === 'CANCELLED') return { status: row.status };
      if (TERMINAL_ORDER_STATUSES.includes(row.status)) {
        throw new Conflict('NOT_CANCELLABLE', `The order is already ${row.status}`);
      }
      return sendUpdate(row, () => temporal.workflow.getHandle(row.workflow_id).executeUpdate(cancelUpdate), (status) => {
        if (status !== 'CANCELLED') throw new Conflict('NOT_CANCELLABLE', `The order is already ${status}`);
        return { status };
      });
    },
  };

  function settledDecision(row: Pick<OrderRow, 'status' | 'failure_reason'>, decision: 'ACCEPT' | 'REJECT') {
    const matches =
      (decision === 'ACCEPT' && row.status === 'CONFIRMED') ||
      (decision === 'REJECT' && row.status === 'REJECTED' && row.failure_reason === 'RESTAURANT_REJECTED');
    if (!matches && TERMINAL_ORDER_STATUSES.includes(row.status)) {
      throw new Conflict('ORDER_CLOSED', `The order is already ${row.status}${row.failure_reason ? ` (${row.failure_reason})` : ''}`);
    }
    return { status: row.status };
  }

  /**
   * Sends an update and answers once the saga acted on it. If that takes longer than the wait (PSP
   * slow, say), the decision is still recorded; the caller gets the current status.
   */
  async function sendUpdate<T>(row: OrderRow, send: () => Promise<OrderStatus>, onSettled: (status: OrderStatus) => T | Promise<T>): Promise<T | { status: OrderStatus }> {
    const update = send();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), decisionWaitMs);
    });
    try {
      const outcome = await Promise.race([update, timeout]);
      if (outcome === 'timeout') {
        update.catch(() => undefined);
        const now = await loadOrder(row.order_id);
        return { status: now?.status ?? row.status };
      }
      return await onSettled(outcome);
    } catch (err) {
      if (err instanceof DomainError) throw err;
      if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
        const type = err.cause.type ?? '';
        if (type === UPDATE_REFUSALS.invalidDecision) throw new InvalidInput(err.cause.message);
        const code: ConflictCode =
          type === UPDATE_REFUSALS.notCancellable
            ? 'NOT_CANCELLABLE'
            : type === UPDATE_REFUSALS.alreadyDecided
              ? 'DECISION_ALREADY_MADE'
              : type === UPDATE_REFUSALS.notYetAwaiting
                ? 'NOT_AWAITING_DECISION'
                : 'ORDER_CLOSED';
        throw new Conflict(code, err.cause.message);
      }
      // The saga already finished (its run is closed): answer from the order's final row.
      const now = await loadOrder(row.order_id);
      if (now && TERMINAL_ORDER_STATUSES.includes(now.status)) return await onSettled(now.status);
      throw new Unavailable('TEMPORAL_UNAVAILABLE', 'Could not reach the order workflow; retry');
    } finally {
      clearTimeout(timer);
    }
  }
}

function maySee(principal: Principal, row: OrderRow): boolean {
  if (principal.role === 'admin') return true;
  if (principal.role === 'customer') return row.customer_id === principal.sub;
  return principal.restaurantId === row.restaurant_id;
}

function encodeCursor(at: Date, id: string): string {
  return Buffer.from(`${at.toISOString()}|${id}`).toString('base64url');
}

function decodeCursor(cursor: string): [Date, string] {
  const [at, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  const date = new Date(at ?? '');
  if (!id || Number.isNaN(date.getTime())) throw new InvalidInput('Invalid cursor');
  return [date, id];
}

export type OrderService = ReturnType<typeof createOrderService>;
