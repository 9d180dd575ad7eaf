import { ApplicationFailure, Context, log } from '@temporalio/activity';
import type { Db } from '../db/knex';
import type { PaymentStatus } from '../lib/workflow-safe/domain';
import { noSagaMetrics, type SagaMetrics } from './saga-metrics';
import { PspRejectedError, type PspAuthorizationStatus, type PspClient, type PspResult } from './psp-client';

export interface PaymentDeps {
  db: Db;
  psp: PspClient;
  /** Compensations that changed something are counted here (PSP calls through the client's `observe`). */
  metrics?: SagaMetrics;
  /**
   * How long one PSP call may take: `firstMs` on an activity's first attempt, doubling with each
   * retry up to `maxMs`, so a processor slower than our usual timeout is eventually waited for
   * instead of being cut off the same way for ever. The saga's start-to-close timeout exceeds maxMs.
   */
  pspTimeouts?: { firstMs: number; maxMs: number };
}

interface PaymentRow {
  payment_id: string;
  order_id: string;
  amount: number;
  status: PaymentStatus;
}

type EventKind = 'AUTHORIZE' | 'DECLINE' | 'CAPTURE' | 'VOID' | 'REFUND';

/** What the payments book records when it learns the PSP's state; the key is the operation's own key. */
const EVENT_OF: Record<PspAuthorizationStatus, { kind: EventKind; operation: string }> = {
  AUTHORIZED: { kind: 'AUTHORIZE', operation: 'authorize' },
  DECLINED: { kind: 'DECLINE', operation: 'authorize' },
  CAPTURED: { kind: 'CAPTURE', operation: 'capture' },
  VOIDED: { kind: 'VOID', operation: 'void' },
  REFUNDED: { kind: 'REFUND', operation: 'refund' },
};

/** PSP states in which the processor keeps nothing of the customer's money. */
const RELEASED: readonly PaymentStatus[] = ['VOIDED', 'REFUNDED', 'DECLINED'];

export function paymentIdFor(orderId: string): string {
  return `pay_${orderId}`;
}

/** Attempt number of the running activity (1 outside an activity, e.g. in a unit test). */
function currentAttempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}

/**
 * Heartbeats every 2 s while `work` runs, so a worker that dies (or hangs) in a slow PSP call is
 * noticed by the heartbeat timeout instead of the long start-to-close timeout. Calls that answer
 * within 2 s send no heartbeat at all.
 */
async function heartbeating<T>(work: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const context = Context.current();
    timer = setInterval(() => context.heartbeat(), 2000);
  } catch {
    // not inside an activity
  }
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

/** How long one PSP call of the running attempt may take (see PaymentDeps.pspTimeouts). */
function pspCallOptions(timeouts: { firstMs: number; maxMs: number }): { timeoutMs: number } {
  return { timeoutMs: Math.min(timeouts.firstMs * 2 ** (currentAttempt() - 1), timeouts.maxMs) };
}

async function load(db: Db, orderId: string): Promise<PaymentRow | undefined> {
  return db<PaymentRow>('payments').where({ order_id: orderId }).first();
}

/**
 * Moves the row from one of `from` to `to` (a guarded UPDATE) and records the event once per key.
 * One statement, so one round trip and its own transaction; the event is recorded whether or not
 * the row moved, as a retry finds it already moved.
 */
async function record(
  db: Db,
  paymentId: string,
  orderId: string,
  from: PaymentStatus[],
  to: PaymentStatus,
  event: { kind: EventKind; amount: number; key: string; response: PspResult | null },
  extra: Record<string, unknown> = {},
): Promise<boolean> {
  const changed = db('payments')
    .where({ payment_id: paymentId })
    .whereIn('status', from)
    .update({ status: to, updated_at: db.fn.now(), ...extra })
    .returning('payment_id');
  const recorded = db('payment_events')
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
  const [row] = await db.with('changed', changed).with('event', recorded).from('changed').count({ n: '*' });
  return Number(row?.n) > 0;
}

/** Writes the PSP's state into our row (whatever the row said: the PSP holds the money). */
async function adopt(db: Db, row: PaymentRow, truth: PspResult): Promise<PaymentStatus> {
  const to = truth.status;
  if (row.status !== to) {
    const { kind, operation } = EVENT_OF[to];
    await record(db, row.payment_id, row.order_id, [row.status], to, { kind, amount: row.amount, key: `${row.payment_id}:${operation}`, response: truth });
    log.info('payment row brought to the PSP state', { orderId: row.order_id, from: row.status, to });
  }
  return (await load(db, row.order_id))?.status ?? to;
}

