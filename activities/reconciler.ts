import { Context, log } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Db } from '../db/knex';
import type { OrderStatus } from '../lib/workflow-safe/domain';
import { loadSagaInputs, startOrderSaga } from '../lib/order-saga-starter';
import type { OpenOrder, OpenOrdersPage, OrderCursor, SagaView } from '../lib/workflow-safe/reconcile';
import { orderWorkflowId } from '../lib/workflow-safe/task-queues';

export interface ReconcilerDeps {
  /** The orders database (the reconciler's activities run on the order worker). */
  db: Db;
  /** A Temporal client: the reconciler asks Temporal about sagas, starts and cancels them. */
  client: Client;
  taskQueuePrefix: string;
  /** For sagas started from an order's rows, as the sweeper does. */
  acceptanceWindowSeconds: number;
}

const OPEN: OrderStatus[] = ['PENDING', 'AWAITING_RESTAURANT'];
/** Describe calls in flight at once per activity. */
const DESCRIBE_CONCURRENCY = 10;

function heartbeat(details?: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // not inside an activity (a direct call from a test)
  }
}

/** Runs `fn` over `items` with at most `limit` calls in flight, keeping the order of the results. */
async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/**
 * The reconciler's reads and Temporal calls (workflows/reconcile.ts). Reads only the orders database;
 * every call is safe to retry: a read, an idempotent start, or a cancel request.
 */
export function createReconcilerActivities({ db, client, taskQueuePrefix, acceptanceWindowSeconds }: ReconcilerDeps) {
  return {
    /**
     * One page of orders that are not final and unchanged for at least `minAgeSeconds` (only
     * `orderIds` when given), in
     * (updated_at, order_id) order after `after`: a keyset cursor, so a pass reads each order once
     * and orders that cannot move never hide the ones behind them.
     */
    async listOpenOrders(input: { minAgeSeconds: number; after: OrderCursor | null; limit: number; orderIds?: string[] }): Promise<OpenOrdersPage> {
      const query = db('orders')
        .select(
          'order_id',
          'status',
          'restaurant_id',
          'total_amount',
          db.raw('updated_at::text AS cursor_at'),
          db.raw('extract(epoch FROM now() - created_at)::float8 AS age_seconds'),
        )
        .whereIn('status', OPEN)
        .andWhere('updated_at', '<', db.raw('now() - make_interval(secs => ?)', [input.minAgeSeconds]));
      if (input.after) query.andWhereRaw('(updated_at, order_id) > (?::timestamptz, ?)', [input.after.updatedAt, input.after.orderId]);
      // The operator's desk reconciles named orders only.
      if (input.orderIds) query.whereIn('order_id', input.orderIds);
      const rows = await query.orderBy([{ column: 'updated_at' }, { column: 'order_id' }]).limit(input.limit);
      const orders: OpenOrder[] = rows.map((r) => ({
        orderId: r.order_id,
        status: r.status,
        restaurantId: r.restaurant_id,
        totalAmount: Number(r.total_amount),
        ageSeconds: Number(r.age_seconds),
      }));
      const last = rows[rows.length - 1];
      return { orders, next: rows.length === input.limit && last ? { updatedAt: last.cursor_at, orderId: last.order_id } : null };
    },

    /** Temporal's view of each order's saga: not found, running, or closed (and how long ago). */
    async describeSagas(input: { orderIds: string[] }): Promise<SagaView[]> {
      return mapLimited(input.orderIds, DESCRIBE_CONCURRENCY, async (orderId): Promise<SagaView> => {
        heartbeat();
        try {
          const saga = await client.workflow.getHandle(orderWorkflowId(orderId)).describe();
          const closedSecondsAgo = saga.closeTime ? Math.max(0, (Date.now() - saga.closeTime.getTime()) / 1000) : null;
          return { orderId, status: saga.status.name, closedSecondsAgo };
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) return { orderId, status: 'NOT_FOUND', closedSecondsAgo: null };
          throw err;
        }
      });
    },

    /**
     * Starts the saga of an order that is still PENDING, from its rows: one that never ran, or with
     * `afterClosedRun` a new run after one that closed without completing (the pass waited out the
     * grace period). `started` also when a saga was started meanwhile (the start joins it); `completed`
     * when a closed run forbids another; `not-pending` when the order moved on.
     */
    async startSagaFromOrder(input: { orderId: string; afterClosedRun?: boolean }): Promise<'started' | 'completed' | 'not-pending'> {
      const row = await db('orders').where({ order_id: input.orderId, status: 'PENDING' }).first();
      if (!row) return 'not-pending';
      const [sagaInput] = await loadSagaInputs(db, [row], acceptanceWindowSeconds);
      const started = await startOrderSaga(client, sagaInput!, taskQueuePrefix, input.afterClosedRun ? 'after-closed-run' : 'first-run');
      log.info(started ? 'reconciler started the saga of a PENDING order' : 'a closed run of this PENDING order forbids another', { orderId: input.orderId });
      return started ? 'started' : 'completed';
    },

    /**
     * Asks a saga open far too long to cancel: before the restaurant's decision it compensates and
     * closes the order; after it, it finishes. Asking again is harmless.
     */
    async requestSagaCancel(input: { orderId: string }): Promise<void> {
      await client.workflow.getHandle(orderWorkflowId(input.orderId)).cancel();
      log.warn('reconciler requested the cancellation of a saga open far too long', { orderId: input.orderId });
    },
  };
}
