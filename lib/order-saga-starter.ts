import type { Client } from '@temporalio/client';
import type { Db } from '../db/knex';
import type { OrderSagaInput } from './workflow-safe/domain';
import { CUSTOMER_ID, ORDER_ID, ORDER_STATUS, RESTAURANT_ID } from './workflow-safe/search-attributes';
import { orderWorkflowId, taskQueuesFor } from './workflow-safe/task-queues';

/**
 * Who may start a run of `order-<orderId>`:
 * - `first-run`: the API and the PENDING sweeper start a saga that never ran. A closed run is left
 *   alone: an attempt of its last activity may still be acting, and only the reconciler, after its
 *   grace period, may follow it with another run (or repair the order).
 * - `after-closed-run`: the reconciler, past the grace period, starts a new run of an order still
 *   PENDING whose saga failed, was terminated, cancelled or timed out (every step of the new run is
 *   idempotent and finds what the old run left). A saga that completed is never run again.
 */
export type SagaStart = 'first-run' | 'after-closed-run';

/** The saga's workflow type: named, not imported, so that this ground-floor module does not reach up into workflows/. */
const ORDER_SAGA_WORKFLOW = 'orderSaga';

/**
 * Starts an order's saga. Idempotent: a second start of the same order joins the running saga
 * (USE_EXISTING). Returns false when a closed run forbids another (see SagaStart).
 */
export async function startOrderSaga(
  client: Client,
  input: OrderSagaInput,
  taskQueuePrefix: string,
  start: SagaStart = 'first-run',
  opts: { eager?: boolean } = {},
): Promise<boolean> {
  try {
    await client.workflow.start(ORDER_SAGA_WORKFLOW, {
      // Eager start: only with a client on a NativeConnection that an order worker of this process
      // shares (bench/eager-start.ts measures it; BENCHMARKS.md "Cheaper orders").
      ...(opts.eager ? { requestEagerStart: true } : {}),
      workflowId: orderWorkflowId(input.orderId),
      taskQueue: taskQueuesFor(taskQueuePrefix).order,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: start === 'first-run' ? 'REJECT_DUPLICATE' : 'ALLOW_DUPLICATE_FAILED_ONLY',
      typedSearchAttributes: [
        { key: ORDER_ID, value: input.orderId },
        { key: CUSTOMER_ID, value: input.customerId },
        { key: RESTAURANT_ID, value: input.restaurantId },
        { key: ORDER_STATUS, value: 'PENDING' },
      ],
      staticSummary: `Order ${input.orderId}: ${input.items.length} line(s), ${input.totalAmount} KRW at ${input.restaurantId}`,
    });
    return true;
  } catch (err) {
    if ((err as Error).name === 'WorkflowExecutionAlreadyStartedError') return false;
    throw err;
  }
}

/** Rebuilds a saga's input from the order's rows (the order is the outbox of its own saga). */
export function sagaInputFromRows(
  row: { order_id: string; customer_id: string; restaurant_id: string; total_amount: number | string; delivery_address: string; card_token: string | null },
  items: Array<Record<string, unknown>>,
  acceptanceWindowSeconds: number,
): OrderSagaInput {
  return {
    orderId: row.order_id,
    customerId: row.customer_id,
    restaurantId: row.restaurant_id,
    items: items.map((i) => ({
      menuId: String(i.menu_id),
      name: String(i.name),
      unitPrice: Number(i.unit_price),
      quantity: Number(i.quantity),
      menuVersion: Number(i.menu_version),
    })),
    totalAmount: Number(row.total_amount),
    deliveryAddress: row.delivery_address,
    cardToken: row.card_token ?? '',
    acceptanceWindowSeconds,
  };
}

export type OrderRowForSaga = Parameters<typeof sagaInputFromRows>[0];

/** The saga inputs of several orders, their lines read in one query. */
export async function loadSagaInputs(db: Db, rows: OrderRowForSaga[], acceptanceWindowSeconds: number): Promise<OrderSagaInput[]> {
  if (rows.length === 0) return [];
  const items = await db('order_items')
    .whereIn(
      'order_id',
      rows.map((r) => r.order_id),
    )
    .orderBy(['order_id', 'line_no']);
  const byOrder = new Map<string, Array<Record<string, unknown>>>();
  for (const item of items) byOrder.set(item.order_id, [...(byOrder.get(item.order_id) ?? []), item]);
  return rows.map((r) => sagaInputFromRows(r, byOrder.get(r.order_id) ?? [], acceptanceWindowSeconds));
}
