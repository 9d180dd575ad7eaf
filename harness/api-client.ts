import { setTimeout as sleep } from 'node:timers/promises';

// The one HTTP client of the harness, the benchmarks and the tests: JSON in and out, a bearer token,
// an Idempotency-Key, and (when asked) a real client's retries: network errors, 5xx and 429 are sent
// again with the same key, with backoff, until a deadline.

export interface ApiResponse<T = any> {
  status: number;
  /** The parsed JSON answer; the raw text when it is not JSON; undefined when empty. */
  body: T;
  text: string;
  headers: Headers;
}

export interface ApiRequestOptions {
  token?: string;
  body?: unknown;
  /** Sent as is instead of JSON.stringify(body). */
  rawBody?: string;
  headers?: Record<string, string>;
  idempotencyKey?: string;
  /** Per attempt; undefined waits as long as the server takes. */
  timeoutMs?: number;
}

export interface RetryPolicy {
  /** Give up (answer undefined) once this much time has passed since the first attempt. */
  deadlineMs: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
}

/** One attempt. Throws on a network error or timeout, answers every HTTP status. */
export async function apiRequest<T = any>(baseUrl: string, method: string, path: string, opts: ApiRequestOptions = {}): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.idempotencyKey) headers['idempotency-key'] = opts.idempotencyKey;
  const body = opts.rawBody ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers,
    body,
    signal: opts.timeoutMs === undefined ? undefined : AbortSignal.timeout(opts.timeoutMs),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: parsed as T, text, headers: res.headers };
}

const retryable = (status: number) => status >= 500 || status === 429;

/** A client bound to one base URL; counts the requests in flight (a fault can wait for one). */
export class ApiClient {
  inFlight = 0;
  /** Requests in flight that are not GETs (a crash now loses an answer the client must retry). */
  inFlightWrites = 0;

  constructor(
    readonly baseUrl: string,
    private readonly defaults: { timeoutMs?: number; retry?: RetryPolicy } = {},
  ) {}

  /** One attempt (see apiRequest). */
  async request<T = any>(method: string, path: string, opts: ApiRequestOptions = {}): Promise<ApiResponse<T>> {
    const write = method !== 'GET';
    this.inFlight++;
    if (write) this.inFlightWrites++;
    try {
      return await apiRequest<T>(this.baseUrl, method, path, { timeoutMs: this.defaults.timeoutMs, ...opts });
    } finally {
      this.inFlight--;
      if (write) this.inFlightWrites--;
    }
  }

  /**
   * Like a real client: network errors, 5xx and 429 are retried with the same Idempotency-Key and
   * a doubling delay. Undefined when the deadline passed without an answer that is not retryable.
   */
  async send<T = any>(method: string, path: string, opts: ApiRequestOptions = {}, retry = this.defaults.retry): Promise<ApiResponse<T> | undefined> {
    const policy = retry ?? { deadlineMs: 0 };
    const deadline = Date.now() + policy.deadlineMs;
    let delay = policy.initialDelayMs ?? 200;
    for (;;) {
      try {
        const res = await this.request<T>(method, path, opts);
        if (!retryable(res.status)) return res;
      } catch {
        // network error or timeout: the API may be restarting
      }
      if (Date.now() > deadline) return undefined;
      await sleep(delay);
      delay = Math.min(delay * 2, policy.maxDelayMs ?? 3000);
    }
  }
}
