import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createOrderActivities } from '../activities/order';
import type { createPaymentActivities } from '../activities/payment';
import type { createRestaurantActivities } from '../activities/restaurant';
import { isFailureReason, type FailureReason, type OrderLine, type OrderSagaInput, type OrderSagaResult, type OrderStatus } from '../lib/workflow-safe/domain';
import { ORDER_STATUS } from '../lib/workflow-safe/search-attributes';
import { cancelUpdate, decideUpdate, getStateQuery, UPDATE_REFUSALS, type OrderSagaState } from './messages';
import { taskQueuesFromOrderQueue, type TaskQueues } from '../lib/workflow-safe/task-queues';

type OrderActivities = ReturnType<typeof createOrderActivities>;
type PaymentActivities = ReturnType<typeof createPaymentActivities>;
type RestaurantActivities = ReturnType<typeof createRestaurantActivities>;

const DEFAULT_ACCEPTANCE_WINDOW_SECONDS = 300;

// Business failures are non-retryable ApplicationFailures thrown by the activities; everything else
// (database or PSP unreachable, timeouts, a worker crash) is retried with backoff.
const STEP_RETRY = { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '10s' } as const;
// Compensations must finish: no maximumAttempts means retry until they succeed.
const COMPENSATION_RETRY = { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s' } as const;
/**
 * Sagas started after this patch run the order service's own steps (createOrder,
 * markAwaitingRestaurant, confirmOrder, rejectOrder) as local activities: the workflow already runs
 * on the order worker, which holds the orders database, so each step is one short transaction inside
 * the workflow task instead of a round trip through the server (a marker in the history instead of
 * three events and a workflow task). Sagas recorded before it replay their remote steps (the
 * histories in test/histories).
 */
export const LOCAL_ORDER_STEPS_PATCH = 'order-steps-as-local-activities';
/**
 * Sagas started after this patch:
 * - check the money themselves: the total must be the sum of the lines and equal the stored order's
 *   total, and the restaurant's re-check compares it with its own prices (AMOUNT_MISMATCH);
 * - give payment steps 2 minutes per attempt with a 10 s heartbeat, so a PSP slower than our first
 *   timeout is waited for on later attempts (the activity lengthens its PSP timeout per attempt);
 * - have defined semantics for an operator's cancel request: before the restaurant's decision the
 *   order ends CANCELLED / OPERATOR_CANCELLED with every compensation; once the restaurant has decided,
 *   the saga finishes what the decision implies and the request is ignored.
 */
export const TRUTHFUL_SAGA_PATCH = 'amount-check-slow-psp-operator-cancel';
/**
 * Sagas started after this patch register cancelTicket and voidAuthorization before their first step
 * instead of just before createTicket and authorizePayment. A run that follows a terminated one (the
 * reconciler's restart) may find a hold and a ticket the earlier run left; without this, a cancel
 * request before the new run's authorizePayment closed the order CANCELLED with that hold and ticket
 * still open (found by the model checker, docs/model.md). Both are safe when their step never ran.
 */
export const COMPENSATIONS_FIRST_PATCH = 'compensations-registered-first';
/**
 * Sagas started after this patch take fewer rounds through the server (issue #15):
 * - the hold and the ticket run together (both compensations are registered before either, and the
 *   restaurant can only decide once the order is AWAITING_RESTAURANT, after both); whichever fails,
 *   the saga waits for the other to finish before compensating, and the hold's failure is the reason;
 * - a restaurant that accepts every order gets its ticket ACCEPTED when it is created;
 * - once the restaurant has accepted, capture and marking the ticket accepted run together; a capture
 *   that fails leaves an accepted ticket, which the compensations cancel like any other.
 */
export const STEPS_TOGETHER_PATCH = 'hold-and-ticket-together';
/**
 * Sagas started after this patch record this one marker in place of the four above, whose changes
 * they all have (issue #15, smaller histories): the SDK follows every patch marker with an upsert of
 * `TemporalChangeVersion`, so four markers cost eight events per saga.
 * Sagas recorded before it have no such marker and read their generation from the four as before.
 * A later change adds its own patch after this one, as usual.
 */
export const ONE_MARKER_PATCH = 'one-marker-for-earlier-changes';

function sagaActivities(queues: TaskQueues, localOrderSteps: boolean, truthful: boolean) {
  // Payment steps: a PSP slower than our first timeout is waited for on later attempts, and a worker
  // that dies mid-call is noticed by its missing heartbeat instead of the long per-attempt timeout.
  const paymentTimeouts = truthful ? ({ startToCloseTimeout: '2m', heartbeatTimeout: '10s' } as const) : ({ startToCloseTimeout: '15s' } as const);
  const remoteOrder = proxyActivities<OrderActivities>({ taskQueue: queues.order, startToCloseTimeout: '10s', retry: STEP_RETRY });
  const remoteOrderClose = proxyActivities<OrderActivities>({ taskQueue: queues.order, startToCloseTimeout: '10s', retry: COMPENSATION_RETRY });
  return {
    orderSteps: localOrderSteps ? proxyLocalActivities<OrderActivities>({ startToCloseTimeout: '10s', retry: STEP_RETRY }) : remoteOrder,
    /** The order service's closing step, retried like a compensation (it must happen). */
    orderClosing: localOrderSteps ? proxyLocalActivities<OrderActivities>({ startToCloseTimeout: '10s', retry: COMPENSATION_RETRY }) : remoteOrderClose,
    payment: proxyActivities<PaymentActivities>({
      taskQueue: queues.payment,
      ...paymentTimeouts,
      // A PSP that stays down this long ends the order (PAYMENT_UNAVAILABLE) instead of holding it open.
      scheduleToCloseTimeout: '3m',
      retry: STEP_RETRY,
    }),
    // The restaurant has accepted: capture is retried until the PSP answers.
    capture: proxyActivities<PaymentActivities>({ taskQueue: queues.payment, ...paymentTimeouts, retry: { ...STEP_RETRY, maximumInterval: '30s' } }),
    restaurant: proxyActivities<RestaurantActivities>({ taskQueue: queues.restaurant, startToCloseTimeout: '10s', retry: STEP_RETRY }),
    compensatePayment: proxyActivities<PaymentActivities>({ taskQueue: queues.payment, ...paymentTimeouts, retry: COMPENSATION_RETRY }),
    compensateRestaurant: proxyActivities<RestaurantActivities>({ taskQueue: queues.restaurant, startToCloseTimeout: '10s', retry: COMPENSATION_RETRY }),
  };
}

/**
 * Runs one activity with a one-line summary, so the Web UI's timeline reads as the saga's story.
 * A summary is user metadata on the command, which replay does not compare (the activity type and
 * order are what must match): histories recorded without summaries replay unchanged.
 */
function step<F extends (...args: any[]) => Promise<any>>(
  fn: F & { executeWithOptions(options: { summary: string }, args: Parameters<F>): Promise<Awaited<ReturnType<F>>> },
  summary: string,
  ...args: Parameters<F>
): Promise<Awaited<ReturnType<F>>> {
  return fn.executeWithOptions({ summary }, args);
}

/**
 * The order saga: createOrder → authorizePayment → createTicket → restaurant decision →
 * capturePayment → acceptTicket → confirmOrder (since STEPS_TOGETHER_PATCH: createOrder →
 * authorizePayment with createTicket → decision → capturePayment with acceptTicket → confirmOrder). Every step with an effect has its compensation
 * registered before it runs (the hold's and the ticket's before the first step); on any failure they
 * run in reverse, then the order is closed with a reason the customer can read.
 *
 * One function on purpose: the steps, their compensations and the patch gates read top to bottom in the
 * order the history records them; splitting it would scatter that order.
 */
export async function orderSaga(input: OrderSagaInput): Promise<OrderSagaResult> {
  // Checked first: a saga with this marker has every change below without asking for its marker.
  const allEarlierChanges = patched(ONE_MARKER_PATCH);
  const localOrderSteps = allEarlierChanges || patched(LOCAL_ORDER_STEPS_PATCH);
  // Only sagas that have local order steps can have this one (it came later), so histories recorded
  // before either patch ask for no marker they do not have.
  const truthful = allEarlierChanges || (localOrderSteps && patched(TRUTHFUL_SAGA_PATCH));
  const compensationsFirst = allEarlierChanges || (truthful && patched(COMPENSATIONS_FIRST_PATCH));
  const together = allEarlierChanges || (compensationsFirst && patched(STEPS_TOGETHER_PATCH));
  const { orderSteps, orderClosing, payment, capture, restaurant, compensatePayment, compensateRestaurant } = sagaActivities(
    taskQueuesFromOrderQueue(workflowInfo().taskQueue),
    localOrderSteps,
    truthful,
  );

  const state: OrderSagaState = {
    status: 'PENDING',
    paymentStatus: null,
    failureReason: null,
    decision: null,
    cancelRequested: false,
    acceptanceDeadline: null,
    closing: false,
  };
  const saga = { finished: false, rejectionNote: null as string | null };
  const setStatus = (status: OrderStatus) => {
    state.status = status;
    upsertSearchAttributes([{ key: ORDER_STATUS, value: status }]);
  };

  const { orderId, totalAmount: amount } = input;
  // What the Web UI shows as the saga's current details (a query: no command, replay-safe).
  const details = (text: string) => setCurrentDetails(`**${orderId}** (${amount} KRW at ${input.restaurantId}): ${text}`);
  details('placing the order');
  log.info('Saga started', { orderId, restaurantId: input.restaurantId, totalAmount: amount, lines: input.items.length });
  registerHandlers(state, saga);

  // Compensations, most recent first. Each is registered before its step runs, because a step that
  // timed out may still have taken effect; each is safe to run when its step never happened.
  const compensations: Array<() => Promise<void>> = [];
  const stopIfCancelled = () => {
    if (state.cancelRequested) throw ApplicationFailure.nonRetryable('Cancelled by the customer', 'CUSTOMER_CANCELLED');
  };

  const registerVoid = () =>
    compensations.unshift(async () => {
      state.paymentStatus = await step(compensatePayment.voidAuthorization, `Compensate: release the hold of ${amount} KRW`, { orderId, amount });
    });
  const registerCancelTicket = () =>
    compensations.unshift(async () => {
      await step(compensateRestaurant.cancelTicket, `Compensate: cancel the ticket at ${input.restaurantId}`, { orderId, restaurantId: input.restaurantId });
    });

  try {
    if (compensationsFirst) {
      registerVoid();
      registerCancelTicket();
    }
    const stored = await step(orderSteps.createOrder, `Record order ${orderId}: ${input.items.length} line(s), ${amount} KRW`, input);
    if (truthful) checkAmount(input, stored?.totalAmount);

    const ticketInput = {
      orderId,
      restaurantId: input.restaurantId,
      items: input.items,
      ...(truthful ? { totalAmount: amount } : {}),
      ...(together ? { acceptIfAutoAccept: true } : {}),
    };
    const holdPayment = () =>
      step(payment.authorizePayment, `Hold ${amount} KRW on the card`, { orderId, amount, cardToken: input.cardToken }).catch((err: unknown) =>
        paymentUnavailableUnlessDecided(err, truthful),
      );
    const openTicket = () => step(restaurant.createTicket, `Re-check ${input.items.length} line(s) and open a ticket at ${input.restaurantId}`, ticketInput);
    let ticket: Awaited<ReturnType<typeof openTicket>>;
    if (together) {
      details('holding the payment and opening the ticket');
      const [hold, opened] = await settleBoth(holdPayment(), openTicket());
      state.paymentStatus = hold;
      stopIfCancelled();
      ticket = opened();
      stopIfCancelled();
    } else {
      if (!compensationsFirst) registerVoid();
      details('holding the payment');
      state.paymentStatus = await holdPayment();
      stopIfCancelled();

      if (!compensationsFirst) registerCancelTicket();
      details('opening the ticket at the restaurant');
      ticket = await openTicket();
      stopIfCancelled();
    }

    if (ticket.autoAccept && state.decision === null) state.decision = 'ACCEPT';
    if (state.decision === null) {
      const windowSeconds = input.acceptanceWindowSeconds ?? DEFAULT_ACCEPTANCE_WINDOW_SECONDS;
      state.acceptanceDeadline = new Date(Date.now() + windowSeconds * 1000).toISOString();
      await step(orderSteps.markAwaitingRestaurant, `Wait for ${input.restaurantId} until ${state.acceptanceDeadline}`, {
        orderId,
        acceptanceDeadline: state.acceptanceDeadline,
      });
      setStatus('AWAITING_RESTAURANT');
      details(`waiting for ${input.restaurantId} to accept or reject until ${state.acceptanceDeadline}`);
      const decided = await condition(() => state.decision !== null || state.cancelRequested, windowSeconds * 1000, {
        summary: `Acceptance window: ${windowSeconds} s for ${input.restaurantId}`,
      });
      stopIfCancelled();
      if (!decided) throw ApplicationFailure.nonRetryable('The restaurant did not answer in time', 'RESTAURANT_TIMEOUT');
    }

    // The restaurant has decided: from here the saga finishes what the decision implies, and an
    // operator's cancel request no longer interrupts it (capture through confirmation is one move).
    const afterDecision = async () => {
      if (state.decision === 'REJECT') {
        await step(restaurant.rejectTicket, `Mark the ticket rejected by ${input.restaurantId}`, { orderId, reason: saga.rejectionNote });
        throw ApplicationFailure.nonRetryable('The restaurant rejected the order', 'RESTAURANT_REJECTED');
      }
      compensations.unshift(async () => {
        state.paymentStatus = await step(compensatePayment.refundPayment, `Compensate: refund ${amount} KRW`, { orderId, amount });
      });
      details('accepted: capturing the payment');
      const capturePayment = () => step(capture.capturePayment, `Capture ${amount} KRW`, { orderId, amount });
      const acceptTicket = () => step(restaurant.acceptTicket, `Mark the ticket accepted at ${input.restaurantId}`, { orderId });
      if (!together) {
        state.paymentStatus = await capturePayment();
        await acceptTicket();
      } else if (ticket.accepted) {
        state.paymentStatus = await capturePayment();
      } else {
        const [captured, accepted] = await settleBoth(capturePayment(), acceptTicket());
        state.paymentStatus = captured;
        accepted();
      }
      await step(orderSteps.confirmOrder, `Confirm order ${orderId}`, { orderId });
      setStatus('CONFIRMED');
      details('confirmed');
    };
    await (truthful ? CancellationScope.nonCancellable(afterDecision) : afterDecision());
  } catch (err) {
    state.closing = true;
    const reason = failureReasonOf(err, truthful);
    log.info('Saga failed; compensating', { orderId, reason, compensations: compensations.length });
    details(`${reason}: compensating (${compensations.length} step(s))`);
    // Compensations run to the end even if the workflow is cancelled meanwhile.
    await CancellationScope.nonCancellable(async () => {
      for (const compensate of compensations) await compensate();
      const status: OrderStatus = reason === 'CUSTOMER_CANCELLED' || reason === 'OPERATOR_CANCELLED' ? 'CANCELLED' : 'REJECTED';
      await step(orderClosing.rejectOrder, `Close order ${orderId}: ${status} (${reason})`, { orderId, status, reason, paymentStatus: state.paymentStatus });
      state.failureReason = reason;
      setStatus(status);
      details(`${status} (${reason}); payment ${state.paymentStatus ?? 'none'}`);
    });
  }

  log.info('Saga finished', { orderId, status: state.status, failureReason: state.failureReason, paymentStatus: state.paymentStatus });
  saga.finished = true;
  // Let decision and cancel handlers answer their callers before the run closes (a cancel request
  // that arrived meanwhile does not turn a finished saga into a cancelled run).
  await CancellationScope.nonCancellable(() => condition(allHandlersFinished));
  return { orderId, status: state.status, failureReason: state.failureReason, paymentStatus: state.paymentStatus };
}

/** The restaurant's decision and the customer's cancel (Updates with validators) and the state query. */
function registerHandlers(state: OrderSagaState, saga: { finished: boolean; rejectionNote: string | null }): void {
  const refuse = (type: string, message: string) => {
    throw ApplicationFailure.create({ type, message });
  };
  // An accepted Update answers once the saga has acted on it; the wait survives a cancel request.
  const untilFinished = () => CancellationScope.nonCancellable(() => condition(() => saga.finished));
  setHandler(getStateQuery, () => state);

  setHandler(
    decideUpdate,
    async (decision) => {
      if (state.decision === null) state.decision = decision.decision;
      if (decision.decision === 'REJECT') saga.rejectionNote = decision.reason ?? null;
      await untilFinished();
      return state.status;
    },
    {
      validator: (decision) => {
        // Checked here too, not only at the API: a reason Postgres cannot store would leave
        // rejectTicket retrying for ever with the payment held.
        if (decision.decision !== 'ACCEPT' && decision.decision !== 'REJECT') refuse(UPDATE_REFUSALS.invalidDecision, 'decision must be ACCEPT or REJECT');
        if (decision.decision === 'REJECT' && decision.reason !== undefined && !isStorableText(decision.reason, 500)) {
          refuse(UPDATE_REFUSALS.invalidDecision, 'reason must be at most 500 characters of plain text');
        }
        if (state.cancelRequested || state.status === 'CANCELLED') refuse(UPDATE_REFUSALS.notAwaitingDecision, 'The customer cancelled this order');
        if (state.decision !== null) {
          // The same decision again is answered (a retried request); another one is refused.
          if (state.decision !== decision.decision)
            refuse(UPDATE_REFUSALS.alreadyDecided, `The order was already ${state.decision === 'ACCEPT' ? 'accepted' : 'rejected'}`);
          return;
        }
        if (state.closing || saga.finished) refuse(UPDATE_REFUSALS.notAwaitingDecision, `The order is already closing (${state.status})`);
        if (state.status !== 'AWAITING_RESTAURANT')
          refuse(UPDATE_REFUSALS.notYetAwaiting, 'The order is not awaiting the restaurant yet: its payment is still being held');
      },
    },
  );

  setHandler(
    cancelUpdate,
    async () => {
      state.cancelRequested = true;
      await untilFinished();
      return state.status;
    },
    {
      validator: () => {
        if (state.cancelRequested || state.status === 'CANCELLED') return;
        if (state.decision !== null || state.closing || saga.finished) {
          const why =
            state.decision === 'ACCEPT'
              ? 'the restaurant accepted it'
              : state.decision === 'REJECT'
                ? 'the restaurant rejected it'
                : `it is closing (${state.status})`;
          refuse(UPDATE_REFUSALS.notCancellable, `The order can no longer be cancelled: ${why}`);
        }
      },
    },
  );
}

/**
 * Runs two steps together and waits for both to finish (a compensation must not overtake a step still
 * running). Resolves to the first one's result and a function that returns the second one's (or throws
 * its failure), so the caller decides what comes between them; rejects with the first one's failure.
 */
async function settleBoth<A, B>(first: Promise<A>, second: Promise<B>): Promise<[A, () => B]> {
  const [a, b] = await Promise.allSettled([first, second]);
  if (a.status === 'rejected') throw a.reason;
  return [
    a.value,
    () => {
      if (b.status === 'rejected') throw b.reason;
      return b.value;
    },
  ];
}

/** The saga does not trust whoever started it with the money: the total must add up and match the order. */
function checkAmount(input: OrderSagaInput, storedTotal: number | undefined): void {
  const lineTotal = input.items.reduce((sum: number, line: OrderLine) => sum + line.unitPrice * line.quantity, 0);
  if (lineTotal !== input.totalAmount || storedTotal !== input.totalAmount) {
    throw ApplicationFailure.nonRetryable(
      `Total ${input.totalAmount} does not match the lines (${lineTotal}) or the stored order (${storedTotal})`,
      'AMOUNT_MISMATCH',
    );
  }
}

/** Text Postgres can store and people can read: no control characters, no lone surrogates. */
// eslint-disable-next-line no-control-regex
const UNSTORABLE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function isStorableText(text: unknown, maxLength: number): boolean {
  return typeof text === 'string' && text.length <= maxLength && !UNSTORABLE.test(text);
}

/**
 * The hold gave up without a business answer (its retries ran out while the PSP stayed unreachable):
 * that is PAYMENT_UNAVAILABLE. A decline keeps its own meaning, and so does a cancel request in sagas
 * that give it one (truthful); older sagas called that PAYMENT_UNAVAILABLE too. Only the reason the
 * saga reports comes from here, not its commands: replay-safe.
 */
function paymentUnavailableUnlessDecided(err: unknown, truthful: boolean): never {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  const decided = cause instanceof ApplicationFailure && isFailureReason(cause.type);
  if (err instanceof ActivityFailure && !decided && !(truthful && isCancellation(err))) {
    throw ApplicationFailure.nonRetryable(`The payment service could not hold the money: ${err.message}`, 'PAYMENT_UNAVAILABLE');
  }
  throw err;
}

function failureReasonOf(err: unknown, truthful: boolean): FailureReason {
  // A cancel request (Web UI, `temporal workflow cancel`) before the restaurant's decision.
  if (truthful && isCancellation(err)) return 'OPERATOR_CANCELLED';
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure && isFailureReason(cause.type)) return cause.type;
  return 'SYSTEM_ERROR';
}
