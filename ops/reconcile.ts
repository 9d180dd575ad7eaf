import type { Client, WorkflowHandle } from '@temporalio/client';
import type { ReconcileInput, ReconcileReport } from '../lib/workflow-safe/reconcile';
import { taskQueuesFor } from '../lib/workflow-safe/task-queues';
import type { reconcileOrders } from '../workflows/reconcile';

// One reconcile pass on demand (`npm run reconcile`): the same workflow the Schedule runs, executed
// now on the order task queue, so it needs the workers running.

export interface ManualPassOptions {
  client: Client;
  taskQueuePrefix: string;
  input: ReconcileInput;
  /** How long to wait for an order worker to pick the pass up before giving up. */
  pickupTimeoutMs: number;
  /** For the workflow id (`reconcile-manual-<ISO time>`). */
  now?: Date;
}

export type ManualPassResult = { workflowId: string; pickedUp: true; report: ReconcileReport } | { workflowId: string; pickedUp: false; taskQueue: string };

/** Whether a worker has run the workflow's first task (the history grows past started + scheduled). */
async function waitForPickup(handle: WorkflowHandle, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await handle.describe();
    if (info.historyLength > 2 || info.status.name !== 'RUNNING') return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function runManualReconcilePass(opts: ManualPassOptions): Promise<ManualPassResult> {
  const workflowId = `${opts.taskQueuePrefix}reconcile-manual-${(opts.now ?? new Date()).toISOString()}`;
  const taskQueue = taskQueuesFor(opts.taskQueuePrefix).order;
  const handle = await opts.client.workflow.start<typeof reconcileOrders>('reconcileOrders', {
    workflowId,
    taskQueue,
    args: [opts.input],
    staticSummary: 'Reconcile pass started by `npm run reconcile`',
  });
  if (!(await waitForPickup(handle, opts.pickupTimeoutMs))) {
    // Nobody would run it now; it must not run by surprise when a worker starts later.
    await handle.terminate(`no order worker polled ${taskQueue} within ${opts.pickupTimeoutMs} ms`);
    return { workflowId, pickedUp: false, taskQueue };
  }
  return { workflowId, pickedUp: true, report: await handle.result() };
}

/** The report for people: what was found, what was done, and what is left for an operator. */
export function formatReconcileReport(report: ReconcileReport, workflowUrl?: string): string {
  const { settings, counts } = report;
  const more = (shown: number, total: number) => (total > shown ? [`  ... and ${total - shown} more`] : []);
  const lines = [
    `Reconcile pass (grace ${settings.graceSeconds} s, stale ${settings.staleSeconds} s, min age ${settings.minAgeSeconds} s): ${report.examined} open order(s) examined in ${report.pages} page(s)`,
    `  sagas started: ${counts.started}, repaired: ${counts.repaired}, cancellations requested: ${counts.cancelRequested}, repairs in progress: ${counts.repairsInProgress}, left alone: ${report.skipped}, errors: ${counts.errors}`,
  ];
  if (counts.started > 0)
    lines.push('Sagas started (PENDING orders that had none):', ...report.started.map((id) => `  ${id}`), ...more(report.started.length, counts.started));
  if (counts.repaired > 0) {
    lines.push('Repaired (the saga had ended without closing the order):');
    for (const r of report.repaired) lines.push(`  ${r.orderId}  saga ${r.sagaStatus} -> ${r.action}, payment ${r.paymentStatus ?? 'none'}`);
    lines.push(...more(report.repaired.length, counts.repaired));
  }
  if (counts.cancelRequested > 0) {
    lines.push(
      'Cancellation requested (saga open far too long):',
      ...report.cancelRequested.map((id) => `  ${id}`),
      ...more(report.cancelRequested.length, counts.cancelRequested),
    );
  }
  if (counts.repairsInProgress > 0) {
    lines.push(
      'Repairs still running (they go on; see repair-<orderId>):',
      ...report.repairsInProgress.map((id) => `  ${id}`),
      ...more(report.repairsInProgress.length, counts.repairsInProgress),
    );
  }
  if (counts.errors > 0) lines.push('Errors:', ...report.errors.map((e) => `  ${e.orderId}: ${e.error}`), ...more(report.errors.length, counts.errors));
  if (report.examined > 0 && counts.started + counts.repaired + counts.cancelRequested + counts.repairsInProgress + counts.errors === 0)
    lines.push('Nothing to do: every open order has a live saga.');
  if (report.examined === 0) lines.push('Nothing to do: no order is open.');
  if (workflowUrl) lines.push(`Web UI: ${workflowUrl}`);
  return lines.join('\n');
}
