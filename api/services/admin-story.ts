import { PspBooks, pspFindings, type PspFindingKind, type PspOperation } from '../../lib/node/psp-books';
import { orderWorkflowId } from '../../lib/workflow-safe/task-queues';
import { type AdminDeskDeps, fromSource, readOnly, type SourceStatus } from './admin-desk';
import { NotFound } from './errors';
import { loadOrder, type OrderRow } from './order-rows';
import { type HistoryEntry, workflowStory, type WorkflowStory } from './saga-history';

// GET /admin/orders/:orderId/story: one timeline of everything every part of the system recorded
// about an order — the order row and its status history, the payment row and its events, the PSP's
// own operations, the ticket, the saga's history, the reconciler's repair and the operators' actions —
// each entry with its time and source, and links to the Web UI.

export type StorySource = 'order' | 'payment' | 'psp' | 'ticket' | 'saga' | 'reconciler' | 'operator';

export interface TimelineEntry {
  at: string;
  source: StorySource;
  /** What happened, in the source's own words: a status, a payment event kind, a history event type. */
  kind: string;
  summary: string;
  activityType?: string;
  attempt?: number;
  failure?: string;
  eventId?: number;
  link?: string;
}

export interface OperatorActionView {
  actionId: string;
  action: 'cancel' | 'retry' | 'reconcile';
  operator: string;
  reason: string;
  status: 'REQUESTED' | 'DONE' | 'REFUSED';
  httpStatus: number | null;
  result: Record<string, unknown> | null;
  requestedAt: string;
  finishedAt: string | null;
}

interface PaymentView {
  paymentId: string;
  status: string;
  amount: number;
  createdAt: string;
  updatedAt: string;
  events: Array<{ kind: string; amount: number; idempotencyKey: string; at: string }>;
}

interface TicketView {
  ticketId: string;
  status: string;
  reason: string | null;
  createdAt: string;
  updatedAt: string;
}

const iso = (d: Date | string) => new Date(d).toISOString();
const SOURCE_ORDER: StorySource[] = ['operator', 'order', 'saga', 'payment', 'psp', 'ticket', 'reconciler'];

export function operatorActionView(r: Record<string, any>): OperatorActionView {
  return {
    actionId: r.action_id,
    action: r.action,
    operator: r.operator,
    reason: r.reason,
    status: r.status,
    httpStatus: r.http_status ?? null,
    result: r.result ?? null,
    requestedAt: iso(r.requested_at),
    finishedAt: r.finished_at ? iso(r.finished_at) : null,
  };
}

export function createAdminStory(deps: AdminDeskDeps) {
  const payments = (orderId: string) =>
    fromSource(deps.paymentsReadDb !== undefined, null as PaymentView | null, () =>
      readOnly(deps.paymentsReadDb!, async (db) => {
        const row = await db('payments').where({ order_id: orderId }).first();
        if (!row) return null;
        const events = await db('payment_events').where({ order_id: orderId }).orderBy('id');
        return {
          paymentId: row.payment_id,
          status: row.status,
          amount: Number(row.amount),
          createdAt: iso(row.created_at),
          updatedAt: iso(row.updated_at),
          events: events.map((e) => ({ kind: e.kind, amount: Number(e.amount), idempotencyKey: e.idempotency_key, at: iso(e.at) })),
        };
      }),
    );

  const ticket = (orderId: string) =>
    fromSource(true, null as TicketView | null, () =>
      readOnly(deps.restaurantsDb, async (db) => {
        const t = await db('tickets').where({ order_id: orderId }).first();
        return t ? { ticketId: t.ticket_id, status: t.status, reason: t.reason ?? null, createdAt: iso(t.created_at), updatedAt: iso(t.updated_at) } : null;
      }),
    );

  const pspBooks = (orderId: string) =>
    fromSource(deps.pspUrl !== undefined, null as { books: PspBooks; operations: PspOperation[] } | null, () => PspBooks.ofOrderAt(deps.pspUrl!, orderId));

  const temporalStory = (workflowId: string) => fromSource(true, null as WorkflowStory | null, () => workflowStory(deps.temporal, workflowId));

  return {
    async story(orderId: string) {
      const order = await loadOrder(deps.ordersDb, orderId);
      if (!order) throw new NotFound('Order');
      const [history, actions, payment, tkt, psp, saga, repair] = await Promise.all([
        deps.ordersDb('order_status_history').where({ order_id: orderId }).orderBy('id'),
        deps.ordersDb('operator_actions').where({ order_id: orderId }).orderBy('requested_at'),
        payments(orderId),
        ticket(orderId),
        pspBooks(orderId),
        temporalStory(order.workflow_id),
        temporalStory(`repair-${orderId}`),
      ]);
      const findings = psp.value && isFinal(order) ? pspFindingsOf(order, payment.value, psp.value.books) : [];
      const timeline = [
        ...history.map((h): TimelineEntry => ({
          at: iso(h.at),
          source: 'order',
          kind: h.status,
          summary: `order ${h.status}${h.reason ? ` (${h.reason})` : ''}`,
        })),
        ...actions.map(operatorActionView).flatMap(operatorEntries),
        ...(payment.value ? paymentEntries(payment.value) : []),
        ...(psp.value?.operations ?? []).map((op): TimelineEntry => ({
          at: op.at,
          source: 'psp',
          kind: op.operation,
          summary: `PSP ${op.operation} ${op.reference}: ${op.amount} KRW → ${op.resultingStatus} (key ${op.idempotencyKey})`,
        })),
        ...(tkt.value ? ticketEntries(tkt.value) : []),
        ...(saga.value ? historyEntries(saga.value, 'saga', deps.uiUrl) : []),
        ...(repair.value ? historyEntries(repair.value, 'reconciler', deps.uiUrl) : []),
      ].sort(byTime);
      return {
        orderId,
        generatedAt: new Date().toISOString(),
        order: {
          orderId,
          customerId: order.customer_id,
          restaurantId: order.restaurant_id,
          status: order.status,
          failureReason: order.failure_reason,
          totalAmount: Number(order.total_amount),
          paymentStatus: order.payment_status,
          acceptanceDeadline: order.acceptance_deadline?.toISOString() ?? null,
          createdAt: order.created_at.toISOString(),
          updatedAt: order.updated_at.toISOString(),
        },
        payment: payment.value,
        psp: psp.value ? { authorizations: psp.value.books.ofOrder(orderId), findings } : null,
        ticket: tkt.value,
        saga: saga.value ? workflowLink(saga.value, deps.uiUrl) : null,
        repair: repair.value ? workflowLink(repair.value, deps.uiUrl) : null,
        operatorActions: actions.map(operatorActionView),
        timeline,
        sources: { order: 'ok', payment: payment.status, psp: psp.status, ticket: tkt.status, saga: saga.status, reconciler: repair.status } satisfies Record<
          string,
          SourceStatus
        >,
        workflowUrl: deps.uiUrl(orderWorkflowId(orderId)),
      };
    },
  };
}

