// HTTP client for the card processor (the PSP sandbox in development). Every call carries an
// idempotency key, so a retried activity never makes the PSP act twice.

export type PspAuthorizationStatus = 'AUTHORIZED' | 'DECLINED' | 'CAPTURED' | 'VOIDED' | 'REFUNDED';

export interface PspResult {
  reference: string;
  status: PspAuthorizationStatus;
  declineCode?: string;
}

/** The PSP refused the operation for good (for example capture of a voided authorization). */
export class PspRejectedError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'PspRejectedError';
  }
}

/** The PSP could not be reached or answered 5xx: worth retrying. */
export class PspUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PspUnavailableError';
  }
}

/** Per call: how long to wait for this answer (a retry of a slow operation waits longer). */
export interface PspCallOptions {
  timeoutMs?: number;
}

export interface PspClient {
  /** `orderReference` is the merchant's order id, kept by the PSP in its books (settlement reports). */
  authorize(
    req: { reference: string; orderReference?: string; amount: number; cardToken: string; idempotencyKey: string },
    opts?: PspCallOptions,
  ): Promise<PspResult>;
  capture(req: { reference: string; amount: number; idempotencyKey: string }, opts?: PspCallOptions): Promise<PspResult>;
  void(req: { reference: string; idempotencyKey: string }, opts?: PspCallOptions): Promise<PspResult>;
  refund(req: { reference: string; amount: number; idempotencyKey: string }, opts?: PspCallOptions): Promise<PspResult>;
  /** The authorization as the PSP now holds it, or null when the PSP has no record of it. */
  lookup(reference: string, opts?: PspCallOptions): Promise<(PspResult & { amount: number }) | null>;
}

export interface PspCallObserver {
  (operation: string, outcome: 'ok' | 'rejected' | 'unavailable', seconds: number): void;
}

export function createPspClient(opts: { baseUrl: string; timeoutMs: number; observe?: PspCallObserver }): PspClient {
  const base = opts.baseUrl.replace(/\/$/, '');

  async function call(operation: string, path: string, idempotencyKey: string | null, body: unknown, callOpts: PspCallOptions = {}): Promise<PspResult> {
    const started = performance.now();
    const done = (outcome: 'ok' | 'rejected' | 'unavailable') => opts.observe?.(operation, outcome, (performance.now() - started) / 1000);
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method: idempotencyKey === null ? 'GET' : 'POST',
        headers: idempotencyKey === null ? {} : { 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
        body: idempotencyKey === null ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(callOpts.timeoutMs ?? opts.timeoutMs),
      });
    } catch (err) {
      done('unavailable');
      throw new PspUnavailableError(`PSP ${operation} failed: ${(err as Error).message}`);
    }
    const text = await res.text();
    if (res.status >= 500 || res.status === 429) {
      done('unavailable');
      throw new PspUnavailableError(`PSP ${operation} answered ${res.status}: ${text.slice(0, 200)}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      done('unavailable');
      throw new PspUnavailableError(`PSP ${operation} answered non-JSON (${res.status})`);
    }
    if (res.status >= 400) {
      done('rejected');
      const err = (parsed as { error?: { code?: string; message?: string } }).error;
      throw new PspRejectedError(err?.message ?? `PSP refused ${operation}`, err?.code ?? 'PSP_REJECTED');
    }
    done('ok');
    return parsed as PspResult;
  }

  const enc = encodeURIComponent;
  return {
    authorize: (r, o) =>
      call(
        'authorize',
        '/v1/authorizations',
        r.idempotencyKey,
        { reference: r.reference, amount: r.amount, cardToken: r.cardToken, ...(r.orderReference ? { orderReference: r.orderReference } : {}) },
        o,
      ),
    capture: (r, o) => call('capture', `/v1/authorizations/${enc(r.reference)}/capture`, r.idempotencyKey, { amount: r.amount }, o),
    void: (r, o) => call('void', `/v1/authorizations/${enc(r.reference)}/void`, r.idempotencyKey, {}, o),
    refund: (r, o) => call('refund', `/v1/authorizations/${enc(r.reference)}/refund`, r.idempotencyKey, { amount: r.amount }, o),
    async lookup(reference, o) {
      try {
        return (await call('lookup', `/v1/authorizations/${enc(reference)}`, null, undefined, o)) as PspResult & { amount: number };
      } catch (err) {
        if (err instanceof PspRejectedError && err.code === 'NOT_FOUND') return null;
        throw err;
      }
    },
  };
}
