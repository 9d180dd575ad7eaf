import { log } from '@temporalio/activity';
import type { Db } from '../db/knex';
import { insertOrder } from '../db/orders/store';
import type { FailureReason, OrderSagaInput, OrderStatus, PaymentStatus } from '../lib/workflow-safe/domain';
import { noSagaMetrics, type SagaMetrics } from './saga-metrics';

export interface OrderDeps {
  db: Db;
  /** Saga outcomes are counted here, where the order is closed (never in workflow code). */
  metrics?: SagaMetrics;
}

const OPEN: OrderStatus[] = ['PENDING', 'AWAITING_RESTAURANT'];

/** Order service activities: every transition is guarded on the current status. */
export function createOrderActivities({ db, metrics = noSagaMetrics }: OrderDeps) {
  /**
   * Returns whether this call made the transition (false when a retry finds it already made). Every
   * transition leaves PENDING, after which nothing re-authorizes the card (the sweeper and the
   * reconciler restart only PENDING orders' sagas), so the card token is removed in the same update.
   */
  async function transition(orderId: string, to: OrderStatus, fields: Record<string, unknown>, reason: string | null = null): Promise<boolean> {
    return db.transaction(async (trx) => {
      const changed = await trx('orders')
        .where({ order_id: orderId })
        .whereIn(
          'status',
          OPEN.filter((s) => s !== to),
        )
        .update({ status: to, updated_at: trx.fn.now(), card_token: null, ...fields });
      if (changed > 0) {
        await trx('order_status_history').insert({ order_id: orderId, status: to, reason }).onConflict(['order_id', 'status']).ignore();
      }
      return changed > 0;
    });
  }

  return {
    /**
     * Records the order (a no-op when the API already did), marks that its saga has run (the sweeper
     * leaves it alone from now on), and returns the total as stored.
     */
    async createOrder(input: OrderSagaInput): Promise<{ totalAmount: number }> {
      await insertOrder(db, input);
      const [stored] = await db('orders')
        .where({ order_id: input.orderId })
        .update({ saga_started_at: db.raw('coalesce(saga_started_at, now())') })
        .returning('total_amount');
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
    async rejectOrder(input: {
      orderId: string;
      status: 'REJECTED' | 'CANCELLED';
      reason: FailureReason;
      paymentStatus: PaymentStatus | null;
      reconciler?: boolean;
    }): Promise<void> {
      if (await transition(input.orderId, input.status, { failure_reason: input.reason, payment_status: input.paymentStatus }, input.reason)) {
        metrics.outcome(input.status, input.reason);
        if (input.reconciler) metrics.repair('rejected');
        log.info('order closed', {
          status: input.status,
          reason: input.reason,
          paymentStatus: input.paymentStatus,
          ...(input.reconciler ? { by: 'reconciler' } : {}),
        });
      }
    },
  };
}
