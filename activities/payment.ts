import { ApplicationFailure, log } from '@temporalio/activity';
import type { Db } from '../db/knex';
import type { PaymentStatus } from '../lib/domain';
import { noSagaMetrics, type SagaMetrics } from '../lib/saga-metrics';
import { PspRejectedError, type PspClient, type PspResult } from './psp-client';

export interface PaymentDeps {
  db: Db;
  psp: PspClient;
  /** Compensations that changed something are counted here (PSP calls through the client's `observe`). */
  metrics?: SagaMetrics;
}

interface PaymentRow {
  payment_id: string;
  order_id: string;
  amount: number;
  status: PaymentStatus;
}

export function paymentIdFor(orderId: string): string {
  return `pay_${orderId}`;
}

/**
 * Payment service activities. Every PSP call uses an idempotency key derived from the payment id and
 * the operation, and every state change is a guarded UPDATE (WHERE status = expected), so a retry
 * after a crash between the PSP call, the commit and the activity's completion changes nothing.
 */
export function createPaymentActivities({ db, psp, metrics = noSagaMetrics }: PaymentDeps) {
  async function load(orderId: string): Promise<PaymentRow | undefined> {
    return db<PaymentRow>('payments').where({ order_id: orderId }).first();
  }

  async function record(
    paymentId: string,
    orderId: string,
    from: PaymentStatus[],
    to: PaymentStatus,
    event: { kind: string; amount: number; key: string; response: PspResult | null },
    extra: Record<string, unknown> = {},
  ): Promise<boolean> {
    return db.transaction(async (trx) => {
      const changed = await trx('payments')
        .where({ payment_id: paymentId })
        .whereIn('status', from)
        .update({ status: to, updated_at: trx.fn.now(), ...extra });
      await trx('payment_events')
        .insert({
          payment_id: paymentId,
          order_id: orderId,
          kind: event.kind,
          amount: event.amount,
          idempotency_key: event.key,
          psp_response: event.response ? JSON.stringify(event.response) : null,
        })
        .onConflict('idempotency_key')
        .ignore();
      return changed > 0;
    });
  }

  /** The payment's row, created PENDING if this is the first step to touch it (idempotent). */
  async function loadOrCreatePending(paymentId: string, orderId: string, amount: number): Promise<PaymentRow> {
    await db('payments').insert({ payment_id: paymentId, order_id: orderId, amount, status: 'PENDING' }).onConflict('order_id').ignore();
    const row = await load(orderId);
    if (!row) throw new Error(`payment row for ${orderId} vanished`);
    return row;
  }

  return {
    /** Holds the amount on the card. Throws PAYMENT_DECLINED (non-retryable) on a decline. */
    async authorizePayment(input: { orderId: string; amount: number; cardToken: string }): Promise<PaymentStatus> {
      const paymentId = paymentIdFor(input.orderId);
      // The row exists before the PSP is called, so a compensation always finds what to void.
      const row = await loadOrCreatePending(paymentId, input.orderId, input.amount);
      if (row.status === 'AUTHORIZED' || row.status === 'CAPTURED') return row.status;
      if (row.status === 'DECLINED') throw ApplicationFailure.nonRetryable('The card was declined', 'PAYMENT_DECLINED');
      if (row.status !== 'PENDING') {
        throw ApplicationFailure.nonRetryable(`Payment is already ${row.status}`, 'SYSTEM_ERROR');
      }
      const key = `${paymentId}:authorize`;
      const result = await psp.authorize({ reference: paymentId, amount: input.amount, cardToken: input.cardToken, idempotencyKey: key });
      if (result.status === 'DECLINED') {
        await record(paymentId, input.orderId, ['PENDING'], 'DECLINED', { kind: 'DECLINE', amount: input.amount, key, response: result }, { decline_reason: result.declineCode ?? 'DECLINED' });
        throw ApplicationFailure.nonRetryable('The card was declined', 'PAYMENT_DECLINED', { declineCode: result.declineCode });
      }
      if (result.status !== 'AUTHORIZED') {
        // The PSP already holds a void for this payment: a compensation got there first.
        await record(paymentId, input.orderId, ['PENDING'], 'VOIDED', { kind: 'VOID', amount: 0, key, response: result });
        throw ApplicationFailure.nonRetryable(`Authorization is ${result.status}`, 'SYSTEM_ERROR');
      }
      await record(paymentId, input.orderId, ['PENDING'], 'AUTHORIZED', { kind: 'AUTHORIZE', amount: input.amount, key, response: result }, { psp_reference: result.reference });
      log.info('payment authorized', { orderId: input.orderId, amount: input.amount });
      return 'AUTHORIZED';
    },

    /** Takes the held money. Throws PAYMENT_CAPTURE_FAILED (non-retryable) if the PSP refuses. */
    async capturePayment(input: { orderId: string; amount: number }): Promise<PaymentStatus> {
      const row = await load(input.orderId);
      if (!row) throw ApplicationFailure.nonRetryable('No payment to capture', 'PAYMENT_CAPTURE_FAILED');
      if (row.status === 'CAPTURED') return 'CAPTURED';
      if (row.status !== 'AUTHORIZED') {
        throw ApplicationFailure.nonRetryable(`Payment is ${row.status}, not AUTHORIZED`, 'PAYMENT_CAPTURE_FAILED');
      }
      const key = `${row.payment_id}:capture`;
      let result: PspResult;
      try {
        result = await psp.capture({ reference: row.payment_id, amount: row.amount, idempotencyKey: key });
      } catch (err) {
        if (err instanceof PspRejectedError) throw ApplicationFailure.nonRetryable(err.message, 'PAYMENT_CAPTURE_FAILED');
        throw err;
      }
      await record(row.payment_id, input.orderId, ['AUTHORIZED'], 'CAPTURED', { kind: 'CAPTURE', amount: row.amount, key, response: result });
      return 'CAPTURED';
    },

    /**
     * Compensation of authorizePayment. Safe when the authorization never happened: it leaves a
     * VOIDED row (and a void at the PSP) so a late authorize attempt cannot hold money afterwards.
     * Returns the payment's final status.
     */
    async voidAuthorization(input: { orderId: string; amount: number }): Promise<PaymentStatus> {
      const paymentId = paymentIdFor(input.orderId);
      const row = await loadOrCreatePending(paymentId, input.orderId, input.amount);
      if (row.status !== 'PENDING' && row.status !== 'AUTHORIZED') return row.status;
      const key = `${paymentId}:void`;
      let result: PspResult;
      try {
        result = await psp.void({ reference: paymentId, idempotencyKey: key });
      } catch (err) {
        // Captured meanwhile: that is the refund compensation's business, not ours.
        if (err instanceof PspRejectedError) return (await load(input.orderId))?.status ?? row.status;
        throw err;
      }
      // The PSP answers with the authorization as it now stands: VOIDED, or DECLINED if it never held money.
      const final: PaymentStatus = result.status === 'DECLINED' ? 'DECLINED' : 'VOIDED';
      if (await record(paymentId, input.orderId, ['PENDING', 'AUTHORIZED'], final, { kind: final === 'VOIDED' ? 'VOID' : 'DECLINE', amount: row.amount, key, response: result })) {
        metrics.compensation('voidAuthorization', final);
      }
      log.info('authorization voided', { orderId: input.orderId, status: final });
      return (await load(input.orderId))?.status ?? 'VOIDED';
    },

    /** Compensation of capturePayment: gives captured money back. A no-op when nothing was captured. */
    async refundPayment(input: { orderId: string; amount: number }): Promise<PaymentStatus | null> {
      const row = await load(input.orderId);
      if (!row) return null;
      if (row.status !== 'CAPTURED') return row.status;
      const key = `${row.payment_id}:refund`;
      const result = await psp.refund({ reference: row.payment_id, amount: row.amount, idempotencyKey: key });
      if (await record(row.payment_id, input.orderId, ['CAPTURED'], 'REFUNDED', { kind: 'REFUND', amount: row.amount, key, response: result })) {
        metrics.compensation('refundPayment', 'REFUNDED');
      }
      log.info('payment refunded', { orderId: input.orderId });
      return 'REFUNDED';
    },
  };
}
