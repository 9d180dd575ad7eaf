import type { Db } from '../db/knex';
import { TERMINAL_ORDER_STATUSES, type OrderStatus } from '../lib/workflow-safe/domain';
import { orderWorkflowId, workflowUiUrl } from '../lib/workflow-safe/task-queues';
import { listAuthorizations, PspBooks, pspFindings, type PspAuthorizationView, type PspBooksSummary } from '../lib/node/psp-books';

// The consistency audit: reads the three service databases (read-only, in small batches, no locks
// beyond a snapshot per batch) and checks the invariants of docs/design.md for every order. With
// `psp` it also reconciles every order with the PSP's own books (its settlement report).

export const VIOLATION_KINDS = {
  CONFIRMED_WITHOUT_CAPTURE: 'CONFIRMED order without exactly one CAPTURED payment of its total',
  CONFIRMED_WITHOUT_ACCEPTED_TICKET: 'CONFIRMED order whose ticket is not ACCEPTED',
  FAILED_WITH_MONEY_KEPT: 'REJECTED/CANCELLED order whose payment is CAPTURED or still AUTHORIZED',
  FAILED_WITH_OPEN_TICKET: 'REJECTED/CANCELLED order whose ticket is PENDING or ACCEPTED',
  CAPTURED_WITHOUT_CONFIRMATION: 'payment CAPTURED but the order is not CONFIRMED (terminal)',
  DOUBLE_CHARGE: 'more than one capture for one order: in the payments DB, or capture effects at the PSP across all its authorizations',
  PAYMENT_WITHOUT_ORDER: 'payment row with no order',
  TICKET_WITHOUT_ORDER: 'ticket with no order',
  STUCK: 'order in a non-terminal state for longer than the threshold',
  HOLD_OPEN_AT_PSP: 'final order with an authorization still AUTHORIZED (money held) at the PSP',
  CAPTURED_AT_PSP_NOT_CONFIRMED: 'money captured and not refunded at the PSP for a REJECTED/CANCELLED order',
  CONFIRMED_WITHOUT_PSP_CAPTURE: 'CONFIRMED order with no standing capture at the PSP (never captured, or refunded)',
  PSP_AMOUNT_MISMATCH: 'final order whose amount held or captured at the PSP differs from its total',
  PSP_PAYMENT_WITHOUT_ORDER: 'authorization at the PSP (not a void tombstone) for an order that does not exist',
  PSP_BOOKS_DISAGREE: "final order whose payments row and the PSP's authorization pay_<orderId> disagree on the money (held, captured, refunded, none)",
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
  /** What was read of the PSP's books (with the `psp` option). */
  psp?: PspBooksSummary;
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
  /** Reconcile with the PSP's books too: its settlement report at this base URL. */
  psp?: { url: string; pageSize?: number };
}

