import type { Db } from '../../db/knex';
import type { FailureReason, OrderStatus, PaymentStatus } from '../../lib/workflow-safe/domain';

// The API's view of the orders table (written by the order service's own steps), shared by placing,
// reading and deciding.

export interface OrderRow {
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

export async function loadOrder(ordersDb: Db, orderId: string): Promise<OrderRow | undefined> {
  return ordersDb<OrderRow>('orders').where({ order_id: orderId }).first();
}

/** The order once it has left PENDING, or as it stands when the wait is over. */
export async function waitWhilePending(ordersDb: Db, orderId: string, waitMs: number): Promise<OrderRow | undefined> {
  const deadline = Date.now() + waitMs;
  let row = await loadOrder(ordersDb, orderId);
  while (row && row.status === 'PENDING' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
    row = await loadOrder(ordersDb, orderId);
  }
  return row;
}
