import type { Db } from '../db/knex';
import { TERMINAL_ORDER_STATUSES, type OrderStatus } from '../lib/domain';
import { orderWorkflowId, workflowUiUrl } from '../lib/task-queues';

// The consistency audit: reads the three service databases (read-only, in small batches, no locks
// beyond a snapshot per batch) and checks the invariants of DESIGN.md for every order.

export const VIOLATION_KINDS = {
  CONFIRMED_WITHOUT_CAPTURE: 'CONFIRMED order without exactly one CAPTURED payment of its total',
  CONFIRMED_WITHOUT_ACCEPTED_TICKET: 'CONFIRMED order whose ticket is not ACCEPTED',
  FAILED_WITH_MONEY_KEPT: 'REJECTED/CANCELLED order whose payment is CAPTURED or still AUTHORIZED',
  FAILED_WITH_OPEN_TICKET: 'REJECTED/CANCELLED order whose ticket is PENDING or ACCEPTED',
  CAPTURED_WITHOUT_CONFIRMATION: 'payment CAPTURED but the order is not CONFIRMED (terminal)',
  DOUBLE_CHARGE: 'more than one capture recorded for one order',
  PAYMENT_WITHOUT_ORDER: 'payment row with no order',
  TICKET_WITHOUT_ORDER: 'ticket with no order',
  STUCK: 'order in a non-terminal state for longer than the threshold',
} as const;
export type ViolationKind = keyof typeof VIOLATION_KINDS;

export interface Violation {
  kind: ViolationKind;
  orderId: string;
  detail: string;
  workflowUrl: string;
}

export interface AuditReport {
  orders: number;
  byStatus: Record<string, number>;
  byFailureReason: Record<string, number>;
  violations: Violation[];
  violationsByKind: Partial<Record<ViolationKind, number>>;
  doubleCharges: number;
  checkedAt: string;
}

export interface AuditOptions {
  orders: Db;
  payments: Db;
  restaurants: Db;
  stuckAfterSeconds: number;
  temporalUiUrl: string;
  namespace: string;
  batchSize?: number;
  /** Stop listing (not counting) violations after this many. */
  maxListed?: number;
}

/** Runs `fn` in a read-only transaction with a short statement timeout: safe on a live system. */
async function readOnly<T>(db: Db, fn: (trx: Db) => Promise<T>): Promise<T> {
  return db.transaction(async (trx) => {
    await trx.raw('SET TRANSACTION READ ONLY');
    await trx.raw("SET LOCAL statement_timeout = '30s'");
    return fn(trx as unknown as Db);
  });
}

