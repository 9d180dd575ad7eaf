import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { Db } from '../../db/knex';
import { TERMINAL_ORDER_STATUSES } from '../../lib/workflow-safe/domain';
import { taskQueuesFor } from '../../lib/workflow-safe/task-queues';
import { runAudit, type AuditReport } from '../../ops/audit';
import { CHAOS_ADDRESS_PREFIX } from './plan';

// What a chaos run checks once the traffic and the faults are over: every accepted order reached a
// final state, one reconciler pass, the audit (with the PSP's books), the PSP's books against the
// payments database, and no order created twice.

const isTerminal = (status: string | undefined) => (TERMINAL_ORDER_STATUSES as readonly string[]).includes(status ?? '');

/** Status of each id (absent when the order is not in the database). */
async function statuses(ordersDb: Db, ids: string[]): Promise<Map<string, string>> {
  const rows: Array<{ order_id: string; status: string }> = [];
  for (let i = 0; i < ids.length; i += 1000)
    rows.push(
      ...(await ordersDb('orders')
        .select('order_id', 'status')
        .whereIn('order_id', ids.slice(i, i + 1000))),
    );
  return new Map(rows.map((r) => [r.order_id, r.status]));
}

/** Polls until every id is final or the deadline passes; the number still open. */
export async function waitForSettle(ordersDb: Db, ids: string[], deadline: number): Promise<number> {
  let open = ids.length;
  while (Date.now() < deadline) {
    try {
      const known = await statuses(ordersDb, ids);
      open = ids.filter((id) => !isTerminal(known.get(id))).length;
      if (open === 0) break;
    } catch {
      // the primary may still be coming back
    }
    await sleep(1000);
  }
  return open;
}

/**
 * Waits (until `deadline`) for every order the database holds to be final, not only those the API
 * acknowledged: an order recorded while its client gave up retrying is still the system's to finish
 * (the sweeper starts its saga), and the audit at the end judges every order. Returns how many are open.
 */
export async function waitForAllOrdersToSettle(ordersDb: Db, deadline: number): Promise<number> {
  let open = Infinity;
  while (Date.now() < deadline) {
    try {
      const row = await ordersDb('orders').whereIn('status', ['PENDING', 'AWAITING_RESTAURANT']).count('* as n').first();
      open = Number(row?.n ?? 0);
      if (open === 0) break;
    } catch {
      // the primary may still be coming back
    }
    await sleep(1000);
  }
  return open;
}

/** Accepted orders missing from the database or not final, with their status ('MISSING'). */
export async function openOrders(ordersDb: Db, ids: string[]): Promise<Array<{ orderId: string; status: string }>> {
  const known = await statuses(ordersDb, ids);
  return ids.filter((id) => !isTerminal(known.get(id))).map((orderId) => ({ orderId, status: known.get(orderId) ?? 'MISSING' }));
}

/** Orders beyond one per offered order (each order of a run has its own delivery address). */
export async function duplicateOrders(ordersDb: Db): Promise<number> {
  const rows: Array<{ n: string }> = await ordersDb('orders')
    .where('delivery_address', 'like', `${CHAOS_ADDRESS_PREFIX}%`)
    .groupBy('delivery_address')
    .havingRaw('count(*) > 1')
    .select(ordersDb.raw('count(*) as n'));
  return rows.reduce((sum, r) => sum + Number(r.n) - 1, 0);
}

export interface ReconcilerOutcome {
  workflowId: string;
  ok: boolean;
  result?: unknown;
  error?: string;
  seconds: number;
}

/**
 * One pass of the reconciler (workflow `reconcileOrders` on the order task queue), as `npm run
 * reconcile` would run it. A worker without that workflow fails its workflow task again and again
 * instead of failing the run: that failure is read from the history and reported.
 */
