import { setTimeout as sleep } from 'node:timers/promises';
import type { ApiClient, RetryPolicy } from '../api-client';
import type { OrderPlan } from './plan';

// The customers: an open-loop stream of POST /orders (order i is offered at i / rate seconds,
// whatever the server does), each retried like a real client with the same Idempotency-Key through
// API crashes, 5xx and 429, some sent twice at once on purpose.

export const CLIENT_RETRY: RetryPolicy = { deadlineMs: 180_000, initialDelayMs: 200, maxDelayMs: 3000 };

export interface PlacedOrder {
  orderId: string;
  plan: OrderPlan;
  customerToken: string;
}

export class Customers {
  /** Orders the API accepted (200/202), by order id. */
  readonly placed = new Map<string, PlacedOrder>();
  /** The most recent order ids, newest last (candidates for operator faults when the DB is busy). */
  readonly recent: string[] = [];
  neverAccepted = 0;
  duplicatePosts = 0;
  duplicateMismatches = 0;

  constructor(
    private readonly api: ApiClient,
    private readonly tokens: string[],
    private readonly onPlaced: (order: PlacedOrder) => void,
  ) {}

  /** Offers every planned order at `rate` per second; resolves when each has its final answer. */
  async offer(plans: OrderPlan[], rate: number, log: (msg: string) => void): Promise<void> {
    const start = Date.now();
    const placing: Promise<void>[] = [];
    const every = Math.max(1, Math.round(rate * 10));
    for (const plan of plans) {
      const wait = start + (plan.index / rate) * 1000 - Date.now();
      if (wait > 0) await sleep(wait);
      placing.push(this.place(plan));
      if (plan.index > 0 && plan.index % every === 0) log(`${plan.index} orders offered, ${this.placed.size} accepted`);
    }
    await Promise.all(placing);
  }

  private async place(plan: OrderPlan): Promise<void> {
    const token = this.tokens[plan.customer]!;
    const post = () => this.api.send<{ orderId?: string }>('POST', '/orders', { token, body: plan.body, idempotencyKey: plan.idempotencyKey }, CLIENT_RETRY);
    const results = await Promise.all(plan.duplicate ? [post(), post()] : [post()]);
    if (plan.duplicate) {
      this.duplicatePosts++;
      const again = await post();
      const ids = new Set([...results, again].map((r) => r?.body?.orderId).filter(Boolean));
      if (ids.size > 1) this.duplicateMismatches++;
    }
    const first = results.find((r) => r && (r.status === 200 || r.status === 202) && r.body?.orderId);
    if (!first) {
      this.neverAccepted++;
      return;
    }
    const order: PlacedOrder = { orderId: first.body.orderId!, plan, customerToken: token };
    this.placed.set(order.orderId, order);
    this.recent.push(order.orderId);
    if (this.recent.length > 200) this.recent.shift();
    this.onPlaced(order);
  }
}