export async function runAudit(opts: AuditOptions): Promise<AuditReport> {
  const batchSize = opts.batchSize ?? 2000;
  const maxListed = opts.maxListed ?? 1000;
  const report: AuditReport = { orders: 0, byStatus: {}, byFailureReason: {}, violations: [], violationsByKind: {}, doubleCharges: 0, checkedAt: new Date().toISOString() };
  const link = (orderId: string) => workflowUiUrl(opts.temporalUiUrl, opts.namespace, orderWorkflowId(orderId));
  const flag = (kind: ViolationKind, orderId: string, detail: string) => {
    report.violationsByKind[kind] = (report.violationsByKind[kind] ?? 0) + 1;
    if (kind === 'DOUBLE_CHARGE') report.doubleCharges++;
    if (report.violations.length < maxListed) report.violations.push({ kind, orderId, detail, workflowUrl: link(orderId) });
  };
  const stuckBefore = new Date(Date.now() - opts.stuckAfterSeconds * 1000);

  let after = '';
  for (;;) {
    const orders: Array<{ order_id: string; status: OrderStatus; failure_reason: string | null; total_amount: number; updated_at: Date }> = await readOnly(
      opts.orders,
      (db) => db('orders').select('order_id', 'status', 'failure_reason', 'total_amount', 'updated_at').where('order_id', '>', after).orderBy('order_id').limit(batchSize),
    );
    if (orders.length === 0) break;
    after = orders[orders.length - 1]!.order_id;
    const ids = orders.map((o) => o.order_id);
    const [payments, captures, tickets] = await Promise.all([
      readOnly(opts.payments, (db) => db('payments').select('order_id', 'status', 'amount').whereIn('order_id', ids)),
      readOnly(opts.payments, (db) => db('payment_events').select('order_id').count('* as n').where('kind', 'CAPTURE').whereIn('order_id', ids).groupBy('order_id')),
      readOnly(opts.restaurants, (db) => db('tickets').select('order_id', 'status').whereIn('order_id', ids)),
    ]);
    const paymentOf = new Map(payments.map((p) => [p.order_id as string, p]));
    const capturesOf = new Map(captures.map((c) => [c.order_id as string, Number(c.n)]));
    const ticketOf = new Map(tickets.map((t) => [t.order_id as string, t.status as string]));

    for (const o of orders) {
      report.orders++;
      report.byStatus[o.status] = (report.byStatus[o.status] ?? 0) + 1;
      if (o.failure_reason) report.byFailureReason[o.failure_reason] = (report.byFailureReason[o.failure_reason] ?? 0) + 1;
      const payment = paymentOf.get(o.order_id);
      const ticket = ticketOf.get(o.order_id);
      const captureCount = capturesOf.get(o.order_id) ?? 0;
      if (captureCount > 1) flag('DOUBLE_CHARGE', o.order_id, `${captureCount} captures`);
      if (!TERMINAL_ORDER_STATUSES.includes(o.status)) {
        if (o.updated_at < stuckBefore) flag('STUCK', o.order_id, `${o.status} since ${o.updated_at.toISOString()}`);
        continue;
      }
      if (o.status === 'CONFIRMED') {
        if (!payment || payment.status !== 'CAPTURED' || Number(payment.amount) !== Number(o.total_amount) || captureCount !== 1) {
          flag('CONFIRMED_WITHOUT_CAPTURE', o.order_id, `payment ${payment ? `${payment.status} ${payment.amount}` : 'absent'}, total ${o.total_amount}, captures ${captureCount}`);
        }
        if (ticket !== 'ACCEPTED') flag('CONFIRMED_WITHOUT_ACCEPTED_TICKET', o.order_id, `ticket ${ticket ?? 'absent'}`);
      } else {
        if (payment && (payment.status === 'CAPTURED' || payment.status === 'AUTHORIZED' || payment.status === 'PENDING')) {
          flag(payment.status === 'CAPTURED' ? 'CAPTURED_WITHOUT_CONFIRMATION' : 'FAILED_WITH_MONEY_KEPT', o.order_id, `${o.status} but payment ${payment.status}`);
        }
        if (ticket === 'PENDING' || ticket === 'ACCEPTED') flag('FAILED_WITH_OPEN_TICKET', o.order_id, `${o.status} but ticket ${ticket}`);
      }
    }
  }

  // Payments and tickets whose order does not exist (they live in other databases: check by batches).
  for (const [kind, db, table] of [
    ['PAYMENT_WITHOUT_ORDER', opts.payments, 'payments'],
    ['TICKET_WITHOUT_ORDER', opts.restaurants, 'tickets'],
  ] as const) {
    let cursor = '';
    for (;;) {
      const rows: Array<{ order_id: string }> = await readOnly(db, (d) => d(table).select('order_id').where('order_id', '>', cursor).orderBy('order_id').limit(batchSize));
      if (rows.length === 0) break;
      cursor = rows[rows.length - 1]!.order_id;
      const ids = rows.map((r) => r.order_id);
      const known = new Set(
        (await readOnly(opts.orders, (d) => d('orders').select('order_id').whereIn('order_id', ids))).map((r: { order_id: string }) => r.order_id),
      );
      for (const id of ids) if (!known.has(id)) flag(kind, id, `${table} row for unknown order`);
    }
  }
  return report;
}

export function formatReport(report: AuditReport): string {
  const lines: string[] = [];
  lines.push(`Audit at ${report.checkedAt}: ${report.orders} orders`);
  lines.push('Orders by status:');
  for (const [status, n] of Object.entries(report.byStatus).sort()) lines.push(`  ${status.padEnd(22)} ${n}`);
  if (Object.keys(report.byFailureReason).length > 0) {
    lines.push('Failure reasons:');
    for (const [reason, n] of Object.entries(report.byFailureReason).sort()) lines.push(`  ${reason.padEnd(22)} ${n}`);
  }
  const total = Object.values(report.violationsByKind).reduce((a, b) => a + (b ?? 0), 0);
  lines.push(`Violations: ${total}`);
  for (const [kind, n] of Object.entries(report.violationsByKind)) lines.push(`  ${kind.padEnd(34)} ${n}  (${VIOLATION_KINDS[kind as ViolationKind]})`);
  for (const v of report.violations) lines.push(`  ! ${v.kind} ${v.orderId}: ${v.detail}\n      ${v.workflowUrl}`);
  lines.push(`Double charges: ${report.doubleCharges}`);
  return lines.join('\n');
}

export function violationCount(report: AuditReport): number {
  return Object.values(report.violationsByKind).reduce((a, b) => a + (b ?? 0), 0);
}
