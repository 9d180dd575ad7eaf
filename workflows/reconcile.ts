import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  ChildWorkflowFailure,
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { createOrderActivities } from '../activities/order';
import type { createPaymentActivities } from '../activities/payment';
import type { createReconcilerActivities } from '../activities/reconciler';
import type { createRestaurantActivities } from '../activities/restaurant';
import {
  decideReconcileAction,
  emptyReport,
  MAX_RECONCILE_ORDER_IDS,
  noteInReport,
  reconcileSettingsOf,
  type OpenOrder,
  type ReconcileInput,
  type ReconcileReport,
  type ReconcileSettings,
  type RepairInput,
  type RepairResult,
  type SagaView,
} from '../lib/workflow-safe/reconcile';
import { taskQueuesFromOrderQueue } from '../lib/workflow-safe/task-queues';

type OrderActivities = ReturnType<typeof createOrderActivities>;
type PaymentActivities = ReturnType<typeof createPaymentActivities>;
type RestaurantActivities = ReturnType<typeof createRestaurantActivities>;
type ReconcilerActivities = ReturnType<typeof createReconcilerActivities>;

// A repair must finish: every step is idempotent and retried until it succeeds (no maximumAttempts).
const REPAIR_RETRY = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' } as const;

// The pass's reads (on the order queue, where this workflow runs) are retried until they succeed:
// without them nothing can be decided. describeSagas heartbeats once per saga it reads.
const READ_RETRY = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' } as const;
const reads = proxyActivities<ReconcilerActivities>({ startToCloseTimeout: '1m', retry: READ_RETRY });
const describe = proxyActivities<ReconcilerActivities>({ startToCloseTimeout: '5m', heartbeatTimeout: '30s', retry: READ_RETRY });
/**
 * Passes started after this patch follow a closed saga of an order still PENDING with a new saga run
 * instead of the repair (lib/workflow-safe/reconcile.ts): the order never reached the restaurant, and
 * the sweeper no longer restarts closed sagas, so this pass is the only one that may.
 */
export const RESTART_PENDING_PATCH = 'restart-closed-pending-sagas';

// A start or cancel request that keeps failing is reported; the next pass tries again.
const actions = proxyActivities<ReconcilerActivities>({ startToCloseTimeout: '1m', retry: { initialInterval: '1s', maximumAttempts: 3 } });

/**
 * One reconciliation pass over the orders that are not final: each order's saga is looked up in
 * Temporal and the order is driven to a consistent end when nothing else will (lib/reconcile.ts
 * decides). Run by the `reconcile-orders` Schedule and by `npm run reconcile`.
 *
 * Pages of `pageSize` orders are read with a keyset cursor; after `maxPagesPerRun` pages the pass
 * continues as new with its cursor and report, so a pass over any number of orders keeps a short
 * history. Returns the report of the whole pass.
 */
export async function reconcileOrders(input: ReconcileInput = {}): Promise<ReconcileReport> {
  const settings = reconcileSettingsOf(input);
  const report = input.carried ?? emptyReport(settings);
  let cursor = input.cursor ?? null;
  const decide = { restartPending: patched(RESTART_PENDING_PATCH) };
  for (let page = 0; page < settings.maxPagesPerRun; page++) {
    // Narrowed to some orders only when asked (the operator's desk): the Schedule's passes send the same input as before.
    const only = input.orderIds ? { orderIds: input.orderIds.slice(0, MAX_RECONCILE_ORDER_IDS) } : {};
    const { orders, next } = await reads.listOpenOrders({ minAgeSeconds: settings.minAgeSeconds, after: cursor, limit: settings.pageSize, ...only });
    report.pages++;
    if (orders.length > 0) await reconcilePage(orders, report, settings, decide);
    setCurrentDetails(`page ${report.pages}: ${report.examined} open order(s) examined, ${report.counts.repaired} repaired, ${report.counts.started} started`);
    if (!next) {
      log.info('Reconcile pass finished', { examined: report.examined, counts: report.counts, skipped: report.skipped, pages: report.pages });
      return report;
    }
    cursor = next;
    if (workflowInfo().continueAsNewSuggested) break;
  }
  return continueAsNew<typeof reconcileOrders>({ ...input, cursor, carried: { ...report, runs: report.runs + 1 } });
}

