import { WorkflowNotFoundError } from '@temporalio/client';
import { optionalTsToDate } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { PspBooks } from '../../lib/node/psp-books';
import type { OrderStatus } from '../../lib/workflow-safe/domain';
import { type AdminDeskDeps, COMPENSATION_ACTIVITIES, mapLimited, readOnly } from './admin-desk';
import { pspFindingsOf } from './admin-story';
import { InvalidInput } from './errors';
import type { OrderRow } from './order-rows';
import { failureMessage } from './saga-history';

// GET /admin/orders: search by order, customer or restaurant (newest first, keyset-paged), and with
// attention=true the orders an operator should look at, each finding with the stage the order is at.

export type FindingKind = 'NOT_FINAL' | 'STEP_FAILING' | 'COMPENSATION_RETRYING' | 'SAGA_NOT_RUNNING' | 'PSP_MISMATCH';

export interface Finding {
  kind: FindingKind;
  /** Where the order is: its status and, while its saga runs, the step it waits on. */
  stage: string;
  detail: string;
  activityId?: string;
  activityType?: string;
  attempt?: number;
  lastFailure?: string;
  nextAttemptAt?: string;
  pspKind?: string;
}

export interface SearchQuery {
  orderId?: string | undefined;
  customerId?: string | undefined;
  restaurantId?: string | undefined;
  status?: OrderStatus | undefined;
  limit: number;
  cursor?: string | undefined;
}

export interface AttentionQuery {
  olderThanSeconds: number;
  failingAttempts: number;
  pspWindowSeconds: number;
  limit: number;
}

export const ATTENTION_DEFAULTS = { olderThanSeconds: 900, failingAttempts: 3, pspWindowSeconds: 3600 } as const;
/** Open orders whose sagas one attention request describes; recent final orders it checks at the PSP. */
const OPEN_SCAN_LIMIT = 300;
const PSP_SCAN_LIMIT = 100;
const DESCRIBE_CONCURRENCY = 8;

type PendingActivity = temporal.api.workflow.v1.IPendingActivityInfo;

export function summaryOf(r: OrderRow, uiUrl: (id: string) => string) {
  return {
    orderId: r.order_id,
    customerId: r.customer_id,
    restaurantId: r.restaurant_id,
    status: r.status,
    failureReason: r.failure_reason,
    totalAmount: Number(r.total_amount),
    paymentStatus: r.payment_status,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    workflowUrl: uiUrl(r.workflow_id),
  };
}

export type OrderSummary = ReturnType<typeof summaryOf> & { findings?: Finding[] };