interface OrderRow {
  order_id: string;
  status: OrderStatus;
  failure_reason: string | null;
  total_amount: number;
  updated_at: Date;
}
interface PaymentRow {
  order_id: string;
  payment_id: string;
  status: string;
  amount: number;
}
type Flag = (kind: ViolationKind, orderId: string, detail: string) => void;

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
  const report: AuditReport = {
    orders: 0,
    byStatus: {},
    byFailureReason: {},
    violations: [],
    violationsByKind: {},
    doubleCharges: 0,
    checkedAt: new Date().toISOString(),
  };
  const link = (orderId: string) => workflowUiUrl(opts.temporalUiUrl, opts.namespace, orderWorkflowId(orderId));
  const flag: Flag = (kind, orderId, detail) => {
    report.violationsByKind[kind] = (report.violationsByKind[kind] ?? 0) + 1;
    if (kind === 'DOUBLE_CHARGE') report.doubleCharges++;
    if (report.violations.length < maxListed) report.violations.push({ kind, orderId, detail, workflowUrl: link(orderId) });
  };
  const stuckBefore = new Date(Date.now() - opts.stuckAfterSeconds * 1000);
  const psp = opts.psp ? new PspBooks(opts.psp.url, opts.psp.pageSize) : null;

  let after = '';
  for (;;) {
    const orders: OrderRow[] = await readOnly(opts.orders, (db) =>
      db('orders')
        .select('order_id', 'status', 'failure_reason', 'total_amount', 'updated_at')
        .where('order_id', '>', after)
        .orderBy('order_id')
        .limit(batchSize),
    );
    if (orders.length === 0) break;
    after = orders[orders.length - 1]!.order_id;
    const ids = orders.map((o) => o.order_id);
    const [payments, captures, tickets] = await Promise.all([
      readOnly(opts.payments, (db) => db('payments').select('order_id', 'payment_id', 'status', 'amount').whereIn('order_id', ids)),
      readOnly(opts.payments, (db) =>
        db('payment_events').select('order_id').count('* as n').where('kind', 'CAPTURE').whereIn('order_id', ids).groupBy('order_id'),
      ),
      readOnly(opts.restaurants, (db) => db('tickets').select('order_id', 'status').whereIn('order_id', ids)),
    ]);
    // Read after the orders: the PSP acts before an order is closed, so a final order's money is all in what we read.
    await psp?.catchUp();
    const paymentOf = new Map((payments as PaymentRow[]).map((p) => [p.order_id, p]));
    const capturesOf = new Map(captures.map((c) => [c.order_id as string, Number(c.n)]));
    const ticketOf = new Map(tickets.map((t) => [t.order_id as string, t.status as string]));

    for (const o of orders) {
      report.orders++;
      report.byStatus[o.status] = (report.byStatus[o.status] ?? 0) + 1;
      if (o.failure_reason) report.byFailureReason[o.failure_reason] = (report.byFailureReason[o.failure_reason] ?? 0) + 1;
      const payment = paymentOf.get(o.order_id);
      const captureCount = capturesOf.get(o.order_id) ?? 0;
      checkDoubleCharge(o, captureCount, psp?.ofOrder(o.order_id), flag);
      if (!TERMINAL_ORDER_STATUSES.includes(o.status)) {
        // A saga is in flight: transient states at the PSP and in the rows are expected.
        if (o.updated_at < stuckBefore) flag('STUCK', o.order_id, `${o.status} since ${o.updated_at.toISOString()}`);
        continue;
      }
      checkOrderRows(o, payment, captureCount, ticketOf.get(o.order_id), flag);
      if (psp) checkOrderAtPsp(o, payment, psp, flag);
    }
  }

  await checkOrphanRows(opts, batchSize, flag);
  if (psp) {
    await psp.catchUp();
    await checkOrphanPspPayments(opts.orders, psp, batchSize, flag);
    report.psp = psp.summary();
  }
  return report;
}

/** DB side: capture events recorded; PSP side: capture effects across every authorization carrying the order. */
function checkDoubleCharge(o: OrderRow, dbCaptures: number, atPsp: PspAuthorizationView[] | undefined, flag: Flag) {
  const pspCaptures = atPsp?.reduce((n, a) => n + a.captureEffects, 0) ?? 0;
  if (dbCaptures <= 1 && pspCaptures <= 1) return;
  const refs = atPsp?.filter((a) => a.captureEffects > 0).map((a) => `${a.reference}×${a.captureEffects}`) ?? [];
  flag(
    'DOUBLE_CHARGE',
    o.order_id,
    `${dbCaptures} capture(s) in the payments DB${atPsp ? `, ${pspCaptures} capture effect(s) at the PSP (${refs.join(', ')})` : ''}`,
  );
}

/** The invariants between a final order's own rows in the three databases. */
function checkOrderRows(o: OrderRow, payment: PaymentRow | undefined, captureCount: number, ticket: string | undefined, flag: Flag) {
  if (o.status === 'CONFIRMED') {
    if (!payment || payment.status !== 'CAPTURED' || Number(payment.amount) !== Number(o.total_amount) || captureCount !== 1) {
      flag(
        'CONFIRMED_WITHOUT_CAPTURE',
        o.order_id,
        `payment ${payment ? `${payment.status} ${payment.amount}` : 'absent'}, total ${o.total_amount}, captures ${captureCount}`,
      );
    }
    if (ticket !== 'ACCEPTED') flag('CONFIRMED_WITHOUT_ACCEPTED_TICKET', o.order_id, `ticket ${ticket ?? 'absent'}`);
    return;
  }
  if (payment && (payment.status === 'CAPTURED' || payment.status === 'AUTHORIZED' || payment.status === 'PENDING')) {
    flag(payment.status === 'CAPTURED' ? 'CAPTURED_WITHOUT_CONFIRMATION' : 'FAILED_WITH_MONEY_KEPT', o.order_id, `${o.status} but payment ${payment.status}`);
  }
  if (ticket === 'PENDING' || ticket === 'ACCEPTED') flag('FAILED_WITH_OPEN_TICKET', o.order_id, `${o.status} but ticket ${ticket}`);
}

