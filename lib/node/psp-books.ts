// The PSP's own view of every payment, derived from its settlement report
// (GET /v1/reports/operations: every operation that changed its books, in order). The audit reads
// it after each batch of orders, so the PSP's view is never older than the orders it is checked against;
// the operator's desk reads only one order's lines (PspBooks.ofOrderAt). Both judge a final order
// against the PSP with pspFindings, so the desk and the audit find the same mismatches.

export type PspStatus = 'AUTHORIZED' | 'DECLINED' | 'CAPTURED' | 'VOIDED' | 'REFUNDED';

export interface PspOperation {
  seq: number;
  at: string;
  operation: 'authorize' | 'capture' | 'void' | 'refund';
  reference: string;
  orderReference: string | null;
  amount: number;
  idempotencyKey: string;
  resultingStatus: PspStatus;
}

export interface PspAuthorizationView {
  reference: string;
  /** The order it was taken for: its orderReference, else the id in a `pay_<orderId>` reference. */
  orderId: string | null;
  status: PspStatus;
  amount: number;
  capturedAmount: number | null;
  /** A void recorded before any authorize (amount 0): it holds nothing, it only blocks a late authorize. */
  tombstone: boolean;
  captureEffects: number;
}

export interface PspBooksSummary {
  url: string;
  operations: number;
  authorizations: number;
  captureEffects: number;
  capturesStanding: number;
  holdsOpen: number;
  refunds: number;
  voids: number;
  tombstones: number;
}

/** `pay_<orderId>` is the payment service's reference; an explicit orderReference wins. */
export function orderIdOfPayment(reference: string, orderReference: string | null): string | null {
  if (orderReference) return orderReference;
  return reference.startsWith('pay_') && reference.length > 4 ? reference.slice(4) : null;
}

/** The PSP-side kinds of the audit (ops/audit.ts VIOLATION_KINDS) that one final order can show. */
export type PspFindingKind =
  'HOLD_OPEN_AT_PSP' | 'CAPTURED_AT_PSP_NOT_CONFIRMED' | 'CONFIRMED_WITHOUT_PSP_CAPTURE' | 'PSP_AMOUNT_MISMATCH' | 'PSP_BOOKS_DISAGREE';

export interface PspFinding {
  kind: PspFindingKind;
  detail: string;
}

/** What the money is, whoever tells it: the payments row and the PSP's status map to the same words. */
export function moneyState(status: string | undefined): 'HELD' | 'CAPTURED' | 'REFUNDED' | 'NONE' {
  if (status === 'AUTHORIZED') return 'HELD';
  if (status === 'CAPTURED' || status === 'REFUNDED') return status;
  return 'NONE'; // PENDING, DECLINED, VOIDED, or no record at all
}

export const listAuthorizations = (auths: PspAuthorizationView[]) => auths.map((a) => `${a.reference} ${a.status} ${a.capturedAmount ?? a.amount}`).join(', ');

/**
 * A final order against the PSP's books: nothing held, captured iff CONFIRMED, of its total, agreeing
 * with the payments row. `payment` is the order's payments row (undefined when there is none).
 */
export function pspFindings(
  order: { orderId: string; status: string; totalAmount: number },
  payment: { paymentId: string; status: string } | undefined,
  books: Pick<PspBooks, 'ofOrder' | 'authorization'>,
): PspFinding[] {
  const found: PspFinding[] = [];
  const auths = books.ofOrder(order.orderId);
  const holds = auths.filter((a) => a.status === 'AUTHORIZED');
  const captured = auths.filter((a) => a.status === 'CAPTURED');
  if (holds.length > 0) found.push({ kind: 'HOLD_OPEN_AT_PSP', detail: `${order.status} but held at the PSP: ${listAuthorizations(holds)}` });
  if (order.status !== 'CONFIRMED' && captured.length > 0)
    found.push({ kind: 'CAPTURED_AT_PSP_NOT_CONFIRMED', detail: `${order.status} but captured at the PSP: ${listAuthorizations(captured)}` });
  if (order.status === 'CONFIRMED' && captured.length === 0) {
    found.push({ kind: 'CONFIRMED_WITHOUT_PSP_CAPTURE', detail: `CONFIRMED but at the PSP: ${auths.length > 0 ? listAuthorizations(auths) : 'nothing'}` });
  }
  const wrong = [...holds, ...captured].filter((a) => (a.capturedAmount ?? a.amount) !== order.totalAmount);
  if (wrong.length > 0) found.push({ kind: 'PSP_AMOUNT_MISMATCH', detail: `total ${order.totalAmount}, at the PSP: ${listAuthorizations(wrong)}` });
  const reference = payment?.paymentId ?? `pay_${order.orderId}`;
  const atPsp = books.authorization(reference);
  if (moneyState(payment?.status) !== moneyState(atPsp?.status)) {
    found.push({ kind: 'PSP_BOOKS_DISAGREE', detail: `payments row ${payment?.status ?? 'absent'}, PSP ${reference} ${atPsp?.status ?? 'unknown'}` });
  }
  return found;
}

