import { type Client, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../../db/knex';
import type { Principal } from '../../lib/node/auth';
import { type OrderStatus, TERMINAL_ORDER_STATUSES } from '../../lib/workflow-safe/domain';
import { cancelUpdate, decideUpdate, UPDATE_REFUSALS } from '../../workflows/messages';
import { Conflict, type ConflictCode, DomainError, InvalidInput, NotFound, Unavailable } from './errors';
import { loadOrder, type OrderRow } from './order-rows';

// The restaurant's decision and the customer's cancel: Temporal Updates to the order's saga, answered
// once the saga has acted on them (or, past the wait, with the current status: the Update is
// recorded either way). The saga's refusals become the domain's conflicts.

export interface OrderDecisionDeps {
  ordersDb: Db;
  temporal: Client;
  /** How long to wait for the saga to act before answering with the current status. */
  decisionWaitMs: number;
}

export type Decision = { decision: 'ACCEPT' } | { decision: 'REJECT'; reason?: string };

/** The 409 code for each refusal of the saga's Update validators (anything else: the order is closed). */
const CONFLICT_OF: Record<string, ConflictCode> = {
  [UPDATE_REFUSALS.notCancellable]: 'NOT_CANCELLABLE',
  [UPDATE_REFUSALS.alreadyDecided]: 'DECISION_ALREADY_MADE',
  [UPDATE_REFUSALS.notYetAwaiting]: 'NOT_AWAITING_DECISION',
};

export function createOrderDecisions({ ordersDb, temporal, decisionWaitMs }: OrderDecisionDeps) {
  /**
   * Sends an update and answers once the saga acted on it. If that takes longer than the wait (PSP
   * slow, say), the decision is still recorded; the caller gets the current status.
   */
  async function sendUpdate<T>(
    row: OrderRow,
    send: () => Promise<OrderStatus>,
    onSettled: (status: OrderStatus) => T | Promise<T>,
  ): Promise<T | { status: OrderStatus }> {
    const update = send();
    try {
      const outcome = await withinWait(update, decisionWaitMs);
      if (outcome === 'timeout') {
        update.catch(() => undefined);
        const now = await loadOrder(ordersDb, row.order_id);
        return { status: now?.status ?? row.status };
      }
      return await onSettled(outcome);
    } catch (err) {
      if (err instanceof DomainError) throw err;
      const refused = refusalOf(err);
      if (refused) throw refused;
      // The saga already finished (its run is closed): answer from the order's final row.
      const now = await loadOrder(ordersDb, row.order_id);
      if (now && TERMINAL_ORDER_STATUSES.includes(now.status)) return await onSettled(now.status);
      throw new Unavailable('TEMPORAL_UNAVAILABLE', 'Could not reach the order workflow; retry');
    }
  }

  return {
    async decide(restaurantId: string, orderId: string, decision: Decision) {
      const row = await loadOrder(ordersDb, orderId);
      if (!row || row.restaurant_id !== restaurantId) throw new NotFound('Order');
      if (TERMINAL_ORDER_STATUSES.includes(row.status)) return settledDecision(row, decision.decision);
      return sendUpdate(
        row,
        () => temporal.workflow.getHandle(row.workflow_id).executeUpdate(decideUpdate, { args: [decision] }),
        async () => settledDecision((await loadOrder(ordersDb, orderId)) ?? row, decision.decision),
      );
    },

    async cancel(principal: Principal, orderId: string) {
      const row = await loadOrder(ordersDb, orderId);
      if (!row || row.customer_id !== principal.sub) throw new NotFound('Order');
      if (row.status === 'CANCELLED') return { status: row.status };
      if (TERMINAL_ORDER_STATUSES.includes(row.status)) throw new Conflict('NOT_CANCELLABLE', `The order is already ${row.status}`);
      return sendUpdate(
        row,
        () => temporal.workflow.getHandle(row.workflow_id).executeUpdate(cancelUpdate),
        (status) => {
          if (status !== 'CANCELLED') throw new Conflict('NOT_CANCELLABLE', `The order is already ${status}`);
          return { status };
        },
      );
    },
  };
}

/** A closed order answers a repeated decision with its status, and a contrary one with ORDER_CLOSED. */
function settledDecision(row: Pick<OrderRow, 'status' | 'failure_reason'>, decision: Decision['decision']) {
  const matches =
    (decision === 'ACCEPT' && row.status === 'CONFIRMED') ||
    (decision === 'REJECT' && row.status === 'REJECTED' && row.failure_reason === 'RESTAURANT_REJECTED');
  if (!matches && TERMINAL_ORDER_STATUSES.includes(row.status)) {
    throw new Conflict('ORDER_CLOSED', `The order is already ${row.status}${row.failure_reason ? ` (${row.failure_reason})` : ''}`);
  }
  return { status: row.status };
}

/** The domain error for an Update the saga's validator refused; undefined for any other failure. */
function refusalOf(err: unknown): DomainError | undefined {
  if (!(err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure)) return undefined;
  const type = err.cause.type ?? '';
  if (type === UPDATE_REFUSALS.invalidDecision) return new InvalidInput(err.cause.message);
  return new Conflict(CONFLICT_OF[type] ?? 'ORDER_CLOSED', err.cause.message);
}

/** The promise's value, or 'timeout' once `ms` have passed. */
async function withinWait<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
