import { menuIdFor, restaurantIdFor } from '../db/seed';
import { paymentIdFor } from '../activities/payment';
import { eventually, startStack, type TestStack } from './support/stack';
import { placeOrder, rowsOf, waitForOrder } from './support/orders';
import { startServiceProcess, type ServiceProcess } from './support/processes';

describe('a worker killed in the middle of an activity', () => {
  let stack: TestStack;
  const processes: ServiceProcess[] = [];

  beforeAll(async () => {
    // The payment worker runs as a real process so it can be killed with SIGKILL.
    stack = await startStack('crash', { workers: { order: true, restaurant: true, payment: false } });
  });
  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await stack?.stop();
  });

  it('is retried on a new worker: the saga completes and the PSP acts once', async () => {
    const first = startServiceProcess('workers/payment-worker.ts', stack.serviceEnv());
    processes.push(first);
    const customer = await stack.token({ role: 'customer', sub: 'cust-crash' });
    const callsBefore = stack.psp.stats.calls.authorize ?? 0;
    const lookupsBefore = stack.psp.stats.calls.lookup ?? 0;
    // tok_slow_3000: the PSP takes 3 s, so the worker is surely inside authorizePayment when killed.
    const placed = await placeOrder(stack, customer, {
      restaurantId: restaurantIdFor(3),
      items: [{ menuId: menuIdFor(3, 1), quantity: 1 }],
      cardToken: 'tok_slow_3000',
    });
    expect(placed.status).toBe(202);
    await eventually(async () => (stack.psp.stats.calls.authorize ?? 0) > callsBefore, 60000);
    await first.kill();

    // The PSP still completes the call the dead worker made; the retry must not authorize again.
    const second = startServiceProcess('workers/payment-worker.ts', stack.serviceEnv());
    processes.push(second);
    const order = await waitForOrder(stack, customer, placed.body.orderId, ['CONFIRMED', 'REJECTED'], 90000);
    expect(order.status).toBe('CONFIRMED');

    const rows = await rowsOf(stack, placed.body.orderId);
    expect(rows.payment.status).toBe('CAPTURED');
    expect(rows.paymentEvents.map((e: { kind: string }) => e.kind)).toEqual(['AUTHORIZE', 'CAPTURE']);
    // The retry asked the PSP first (a lookup) and sent the authorization again only if it had not
    // landed yet; either way the PSP acted once (below).
    const retried = (stack.psp.stats.calls.authorize ?? 0) - callsBefore - 1 + ((stack.psp.stats.calls.lookup ?? 0) - lookupsBefore);
    expect(retried).toBeGreaterThanOrEqual(1);
    const auth = stack.psp.authorizations.get(paymentIdFor(placed.body.orderId));
    expect(auth?.status).toBe('CAPTURED');
    expect(stack.psp.stats.effects.authorize).toBe(1);
    expect(stack.psp.stats.effects.capture).toBe(1);
  }, 150000);
});