export type AdminStory = ReturnType<typeof createAdminStory>;

const isFinal = (o: OrderRow) => o.status === 'CONFIRMED' || o.status === 'REJECTED' || o.status === 'CANCELLED';

/** The audit's PSP check for one final order, plus a double charge counted from the PSP's capture effects. */
export interface DeskPspFinding {
  kind: PspFindingKind | 'DOUBLE_CHARGE';
  detail: string;
}

export function pspFindingsOf(
  order: Pick<OrderRow, 'order_id' | 'status' | 'total_amount'>,
  payment: { paymentId: string; status: string } | null,
  books: PspBooks,
): DeskPspFinding[] {
  const found: DeskPspFinding[] = pspFindings(
    { orderId: order.order_id, status: order.status, totalAmount: Number(order.total_amount) },
    payment ?? undefined,
    books,
  );
  const captures = books.ofOrder(order.order_id).reduce((n, a) => n + a.captureEffects, 0);
  if (captures > 1) found.push({ kind: 'DOUBLE_CHARGE', detail: `${captures} capture effects at the PSP` });
  return found;
}

function byTime(a: TimelineEntry, b: TimelineEntry): number {
  return a.at.localeCompare(b.at) || SOURCE_ORDER.indexOf(a.source) - SOURCE_ORDER.indexOf(b.source) || (a.eventId ?? 0) - (b.eventId ?? 0);
}

function paymentEntries(p: PaymentView): TimelineEntry[] {
  return [
    { at: p.createdAt, source: 'payment', kind: 'PAYMENT_ROW', summary: `payment ${p.paymentId} recorded (${p.amount} KRW); now ${p.status}` },
    ...p.events.map((e): TimelineEntry => ({
      at: e.at,
      source: 'payment',
      kind: e.kind,
      summary: `payment event ${e.kind} ${e.amount} KRW (key ${e.idempotencyKey})`,
    })),
  ];
}

function ticketEntries(t: TicketView): TimelineEntry[] {
  const opened: TimelineEntry = { at: t.createdAt, source: 'ticket', kind: 'OPENED', summary: `ticket ${t.ticketId} opened` };
  if (t.status === 'PENDING') return [opened];
  return [opened, { at: t.updatedAt, source: 'ticket', kind: t.status, summary: `ticket ${t.status}${t.reason ? ` (${t.reason})` : ''}` }];
}

function operatorEntries(a: OperatorActionView): TimelineEntry[] {
  const asked: TimelineEntry = {
    at: a.requestedAt,
    source: 'operator',
    kind: `${a.action.toUpperCase()}_REQUESTED`,
    summary: `${a.operator} asked to ${a.action}: "${a.reason}"`,
  };
  if (!a.finishedAt) return [asked];
  const said = typeof a.result?.message === 'string' ? a.result.message : a.status;
  return [
    asked,
    { at: a.finishedAt, source: 'operator', kind: `${a.action.toUpperCase()}_${a.status}`, summary: `${a.action} ${a.status.toLowerCase()}: ${said}` },
  ];
}

function historyEntries(w: WorkflowStory, source: 'saga' | 'reconciler', uiUrl: (id: string) => string): TimelineEntry[] {
  const link = `${uiUrl(w.workflowId)}/${encodeURIComponent(w.runId)}/history`;
  return w.entries.map((e: HistoryEntry) => ({
    at: e.at,
    source,
    kind: e.type,
    summary: [e.activityType, e.summary ?? e.detail].filter(Boolean).join(': ') || e.type,
    ...(e.activityType ? { activityType: e.activityType } : {}),
    ...(e.attempt !== undefined ? { attempt: e.attempt } : {}),
    ...(e.failure ? { failure: e.failure } : {}),
    eventId: e.eventId,
    link,
  }));
}

function workflowLink(w: WorkflowStory, uiUrl: (id: string) => string) {
  return {
    workflowId: w.workflowId,
    runId: w.runId,
    status: w.status,
    startTime: w.startTime,
    closeTime: w.closeTime,
    historyLength: w.historyLength,
    url: uiUrl(w.workflowId),
  };
}
