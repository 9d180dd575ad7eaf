import type { createOrderActivities } from '../../activities/order';
import type { createPaymentActivities } from '../../activities/payment';
import type { createRestaurantActivities } from '../../activities/restaurant';
import { isFailureReason, type FailureReason, type OrderSagaInput, type OrderStatus, type PaymentStatus } from '../../lib/workflow-safe/domain';
import { failureTypeOf, isBusinessFailure } from './activity-context';

// The order saga for the peer engines (DBOS, Restate), auto-accepting restaurants only. Both engines'
// documentation writes a saga as plain async code: each step a durable call, a stack of compensations
// pushed before the step they undo, unwound on failure. So the saga body is shared, and each engine
// supplies only what makes a step durable (`SagaSteps.run`). It mirrors workflows/order-saga.ts: the
// same activities, the same order of steps, the same compensations and the same retry policy.

export type OrderActivities = ReturnType<typeof createOrderActivities>;
export type PaymentActivities = ReturnType<typeof createPaymentActivities>;
export type RestaurantActivities = ReturnType<typeof createRestaurantActivities>;

export interface SagaActivities {
  order: OrderActivities;
  payment: PaymentActivities;
  restaurant: RestaurantActivities;
}

/** A retry policy as workflows/order-saga.ts sets it; `totalMs` bounds all attempts (Temporal's schedule-to-close). */
export interface StepPolicy {
  initialMs: number;
  coefficient: number;
  maxIntervalMs: number;
  /** Per attempt (Temporal's start-to-close). */
  attemptTimeoutMs: number;
  totalMs?: number;
}

/** The saga's policies, named as in workflows/order-saga.ts (the truthful, local-order-steps version). */
export const POLICIES = {
  step: { initialMs: 200, coefficient: 2, maxIntervalMs: 10_000, attemptTimeoutMs: 10_000 },
  payment: { initialMs: 200, coefficient: 2, maxIntervalMs: 10_000, attemptTimeoutMs: 120_000, totalMs: 180_000 },
  capture: { initialMs: 200, coefficient: 2, maxIntervalMs: 30_000, attemptTimeoutMs: 120_000 },
  compensation: { initialMs: 500, coefficient: 2, maxIntervalMs: 30_000, attemptTimeoutMs: 120_000 },
} as const satisfies Record<string, StepPolicy>;

export type PolicyName = keyof typeof POLICIES;

/**
 * How an engine makes one step durable: runs `work` (retrying transient errors under `policy`, not
 * business failures), records its result before the saga goes on, and on replay returns the record.
 * `work` gets the attempt number (1 for the first).
 */
export interface SagaSteps {
  run<T>(name: string, policy: PolicyName, work: (attempt: number) => Promise<T>): Promise<T>;
}

export interface PeerSagaResult {
  orderId: string;
  status: OrderStatus;
  failureReason: FailureReason | null;
  paymentStatus: PaymentStatus | null;
}

class SagaFailure extends Error {
  constructor(readonly reason: FailureReason) {
    super(reason);
  }
}

function reasonOf(err: unknown): FailureReason {
  if (err instanceof SagaFailure) return err.reason;
  const type = failureTypeOf(err);
  return isBusinessFailure(err) && type !== undefined && isFailureReason(type) ? type : 'SYSTEM_ERROR';
}

/** createOrder → authorizePayment → createTicket → capturePayment → acceptTicket → confirmOrder, with compensations. */
export async function runOrderSaga(steps: SagaSteps, acts: SagaActivities, input: OrderSagaInput): Promise<PeerSagaResult> {
  const { orderId, totalAmount: amount, restaurantId } = input;
  let paymentStatus: PaymentStatus | null = null;
  // Registered before the first step, as the Temporal saga does (a step that timed out may have acted).
  const compensations: Array<() => Promise<void>> = [
    async () => {
      await steps.run('cancelTicket', 'compensation', () => acts.restaurant.cancelTicket({ orderId, restaurantId }));
    },
    async () => {
      paymentStatus = await steps.run('voidAuthorization', 'compensation', () => acts.payment.voidAuthorization({ orderId, amount }));
    },
  ];
  try {
    const stored = await steps.run('createOrder', 'step', () => acts.order.createOrder(input));
    const lineTotal = input.items.reduce((sum, l) => sum + l.unitPrice * l.quantity, 0);
    if (lineTotal !== amount || stored.totalAmount !== amount) throw new SagaFailure('AMOUNT_MISMATCH');
    paymentStatus = await steps
      .run('authorizePayment', 'payment', () => acts.payment.authorizePayment({ orderId, amount, cardToken: input.cardToken }))
      .catch((err: unknown) => {
        // Retries ran out without a business answer: the PSP stayed unreachable.
        throw isBusinessFailure(err) ? err : new SagaFailure('PAYMENT_UNAVAILABLE');
      });
    const ticket = await steps.run('createTicket', 'step', () =>
      acts.restaurant.createTicket({ orderId, restaurantId, items: input.items, totalAmount: amount }),
    );
    // The peers compare what each engine does for a saga: no human decision, so no waiting for one.
    if (!ticket.autoAccept) throw new SagaFailure('SYSTEM_ERROR');
    compensations.unshift(async () => {
      paymentStatus = await steps.run('refundPayment', 'compensation', () => acts.payment.refundPayment({ orderId, amount }));
    });
    paymentStatus = await steps.run('capturePayment', 'capture', () => acts.payment.capturePayment({ orderId, amount }));
    await steps.run('acceptTicket', 'step', () => acts.restaurant.acceptTicket({ orderId }));
    await steps.run('confirmOrder', 'step', () => acts.order.confirmOrder({ orderId }));
    return { orderId, status: 'CONFIRMED', failureReason: null, paymentStatus };
  } catch (err) {
    const reason = reasonOf(err);
    for (const compensate of compensations) await compensate();
    const status = 'REJECTED' as const;
    const closing = { orderId, status, reason, paymentStatus };
    await steps.run('rejectOrder', 'compensation', () => acts.order.rejectOrder(closing));
    return { orderId, status, failureReason: reason, paymentStatus };
  }
}

/** The wait before retry `attempt + 1` under `policy`, ms. */
export function backoffMs(policy: StepPolicy, attempt: number): number {
  return Math.min(policy.maxIntervalMs, policy.initialMs * policy.coefficient ** (attempt - 1));
}
