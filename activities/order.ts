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
    // One statement, so one round trip and its own transaction: the guarded update, and the history
    // row only for an update that happened.
    const changed = db('orders')
      .where({ order_id: orderId })
      .whereIn(
        'status',
        OPEN.filter((s) => s !== to),
      )
      .update({ status: to, updated_at: db.fn.now(), card_token: null, ...fields })
      .returning('order_id');
    const history = db.raw(
      'INSERT INTO order_status_history (order_id, status, reason) SELECT order_id, ?, ? FROM changed ON CONFLICT (order_id, status) DO NOTHING',
      [to, reason],
    );
    const [row] = await db.with('changed', changed).with('history', history).from('changed').count({ n: '*' });
    return Number(row?.n) > 0;
  }

  return {
    /**
     * Records the order (a no-op when the API already did), marks that its saga has run (the sweeper
     * leaves it alone from now on), and returns the total as stored.
     */
    async createOrder(input: OrderSagaInput): Promise<{ totalAmount: number }> {
      const markStarted = () =>
        db('orders')
          .where({ order_id: input.orderId })
          .update({ saga_started_at: db.raw('coalesce(saga_started_at, now())') })
          .returning('total_amount');
      // The API has almost always recorded the order already: one round trip then, the insert only when it has not.
      let [stored] = await markStarted();
      if (!stored) {
        await insertOrder(db, input);
        [stored] = await markStarted();
      }
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