/** A final order against the PSP's books (lib/node/psp-books.ts pspFindings, shared with the operator's desk). */
function checkOrderAtPsp(o: OrderRow, payment: PaymentRow | undefined, psp: PspBooks, flag: Flag) {
  const order = { orderId: o.order_id, status: o.status, totalAmount: Number(o.total_amount) };
  for (const f of pspFindings(order, payment && { paymentId: payment.payment_id, status: payment.status }, psp)) flag(f.kind, o.order_id, f.detail);
}

/** Payments and tickets whose order does not exist (they live in other databases: check by batches). */
async function checkOrphanRows(opts: AuditOptions, batchSize: number, flag: Flag) {
  for (const [kind, db, table] of [
    ['PAYMENT_WITHOUT_ORDER', opts.payments, 'payments'],
    ['TICKET_WITHOUT_ORDER', opts.restaurants, 'tickets'],
  ] as const) {
    let cursor = '';
    for (;;) {
      const rows: Array<{ order_id: string }> = await readOnly(db, (d) =>
        d(table).select('order_id').where('order_id', '>', cursor).orderBy('order_id').limit(batchSize),
      );
      if (rows.length === 0) break;
      cursor = rows[rows.length - 1]!.order_id;
      const ids = rows.map((r) => r.order_id);
      const known = await knownOrders(opts.orders, ids);
      for (const id of ids) if (!known.has(id)) flag(kind, id, `${table} row for unknown order`);
    }
  }
}

/** Authorizations at the PSP for orders that do not exist (read after the PSP: an order is created before its payment). */
async function checkOrphanPspPayments(orders: Db, psp: PspBooks, batchSize: number, flag: Flag) {
  const byOrder = new Map<string, PspAuthorizationView[]>();
  for (const a of psp.authorizations()) {
    if (a.orderId === null) flag('PSP_PAYMENT_WITHOUT_ORDER', a.reference, `PSP authorization ${a.reference} ${a.status} ${a.amount} names no order`);
    else byOrder.set(a.orderId, [...(byOrder.get(a.orderId) ?? []), a]);
  }
  const ids = [...byOrder.keys()];
  for (let i = 0; i < ids.length; i += batchSize) {
    const batch = ids.slice(i, i + batchSize);
    const known = await knownOrders(orders, batch);
    for (const id of batch)
      if (!known.has(id)) flag('PSP_PAYMENT_WITHOUT_ORDER', id, `at the PSP for an unknown order: ${listAuthorizations(byOrder.get(id)!)}`);
  }
}

async function knownOrders(orders: Db, ids: string[]): Promise<Set<string>> {
  const rows: Array<{ order_id: string }> = await readOnly(orders, (d) => d('orders').select('order_id').whereIn('order_id', ids));
  return new Set(rows.map((r) => r.order_id));
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
  if (report.psp) lines.push(...formatPsp(report.psp));
  const total = violationCount(report);
  lines.push(`Violations: ${total}`);
  for (const [kind, n] of Object.entries(report.violationsByKind)) lines.push(`  ${kind.padEnd(34)} ${n}  (${VIOLATION_KINDS[kind as ViolationKind]})`);
  for (const v of report.violations) lines.push(`  ! ${v.kind} ${v.orderId}: ${v.detail}\n      ${v.workflowUrl}`);
  lines.push(`Double charges: ${report.doubleCharges}`);
  return lines.join('\n');
}

function formatPsp(s: PspBooksSummary): string[] {
  return [
    `PSP books (${s.url}):`,
    `  operations read        ${s.operations}`,
    `  authorizations         ${s.authorizations}`,
    `  captures               ${s.captureEffects} (${s.capturesStanding} standing)`,
    `  refunds                ${s.refunds}`,
    `  voids                  ${s.voids} (+${s.tombstones} void tombstones)`,
    `  holds open             ${s.holdsOpen} (including sagas in flight)`,
  ];
}

export function violationCount(report: AuditReport): number {
  return Object.values(report.violationsByKind).reduce((a, b) => a + (b ?? 0), 0);
}
