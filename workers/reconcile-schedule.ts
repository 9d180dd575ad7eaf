import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleHandle,
} from '@temporalio/client';
import type { ReconcileInput } from '../lib/workflow-safe/reconcile';
import { taskQueuesFor } from '../lib/workflow-safe/task-queues';
import type { reconcileOrders } from '../workflows/reconcile';

export interface ReconcileScheduleOptions {
  taskQueuePrefix: string;
  /** Seconds between passes; 0 disables the schedule (an existing one is deleted). */
  intervalSeconds: number;
  graceSeconds: number;
  staleSeconds: number;
}

export type ScheduleOutcome = 'created' | 'updated' | 'unchanged' | 'deleted' | 'disabled';

/** The schedule's id, prefixed like the task queues so stacks sharing a Temporal server keep their own. */
export function reconcileScheduleId(taskQueuePrefix = ''): string {
  return `${taskQueuePrefix}reconcile-orders`;
}

function wanted(opts: ReconcileScheduleOptions) {
  const args: [ReconcileInput] = [{ graceSeconds: opts.graceSeconds, staleSeconds: opts.staleSeconds }];
  return {
    spec: { intervals: [{ every: `${opts.intervalSeconds}s` }] },
    action: {
      type: 'startWorkflow' as const,
      workflowType: 'reconcileOrders',
      // The schedule appends each action's time to this id.
      workflowId: reconcileScheduleId(opts.taskQueuePrefix),
      taskQueue: taskQueuesFor(opts.taskQueuePrefix).order,
      args,
      staticSummary: `Reconcile open orders (grace ${opts.graceSeconds} s, stale ${opts.staleSeconds} s)`,
    },
    // A pass still running when the next is due is not doubled; after an outage, one pass catches up.
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: `${Math.max(opts.intervalSeconds, 60)}s` },
  };
}

function isUpToDate(current: ScheduleDescription, opts: ReconcileScheduleOptions): boolean {
  const want = wanted(opts);
  const intervals = current.spec.intervals ?? [];
  return (
    intervals.length === 1 &&
    intervals[0]!.every === opts.intervalSeconds * 1000 &&
    (current.spec.calendars ?? []).length === 0 &&
    current.action.workflowType === want.action.workflowType &&
    current.action.taskQueue === want.action.taskQueue &&
    JSON.stringify(current.action.args ?? []) === JSON.stringify(want.action.args) &&
    current.policies.overlap === ScheduleOverlapPolicy.SKIP
  );
}

async function describeOrNull(handle: ScheduleHandle): Promise<ScheduleDescription | null> {
  try {
    return await handle.describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return null;
    throw err;
  }
}

/**
 * Puts the `reconcile-orders` Schedule in place, idempotently: created when missing, updated when it
 * exists with another interval (or other settings), left alone when it matches; deleted when the
 * interval is 0. Several order workers starting at once converge on the same schedule.
 */
export async function ensureReconcileSchedule(client: Client, opts: ReconcileScheduleOptions): Promise<ScheduleOutcome> {
  const scheduleId = reconcileScheduleId(opts.taskQueuePrefix);
  const handle = client.schedule.getHandle(scheduleId);
  const current = await describeOrNull(handle);
  if (opts.intervalSeconds === 0) {
    if (!current) return 'disabled';
    await handle.delete();
    return 'deleted';
  }
  if (!current) {
    try {
      await client.schedule.create<typeof reconcileOrders>({ scheduleId, ...wanted(opts) });
      return 'created';
    } catch (err) {
      // Another order worker created it between our describe and create: check it as it is.
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      return ensureReconcileSchedule(client, opts);
    }
  }
  if (isUpToDate(current, opts)) return 'unchanged';
  // Pausing is an operator's decision: an update keeps the schedule's state as it is.
  await handle.update<typeof reconcileOrders>((previous) => ({ ...wanted(opts), state: { paused: previous.state.paused, note: previous.state.note } }));
  return 'updated';
}
