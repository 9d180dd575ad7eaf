import { log } from '@temporalio/activity';
import type { Knex } from 'knex';
import type { Db } from '../db/knex';
import type { FailureReason, OrderSagaInput, OrderStatus, PaymentStatus } from '../lib/domain';
import { noSagaMetrics, type SagaMetrics } from '../lib/saga-metrics';
import { orderWorkflowId } from '../lib/task-queues';

export interface OrderDeps {
  db: Db;
  /** Saga outcomes are counted here, where the order is closed (never in workflow code). */
  metrics?: SagaMetrics;
}

const OPEN: OrderStatus[] = ['PENDING', 'AWAITING_RESTAURANT'];

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

/** Order service activities: every transition is guarded on the current status. */
export function createOrderActivities({ db, metrics = noSagaMetrics }: OrderDeps) {
  /** Returns whether this call made the transition (false when a retry finds it already made). */
  async function transition(orderId: string, to: OrderStatus, fields: Record<string, unknown>, reason: string | null = null): Promise<boolean> {
    return db.transaction(async (trx) => {
      const changed = await trx('orders')
        .where({ order_id: orderId })
        .whereIn('status', OPEN.filter((s) => s !== to))
        .update({ status: to, updated_at: trx.fn.now(), ...fields });
      if (changed > 0) {
        await trx('order_status_history').insert({ order_id: orderId, status: to, reason }).onConflict(['order_id', 'status']).ignore();
      }
      return changed > 0;
    });
  }

  return {
    /** Records the order (a no-op when the API already did) and returns the total as stored. */
    async createOrder(input: OrderSagaInput): Promise<{ totalAmount: number }> {
      await insertOrder(db, input);
      const stored = await db('orders').select('total_amount').where({ order_id: input.orderId }).first();
      return { totalAmount: Number(stored?.total_amount) };
    },

    async markAwaitingRestaurant(input: { orderId: string; acceptanceDeadline: string }): Promise<void> {
      await transition(input.orderId, 'AWAITING_RESTAURANT', { acceptance_deadline: input.acceptanceDeadline, payment_status: 'AUTHORIZED' });
    },

    /** `reconciler`: the reconciler's repair closes the order, not its saga (counted as a repair too). */
    async confirmOrder(input: { orderId: string; reconciler?: boolean }): Promise<void> {
      if (await transition(input.orderId, 'CONFIRMED', { payment_status: 'CAPTURED', failure_reason: null })) {
        metrics.outcome('CONFIRMED', null);
        if (input.reconciler) metrics.repair('confirmed');
        log.info('order confirmed', input.reconciler ? { by: 'reconciler' } : {});
      }
    },

    /** The saga's last word on a failed order (or the reconciler's); also records where the payment ended. */
    async rejectOrder(input: { orderId: string; status: 'REJECTED' | 'CANCELLED'; reason: FailureReason; paymentStatus: PaymentStatus | null; reconciler?: boolean }): Promise<void> {
      if (await transition(input.orderId, input.status, { failure_reason: input.reason, payment_status: input.paymentStatus }, input.reason)) {
        metrics.outcome(input.status, input.reason);
        if (input.reconciler) metrics.repair('rejected');
        log.info('order closed', { status: input.status, reason: input.reason, paymentStatus: input.paymentStatus, ...(input.reconciler ? { by: 'reconciler' } : {}) });
      }
    },
  };
}
