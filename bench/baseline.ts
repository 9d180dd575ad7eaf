/**
 * The baseline of the lunch-rush benchmark: the same business writes as one saga, done directly by
 * this one Node process as local transactions, without Temporal and without the HTTP API:
 *
 *   the API's placeOrder (idempotency key + PENDING order, priced from the read model, in one
 *   transaction; api/services/orders.ts with a stand-in for the Temporal client) → authorizePayment
 *   (PSP over HTTP) → createTicket → capturePayment (PSP) → acceptTicket → confirmOrder
 *
 * using the activity factories of activities/ against the same databases and PSP sandbox as the
 * stack. Activities log through the Temporal activity context, so each call runs inside one
 * MockActivityEnvironment (a context, no server).
 *
 * Run by bench/lunch-rush.ts as a child process (IPC): it answers {cmd:'step', rate, seconds,
 * drainMs} with the step's figures, so the parent can read this process's CPU time around each step.
 * Env: the stack's ORDERS/PAYMENTS/RESTAURANTS/MENU_READ_DATABASE_URL, PSP_URL, DB_POOL_MAX, LOG_LEVEL.
 * The parent first sends {cmd:'init', menus} (the restaurants to order from) and waits for 'ready'.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createOrderActivities } from '../activities/order';
import { createPaymentActivities } from '../activities/payment';
import { createPspClient } from '../activities/psp-client';
import { createRestaurantActivities } from '../activities/restaurant';
import { createOrderService } from '../api/services/orders';
import type { SagaStarter } from '../api/services/saga-starter';
import { createDb } from '../db/knex';
import { loadConfig } from '../lib/node/config';
import type { OrderSagaInput } from '../lib/workflow-safe/domain';
import { createLogger } from '../lib/node/logger';
import { PinoTemporalLogger } from '../lib/node/temporal-logger';
import { summarize } from './lib/stats';

export interface BaselineInit {
  cmd: 'init';
  menus: Array<{ restaurantId: string; menuIds: string[] }>;
}

export interface BaselineStepRequest {
  cmd: 'step';
  phase: string;
  rate: number;
  seconds: number;
  drainMs: number;
}

export interface BaselineStepResult {
  type: 'step';
  phase: string;
  rate: number;
  offered: number;
  dropped: number;
  completed: number;
  failed: number;
  unfinished: number;
  /** Orders completed inside the offering window, per second of it. */
  completedPerSecInWindow: number;
  latencyMs: ReturnType<typeof summarize>;
  windowStartMs: number;
  windowEndMs: number;
  /** When the step's last order completed. */
  lastDoneMs: number;
  /** Completions per second of the window (for the chart). */
  perSecond: number[];
  errors: string[];
}

type Menus = BaselineInit['menus'];

/**
 * What one saga does, done here: the API's placeOrder, then the saga's steps as plain calls of the
 * activities. `menus` is what to order from (set by the parent's 'init').
 */
function createOrderRunner(config: ReturnType<typeof loadConfig>, logger: ReturnType<typeof createLogger>) {
  const state: { menus: Menus } = { menus: [] };
  const dbs = {
    orders: createDb(config.ORDERS_DATABASE_URL, config.DB_POOL_MAX),
    payments: createDb(config.PAYMENTS_DATABASE_URL, config.DB_POOL_MAX),
    restaurants: createDb(config.RESTAURANTS_DATABASE_URL, config.DB_POOL_MAX),
    menuRead: createDb(config.MENU_READ_DATABASE_URL, config.DB_POOL_MAX),
  };
  const order = createOrderActivities({ db: dbs.orders });
  const payment = createPaymentActivities({ db: dbs.payments, psp: createPspClient({ baseUrl: config.PSP_URL, timeoutMs: config.PSP_TIMEOUT_MS }) });
  const restaurant = createRestaurantActivities({ db: dbs.restaurants });
  // The API's own order service, with a saga starter that only takes note: the order is recorded
  // exactly as POST /orders records it, and this process then runs the steps itself.
  const started = new Map<string, OrderSagaInput>();
  const noTemporal = {} as unknown as Client;
  const notingStarter: SagaStarter = {
    enqueue: (input) => {
      started.set(input.orderId, input);
      return Promise.resolve('started');
    },
    stop: () => Promise.resolve(),
    queued: 0,
    inFlight: 0,
  };
  const orders = createOrderService({
    ordersDb: dbs.orders,
    menuReadDb: dbs.menuRead,
    temporal: noTemporal,
    sagaStarter: notingStarter,
    taskQueuePrefix: '',
    acceptanceWindowSeconds: config.ACCEPTANCE_WINDOW_SECONDS,
    temporalUiUrl: config.TEMPORAL_UI_URL,
    namespace: config.TEMPORAL_NAMESPACE,
  });
  const ctx = new MockActivityEnvironment(undefined, { logger: new PinoTemporalLogger(logger) });
  const runId = `bl${Date.now().toString(36)}`;
  let seq = 0;

  async function oneOrder(): Promise<void> {
    const n = seq++;
    const menus = state.menus;
    const menu = menus[n % menus.length]!;
    const items = [{ menuId: menu.menuIds[n % menu.menuIds.length]!, quantity: 1 + (n % 3) }];
    if (n % 2 === 0) items.push({ menuId: menu.menuIds[(n + 1) % menu.menuIds.length]!, quantity: 1 });
    const placed = await orders.placeOrder(
      { role: 'customer', sub: `baseline-customer-${n % 50}` },
      `${runId}-${n}`,
      { restaurantId: menu.restaurantId, items, deliveryAddress: `서울시 강남구 테헤란로 ${n}`, paymentMethod: { cardToken: 'tok_ok' } },
      0,
    );
    const orderId = placed.order.orderId;
    const amount = placed.order.totalAmount;
    // What the saga would have been started with (the priced lines).
    const input = started.get(orderId);
    started.delete(orderId);
    if (!input) throw new Error(`order ${orderId} was not handed to the (stand-in) saga starter`);
    const lines = input.items;
    await ctx.run(payment.authorizePayment, { orderId, amount, cardToken: 'tok_ok' });
    await ctx.run(restaurant.createTicket, { orderId, restaurantId: menu.restaurantId, items: lines });
    await ctx.run(payment.capturePayment, { orderId, amount });
    await ctx.run(restaurant.acceptTicket, { orderId });
    await ctx.run(order.confirmOrder, { orderId });
  }

  return {
    dbs,
    oneOrder,
    setMenus: (menus: Menus) => {
      state.menus = menus;
    },
  };
}

