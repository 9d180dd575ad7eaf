// The reconciler's vocabulary and its decision, shared by its workflow (workflows/reconcile.ts), its
// activities (activities/reconciler.ts) and `npm run reconcile`. Pure: the workflow bundle includes
// this file, so no I/O and no imports beyond the domain's types.
import type { OrderStatus, PaymentStatus } from './domain';

/** An order that is not final yet, as the reconciler reads it. */
export interface OpenOrder {
  orderId: string;
  status: Extract<OrderStatus, 'PENDING' | 'AWAITING_RESTAURANT'>;
  restaurantId: string;
  totalAmount: number;
  /** Seconds since the order was created (by the database's clock). */
  ageSeconds: number;
}

/** Keyset position in the open orders: (updated_at as Postgres prints it, to the microsecond; order_id). */
export interface OrderCursor {
  updatedAt: string;
  orderId: string;
}

export interface OpenOrdersPage {
  orders: OpenOrder[];
  /** null when this page was the last. */
  next: OrderCursor | null;
}

/** Temporal's view of an order's saga (`order-<orderId>`): its latest run. */
export interface SagaView {
  orderId: string;
  /** NOT_FOUND, or Temporal's status name: RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT, ... */
  status: string;
  /** Seconds since the run closed (by the worker's clock); null while it runs or when there is none. */
  closedSecondsAgo: number | null;
}

export const CLOSED_SAGA_STATUSES: readonly string[] = ['COMPLETED', 'FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT'];

export interface ReconcileLimits {
  /** A saga closed less than this long ago is left alone: an attempt of its last activity may still act. */
  graceSeconds: number;
  /** A saga still running when its order is older than this is asked to cancel. */
  staleSeconds: number;
}

/**
 * start: PENDING with no saga at all → start it from the order's rows.
 * restart: PENDING, and its saga closed without completing longer ago than the grace period → a new
 *   run of the saga from the order's rows (forward: the order has not reached the restaurant).
 * repair: any other order whose saga closed longer ago than the grace period → the repair workflow.
 * cancel: the saga runs but the order is far too old → request the saga's cancellation.
 * flag: AWAITING_RESTAURANT with no saga in Temporal (its history is gone): reported for an operator.
 * leave: anything else.
 *
 * Only this decision follows a closed saga with anything, and only past the grace period (the API and
 * the sweeper start a saga that never ran). Restart and repair exclude each other by the order's status:
 * a repair never runs beside a saga run of the same order.
 */
export type ReconcileAction = 'start' | 'restart' | 'repair' | 'cancel' | 'flag' | 'leave';

export function decideReconcileAction(order: OpenOrder, saga: SagaView, limits: ReconcileLimits, opts: { restartPending?: boolean } = {}): ReconcileAction {
  if (saga.status === 'NOT_FOUND') return order.status === 'PENDING' ? 'start' : 'flag';
  if (saga.status === 'RUNNING') return order.ageSeconds > limits.staleSeconds ? 'cancel' : 'leave';
  if (!CLOSED_SAGA_STATUSES.includes(saga.status)) return 'leave';
  if (saga.closedSecondsAgo === null || saga.closedSecondsAgo < limits.graceSeconds) return 'leave';
  // Passes recorded before restarts existed repaired these too (workflows/reconcile.ts patches it in).
  return opts.restartPending && order.status === 'PENDING' && saga.status !== 'COMPLETED' ? 'restart' : 'repair';
}

/** What the repair workflow needs: enough to release the payment and cancel the ticket without the saga. */
export interface RepairInput {
  orderId: string;
  restaurantId: string;
  amount: number;
  /** The saga's status when the repair was decided (for the report and the logs). */
  sagaStatus: string;
}

export interface RepairResult {
  orderId: string;
  sagaStatus: string;
  action: 'confirmed' | 'rejected';
  paymentStatus: PaymentStatus | null;
}