/** The payment's row, created PENDING if this is the first step to touch it (idempotent). */
async function loadOrCreatePending(db: Db, paymentId: string, orderId: string, amount: number): Promise<PaymentRow> {
  const [created] = await db<PaymentRow>('payments')
    .insert({ payment_id: paymentId, order_id: orderId, amount, status: 'PENDING' })
    .onConflict('order_id')
    .ignore()
    .returning('*');
  if (created) return created;
  const row = await load(db, orderId);
  if (!row) throw new Error(`payment row for ${orderId} vanished`);
  return row;
}

/**
 * Leaves the PSP holding nothing for this payment, acting on what the PSP says it holds: a hold is
 * voided, a capture refunded, and a payment the PSP never saw gets a void tombstone so a late
 * authorization is refused. A refusal (the state moved under us) is answered by asking again.
 */
async function release(
  { db, psp, metrics, callOptions }: { db: Db; psp: PspClient; metrics: SagaMetrics; callOptions: () => { timeoutMs: number } },
  orderId: string,
  amount: number,
  compensation: 'voidAuthorization' | 'refundPayment',
): Promise<PaymentStatus> {
  const paymentId = paymentIdFor(orderId);
  const row = await loadOrCreatePending(db, paymentId, orderId, amount);
  return heartbeating(async () => {
    for (let round = 1; round <= 4; round++) {
      const truth = await psp.lookup(paymentId, callOptions());
      if (truth && RELEASED.includes(truth.status)) return adopt(db, (await load(db, orderId)) ?? row, truth);
      try {
        const result =
          truth?.status === 'CAPTURED'
            ? await psp.refund({ reference: paymentId, amount: truth.amount, idempotencyKey: `${paymentId}:refund` }, callOptions())
            : await psp.void({ reference: paymentId, idempotencyKey: `${paymentId}:void` }, callOptions());
        const before = (await load(db, orderId)) ?? row;
        // A refusal the PSP kept no record of (a 4xx on authorize) stays DECLINED in our books; the
        // void only left a tombstone against a late attempt.
        if (truth === null && before.status === 'DECLINED') return before.status;
        const final = await adopt(db, before, result);
        if (before.status !== final) metrics.compensation(compensation, final);
        if (RELEASED.includes(final)) return final;
      } catch (err) {
        if (!(err instanceof PspRejectedError)) throw err;
        log.info('PSP refused a release; asking again', { orderId, code: err.code, round });
      }
    }
    throw new Error(`payment ${paymentId} did not reach a released state at the PSP; retrying`);
  });
}

/**
 * Payment service activities. Every PSP call uses an idempotency key derived from the payment id and
 * the operation, and every state change is a guarded UPDATE (WHERE status = expected), so a retry
 * after a crash between the PSP call, the commit and the activity's completion changes nothing.
 *
 * The PSP, not our row, is the truth about money: a retried step first looks its operation up at the
 * PSP, and every compensation asks the PSP what it holds before acting, so an answer that was lost,
 * late or wrong never leaves money held or captured behind a failed order.
 *
 * Long only as a factory: its body is the payment activities, each a short closure over the same deps.
 */
