import type { ChildProcess } from 'node:child_process';
import { menuIdFor, restaurantIdFor } from '../db/seed';
import { paymentIdFor } from '../activities/payment';
import { freePort } from '../lib/node/ports';
import { orderWorkflowId } from '../lib/workflow-safe/task-queues';
import { eventually, http, startStack, type TestStack } from './support/stack';
import { placeOrder, rowsOf, waitForOrder } from './support/orders';
import { startServiceProcess, type ServiceProcess } from './support/processes';

// SIGTERM (what `docker compose stop`, Kubernetes and `npm start`'s Ctrl-C send) must let work in
// flight finish: an API request being answered, an activity being executed. Then the process exits 0.

function exitOf(proc: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve({ code: proc.exitCode, signal: proc.signalCode, at: Date.now() });
    else proc.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() }));
  });
}

describe('graceful shutdown on SIGTERM', () => {
  let stack: TestStack;
  const processes: ServiceProcess[] = [];

  beforeAll(async () => {
    // No payment worker in the test process: the ones under test run as real processes.
    stack = await startStack('sigterm', { workers: { order: true, restaurant: true, payment: false } });
  });
  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await stack?.stop();
  });

  it('the API finishes a slow request in flight, refuses new connections, then exits 0', async () => {
    const port = await freePort();
    const api = startServiceProcess('api/server.ts', { ...stack.serviceEnv(), PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' });
    processes.push(api);
    const base = `http://127.0.0.1:${port}`;
    await eventually(async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.ok, 60000, 200);

    const customer = await stack.token({ role: 'customer', sub: 'cust-sigterm-api' });
    // No payment worker runs yet, so the order stays PENDING and `wait=4000` holds the answer 4 s.
    const started = Date.now();
    const slow = http(base, 'POST', '/orders?wait=4000', {
      token: customer,
      headers: { 'idempotency-key': 'sigterm-api' },
      body: {
        restaurantId: restaurantIdFor(1),
        items: [{ menuId: menuIdFor(1, 1), quantity: 1 }],
        deliveryAddress: '서울시 중구 세종대로 110',
        paymentMethod: { cardToken: 'tok_ok' },
      },
    });
    await eventually(() => stack.dbs.orders('orders').where({ customer_id: 'cust-sigterm-api' }).first(), 20000);
    const exited = exitOf(api.proc);
    const signalled = Date.now();
    api.proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    // Closed for new connections while the old request is still being answered.
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();

    const answer = await slow;
    expect(answer.status).toBe(202);
    expect(answer.body).toMatchObject({ status: 'PENDING', workflowId: orderWorkflowId(answer.body.orderId) });
    expect(Date.now() - started).toBeGreaterThanOrEqual(3900);
    const { code, signal, at } = await exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(at - signalled).toBeLessThan(12000); // closed by itself, not by the 15 s backstop
    expect(api.output()).toContain('shutting down: finishing in-flight requests');
  }, 90000);

  it('a worker finishes the activity in flight (no retry, no second PSP call), then exits 0', async () => {
    const first = startServiceProcess('workers/payment-worker.ts', { ...stack.serviceEnv(), LOG_LEVEL: 'info' });
    processes.push(first);
    const customer = await stack.token({ role: 'customer', sub: 'cust-sigterm-worker' });
    // tok_slow_3000: the PSP answers after 3 s, so the activity is surely in flight when SIGTERM lands.
    const placed = await placeOrder(stack, customer, {
      restaurantId: restaurantIdFor(3),
      items: [{ menuId: menuIdFor(3, 2), quantity: 1 }],
      cardToken: 'tok_slow_3000',
    });
    expect(placed.status).toBe(202);
    const orderId: string = placed.body.orderId;
    // The payment row is written just before the PSP is called.
    await eventually(() => stack.dbs.payments('payments').where({ order_id: orderId, status: 'PENDING' }).first(), 60000);
    const exited = exitOf(first.proc);
    const signalled = Date.now();
    first.proc.kill('SIGTERM');

    const { code, signal, at } = await exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(at - signalled).toBeGreaterThanOrEqual(1000); // it waited for the PSP
    expect(at - signalled).toBeLessThan(15000);
    // The activity finished on the worker that was stopped: the authorization is recorded, once.
    const rows = await rowsOf(stack, orderId);
    expect(rows.payment.status).toBe('AUTHORIZED');
    expect(rows.paymentEvents.map((e: { kind: string }) => e.kind)).toEqual(['AUTHORIZE']);
    const history = await stack.client.workflow.getHandle(orderWorkflowId(orderId)).fetchHistory();
    const events = history.events ?? [];
    const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'authorizePayment')!;
    const startedEvent = events.find(
      (e) => e.activityTaskStartedEventAttributes && Number(e.activityTaskStartedEventAttributes.scheduledEventId) === Number(scheduled.eventId),
    )!;
    expect(startedEvent.activityTaskStartedEventAttributes?.attempt).toBe(1);
    expect(
      events.some(
        (e) => e.activityTaskCompletedEventAttributes && Number(e.activityTaskCompletedEventAttributes.scheduledEventId) === Number(scheduled.eventId),
      ),
    ).toBe(true);
    const log = first.output();
    expect(log).toContain('shutting down: finishing in-flight tasks');
    expect(log).toContain('payment authorized');
    expect(log.indexOf('payment authorized')).toBeGreaterThan(log.indexOf('shutting down'));
    expect(log).toContain('worker stopped');

    // A new payment worker takes the saga on from there: captured once, never authorized twice.
    const second = startServiceProcess('workers/payment-worker.ts', stack.serviceEnv());
    processes.push(second);
    const order = await waitForOrder(stack, customer, orderId, ['CONFIRMED', 'REJECTED'], 90000);
    expect(order.status).toBe('CONFIRMED');
    const auth = stack.psp.authorizations.get(paymentIdFor(orderId));
    expect(auth?.status).toBe('CAPTURED');
    expect((await rowsOf(stack, orderId)).paymentEvents.map((e: { kind: string }) => e.kind)).toEqual(['AUTHORIZE', 'CAPTURE']);
    await http(stack.baseUrl, 'GET', '/healthz');
  }, 180000);
});