export interface ReconcileInput {
  graceSeconds?: number;
  staleSeconds?: number;
  /** Orders whose last change is younger than this are not read (the API or the saga is on them). */
  minAgeSeconds?: number;
  pageSize?: number;
  /** Pages per workflow run; a longer pass continues as new with its cursor and report so far. */
  maxPagesPerRun?: number;
  /** How long a pass waits for its repairs; one still running then is reported and keeps going. */
  repairWaitSeconds?: number;
  /**
   * Only these orders (at most MAX_RECONCILE_ORDER_IDS): the operator's desk reconciles one order
   * now. Absent (the Schedule, `npm run reconcile`): every open order.
   */
  orderIds?: string[];
  /** Set by continue-as-new. */
  cursor?: OrderCursor | null;
  carried?: ReconcileReport;
}

export const RECONCILE_DEFAULTS = {
  // Longer than any saga activity attempt (2 min for a payment step): nothing of the old run can still act.
  graceSeconds: 180,
  // An hour past the default acceptance window (the schedule passes the configured one).
  staleSeconds: 3600 + 300,
  pageSize: 200,
  maxPagesPerRun: 10,
  repairWaitSeconds: 300,
} as const;

export type ReconcileSettings = Required<Omit<ReconcileInput, 'cursor' | 'carried' | 'orderIds'>>;

/** A pass narrowed to some orders names at most this many (one page). */
export const MAX_RECONCILE_ORDER_IDS = 200;

export function reconcileSettingsOf(input: ReconcileInput): ReconcileSettings {
  const graceSeconds = input.graceSeconds ?? RECONCILE_DEFAULTS.graceSeconds;
  return {
    graceSeconds,
    staleSeconds: input.staleSeconds ?? RECONCILE_DEFAULTS.staleSeconds,
    // An order changed more recently than the grace period cannot have a saga closed for longer.
    minAgeSeconds: input.minAgeSeconds ?? Math.min(60, graceSeconds),
    pageSize: input.pageSize ?? RECONCILE_DEFAULTS.pageSize,
    maxPagesPerRun: input.maxPagesPerRun ?? RECONCILE_DEFAULTS.maxPagesPerRun,
    repairWaitSeconds: input.repairWaitSeconds ?? RECONCILE_DEFAULTS.repairWaitSeconds,
  };
}

/** Lists in the report keep at most this many entries; `counts` holds the exact totals. */
export const REPORT_LIST_LIMIT = 100;

export interface ReconcileReport {
  settings: { graceSeconds: number; staleSeconds: number; minAgeSeconds: number };
  /** Open orders looked at. */
  examined: number;
  /** Orders whose saga this pass started: they had none, or a new run after one that closed (restart). */
  started: string[];
  repaired: RepairResult[];
  /** Sagas asked to cancel because their order is far too old. */
  cancelRequested: string[];
  /** Repairs not finished when the pass stopped waiting, or already running from an earlier pass. */
  repairsInProgress: string[];
  /** Orders left alone. */
  skipped: number;
  errors: Array<{ orderId: string; error: string }>;
  counts: { started: number; repaired: number; cancelRequested: number; repairsInProgress: number; errors: number };
  pages: number;
  /** Workflow runs of this pass (more than one when it continued as new). */
  runs: number;
}

export function emptyReport(settings: ReconcileSettings): ReconcileReport {
  return {
    settings: { graceSeconds: settings.graceSeconds, staleSeconds: settings.staleSeconds, minAgeSeconds: settings.minAgeSeconds },
    examined: 0,
    started: [],
    repaired: [],
    cancelRequested: [],
    repairsInProgress: [],
    skipped: 0,
    errors: [],
    counts: { started: 0, repaired: 0, cancelRequested: 0, repairsInProgress: 0, errors: 0 },
    pages: 0,
    runs: 1,
  };
}

type Listed = keyof ReconcileReport['counts'];
type EntryOf<K extends Listed> = ReconcileReport[K] extends Array<infer E> ? E : never;

/** Counts an entry and keeps it while its list is under REPORT_LIST_LIMIT. */
export function noteInReport<K extends Listed>(report: ReconcileReport, list: K, entry: EntryOf<K>): void {
  report.counts[list]++;
  const entries = report[list] as Array<EntryOf<K>>;
  if (entries.length < REPORT_LIST_LIMIT) entries.push(entry);
}