async function reconcilePage(orders: OpenOrder[], report: ReconcileReport, settings: ReconcileSettings, decide: { restartPending: boolean }): Promise<void> {
  const sagas = new Map<string, SagaView>();
  for (const saga of await describe.describeSagas({ orderIds: orders.map((o) => o.orderId) })) sagas.set(saga.orderId, saga);
  report.examined += orders.length;

  const repairs: Array<{ order: OpenOrder; saga: SagaView }> = [];
  const work: Array<Promise<void>> = [];
  for (const order of orders) {
    const saga = sagas.get(order.orderId) ?? { orderId: order.orderId, status: 'NOT_FOUND', closedSecondsAgo: null };
    const action = decideReconcileAction(order, saga, settings, decide);
    if (action === 'repair') repairs.push({ order, saga });
    else if (action === 'start' || action === 'restart') work.push(startSaga(order, saga, report));
    else if (action === 'cancel') work.push(cancelSaga(order, report));
    else if (action === 'flag')
      noteInReport(report, 'errors', {
        orderId: order.orderId,
        error: 'AWAITING_RESTAURANT with no saga in Temporal (its history is gone): left for an operator',
      });
    else report.skipped++;
  }
  await Promise.all([...work, runRepairs(repairs, report, settings)]);
}

async function startSaga(order: OpenOrder, saga: SagaView, report: ReconcileReport): Promise<void> {
  const afterClosedRun = saga.status !== 'NOT_FOUND';
  try {
    // Sagas that had none keep the input they always sent (passes recorded before restarts replay).
    const outcome = await actions.startSagaFromOrder(afterClosedRun ? { orderId: order.orderId, afterClosedRun } : { orderId: order.orderId });
    if (outcome === 'started') {
      if (afterClosedRun) log.info('Started a new saga run for a PENDING order whose saga closed', { orderId: order.orderId, sagaStatus: saga.status });
      else log.info('Started the saga of a PENDING order that had none', { orderId: order.orderId });
      noteInReport(report, 'started', order.orderId);
    } else {
      report.skipped++;
    }
  } catch (err) {
    noteInReport(report, 'errors', { orderId: order.orderId, error: `could not start its saga: ${messageOf(err)}` });
  }
}

async function cancelSaga(order: OpenOrder, report: ReconcileReport): Promise<void> {
  try {
    await actions.requestSagaCancel({ orderId: order.orderId });
    log.warn('Requested the cancellation of a saga open far too long', { orderId: order.orderId, ageSeconds: Math.round(order.ageSeconds) });
    noteInReport(report, 'cancelRequested', order.orderId);
  } catch (err) {
    noteInReport(report, 'errors', { orderId: order.orderId, error: `could not request the saga's cancellation: ${messageOf(err)}` });
  }
}

/**
 * Starts one `repair-<orderId>` child per order and waits for them together, at most
 * `repairWaitSeconds`. Children are abandoned when the pass ends, so a repair that waits for a PSP
 * outage to pass keeps going; a later pass finds it running and reports it in progress.
 */
async function runRepairs(repairs: Array<{ order: OpenOrder; saga: SagaView }>, report: ReconcileReport, settings: ReconcileSettings): Promise<void> {
  const pending = new Set<string>();
  for (const { order, saga } of repairs) {
    const { orderId } = order;
    log.info('Repairing an order whose saga ended without closing it', { orderId, orderStatus: order.status, sagaStatus: saga.status });
    try {
      const child = await startChild(repairOrder, {
        workflowId: `repair-${orderId}`,
        args: [{ orderId, restaurantId: order.restaurantId, amount: order.totalAmount, sagaStatus: saga.status }],
        parentClosePolicy: 'ABANDON',
        // A repair that failed or was terminated can run again; one that completed never.
        workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
        staticSummary: `Repair order ${orderId} (${order.status}, saga ${saga.status})`,
      });
      pending.add(orderId);
      // A result that arrives after the pass stopped waiting was already reported in progress.
      void child.result().then(
        (result) => {
          if (!pending.delete(orderId)) return;
          log.info('Order repaired', { ...result });
          noteInReport(report, 'repaired', result);
        },
        (err) => {
          if (pending.delete(orderId)) noteInReport(report, 'errors', { orderId, error: `repair failed: ${messageOf(err)}` });
        },
      );
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) noteInReport(report, 'repairsInProgress', orderId);
      else noteInReport(report, 'errors', { orderId, error: `could not start its repair: ${messageOf(err)}` });
    }
  }
  if (pending.size === 0) return;
  await condition(() => pending.size === 0, `${settings.repairWaitSeconds}s`);
  for (const orderId of pending) {
    log.warn('Repair still running when the pass stopped waiting; it goes on', { orderId });
    noteInReport(report, 'repairsInProgress', orderId);
  }
  pending.clear();
}

