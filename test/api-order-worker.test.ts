import { randomUUID } from 'node:crypto';
import type { temporal } from '@temporalio/proto';
import { paymentIdFor } from '../activities/payment';
import { insertOrder } from '../db/orders/store';
import { menuIdFor, restaurantIdFor } from '../db/seed';
import { freePort } from '../lib/node/ports';
import { startOrderSaga } from '../lib/order-saga-starter';
import type { OrderSagaInput } from '../lib/workflow-safe/domain';
import { orderWorkflowId } from '../lib/workflow-safe/task-queues';
import { reconcileScheduleId } from '../workers/reconcile-schedule';
import { placeOrder, rowsOf, waitForOrder } from './support/orders';
import { runToExit, startServiceProcess, type ServiceProcess } from './support/processes';
import { eventually, http, startStack, type TestStack } from './support/stack';

// API_ORDER_WORKER=true: processes/api-order-worker.ts runs the API and the order workflow worker in
// one process on one NativeConnection, and the API starts each saga eagerly (issue #15, lever 2).
// The process runs for real (its own Node process), against the real Temporal dev server and
// Postgres; the payment and restaurant workers run in the test process, no order worker does.

const AUTO = restaurantIdFor(3);
const MANUAL = restaurantIdFor(1);

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const EventType = { started: 1, wftScheduled: 5, wftStarted: 6 } as const;

/**
 * Whether the run's first workflow task was handed out in the start call. The server then records
 * WorkflowTaskStarted with the start request's identity (the API's client, `<pid>@<host> api`), in
 * the same transaction as WorkflowExecutionStarted; a task taken by a poll carries the polling
 * worker's identity (`<pid>@<host>`) and is started in a later transaction.
 */
function startedEagerly(events: HistoryEvent[]): boolean {
  const [started, scheduled, taken] = events;
  expect([started?.eventType, scheduled?.eventType, taken?.eventType]).toEqual([EventType.started, EventType.wftScheduled, EventType.wftStarted]);
  return taken!.workflowTaskStartedEventAttributes!.identity === started!.workflowExecutionStartedEventAttributes!.identity;
}

