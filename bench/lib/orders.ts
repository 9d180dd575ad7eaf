import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { ApiClient } from '../../harness/api-client';

// The saga side of the lunch-rush benchmark: an open-loop stream of POST /orders (arrivals on a
// fixed schedule, whatever the server does), and a cheap tracker that learns when each order
// reached a terminal state: one query every `pollMs` over the orders table for the ids still open,
// reading the row's updated_at (set by the transaction that confirmed the order), so the measured
// time does not depend on the polling interval.

export interface OrderRecord {
  phase: string;
  /** Wall clock (ms) when the POST was sent. */
  sentMs: number;
  /** POST /orders round trip, ms (undefined until answered). */
  postMs?: number;
  httpStatus?: number;
  error?: string;
  orderId?: string;
  finalStatus?: string;
  failureReason?: string | null;
  /** orders.updated_at of the terminal row (ms since epoch, the database's clock = this host's). */
  doneAtMs?: number;
}

export interface OrderDriverOptions {
  apiUrl: string;
  ordersDbUrl: string;
  tokens: string[];
  /** Restaurant ids to order from (auto-accepting ones) and, for each, its menu ids. */
  menus: Array<{ restaurantId: string; menuIds: string[] }>;
  pollMs?: number;
  runId: string;
  /**
   * Hands order `n` to something other than the API (the peers benchmark starts each engine's saga
   * itself); resolves with the order id once the start is durable. apiUrl and tokens are then unused.
   */
  submit?: (n: number) => Promise<string>;
}

const TERMINAL = ['CONFIRMED', 'REJECTED', 'CANCELLED'];

export class OrderDriver {
  readonly records: OrderRecord[] = [];
  private readonly open = new Map<string, OrderRecord>();
  private readonly pool: pg.Pool;
  /** One attempt per order, no retries: the benchmark counts what the server answered. */
  private readonly api: ApiClient;
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;
  private polling = false;
  inFlight = 0;
  trackerQueries = 0;

  constructor(private readonly opts: OrderDriverOptions) {
    this.pool = new pg.Pool({ connectionString: opts.ordersDbUrl, max: 1, application_name: 'bench-tracker' });
    this.pool.on('error', () => undefined);
    this.api = new ApiClient(opts.apiUrl, { timeoutMs: 30_000 });
  }

  startTracker(): void {
    const poll = () => {
      if (this.polling) return;
      this.polling = true;
      this.pollOnce()
        .catch(() => undefined)
        .finally(() => {
          this.polling = false;
        });
    };
    this.timer = setInterval(poll, this.opts.pollMs ?? 100);
  }

  private async pollOnce(): Promise<void> {
    if (this.open.size === 0) return;
    const ids = [...this.open.keys()];
    for (let i = 0; i < ids.length; i += 5000) {
      this.trackerQueries += 1;
      const { rows } = await this.pool.query<{ order_id: string; status: string; failure_reason: string | null; at_ms: number }>(
        `SELECT order_id, status, failure_reason, (extract(epoch FROM updated_at) * 1000)::float8 AS at_ms
           FROM orders WHERE order_id = ANY($1::text[]) AND status = ANY($2::text[])`,
        [ids.slice(i, i + 5000), TERMINAL],
      );
      for (const r of rows) {
        const rec = this.open.get(r.order_id);
        if (!rec) continue;
        rec.finalStatus = r.status;
        rec.failureReason = r.failure_reason;
        rec.doneAtMs = r.at_ms;
        this.open.delete(r.order_id);
      }
    }
  }

  /** Sends one order; resolves when the API answered (not when the saga finished). */
  async place(phase: string): Promise<OrderRecord> {
    const n = this.seq++;
    if (this.opts.submit) return this.track(phase, () => this.opts.submit!(n));
    const menu = this.opts.menus[n % this.opts.menus.length]!;
    const token = this.opts.tokens[n % this.opts.tokens.length]!;
    const items = [{ menuId: menu.menuIds[n % menu.menuIds.length]!, quantity: 1 + (n % 3) }];
    if (n % 2 === 0) items.push({ menuId: menu.menuIds[(n + 1) % menu.menuIds.length]!, quantity: 1 });
    const body = { restaurantId: menu.restaurantId, items, deliveryAddress: `서울시 강남구 테헤란로 ${n}`, paymentMethod: { cardToken: 'tok_ok' } };
    const rec: OrderRecord = { phase, sentMs: Date.now() };
    this.records.push(rec);
    this.inFlight += 1;
    const t0 = performance.now();
    try {
      const res = await this.api.request<{ orderId: string }>('POST', '/orders', { token, body, idempotencyKey: `${this.opts.runId}-${n}` });
      rec.postMs = performance.now() - t0;
      rec.httpStatus = res.status;
      if (res.status === 202 || res.status === 200) {
        rec.orderId = res.body.orderId;
        this.open.set(rec.orderId, rec);
      } else {
        rec.error = `HTTP ${res.status}: ${res.text.slice(0, 120)}`;
      }
    } catch (err) {
      rec.postMs = performance.now() - t0;
      rec.error = (err as Error).message;
    } finally {
      this.inFlight -= 1;
    }
    return rec;
  }

  private async track(phase: string, submit: () => Promise<string>): Promise<OrderRecord> {
    const rec: OrderRecord = { phase, sentMs: Date.now() };
    this.records.push(rec);
    this.inFlight += 1;
    const t0 = performance.now();
    try {
      rec.orderId = await submit();
      rec.httpStatus = 202;
      this.open.set(rec.orderId, rec);
    } catch (err) {
      rec.error = (err as Error).message;
    } finally {
      rec.postMs = performance.now() - t0;
      this.inFlight -= 1;
    }
    return rec;
  }

  /**
   * Open loop: order k is sent at start + k/rate, whatever the server does. When `maxInFlight`
   * requests are already waiting, the order is dropped (counted), so the offered rate stays honest.
   */
  async openLoop(
    phase: string,
    rate: number,
    seconds: number,
    maxInFlight = 2000,
  ): Promise<{ offered: number; dropped: number; startMs: number; endMs: number }> {
    const startMs = Date.now();
    const end = startMs + seconds * 1000;
    const total = Math.round(rate * seconds);
    let issued = 0;
    let dropped = 0;
    const pending: Array<Promise<unknown>> = [];
    while (issued < total && Date.now() < end + 1000) {
      const due = Math.min(total, Math.floor(((Date.now() - startMs) / 1000) * rate) + 1);
      while (issued < due) {
        issued += 1;
        if (this.inFlight >= maxInFlight) dropped += 1;
        else pending.push(this.place(phase));
      }
      const next = startMs + (issued / rate) * 1000;
      await sleep(Math.max(1, Math.min(20, next - Date.now())));
    }
    const endMs = Date.now();
    await Promise.all(pending);
    return { offered: issued, dropped, startMs, endMs };
  }

  /** Waits until every order of `phase` answered and reached a terminal state, or the timeout. */
  async settle(phase: string | null, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const waiting = [...this.open.values()].some((r) => phase === null || r.phase === phase);
      if (!waiting) return true;
      if (Date.now() > deadline) return false;
      await sleep(50);
    }
  }

  openCount(): number {
    return this.open.size;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.pool.end().catch(() => undefined);
  }
}
