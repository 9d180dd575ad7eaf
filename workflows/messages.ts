import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { FailureReason, OrderStatus, PaymentStatus, RestaurantDecision } from '../lib/workflow-safe/domain';

// The order saga's messages, in their own module so the API can import them without the workflow.

export interface OrderSagaState {
  status: OrderStatus;
  paymentStatus: PaymentStatus | null;
  failureReason: FailureReason | null;
  decision: RestaurantDecision['decision'] | null;
  cancelRequested: boolean;
  acceptanceDeadline: string | null;
  /** The saga has begun to close (a failure, the window ran out, an operator's cancel): no decision or cancel is taken any more. */
  closing?: boolean;
}

export const getStateQuery = defineQuery<OrderSagaState>('getState');
/** The restaurant's accept/reject. Answers with the order's status once the saga has acted on it. */
export const decideUpdate = defineUpdate<OrderStatus, [RestaurantDecision]>('decide');
/** The customer's cancel. Refused (NOT_CANCELLABLE) once the restaurant has accepted. */
export const cancelUpdate = defineUpdate<OrderStatus, []>('cancel');

/** Error types the API maps to HTTP statuses when an update is refused. */
export const UPDATE_REFUSALS = {
  notCancellable: 'NOT_CANCELLABLE',
  alreadyDecided: 'DECISION_ALREADY_MADE',
  notAwaitingDecision: 'NOT_AWAITING_DECISION',
  /** The order is not yet waiting for the restaurant (its payment is still being held). */
  notYetAwaiting: 'NOT_YET_AWAITING',
  invalidDecision: 'INVALID_DECISION',
} as const;
