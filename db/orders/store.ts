import type { Knex } from 'knex';
import type { Db } from '../knex';
import type { OrderSagaInput } from '../../lib/workflow-safe/domain';
import { orderWorkflowId } from '../../lib/workflow-safe/task-queues';

// The orders database belongs to the order service. The writes more than one process makes live
// here, so the API (which records an order when it accepts it) and the order activities (whose saga
// step records it again) share them without one importing the other's code.

/**
 * Writes a new order with its lines and first history entry. Idempotent: the API calls it when it
 * accepts the order, and the saga's first step calls it again (a no-op then).
 */
export async function insertOrder(db: Db | Knex.Transaction, input: OrderSagaInput): Promise<void> {
  const run = async (trx: Knex.Transaction) => {
    const inserted = await trx('orders')
      .insert({
        order_id: input.orderId,
        customer_id: input.customerId,
        restaurant_id: input.restaurantId,
        status: 'PENDING',
        total_amount: input.totalAmount,
        delivery_address: input.deliveryAddress,
        card_token: input.cardToken,
        workflow_id: orderWorkflowId(input.orderId),
      })
      .onConflict('order_id')
      .ignore()
      .returning('order_id');
    if (inserted.length === 0) return;
    await trx('order_items').insert(
      input.items.map((line, i) => ({
        order_id: input.orderId,
        line_no: i + 1,
        menu_id: line.menuId,
        name: line.name,
        unit_price: line.unitPrice,
        quantity: line.quantity,
        menu_version: line.menuVersion,
      })),
    );
    await trx('order_status_history').insert({ order_id: input.orderId, status: 'PENDING' });
  };
  if (db.isTransaction) return run(db as Knex.Transaction);
  return (db as Db).transaction(run);
}
