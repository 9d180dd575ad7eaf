import type { Client } from '@temporalio/client';
import type { OrderSagaInput } from './workflow-safe/domain';
import { CUSTOMER_ID, ORDER_ID, ORDER_STATUS, RESTAURANT_ID } from './workflow-safe/search-attributes';
import { orderWorkflowId, taskQueuesFor } from './workflow-safe/task-queues';
import type { orderSaga } from '../workflows/order-saga';

/**
 * Starts an order's saga. Idempotent: a second start of the same order joins the running saga
 * (USE_EXISTING), and a finished saga is never run again (REJECT_DUPLICATE → already started).
 * Returns false when the saga had already been started and finished.
 */
export async function startOrderSaga(client: Client, input: OrderSagaInput, taskQueuePrefix: string): Promise<boolean> {
  try {
    await client.workflow.start<typeof orderSaga>('orderSaga', {
      workflowId: orderWorkflowId(input.orderId),
      taskQueue: taskQueuesFor(taskQueuePrefix).order,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
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
    items: items.map((i) => ({ menuId: String(i.menu_id), name: String(i.name), unitPrice: Number(i.unit_price), quantity: Number(i.quantity), menuVersion: Number(i.menu_version) })),
    totalAmount: Number(row.total_amount),
    deliveryAddress: row.delivery_address,
    cardToken: row.card_token ?? '',
    acceptanceWindowSeconds,
  };
}