// Long only as a factory: its body is the desk's order queries, each a short closure over the same deps.
export function createAdminOrders(deps: AdminDeskDeps) {
  const { ordersDb, temporal } = deps;

  /** The saga's status and its pending activities (none when it does not run). */
  async function sagaOf(workflowId: string): Promise<{ status: string; pending: PendingActivity[] }> {
    try {
      const d = await temporal.workflow.getHandle(workflowId).describe();
      return { status: d.status.name, pending: d.raw.pendingActivities ?? [] };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return { status: 'NOT_FOUND', pending: [] };
      throw err;
    }
  }

  async function openOrderFindings(row: OrderRow, q: AttentionQuery): Promise<Finding[]> {
    const findings: Finding[] = [];
    const ageSeconds = (Date.now() - row.created_at.getTime()) / 1000;
    const saga = await sagaOf(row.workflow_id).catch((err: Error) => ({ status: `UNKNOWN (${err.message.slice(0, 100)})`, pending: [] as PendingActivity[] }));
    const busiest = [...saga.pending].sort((a, b) => (b.attempt ?? 0) - (a.attempt ?? 0))[0];
    const stage = `${row.status}${saga.status !== 'RUNNING' ? ` · saga ${saga.status}` : busiest ? ` · ${busiest.activityType?.name} (attempt ${busiest.attempt})` : ''}`;
    if (ageSeconds > q.olderThanSeconds)
      findings.push({ kind: 'NOT_FINAL', stage, detail: `not final after ${Math.round(ageSeconds)} s (threshold ${q.olderThanSeconds} s)` });
    // UNKNOWN: Temporal did not answer; that says nothing about this saga.
    if (saga.status !== 'RUNNING' && !saga.status.startsWith('UNKNOWN')) {
      findings.push({
        kind: 'SAGA_NOT_RUNNING',
        stage,
        detail:
          saga.status === 'NOT_FOUND'
            ? 'no saga in Temporal: the sweeper or the reconciler starts one for a PENDING order'
            : `the saga is ${saga.status}: the reconciler repairs the order after its grace period (or reconcile it now)`,
      });
    }
    for (const pa of saga.pending) {
      const type = pa.activityType?.name ?? '?';
      const compensation = COMPENSATION_ACTIVITIES.includes(type);
      if (compensation ? (pa.attempt ?? 0) <= 1 : (pa.attempt ?? 0) <= q.failingAttempts) continue;
      findings.push({
        kind: compensation ? 'COMPENSATION_RETRYING' : 'STEP_FAILING',
        stage,
        detail: `${type} at attempt ${pa.attempt}${pa.lastFailure ? `: ${failureMessage(pa.lastFailure)}` : ''}`,
        activityId: pa.activityId ?? '',
        activityType: type,
        attempt: pa.attempt ?? 0,
        ...(pa.lastFailure ? { lastFailure: failureMessage(pa.lastFailure) ?? '' } : {}),
        ...(pa.nextAttemptScheduleTime ? { nextAttemptAt: optionalTsToDate(pa.nextAttemptScheduleTime)!.toISOString() } : {}),
      });
    }
    return findings;
  }

  /** The audit's PSP check for final orders changed within the window (at most PSP_SCAN_LIMIT of them). */
  async function pspMismatches(q: AttentionQuery): Promise<{ checked: boolean; flagged: Array<{ row: OrderRow; findings: Finding[] }> }> {
    if (!deps.pspUrl || !deps.paymentsReadDb) return { checked: false, flagged: [] };
    try {
      return { checked: true, flagged: await pspCheck(q) };
    } catch (err) {
      // The PSP's report or the payments database is unreachable: the rest of the list still answers.
      deps.logger.warn({ err: (err as Error).message }, 'attention list: the PSP check could not run');
      return { checked: false, flagged: [] };
    }
  }

  async function pspCheck(q: AttentionQuery): Promise<Array<{ row: OrderRow; findings: Finding[] }>> {
    const rows: OrderRow[] = await ordersDb<OrderRow>('orders')
      .whereIn('status', ['CONFIRMED', 'REJECTED', 'CANCELLED'])
      .andWhere('updated_at', '>', ordersDb.raw('now() - make_interval(secs => ?)', [q.pspWindowSeconds]))
      .orderBy('updated_at', 'desc')
      .limit(PSP_SCAN_LIMIT);
    const payments = new Map<string, { paymentId: string; status: string }>();
    if (rows.length > 0) {
      const found: Array<{ order_id: string; payment_id: string; status: string }> = await readOnly(deps.paymentsReadDb!, (db) =>
        db('payments')
          .select('order_id', 'payment_id', 'status')
          .whereIn(
            'order_id',
            rows.map((r) => r.order_id),
          ),
      );
      for (const p of found) payments.set(p.order_id, { paymentId: p.payment_id, status: p.status });
    }
    const checked = await mapLimited(rows, DESCRIBE_CONCURRENCY, async (row) => {
      const { books } = await PspBooks.ofOrderAt(deps.pspUrl!, row.order_id);
      const stage = `${row.status}${row.failure_reason ? ` (${row.failure_reason})` : ''}`;
      return {
        row,
        findings: pspFindingsOf(row, payments.get(row.order_id) ?? null, books).map((f): Finding => ({
          kind: 'PSP_MISMATCH',
          stage,
          detail: f.detail,
          pspKind: f.kind,
        })),
      };
    });
    return checked.filter((c) => c.findings.length > 0);
  }

  return {
    /** Orders newest first, by id, customer, restaurant and status; keyset-paged by (created_at, order_id). */
    async search(q: SearchQuery) {
      let query = ordersDb<OrderRow>('orders');
      if (q.orderId) query = query.where({ order_id: q.orderId });
      if (q.customerId) query = query.where({ customer_id: q.customerId });
      if (q.restaurantId) query = query.where({ restaurant_id: q.restaurantId });
      if (q.status) query = query.where({ status: q.status });
      if (q.cursor) {
        const [at, id] = decodeCursor(q.cursor);
        query = query.andWhere((w) => w.where('created_at', '<', at).orWhere((w2) => w2.where('created_at', '=', at).andWhere('order_id', '<', id)));
      }
      const rows = await query
        .orderBy([
          { column: 'created_at', order: 'desc' },
          { column: 'order_id', order: 'desc' },
        ])
        .limit(q.limit + 1);
      const page = rows.slice(0, q.limit);
      const last = page[page.length - 1];
      return {
        orders: page.map((r) => summaryOf(r, deps.uiUrl)) as OrderSummary[],
        nextCursor: rows.length > q.limit && last ? encodeCursor(last.created_at, last.order_id) : null,
      };
    },

    /** Orders that need an operator: open too long, steps or compensations retrying, sagas gone, PSP mismatches. */
    async attention(q: AttentionQuery) {
      const open: OrderRow[] = await ordersDb<OrderRow>('orders')
        .whereIn('status', ['PENDING', 'AWAITING_RESTAURANT'])
        .orderBy('created_at')
        .limit(OPEN_SCAN_LIMIT);
      const [openFindings, psp] = await Promise.all([mapLimited(open, DESCRIBE_CONCURRENCY, (row) => openOrderFindings(row, q)), pspMismatches(q)]);
      const flagged = [...open.map((row, i) => ({ row, findings: openFindings[i]! })).filter((f) => f.findings.length > 0), ...psp.flagged];
      return {
        orders: flagged.slice(0, q.limit).map(({ row, findings }) => ({ ...summaryOf(row, deps.uiUrl), findings })),
        nextCursor: null,
        attention: { ...q, openOrdersScanned: open.length, checkedAt: new Date().toISOString(), pspChecked: psp.checked },
      };
    },
  };
}

export type AdminOrders = ReturnType<typeof createAdminOrders>;

// The cursor is base64url("<ISO time>|<orderId>"), as for a restaurant's orders (api/validation.ts checks it).
function encodeCursor(at: Date, id: string): string {
  return Buffer.from(`${at.toISOString()}|${id}`).toString('base64url');
}

function decodeCursor(cursor: string): [Date, string] {
  const [at, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  const date = new Date(at ?? '');
  if (!id || Number.isNaN(date.getTime())) throw new InvalidInput('Invalid cursor');
  return [date, id];
}