export async function runReconcilerPass(client: Client, timeoutSeconds: number, graceSeconds: number): Promise<ReconcilerOutcome> {
  const started = Date.now();
  const workflowId = `reconcile-chaos-${started}`;
  const outcome = (o: Omit<ReconcilerOutcome, 'workflowId' | 'seconds'>): ReconcilerOutcome => ({ workflowId, ...o, seconds: (Date.now() - started) / 1000 });
  try {
    const handle = await client.workflow.start('reconcileOrders', {
      taskQueue: taskQueuesFor('').order,
      workflowId,
      args: [{ graceSeconds }],
      workflowExecutionTimeout: `${timeoutSeconds}s`,
    });
    const result = handle.result().then((r) => ({ r }));
    // Left behind when the history shows the failure first (its rejection must not go unhandled).
    result.catch(() => undefined);
    for (;;) {
      const done = await Promise.race([result, sleep(1000).then(() => undefined)]);
      if (done) return outcome({ ok: true, result: done.r });
      const failedTask = await lastWorkflowTaskFailure(client, workflowId);
      if (failedTask) {
        await handle.terminate('chaos: reconciler workflow task failed').catch(() => undefined);
        return outcome({ ok: false, error: `workflow task failed: ${failedTask}` });
      }
    }
  } catch (err) {
    return outcome({
      ok: false,
      error: err instanceof Error ? `${err.name}: ${err.message}${err.cause instanceof Error ? ` (${err.cause.message})` : ''}` : String(err),
    });
  }
}

async function lastWorkflowTaskFailure(client: Client, workflowId: string): Promise<string | undefined> {
  try {
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const failed = (history.events ?? []).filter((e) => e.workflowTaskFailedEventAttributes).at(-1);
    return failed ? (failed.workflowTaskFailedEventAttributes?.failure?.message ?? 'no message') : undefined;
  } catch {
    return undefined;
  }
}

/**
 * runAudit with the PSP's books: ops/audit.ts takes `psp: { url }` on the branch that adds the
 * check; until then the option is carried and ignored.
 */
type AuditWithPspOptions = Parameters<typeof runAudit>[0] & { psp?: { url: string } };
export function auditWithPsp(opts: AuditWithPspOptions): Promise<AuditReport> {
  return runAudit(opts);
}

export interface PspBooks {
  /** Authorizations whose status differs between the PSP and the payments DB, or missing at the PSP. */
  mismatches: number;
  examples: string[];
  /** Money taken at the PSP (CAPTURED or REFUNDED there) with no capture in the payments DB. */
  capturedNotRecorded: string[];
}

/**
 * The PSP's own books against the payments database. `forgotten` holds what killed sandboxes knew
 * and their successors do not: money they took still counts, but a payment the DB knows and the
 * current books do not is a mismatch (a PSP must not forget).
 */
export async function comparePspBooks(pspUrl: string, paymentsDb: Db, forgotten: ReadonlyMap<string, string> = new Map()): Promise<PspBooks> {
  const pspAuths = (await (await fetch(`${pspUrl}/_sandbox/authorizations`)).json()) as Array<{ reference: string; status: string }>;
  const dbPayments: Array<{ payment_id: string; status: string }> = await paymentsDb('payments').select('payment_id', 'status');
  const dbCaptured = new Set(
    (await paymentsDb('payment_events').where({ kind: 'CAPTURE' }).distinct('payment_id')).map((r: { payment_id: string }) => r.payment_id),
  );
  const dbStatus = new Map(dbPayments.map((p) => [p.payment_id, p.status]));
  const books: PspBooks = { mismatches: 0, examples: [], capturedNotRecorded: [] };
  const mismatch = (text: string) => {
    books.mismatches++;
    if (books.examples.length < 20) books.examples.push(text);
  };
  const atPsp = new Set<string>();
  for (const a of pspAuths) {
    atPsp.add(a.reference);
    // A PSP void for a payment that never reached the PSP leaves a tombstone: VOIDED on both sides.
    if (dbStatus.get(a.reference) !== a.status) mismatch(`${a.reference}: PSP ${a.status}, payments DB ${dbStatus.get(a.reference) ?? 'none'}`);
  }
  // Money taken in any of the sandbox's lives counts, even if a later life holds a void tombstone.
  const tookMoney = (status: string) => status === 'CAPTURED' || status === 'REFUNDED';
  const nowStatus = new Map(pspAuths.map((a) => [a.reference, a.status]));
  const taken = [
    ...[...forgotten].map(([reference, status]) => ({ reference, status, life: 'before a restart' })),
    ...pspAuths.map((a) => ({ ...a, life: 'now' })),
  ];
  for (const { reference, status, life } of taken) {
    if (tookMoney(status) && !dbCaptured.has(reference)) {
      const now = nowStatus.get(reference);
      books.capturedNotRecorded.push(
        `${reference}: PSP ${status} (${life}${life !== 'now' && now ? `; now ${now}` : ''}), payments DB ${dbStatus.get(reference) ?? 'none'} without a capture`,
      );
    }
  }
  // Money the database thinks is held or taken must be at the PSP too.
  for (const p of dbPayments) {
    if (!atPsp.has(p.payment_id) && ['AUTHORIZED', 'CAPTURED', 'REFUNDED'].includes(p.status))
      mismatch(`${p.payment_id}: payments DB ${p.status}, unknown to the PSP`);
  }
  return books;
}

