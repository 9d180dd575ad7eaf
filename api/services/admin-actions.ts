import { createHash, randomUUID } from 'node:crypto';
import { type Client, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import type { Db } from '../../db/knex';
import type { Logger } from '../../lib/node/logger';
import { TERMINAL_ORDER_STATUSES } from '../../lib/workflow-safe/domain';
import { decideReconcileAction, type ReconcileInput, type ReconcileReport } from '../../lib/workflow-safe/reconcile';
import { taskQueuesFor } from '../../lib/workflow-safe/task-queues';
import { getStateQuery, type OrderSagaState } from '../../workflows/messages';
import type { reconcileOrders } from '../../workflows/reconcile';
import { type AdminDeskDeps, withinWait } from './admin-desk';
import { operatorActionView, type OperatorActionView } from './admin-story';
import { Conflict, type ConflictCode, NotFound, Unavailable, Unprocessable } from './errors';
import { loadOrder, type OrderRow } from './order-rows';
import { failureMessage } from './saga-history';

// The desk's safe actions on one order: cancel it through its saga, retry a saga step now, reconcile
// it now. Each is audited (who, when, why: a row in operator_actions, a log line, an entry on the
// order's story) and idempotent: one action per operator and Idempotency-Key; a retry with the same
// key replays the first answer (or, if the first attempt had not finished, carries it on).

export type ActionName = 'cancel' | 'retry' | 'reconcile';

const GRPC_NOT_FOUND = 5;
const GRPC_UNIMPLEMENTED = 12;

export interface ActionRequest {
  operator: string;
  orderId: string;
  action: ActionName;
  reason: string;
  idempotencyKey: string;
  /** retry: the pending activity to reset (default: the one furthest into its retries). */
  activityId?: string | undefined;
}

/** What an action did: done (200), or still under way (202: the saga or the reconciler carries on). */
interface Outcome {
  done: boolean;
  message: string;
  details?: Record<string, unknown>;
}

interface ActionRow {
  action_id: string;
  order_id: string;
  request_hash: string;
  status: 'REQUESTED' | 'DONE' | 'REFUSED';
  http_status: number | null;
  result: { code?: string; message?: string } | null;
}

export interface ActionAnswer {
  status: 200 | 202;
  action: OperatorActionView & { orderId: string };
}

export function createAdminActions(deps: AdminDeskDeps) {
  const { ordersDb } = deps;
  return {
    async perform(req: ActionRequest, log: Logger): Promise<ActionAnswer> {
      const order = await loadOrder(ordersDb, req.orderId);
      if (!order) throw new NotFound('Order');
      const { row, redrive } = await claimAction(ordersDb, req, requestHash(req));
      const audit = { actionId: row.action_id, action: req.action, operator: req.operator, reason: req.reason, orderId: req.orderId };
      if (row.status === 'REFUSED') throw refusalOf(row);
      if (row.status === 'DONE') {
        log.info({ ...audit, replayed: true }, 'operator action replayed');
        return {
          status: 200,
          action: { ...operatorActionView(await ordersDb('operator_actions').where({ action_id: row.action_id }).first()), orderId: req.orderId },
        };
      }
      log.info({ ...audit, redrive }, 'operator action requested');
      let outcome: Outcome;
      try {
        outcome = await runAction(deps, req, order, row.action_id, redrive);
      } catch (err) {
        if (!(err instanceof Conflict)) throw err; // not decided: the row stays REQUESTED and a retry carries it on
        const view = await finishAction(ordersDb, row.action_id, 'REFUSED', 409, {
          code: err.code,
          message: err.message,
          ...(err.details ? { details: err.details } : {}),
        });
        log.warn({ ...audit, outcome: 'REFUSED', code: err.code, message: err.message }, 'operator action refused');
        throw new Conflict(err.code as ConflictCode, err.message, { ...(err.details as object), actionId: view.actionId });
      }
      const status = outcome.done ? 200 : 202;
      const view = await finishAction(ordersDb, row.action_id, outcome.done ? 'DONE' : 'REQUESTED', status, {
        message: outcome.message,
        ...(outcome.details ? { details: outcome.details } : {}),
      });
      log.info({ ...audit, outcome: view.status, httpStatus: status, message: outcome.message }, 'operator action');
      return { status, action: { ...view, orderId: req.orderId } };
    },
  };
}

export type AdminActions = ReturnType<typeof createAdminActions>;

// The action's row in operator_actions: claimed once per operator and Idempotency-Key, finished with
// the answer a retry replays.

/** The same request (action, order, reason, step) under the same key is a retry; anything else reuses the key. */
function requestHash(req: ActionRequest): string {
  return createHash('sha256')
    .update(JSON.stringify([req.action, req.orderId, req.reason, req.activityId ?? null]))
    .digest('hex');
}

/** A new REQUESTED row, or the row an earlier attempt with this key claimed (redrive: carry it on or replay it). */
async function claimAction(ordersDb: Db, req: ActionRequest, hash: string): Promise<{ row: ActionRow; redrive: boolean }> {
  const inserted = await ordersDb('operator_actions')
    .insert({
      action_id: `act_${randomUUID().replace(/-/g, '')}`,
      order_id: req.orderId,
      action: req.action,
      operator: req.operator,
      reason: req.reason,
      idempotency_key: req.idempotencyKey,
      request_hash: hash,
    })
    .onConflict(['operator', 'idempotency_key'])
    .ignore()
    .returning('*');
  if (inserted[0]) return { row: inserted[0], redrive: false };
  const existing: ActionRow = await ordersDb('operator_actions').where({ operator: req.operator, idempotency_key: req.idempotencyKey }).first();
  if (existing.request_hash !== hash) throw new Unprocessable('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used for another action');
  return { row: existing, redrive: true };
}

/** Records the answer on the action's row (finished unless still REQUESTED) and returns the row as the desk shows it. */
async function finishAction(
  ordersDb: Db,
  actionId: string,
  status: ActionRow['status'],
  httpStatus: number,
  result: Record<string, unknown>,
): Promise<OperatorActionView> {
  const [row] = await ordersDb('operator_actions')
    .where({ action_id: actionId })
    .update({ status, http_status: httpStatus, result: JSON.stringify(result), finished_at: status === 'REQUESTED' ? null : ordersDb.fn.now() })
    .returning('*');
  return operatorActionView(row);
}

/** The 409 an earlier attempt with this key answered, replayed. */
function refusalOf(row: ActionRow): Conflict {
  const result = row.result ?? {};
  return new Conflict((result.code ?? 'ORDER_CLOSED') as ConflictCode, result.message ?? 'refused', {
    ...((result as { details?: object }).details ?? {}),
    actionId: row.action_id,
    replayed: true,
  });
}

// The actions themselves. A Conflict is a decided refusal (recorded, replayed to a retry); any other
// error leaves the action undecided.

async function runAction(deps: AdminDeskDeps, req: ActionRequest, row: OrderRow, actionId: string, redrive: boolean): Promise<Outcome> {
  if (req.action === 'cancel') return cancelThroughSaga(deps, row);
  if (req.action === 'retry') return retryStepNow(deps, row, req.activityId, req.operator);
  return reconcileNow(deps, row, actionId, redrive);
}

/**
 * A Temporal cancel request to the saga. Before the restaurant's decision the saga compensates and
 * closes CANCELLED / OPERATOR_CANCELLED; after it the request would be ignored, so it is refused here
 * (409 PAST_DECISION). Never a terminate.
 */
async function cancelThroughSaga(deps: AdminDeskDeps, row: OrderRow): Promise<Outcome> {
  if (row.status === 'CANCELLED')
    return { done: true, message: `the order is CANCELLED (${row.failure_reason})`, details: { status: row.status, failureReason: row.failure_reason } };
  if (TERMINAL_ORDER_STATUSES.includes(row.status)) throw orderClosed(row);
  const { handle } = await runningSaga(deps.temporal, row);
  const state = await withinWait(handle.query(getStateQuery), 5000).catch(() => 'timeout' as const);
  if (state === 'timeout')
    throw new Unavailable('TEMPORAL_UNAVAILABLE', 'The saga did not answer (is an order worker running?); retry with the same Idempotency-Key');
  refuseAfterDecision(state);
  await handle.cancel().catch(() => {
    throw new Unavailable('TEMPORAL_UNAVAILABLE', 'Could not send the cancel request; retry with the same Idempotency-Key');
  });
  const after = await finalWithin(deps.ordersDb, row.order_id, deps.actionWaitMs);
  if (!after) return { done: false, message: 'cancel requested: the saga is compensating', details: { status: row.status } };
  if (after.status !== 'CANCELLED')
    throw new Conflict('PAST_DECISION', `The restaurant decided first: the order is ${after.status}`, {
      status: after.status,
      failureReason: after.failure_reason,
    });
  return {
    done: true,
    message: `cancelled: every compensation ran (${after.failure_reason}, payment ${after.payment_status ?? 'none'})`,
    details: { status: after.status, failureReason: after.failure_reason, paymentStatus: after.payment_status },
  };
}

/** Before the restaurant's decision only: after it, the saga would ignore a cancel request. */
function refuseAfterDecision(state: OrderSagaState): void {
  if (state.decision !== null) {
    throw new Conflict(
      'PAST_DECISION',
      `The restaurant already ${state.decision === 'ACCEPT' ? 'accepted' : 'rejected'} this order: the saga finishes what it decided and ignores a cancel`,
      { decision: state.decision, status: state.status },
    );
  }
  if (state.closing) throw new Conflict('ORDER_CLOSED', `The saga is already closing the order (${state.status})`, { status: state.status });
}

/** Resets the retry of the pending step furthest into its retries (or the one named): it runs again now. */
async function retryStepNow(deps: AdminDeskDeps, row: OrderRow, activityId: string | undefined, operator: string): Promise<Outcome> {
  if (TERMINAL_ORDER_STATUSES.includes(row.status)) throw orderClosed(row);
  const { description } = await runningSaga(deps.temporal, row);
  const pending = description.raw.pendingActivities ?? [];
  const target = activityId
    ? pending.find((p) => p.activityId === activityId)
    : [...pending].filter((p) => (p.attempt ?? 0) > 1 || p.lastFailure).sort((a, b) => (b.attempt ?? 0) - (a.attempt ?? 0))[0];
  if (!target) {
    const waiting = pending.map((p) => `${p.activityType?.name} (attempt ${p.attempt})`).join(', ') || 'none';
    throw new Conflict(
      'NO_STEP_TO_RETRY',
      activityId ? `No pending step ${activityId} in the saga` : `No saga step is waiting to retry (pending: ${waiting})`,
      { pending: waiting },
    );
  }
  await deps.temporal.workflowService
    .resetActivity({
      namespace: deps.namespace,
      execution: { workflowId: row.workflow_id, runId: description.runId },
      id: target.activityId,
      identity: `operator-desk:${operator}`,
      resetHeartbeat: false,
      keepPaused: false,
    })
    .catch((err: { code?: number; details?: string; message?: string }) => {
      // gRPC NOT_FOUND: the step finished (or failed for good) since it was described.
      if (err.code === GRPC_NOT_FOUND) throw new Conflict('NO_STEP_TO_RETRY', `${target.activityType?.name} is no longer pending: it finished meanwhile`);
      if (err.code === GRPC_UNIMPLEMENTED)
        throw new Unavailable('TEMPORAL_UNAVAILABLE', 'This Temporal server has no ResetActivity (it needs server 1.28 or later)', 60);
      throw new Unavailable('TEMPORAL_UNAVAILABLE', `Temporal did not reset the step: ${err.details ?? err.message}`);
    });
  const type = target.activityType?.name ?? '?';
  return {
    done: true,
    message: `${type} retried now (its retries start over from attempt 1; it was at attempt ${target.attempt})`,
    details: { activityId: target.activityId, activityType: type, attemptBefore: target.attempt, lastFailure: failureMessage(target.lastFailure) ?? null },
  };
}

/** One reconciler pass over this order alone (reconcileOrders with orderIds), with the configured grace period. */
async function reconcileNow(deps: AdminDeskDeps, row: OrderRow, actionId: string, redrive: boolean): Promise<Outcome> {
  if (TERMINAL_ORDER_STATUSES.includes(row.status)) {
    if (redrive) return { done: true, message: `the order is now ${row.status}`, details: { status: row.status } };
    throw orderClosed(row);
  }
  const sagaStatus = await deps.temporal.workflow
    .getHandle(row.workflow_id)
    .describe()
    .then(
      (d) => ({ status: d.status.name, closedSecondsAgo: d.closeTime ? (Date.now() - d.closeTime.getTime()) / 1000 : null }),
      () => ({ status: 'NOT_FOUND', closedSecondsAgo: null }),
    );
  const input: ReconcileInput = {
    orderIds: [row.order_id],
    minAgeSeconds: 0,
    ...deps.reconcile,
    repairWaitSeconds: Math.max(1, Math.floor(deps.actionWaitMs / 1000)),
  };
  const handle = await startReconcilePass(deps, `${deps.taskQueuePrefix}reconcile-desk-${actionId}`, input);
  const report = await withinWait(handle.result(), deps.actionWaitMs + 5000);
  if (report === 'timeout')
    return { done: false, message: 'the reconcile pass is running', details: { workflowId: handle.workflowId, workflowUrl: deps.uiUrl(handle.workflowId) } };
  const expected = decideReconcileAction(
    {
      orderId: row.order_id,
      status: row.status as 'PENDING',
      restaurantId: row.restaurant_id,
      totalAmount: Number(row.total_amount),
      ageSeconds: (Date.now() - row.created_at.getTime()) / 1000,
    },
    { orderId: row.order_id, ...sagaStatus },
    deps.reconcile,
  );
  const outcome = outcomeOf(report, row.order_id, sagaStatus.status, expected);
  return {
    ...outcome,
    details: {
      sagaStatus: sagaStatus.status,
      decided: expected,
      workflowId: handle.workflowId,
      workflowUrl: deps.uiUrl(handle.workflowId),
      ...outcome.details,
    },
  };
}

/** Starts the one-order pass, or joins it when a retried request started it already. */
async function startReconcilePass(deps: AdminDeskDeps, workflowId: string, input: ReconcileInput): Promise<WorkflowHandle<typeof reconcileOrders>> {
  try {
    return await deps.temporal.workflow.start<typeof reconcileOrders>('reconcileOrders', {
      workflowId,
      taskQueue: taskQueuesFor(deps.taskQueuePrefix).order,
      args: [input],
      // A retried request joins its pass, running or done; it never starts a second one.
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      staticSummary: `Reconcile order ${input.orderIds?.[0]} (operator's desk)`,
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return deps.temporal.workflow.getHandle(workflowId);
    throw new Unavailable('TEMPORAL_UNAVAILABLE', `Could not start the reconcile pass: ${(err as Error).message}; retry with the same Idempotency-Key`);
  }
}

/** What the pass did about the order, in words. */
function outcomeOf(report: ReconcileReport, orderId: string, sagaStatus: string, expected: string): Outcome {
  const repaired = report.repaired.find((r) => r.orderId === orderId);
  if (repaired)
    return {
      done: true,
      message: `repaired: ${repaired.action} (saga ${repaired.sagaStatus}, payment ${repaired.paymentStatus ?? 'none'})`,
      details: { outcome: 'repaired', repair: repaired },
    };
  if (report.started.includes(orderId))
    return { done: true, message: 'its saga was started (it had none, or a new run followed one that closed)', details: { outcome: 'started' } };
  if (report.cancelRequested.includes(orderId))
    return { done: true, message: 'its saga was asked to cancel (open far too long)', details: { outcome: 'cancelRequested' } };
  if (report.repairsInProgress.includes(orderId))
    return { done: false, message: `a repair is running (repair-${orderId})`, details: { outcome: 'repairInProgress' } };
  const error = report.errors.find((e) => e.orderId === orderId);
  if (error) return { done: true, message: `the reconciler could not act: ${error.error}`, details: { outcome: 'error', error: error.error } };
  const why =
    sagaStatus === 'RUNNING' ? 'its saga is running' : expected === 'leave' ? `its saga ${sagaStatus} closed within the grace period` : 'nothing to do';
  return { done: true, message: `left alone: ${why}`, details: { outcome: 'leftAlone' } };
}

// What the actions share about the saga and the order.

/** Describes the saga; refuses when it does not run (then only the reconciler can close the order). */
async function runningSaga(temporal: Client, row: OrderRow) {
  const handle = temporal.workflow.getHandle(row.workflow_id);
  const d = await handle.describe().catch((err: unknown) => {
    if (err instanceof WorkflowNotFoundError) return null;
    throw new Unavailable('TEMPORAL_UNAVAILABLE', 'Could not reach Temporal; retry with the same Idempotency-Key');
  });
  if (!d || d.status.name !== 'RUNNING') {
    throw new Conflict('SAGA_NOT_RUNNING', `The order's saga is ${d?.status.name ?? 'not in Temporal'}: nothing runs to act on; reconcile the order instead`, {
      sagaStatus: d?.status.name ?? 'NOT_FOUND',
    });
  }
  return { handle, description: d };
}

/** The order once final, or undefined when the wait is over. */
async function finalWithin(ordersDb: Db, orderId: string, ms: number): Promise<OrderRow | undefined> {
  const until = Date.now() + ms;
  for (;;) {
    const row = await loadOrder(ordersDb, orderId);
    if (row && TERMINAL_ORDER_STATUSES.includes(row.status)) return row;
    if (Date.now() > until) return undefined;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function orderClosed(row: OrderRow): Conflict {
  return new Conflict('ORDER_CLOSED', `The order is already ${row.status}${row.failure_reason ? ` (${row.failure_reason})` : ''}`, { status: row.status });
}
