import type { AuditReport } from '../../ops/audit';
import type { NodeLossPause, ReconcilerOutcome } from './checks';
import type { OperatorReport } from './operator';

export interface ChaosSummary {
  seed: number;
  /** Temporal's engine: the dev server or the cluster. */
  engine?: 'dev-server' | 'cluster';
  /** Whether the API ran an order worker too (API_ORDER_WORKER, eager saga starts). */
  apiOrderWorker?: boolean;
  /** On the cluster: the pause each node loss caused, and order-to-CONFIRMED away from them. */
  nodeLoss?: { pauses: NodeLossPause[]; baseline: { orders: number; medianMs: number; p99Ms: number; longestMs: number } };
  ordersOffered: number;
  ordersPlaced: number;
  ordersNeverAccepted: number;
  duplicatePosts: number;
  duplicateMismatches: number;
  /** Orders in the database beyond one per offered order (a retry that created a second order). */
  duplicateOrders: number;
  raceActions: number;
  finalStates: Record<string, number>;
  failureReasons: Record<string, number>;
  faultsInjected: Record<string, number>;
  /** One line per fault: seconds into the traffic, kind, detail. */
  faultTimeline: string[];
  operator: OperatorReport;
  violations: number;
  violationsByKind: AuditReport['violationsByKind'];
  /** Accepted orders still open (or missing) when the recovery window ended. */
  lostOrders: number;
  lostOrdersByStatus: Record<string, number>;
  /** The reconciler pass run after the recovery window, and what it left open. */
  reconciler: ReconcilerOutcome;
  openAfterReconciler: number;
  /** Captures at the PSP beyond the orders the payments DB recorded a capture for, plus the audit's. */
  doubleCharges: number;
  /** In the PSP's (current) books: money taken with no capture in the payments DB. */
  pspCapturedNotRecorded: string[];
  pspMismatches: number;
  pspMismatchExamples: string[];
  pspCaptures: number;
  /** Processes that exited without the harness killing them. */
  unexpectedExits: string[];
  recoverySeconds: number;
  trafficSeconds: number;
  totalSeconds: number;
  listedViolations: AuditReport['violations'];
  lostOrderIds: string[];
}

/** A run is clean when nothing was lost, duplicated, kept or charged twice, and the books agree. */
export function chaosRunClean(s: ChaosSummary): boolean {
  return (
    s.violations === 0 &&
    s.lostOrders === 0 &&
    s.doubleCharges === 0 &&
    s.pspMismatches === 0 &&
    s.duplicateMismatches === 0 &&
    s.duplicateOrders === 0 &&
    s.reconciler.ok &&
    s.openAfterReconciler === 0
  );
}

export function formatChaosSummary(s: ChaosSummary): string {
  const rows = (o: Record<string, unknown>) =>
    Object.entries(o)
      .map(([k, v]) => `    ${k.padEnd(30)} ${String(v)}`)
      .join('\n');
  const op = s.operator;
  const reconciler = s.reconciler.ok ? `ok in ${s.reconciler.seconds.toFixed(1)} s: ${JSON.stringify(s.reconciler.result)}` : `FAILED (${s.reconciler.error})`;
  return [
    `Chaos run (seed ${s.seed}${s.engine ? `, Temporal ${s.engine}` : ''}${s.apiOrderWorker ? ', the API running an order worker' : ''}): ${s.ordersOffered} orders offered, ${s.ordersPlaced} placed, ${s.ordersNeverAccepted} never accepted by the API`,
    `  duplicate posts ${s.duplicatePosts} (answered with another order: ${s.duplicateMismatches}), orders created twice ${s.duplicateOrders}, accept/reject/cancel races ${s.raceActions}`,
    '  final states:',
    rows(s.finalStates),
    '  failure reasons:',
    rows(s.failureReasons),
    '  faults injected:',
    rows(s.faultsInjected),
    `  operator: cancellations requested ${JSON.stringify(op.cancelRequested)} (after-accept with no accept in time: ${op.cancelNoAccept}), terminated ${op.terminated}, refused by Temporal ${op.refused}${op.errors.length ? `, errors: ${op.errors.join(' | ')}` : ''}`,
    `  violations                     ${s.violations}${s.violations ? ` ${JSON.stringify(s.violationsByKind)}` : ''}`,
    `  orders lost                    ${s.lostOrders}${s.lostOrders ? ` ${JSON.stringify(s.lostOrdersByStatus)}` : ''}`,
    `  reconciler pass                ${reconciler}`,
    `  open after the reconciler      ${s.openAfterReconciler}`,
    `  double charges                 ${s.doubleCharges}`,
    `  PSP vs payments DB mismatches  ${s.pspMismatches} (PSP captures: ${s.pspCaptures})`,
    ...(s.unexpectedExits.length ? [`  exited on their own            ${s.unexpectedExits.join(', ')}`] : []),
    ...(s.nodeLoss ? formatNodeLoss(s.nodeLoss) : []),
    `  traffic ${s.trafficSeconds.toFixed(1)} s, recovery ${s.recoverySeconds.toFixed(1)} s, total ${s.totalSeconds.toFixed(1)} s`,
    ...s.listedViolations.map((v) => `  ! ${v.kind} ${v.orderId}: ${v.detail} ${v.workflowUrl}`),
    ...s.lostOrderIds.map((id) => `  ! LOST ${id}`),
    ...s.pspMismatchExamples.slice(0, 10).map((m) => `  ! PSP ${m}`),
    ...s.pspCapturedNotRecorded.slice(0, 10).map((m) => `  ! CHARGED ${m}`),
    ...op.terminatedOrders.slice(0, 10).map((id) => `  · terminated ${id}`),
    ...op.cancelledOrders.slice(0, 10).map((c) => `  · cancel requested ${c.orderId} (${c.stage})`),
  ].join('\n');
}

function formatNodeLoss(n: NonNullable<ChaosSummary['nodeLoss']>): string[] {
  const b = n.baseline;
  return [
    `  node loss: order-to-CONFIRMED at auto-accepting restaurants, orders placed from 10 s before each kill until the process served again`,
    `    away from them                ${b.orders} orders, median ${b.medianMs} ms, p99 ${b.p99Ms} ms, longest ${b.longestMs} ms`,
    ...n.pauses.map(
      (p) =>
        `    ${p.atSeconds.toFixed(0).padStart(5)}s ${p.kind.padEnd(26)} ${p.detail}: ${p.orders} orders, median ${p.medianMs} ms, longest ${p.longestMs} ms`,
    ),
  ];
}