export class PspBooks {
  private readonly byReference = new Map<string, PspAuthorizationView>();
  private readonly byOrder = new Map<string, Set<string>>();
  private after = 0;
  private operationsRead = 0;
  private readonly counts = { refund: 0, void: 0 };

  constructor(
    private readonly url: string,
    private readonly pageSize = 5000,
    private readonly timeoutMs = 30_000,
  ) {}

  /** Reads the report from where it stopped to its current end. */
  async catchUp(): Promise<void> {
    for (const op of await readReport(this.url, this.after, this.pageSize, this.timeoutMs)) {
      this.apply(op);
      this.after = op.seq;
    }
  }

  /**
   * One order's part of the PSP's books: the lines of its payment `pay_<orderId>` (void tombstones
   * included) and of every authorization that names it, in report order.
   */
  static async ofOrderAt(url: string, orderId: string, timeoutMs = 10_000): Promise<{ books: PspBooks; operations: PspOperation[] }> {
    const [byReference, byOrder] = await Promise.all([
      readReport(url, 0, 1000, timeoutMs, `reference=${encodeURIComponent(`pay_${orderId}`)}`),
      readReport(url, 0, 1000, timeoutMs, `orderReference=${encodeURIComponent(orderId)}`),
    ]);
    const operations = [...new Map([...byReference, ...byOrder].map((op) => [op.seq, op])).values()].sort((a, b) => a.seq - b.seq);
    const books = new PspBooks(url);
    for (const op of operations) books.apply(op);
    return { books, operations };
  }

  apply(op: PspOperation): void {
    this.operationsRead++;
    let view = this.byReference.get(op.reference);
    if (!view) {
      view = {
        reference: op.reference,
        orderId: orderIdOfPayment(op.reference, op.orderReference),
        status: op.resultingStatus,
        amount: op.amount,
        capturedAmount: null,
        tombstone: op.operation === 'void',
        captureEffects: 0,
      };
      this.byReference.set(op.reference, view);
      if (view.orderId !== null) {
        if (!this.byOrder.has(view.orderId)) this.byOrder.set(view.orderId, new Set());
        this.byOrder.get(view.orderId)!.add(op.reference);
      }
    }
    view.status = op.resultingStatus;
    if (op.operation === 'capture') {
      view.captureEffects++;
      view.capturedAmount = op.amount;
    }
    if (op.operation === 'refund' || op.operation === 'void') this.counts[op.operation]++;
  }

  authorization(reference: string): PspAuthorizationView | undefined {
    return this.byReference.get(reference);
  }

  /** Every authorization carrying this order, tombstones included. */
  ofOrder(orderId: string): PspAuthorizationView[] {
    return [...(this.byOrder.get(orderId) ?? [])].map((r) => this.byReference.get(r)!);
  }

  /** Every authorization that is more than a tombstone. */
  authorizations(): PspAuthorizationView[] {
    return [...this.byReference.values()].filter((v) => !v.tombstone);
  }

  summary(): PspBooksSummary {
    const views = [...this.byReference.values()];
    return {
      url: this.url,
      operations: this.operationsRead,
      authorizations: views.filter((v) => !v.tombstone).length,
      captureEffects: views.reduce((n, v) => n + v.captureEffects, 0),
      capturesStanding: views.filter((v) => v.status === 'CAPTURED').length,
      holdsOpen: views.filter((v) => v.status === 'AUTHORIZED').length,
      refunds: this.counts.refund,
      voids: this.counts.void - views.filter((v) => v.tombstone).length,
      tombstones: views.filter((v) => v.tombstone).length,
    };
  }
}

/** The report's lines after `after`, to its current end (narrowed by `filter`, a query string). */
async function readReport(url: string, after: number, pageSize: number, timeoutMs: number, filter = ''): Promise<PspOperation[]> {
  const base = url.replace(/\/$/, '');
  const lines: PspOperation[] = [];
  for (;;) {
    const res = await fetch(`${base}/v1/reports/operations?after=${after}&limit=${pageSize}${filter ? `&${filter}` : ''}`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (res.status !== 200) throw new Error(`PSP report answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
    const page = (await res.json()) as { operations: PspOperation[]; nextAfter: number | null };
    lines.push(...page.operations);
    if (page.operations.length > 0) after = page.operations[page.operations.length - 1]!.seq;
    if (page.nextAfter === null) return lines;
  }
}