describe('API_ORDER_WORKER: the API and the order worker in one process, sagas started eagerly', () => {
  let stack: TestStack;
  let combined: ServiceProcess;
  let base: string;
  let customer: string;
  const at = (s: TestStack) => ({ ...s, baseUrl: base });

  beforeAll(async () => {
    stack = await startStack('api-order-worker', { workers: { order: false, payment: true, restaurant: true } });
    const [port, metricsPort] = [await freePort(), await freePort()];
    combined = startServiceProcess('processes/api-order-worker.ts', {
      ...stack.serviceEnv(),
      API_ORDER_WORKER: 'true',
      PORT: String(port),
      HOST: '127.0.0.1',
      WORKER_METRICS_PORT: String(metricsPort),
      RECONCILE_INTERVAL_SECONDS: '600',
      LOG_LEVEL: 'info',
    });
    base = `http://127.0.0.1:${port}`;
    await eventually(async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.ok, 90_000, 250);
    customer = await stack.token({ role: 'customer', sub: 'cust-api-order-worker' });
  }, 150_000);
  afterAll(async () => {
    await combined?.stop();
    await stack?.stop();
  });

  const historyOf = async (orderId: string) => (await stack.client.workflow.getHandle(orderWorkflowId(orderId)).fetchHistory()).events ?? [];

  it('an order reaches CONFIRMED, its saga started eagerly (a plain start of the same saga type is not)', async () => {
    const placed = await placeOrder(at(stack), customer, { restaurantId: AUTO, items: [{ menuId: menuIdFor(3, 1), quantity: 2 }] });
    expect(placed.status).toBe(202);
    const order = await waitForOrder(at(stack), customer, placed.body.orderId, ['CONFIRMED', 'REJECTED', 'CANCELLED']);
    expect(order.status).toBe('CONFIRMED');
    const history = await historyOf(placed.body.orderId);
    expect(history[0]!.workflowExecutionStartedEventAttributes!.identity).toMatch(/ api$/);
    expect(startedEagerly(history)).toBe(true);

    // The control: the same saga started by a client on its own connection (as api/server.ts does),
    // its first task taken by the combined process's worker through a poll.
    const menu = await stack.dbs
      .restaurants('menu_items')
      .where({ menu_id: menuIdFor(3, 2) })
      .first();
    const input: OrderSagaInput = {
      orderId: `ord_${randomUUID().replace(/-/g, '')}`,
      customerId: 'cust-api-order-worker',
      restaurantId: AUTO,
      items: [{ menuId: menuIdFor(3, 2), name: menu.name, unitPrice: Number(menu.price), quantity: 1, menuVersion: menu.version }],
      totalAmount: Number(menu.price),
      deliveryAddress: '서울시 강남구 테헤란로 1',
      cardToken: 'tok_ok',
      acceptanceWindowSeconds: 300,
    };
    await insertOrder(stack.dbs.orders, input);
    expect(await startOrderSaga(stack.client, input, stack.taskQueuePrefix)).toBe(true);
    expect(await stack.client.workflow.getHandle(orderWorkflowId(input.orderId)).result()).toMatchObject({ status: 'CONFIRMED' });
    expect(startedEagerly(await historyOf(input.orderId))).toBe(false);
  }, 60_000);

  it('a declined card ends REJECTED/PAYMENT_DECLINED, nothing captured', async () => {
    const placed = await placeOrder(at(stack), customer, { restaurantId: AUTO, items: [{ menuId: menuIdFor(3, 1), quantity: 1 }], cardToken: 'tok_decline' });
    const order = await waitForOrder(at(stack), customer, placed.body.orderId, ['CONFIRMED', 'REJECTED', 'CANCELLED']);
    expect(order).toMatchObject({ status: 'REJECTED', failureReason: 'PAYMENT_DECLINED' });
    const rows = await rowsOf(stack, placed.body.orderId);
    expect(rows.payment.status).toBe('DECLINED');
    expect(rows.paymentEvents.some((e: { kind: string }) => e.kind === 'CAPTURE')).toBe(false);
    expect(startedEagerly(await historyOf(placed.body.orderId))).toBe(true);
  }, 60_000);

  it('the restaurant rejects through the same API: REJECTED/RESTAURANT_REJECTED, the hold released (VOIDED at the PSP), ticket REJECTED', async () => {
    const placed = await placeOrder(at(stack), customer, { restaurantId: MANUAL, items: [{ menuId: menuIdFor(1, 2), quantity: 1 }] });
    await waitForOrder(at(stack), customer, placed.body.orderId, ['AWAITING_RESTAURANT']);
    const restaurant = await stack.token({ role: 'restaurant', sub: 'owner-1', restaurantId: MANUAL });
    const rejected = await http(base, 'POST', `/restaurants/${MANUAL}/orders/${placed.body.orderId}/reject`, {
      token: restaurant,
      body: { reason: '재료 소진' },
    });
    expect(rejected.status).toBe(200);
    expect(rejected.body.status).toBe('REJECTED');
    const rows = await rowsOf(stack, placed.body.orderId);
    expect(rows.order).toMatchObject({ status: 'REJECTED', failure_reason: 'RESTAURANT_REJECTED', payment_status: 'VOIDED' });
    expect(rows.payment.status).toBe('VOIDED');
    expect(stack.psp.authorizations.get(paymentIdFor(placed.body.orderId))?.status).toBe('VOIDED');
    expect(rows.ticket.status).toBe('REJECTED');
    expect(startedEagerly(await historyOf(placed.body.orderId))).toBe(true);
  }, 60_000);

  it("the process keeps the reconciler's Schedule in place and its sweeper starts a saga that never started", async () => {
    const schedule = await eventually(() => stack.client.schedule.getHandle(reconcileScheduleId(stack.taskQueuePrefix)).describe(), 30_000, 500);
    expect(schedule.spec.intervals).toEqual([expect.objectContaining({ every: 600_000 })]);
    expect(schedule.action).toMatchObject({ workflowType: 'reconcileOrders', taskQueue: `${stack.taskQueuePrefix}orders` });

    // An order recorded 40 s ago whose saga never started (the API stopped between the two): old enough
    // for the sweeper (30 s), too young for a reconcile pass (60 s), so the sweeper is what starts it.
    const menu = await stack.dbs
      .restaurants('menu_items')
      .where({ menu_id: menuIdFor(3, 3) })
      .first();
    const input: OrderSagaInput = {
      orderId: `ord_${randomUUID().replace(/-/g, '')}`,
      customerId: 'cust-api-order-worker',
      restaurantId: AUTO,
      items: [{ menuId: menuIdFor(3, 3), name: menu.name, unitPrice: Number(menu.price), quantity: 1, menuVersion: menu.version }],
      totalAmount: Number(menu.price),
      deliveryAddress: '서울시 강남구 테헤란로 1',
      cardToken: 'tok_ok',
      acceptanceWindowSeconds: 300,
    };
    await insertOrder(stack.dbs.orders, input);
    await stack.dbs
      .orders('orders')
      .where({ order_id: input.orderId })
      .update({ created_at: stack.dbs.orders.raw(`now() - interval '40 seconds'`), updated_at: stack.dbs.orders.raw(`now() - interval '40 seconds'`) });
    // The sweeper looks every 15 s.
    const order = await waitForOrder(at(stack), customer, input.orderId, ['CONFIRMED', 'REJECTED'], 45_000);
    expect(order.status).toBe('CONFIRMED');
    expect(combined.output()).toContain('swept stale PENDING orders');
  }, 90_000);

  it('SIGTERM: the worker finishes, then the API closes, and the process exits 0', async () => {
    const exited = new Promise<number | null>((resolve) => combined.proc.once('exit', (code) => resolve(code)));
    combined.proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    const log = combined.output();
    expect(log.indexOf('worker stopped')).toBeGreaterThan(log.indexOf('shutting down: finishing in-flight requests'));
  }, 40_000);

  it('api/server.ts refuses to start with API_ORDER_WORKER=true (that layout is processes/api-order-worker.ts)', async () => {
    const { code, output } = await runToExit('api/server.ts', { ...stack.serviceEnv(), PATH: process.env.PATH, API_ORDER_WORKER: 'true', PORT: '0' });
    expect(code).toBe(1);
    expect(output).toContain('API_ORDER_WORKER=true: start processes/api-order-worker.ts');
  }, 40_000);
});
