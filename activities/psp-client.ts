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

export interface PspClient {
  authorize(req: { reference: string; amount: number; cardToken: string; idempotencyKey: string }): Promise<PspResult>;
  capture(req: { reference: string; amount: number; idempotencyKey: string }): Promise<PspResult>;
  void(req: { reference: string; idempotencyKey: string }): Promise<PspResult>;
  refund(req: { reference: string; amount: number; idempotencyKey: string }): Promise<PspResult>;
}

export interface PspCallObserver {
  (operation: string, outcome: 'ok' | 'rejected' | 'unavailable', seconds: number): void;
}

export function createPspClient(opts: { baseUrl: string; timeoutMs: number; observe?: PspCallObserver }): PspClient {
  const base = opts.baseUrl.replace(/\/$/, '');

  async function call(operation: string, path: string, idempotencyKey: string, body: unknown): Promise<PspResult> {
    const started = performance.now();
    const done = (outcome: 'ok' | 'rejected' | 'unavailable') =>
      opts.observe?.(operation, outcome, (performance.now() - started) / 1000);
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(opts.timeoutMs),
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
    authorize: (r) => call('authorize', '/v1/authorizations', r.idempotencyKey, { reference: r.reference, amount: r.amount, cardToken: r.cardToken }),
    capture: (r) => call('capture', `/v1/authorizations/${enc(r.reference)}/capture`, r.idempotencyKey, { amount: r.amount }),
    void: (r) => call('void', `/v1/authorizations/${enc(r.reference)}/void`, r.idempotencyKey, {}),
    refund: (r) => call('refund', `/v1/authorizations/${enc(r.reference)}/refund`, r.idempotencyKey, { amount: r.amount }),
  };
}