/**
 * Drives one order whose saga ended without closing it to a consistent end, on the task queues the
 * saga used. The PSP is the truth about money: a capture happens only after the restaurant accepted,
 * so CAPTURED with an open ticket goes forward (accept the ticket, confirm). Anything else goes
 * backward: release whatever the PSP holds, cancel the ticket, close the order REJECTED/SAGA_ABORTED.
 */
export async function repairOrder(input: RepairInput): Promise<RepairResult> {
  const queues = taskQueuesFromOrderQueue(workflowInfo().taskQueue);
  const payment = proxyActivities<PaymentActivities>({ taskQueue: queues.payment, startToCloseTimeout: '5m', heartbeatTimeout: '20s', retry: REPAIR_RETRY });
  const restaurant = proxyActivities<RestaurantActivities>({ taskQueue: queues.restaurant, startToCloseTimeout: '30s', retry: REPAIR_RETRY });
  const order = proxyActivities<OrderActivities>({ taskQueue: queues.order, startToCloseTimeout: '30s', retry: REPAIR_RETRY });
  const { orderId, sagaStatus } = input;
  log.info('Repair started', { orderId, sagaStatus });

  const held = await payment.syncPaymentFromPsp.executeWithOptions({ summary: `Ask the PSP what it holds for ${orderId}` }, [{ orderId }]);
  const ticket = await restaurant.getTicket.executeWithOptions({ summary: `Read the ticket of ${orderId}` }, [{ orderId }]);
  if (held === 'CAPTURED' && (ticket?.status === 'PENDING' || ticket?.status === 'ACCEPTED')) {
    await restaurant.acceptTicket.executeWithOptions({ summary: `Forward: mark the ticket accepted` }, [{ orderId }]);
    await order.confirmOrder.executeWithOptions({ summary: `Forward: confirm order ${orderId}` }, [{ orderId, reconciler: true }]);
    log.info('Repair went forward: order confirmed', { orderId, sagaStatus, paymentStatus: 'CAPTURED' });
    return { orderId, sagaStatus, action: 'confirmed', paymentStatus: 'CAPTURED' };
  }
  const paymentStatus = await payment.releasePayment.executeWithOptions(
    { summary: `Backward: release the payment of ${input.amount} KRW (PSP: ${held ?? 'nothing'})` },
    [{ orderId, amount: input.amount }],
  );
  await restaurant.cancelTicket.executeWithOptions({ summary: `Backward: cancel the ticket at ${input.restaurantId}` }, [
    { orderId, restaurantId: input.restaurantId },
  ]);
  await order.rejectOrder.executeWithOptions({ summary: `Backward: close order ${orderId} REJECTED (SAGA_ABORTED)` }, [
    { orderId, status: 'REJECTED', reason: 'SAGA_ABORTED', paymentStatus, reconciler: true },
  ]);
  log.info('Repair went backward: order rejected (SAGA_ABORTED)', { orderId, sagaStatus, paymentStatus });
  return { orderId, sagaStatus, action: 'rejected', paymentStatus };
}

function messageOf(err: unknown): string {
  if (err instanceof ChildWorkflowFailure && err.cause) return `${err.message}: ${err.cause.message}`;
  return err instanceof Error ? err.message : String(err);
}