export function createPaymentActivities({ db, psp, metrics = noSagaMetrics, pspTimeouts = { firstMs: 5000, maxMs: 45000 } }: PaymentDeps) {
  const callOptions = () => pspCallOptions(pspTimeouts);
  const releasing = { db, psp, metrics, callOptions };

  return {
    /** Holds the amount on the card. Throws PAYMENT_DECLINED (non-retryable) on a decline or any PSP refusal. */
    async authorizePayment(input: { orderId: string; amount: number; cardToken: string }): Promise<PaymentStatus> {
      const paymentId = paymentIdFor(input.orderId);
      // The row exists before the PSP is called, so a compensation always finds what to void.
      const row = await loadOrCreatePending(db, paymentId, input.orderId, input.amount);
      if (row.status === 'AUTHORIZED' || row.status === 'CAPTURED') return row.status;
      if (row.status === 'DECLINED') throw ApplicationFailure.nonRetryable('The card was declined', 'PAYMENT_DECLINED');
      if (row.status !== 'PENDING') {
        throw ApplicationFailure.nonRetryable(`Payment is already ${row.status}`, 'SYSTEM_ERROR');
      }
      const key = `${paymentId}:authorize`;
      const result = await heartbeating(async () => {
        // A retry after a timeout: the PSP may have acted on the first attempt; ask before sending again.
        const known = currentAttempt() > 1 ? await psp.lookup(paymentId, callOptions()) : null;
        if (known) return known;
        try {
          return await psp.authorize(
            { reference: paymentId, orderReference: input.orderId, amount: input.amount, cardToken: input.cardToken, idempotencyKey: key },
            callOptions(),
          );
        } catch (err) {
          // A 4xx is the PSP's answer about this payment, not an outage: retrying cannot change it.
          if (err instanceof PspRejectedError) return { reference: paymentId, status: 'DECLINED' as const, declineCode: err.code };
          throw err;
        }
      });
      if (result.status === 'DECLINED') {
        await record(
          db,
          paymentId,
          input.orderId,
          ['PENDING'],
          'DECLINED',
          { kind: 'DECLINE', amount: input.amount, key, response: result },
          { decline_reason: result.declineCode ?? 'DECLINED' },
        );
        throw ApplicationFailure.nonRetryable('The card was declined', 'PAYMENT_DECLINED', { declineCode: result.declineCode });
      }
      if (result.status !== 'AUTHORIZED') {
        // The PSP already holds a void for this payment: a compensation got there first.
        await adopt(db, row, result);
        throw ApplicationFailure.nonRetryable(`Authorization is ${result.status}`, 'SYSTEM_ERROR');
      }
      await record(
        db,
        paymentId,
        input.orderId,
        ['PENDING'],
        'AUTHORIZED',
        { kind: 'AUTHORIZE', amount: input.amount, key, response: result },
        { psp_reference: result.reference },
      );
      log.info('payment authorized', { orderId: input.orderId, amount: input.amount });
      return 'AUTHORIZED';
    },

    /**
     * Takes the held money. A refusal is checked against the PSP's books first (a capture that took
     * effect and was answered with an error is a capture); only a real refusal throws
     * PAYMENT_CAPTURE_FAILED (non-retryable).
     */
    async capturePayment(input: { orderId: string; amount: number }): Promise<PaymentStatus> {
      const row = await load(db, input.orderId);
      if (!row) throw ApplicationFailure.nonRetryable('No payment to capture', 'PAYMENT_CAPTURE_FAILED');
      if (row.status === 'CAPTURED') return 'CAPTURED';
      const key = `${row.payment_id}:capture`;
      return heartbeating(async () => {
        const known = row.status !== 'AUTHORIZED' || currentAttempt() > 1 ? await psp.lookup(row.payment_id, callOptions()) : null;
        if (known?.status === 'CAPTURED') return adopt(db, row, known);
        if (row.status !== 'AUTHORIZED') {
          if (known) await adopt(db, row, known);
          throw ApplicationFailure.nonRetryable(`Payment is ${known?.status ?? row.status}, not AUTHORIZED`, 'PAYMENT_CAPTURE_FAILED');
        }
        let result: PspResult;
        try {
          result = await psp.capture({ reference: row.payment_id, amount: row.amount, idempotencyKey: key }, callOptions());
        } catch (err) {
          if (!(err instanceof PspRejectedError)) throw err;
          const truth = await psp.lookup(row.payment_id, callOptions());
          if (truth?.status === 'CAPTURED') return adopt(db, row, truth);
          if (truth) await adopt(db, row, truth);
          throw ApplicationFailure.nonRetryable(err.message, 'PAYMENT_CAPTURE_FAILED');
        }
        await record(db, row.payment_id, input.orderId, ['AUTHORIZED'], 'CAPTURED', { kind: 'CAPTURE', amount: row.amount, key, response: result });
        return 'CAPTURED' as const;
      });
    },

    /**
     * Compensation of authorizePayment: releases whatever the PSP holds for this payment (see
     * `release`). Safe when the authorization never happened: it leaves a VOIDED row and a void
     * tombstone at the PSP, so a late authorize attempt cannot hold money afterwards.
     */
    async voidAuthorization(input: { orderId: string; amount: number }): Promise<PaymentStatus> {
      const final = await release(releasing, input.orderId, input.amount, 'voidAuthorization');
      log.info('authorization voided', { orderId: input.orderId, status: final });
      return final;
    },

    /** Compensation of capturePayment: releases whatever the PSP holds (a capture is refunded, a hold voided). */
    async refundPayment(input: { orderId: string; amount: number }): Promise<PaymentStatus | null> {
      const final = await release(releasing, input.orderId, input.amount, 'refundPayment');
      log.info('payment refunded', { orderId: input.orderId, status: final });
      return final;
    },

    /** The reconciler's release: the same as the compensations, for a saga that can no longer run them. */
    async releasePayment(input: { orderId: string; amount: number }): Promise<PaymentStatus> {
      return release(releasing, input.orderId, input.amount, 'voidAuthorization');
    },

    /**
     * Asks the PSP for the payment's state and brings our row to it, with no effect at the PSP.
     * Returns the status, or null when neither side knows the payment.
     */
    async syncPaymentFromPsp(input: { orderId: string }): Promise<PaymentStatus | null> {
      const paymentId = paymentIdFor(input.orderId);
      const truth = await heartbeating(() => psp.lookup(paymentId, callOptions()));
      let row = await load(db, input.orderId);
      if (!truth) return row?.status ?? null;
      row ??= await loadOrCreatePending(db, paymentId, input.orderId, truth.amount);
      return adopt(db, row, truth);
    },
  };
}
