// The PSP's own view of every payment, derived from its settlement report
// (GET /v1/reports/operations: every operation that changed its books, in order). The audit reads
// it after each batch of orders, so the PSP's view is never older than the orders it is checked against.

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
    const base = this.url.replace(/\/$/, '');
    for (;;) {
      const res = await fetch(`${base}/v1/reports/operations?after=${this.after}&limit=${this.pageSize}`, { signal: AbortSignal.timeout(this.timeoutMs) });
      if (res.status !== 200) throw new Error(`PSP report answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
      const page = (await res.json()) as { operations: PspOperation[]; nextAfter: number | null };
      for (const op of page.operations) this.apply(op);
      if (page.operations.length > 0) this.after = page.operations[page.operations.length - 1]!.seq;
      if (page.nextAfter === null) return;
    }
  }

  apply(op: PspOperation): void {
    this.operationsRead++;
    let view = this.byReference.get(op.reference);
    if (!view) {
      view = { reference: op.reference, orderId: orderIdOfPayment(op.reference, op.orderReference), status: op.resultingStatus, amount: op.amount, capturedAmount: null, tombstone: op.operation === 'void', captureEffects: 0 };
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
