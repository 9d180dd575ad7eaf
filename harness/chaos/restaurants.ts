import { setTimeout as sleep } from 'node:timers/promises';
import type { ApiClient } from '../api-client';
import { CLIENT_RETRY, type PlacedOrder } from './customers';
import type { ManualAction } from './plan';

// The restaurants that decide by hand: each polls its waiting orders and does what the plan says
// (accept, reject, let the customer cancel, ignore until the window passes, or race two of them).
// An operator fault can ask to be told of the next accept, to cancel the saga right behind it.

type Waiting = { restaurantId: string; customerToken: string; action: Exclude<ManualAction, 'ignore'> };

export class Restaurants {
  raceActions = 0;
  private readonly waiting = new Map<string, Waiting>();
  private readonly acting = new Set<string>();
  private readonly actions: Promise<void>[] = [];
  private readonly acceptHooks: Array<(orderId: string) => void> = [];

  constructor(
    private readonly api: ApiClient,
    /** Token of each restaurant that decides by hand, by restaurant id. */
    private readonly tokens: Map<string, string>,
  ) {}

  expect(order: PlacedOrder): void {
    const { action, restaurantId } = order.plan;
    if (action === 'auto' || action === 'ignore') return;
    this.waiting.set(order.orderId, { restaurantId, customerToken: order.customerToken, action });
  }

  /** `hook` runs (once) as the next accept is sent, with that order's id. Returns the disarm. */
  onNextAccept(hook: (orderId: string) => void): () => void {
    this.acceptHooks.push(hook);
    return () => {
      const i = this.acceptHooks.indexOf(hook);
      if (i >= 0) this.acceptHooks.splice(i, 1);
    };
  }

  /**
   * Polls until `done()` and every expected order was acted on, or `giveUp()`; then waits for the
   * actions under way.
   */
  async run(done: () => boolean, giveUp: () => boolean): Promise<void> {
    while (!done() || this.waiting.size > this.acting.size) {
      await Promise.all([...this.tokens.entries()].map(([restaurantId, token]) => this.poll(restaurantId, token)));
      await sleep(300);
      if (giveUp()) break;
    }
    await Promise.allSettled(this.actions);
  }

  private async poll(restaurantId: string, token: string): Promise<void> {
    try {
      const res = await this.api.request<{ orders?: Array<{ orderId: string }> }>(
        'GET',
        `/restaurants/${restaurantId}/orders?status=AWAITING_RESTAURANT&limit=200`,
        { token },
      );
      for (const o of res.body?.orders ?? []) {
        const w = this.waiting.get(o.orderId);
        if (w && !this.acting.has(o.orderId)) {
          this.acting.add(o.orderId);
          this.actions.push(this.act(o.orderId, w));
        }
      }
    } catch {
      // the API is briefly unavailable: poll again
    }
  }

  private async act(orderId: string, w: Waiting): Promise<void> {
    const token = this.tokens.get(w.restaurantId)!;
    const base = `/restaurants/${w.restaurantId}/orders/${orderId}`;
    const accept = () => {
      this.acceptHooks.shift()?.(orderId);
      return this.api.send('POST', `${base}/accept`, { token }, CLIENT_RETRY);
    };
    const reject = () => this.api.send('POST', `${base}/reject`, { token, body: { reason: 'chaos' } }, CLIENT_RETRY);
    const cancel = () => this.api.send('POST', `/orders/${orderId}/cancel`, { token: w.customerToken }, CLIENT_RETRY);
    switch (w.action) {
      case 'accept':
        await accept();
        return;
      case 'reject':
        await reject();
        return;
      case 'cancel':
        await cancel();
        return;
      case 'race-accept-cancel':
        this.raceActions++;
        await Promise.all([accept(), cancel()]);
        return;
      case 'race-reject-accept':
        this.raceActions++;
        await Promise.all([reject(), accept()]);
        return;
    }
  }
}