/**
 * Runs steps of an open-loop stream of `oneOrder`: `rate` per second for `seconds`, at most 2000 in
 * flight (counted across steps: a step's unfinished orders still count in the next), more dropped.
 */
function createStepper(oneOrder: () => Promise<void>) {
  let inFlight = 0;

  return async function step(req: BaselineStepRequest): Promise<BaselineStepResult> {
    const latencies: number[] = [];
    const doneAt: number[] = [];
    const errors: string[] = [];
    let failed = 0;
    let dropped = 0;
    const start = Date.now();
    const total = Math.round(req.rate * req.seconds);
    const pending: Array<Promise<void>> = [];
    let issued = 0;
    while (issued < total) {
      const due = Math.min(total, Math.floor(((Date.now() - start) / 1000) * req.rate) + 1);
      while (issued < due) {
        issued += 1;
        if (inFlight >= 2000) {
          dropped += 1;
          continue;
        }
        inFlight += 1;
        const t0 = performance.now();
        pending.push(
          oneOrder()
            .then(() => {
              latencies.push(performance.now() - t0);
              doneAt.push(Date.now());
            })
            .catch((err: unknown) => {
              failed += 1;
              if (errors.length < 5) errors.push((err as Error).message);
            })
            .finally(() => {
              inFlight -= 1;
            }),
        );
      }
      await sleep(Math.max(1, Math.min(20, start + (issued / req.rate) * 1000 - Date.now())));
    }
    const end = Date.now();
    await Promise.race([Promise.all(pending), sleep(req.drainMs)]);
    const windowSeconds = (end - start) / 1000;
    const inWindow = doneAt.filter((t) => t <= end).length;
    const perSecond = Array.from(
      { length: Math.ceil(windowSeconds) },
      (_, s) => doneAt.filter((t) => t >= start + s * 1000 && t < start + (s + 1) * 1000).length,
    );
    return {
      type: 'step',
      phase: req.phase,
      rate: req.rate,
      offered: issued,
      dropped,
      completed: latencies.length,
      failed,
      unfinished: issued - dropped - latencies.length - failed,
      completedPerSecInWindow: inWindow / windowSeconds,
      latencyMs: summarize(latencies),
      windowStartMs: start,
      windowEndMs: end,
      lastDoneMs: doneAt.reduce((m, t) => Math.max(m, t), start),
      perSecond,
      errors,
    };
  };
}

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger('baseline', config.LOG_LEVEL);
  const { dbs, oneOrder, setMenus } = createOrderRunner(config, logger);
  const step = createStepper(oneOrder);

  process.on('message', (msg: BaselineInit | BaselineStepRequest | { cmd: 'exit' }) => {
    if (msg.cmd === 'init') {
      setMenus(msg.menus);
      // Warm the pools and the JIT before the first measured step.
      void (async () => {
        for (let i = 0; i < 5; i++) await oneOrder();
      })().then(
        () => process.send!({ type: 'ready' }),
        (err: unknown) => process.send!({ type: 'error', message: (err as Error).message }),
      );
      return;
    }
    if (msg.cmd === 'exit') {
      void Promise.all(Object.values(dbs).map((d) => d.destroy())).finally(() => process.exit(0));
      return;
    }
    step(msg)
      .then((r) => process.send!(r))
      .catch((err: unknown) => process.send!({ type: 'error', message: (err as Error).message }));
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