/** Orders with a capture recorded in the payments database. */
export async function capturedOrders(paymentsDb: Db): Promise<number> {
  const row = await paymentsDb('payment_events').where({ kind: 'CAPTURE' }).countDistinct('order_id as n').first();
  return Number(row?.n ?? 0);
}

export interface NodeLossPause {
  kind: string;
  /** The process and its down time. */
  detail: string;
  /** Seconds into the traffic when it was killed. */
  atSeconds: number;
  /** Orders placed from 10 s before the kill until the process served again, to auto-accepting restaurants. */
  orders: number;
  /** The longest of their order-to-CONFIRMED times, and their median, in ms. */
  longestMs: number;
  medianMs: number;
}

/**
 * The pause each node loss caused: the longest order-to-CONFIRMED among the orders placed around it
 * (10 s before the kill until the process was back), only at auto-accepting restaurants so that no
 * restaurant's own decision time is counted. `baseline` is the same over every other order.
 */
export async function nodeLossPauses(
  orders: Db,
  spans: Array<{ kind: string; startMs: number; endMs: number; detail: string }>,
  autoAcceptRestaurants: string[],
  epochMs: number,
): Promise<{ pauses: NodeLossPause[]; baseline: { orders: number; medianMs: number; p99Ms: number; longestMs: number } }> {
  const rows: Array<{ placed: Date; confirmed: Date }> = await orders('orders as o')
    .join('order_status_history as p', function () {
      this.on('p.order_id', 'o.order_id').andOnVal('p.status', 'PENDING');
    })
    .join('order_status_history as c', function () {
      this.on('c.order_id', 'o.order_id').andOnVal('c.status', 'CONFIRMED');
    })
    .whereIn('o.restaurant_id', autoAcceptRestaurants)
    .select('p.at as placed', 'c.at as confirmed');
  const times = rows.map((r) => ({ placed: new Date(r.placed).getTime(), ms: new Date(r.confirmed).getTime() - new Date(r.placed).getTime() }));
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
  const at = (xs: number[], q: number) => (xs.length ? xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]! : 0);
  const around = (s: { startMs: number; endMs: number }) => (t: { placed: number }) => t.placed >= s.startMs - 10_000 && t.placed <= s.endMs;
  const nodeLoss = spans.filter((s) => s.kind.startsWith('sigkill-temporal-'));
  const pauses = nodeLoss.map((s) => {
    const ms = sorted(times.filter(around(s)).map((t) => t.ms));
    return { kind: s.kind, detail: s.detail, atSeconds: (s.startMs - epochMs) / 1000, orders: ms.length, longestMs: ms.at(-1) ?? 0, medianMs: at(ms, 0.5) };
  });
  const rest = sorted(times.filter((t) => !nodeLoss.some((s) => around(s)(t))).map((t) => t.ms));
  return { pauses, baseline: { orders: rest.length, medianMs: at(rest, 0.5), p99Ms: at(rest, 0.99), longestMs: rest.at(-1) ?? 0 } };
}
