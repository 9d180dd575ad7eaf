import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createOrderActivities } from '../activities/order';
import type { SagaMetrics } from '../activities/saga-metrics';
import type { OrderSagaInput } from '../lib/workflow-safe/domain';
import { createTestDatabases, type TestDatabases } from './support/databases';

// The order service's steps as the worker runs them (an activity context), against a real orders
// database: every transition is guarded, runs once, and counts once. Fast: no Temporal, no stack.

describe('order activities against a real orders database', () => {
  let dbs: TestDatabases;
  const counted: string[] = [];
  const metrics: SagaMetrics = {
    outcome: (status, reason) => counted.push(`outcome ${status} ${reason ?? 'none'}`),
    compensation: () => undefined,
    pspCall: () => undefined,
    repair: (action) => counted.push(`repair ${action}`),
  };
  let orders: ReturnType<typeof createOrderActivities>;
  let n = 0;
  const quiet = new DefaultLogger('ERROR');
  const run = <A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A) => new MockActivityEnvironment({}, { logger: quiet }).run(fn, ...args);

  beforeAll(async () => {
    dbs = await createTestDatabases('orderactivities');
    orders = createOrderActivities({ db: dbs.orders, metrics });
  });
  afterAll(async () => {
    await dbs.destroy();
  });
  beforeEach(() => {
    counted.length = 0;
  });

  const input = (totalAmount = 30000): OrderSagaInput => ({
    orderId: `ord_act_${++n}_${Date.now()}`,
    customerId: 'cust-act',
    restaurantId: 'rst_0001',
    items: [{ menuId: 'mnu_0001_01', name: 'Bibimbap', unitPrice: 15000, quantity: 2, menuVersion: 1 }],
    totalAmount,
    deliveryAddress: '서울시 중구 1',
    cardToken: 'tok_ok',
  });
  const orderRow = (orderId: string) => dbs.orders('orders').where({ order_id: orderId }).first();
  const historyOf = async (orderId: string) =>
    (await dbs.orders('order_status_history').where({ order_id: orderId }).orderBy('id')).map((h: { status: string }) => h.status);

  it('createOrder records the order once and answers with the total as stored, whatever a second input says', async () => {
    const order = input();
    expect(await run(orders.createOrder, order)).toEqual({ totalAmount: 30000 });
    // A forged second start with another total: the stored order wins, and the saga sees the difference.
    expect(await run(orders.createOrder, { ...order, totalAmount: 1 })).toEqual({ totalAmount: 30000 });
    expect(await dbs.orders('order_items').where({ order_id: order.orderId })).toHaveLength(1);
    expect(await historyOf(order.orderId)).toEqual(['PENDING']);
  });

  it('markAwaitingRestaurant, then confirmOrder: each transition once, counted once, the payment status copied', async () => {
    const order = input();
    await run(orders.createOrder, order);
    const deadline = new Date(Date.now() + 60000).toISOString();
    await run(orders.markAwaitingRestaurant, { orderId: order.orderId, acceptanceDeadline: deadline });
    await run(orders.markAwaitingRestaurant, { orderId: order.orderId, acceptanceDeadline: deadline });
    expect((await orderRow(order.orderId)).status).toBe('AWAITING_RESTAURANT');
    await run(orders.confirmOrder, { orderId: order.orderId });
    await run(orders.confirmOrder, { orderId: order.orderId });
    expect(await orderRow(order.orderId)).toMatchObject({ status: 'CONFIRMED', payment_status: 'CAPTURED' });
    expect(await historyOf(order.orderId)).toEqual(['PENDING', 'AWAITING_RESTAURANT', 'CONFIRMED']);
    expect(counted).toEqual(['outcome CONFIRMED none']);
  });

  it('a final order does not move again: rejectOrder after confirmOrder changes nothing and counts nothing', async () => {
    const order = input();
    await run(orders.createOrder, order);
    await run(orders.confirmOrder, { orderId: order.orderId });
    counted.length = 0;
    await run(orders.rejectOrder, { orderId: order.orderId, status: 'REJECTED', reason: 'SYSTEM_ERROR', paymentStatus: 'VOIDED' });
    expect((await orderRow(order.orderId)).status).toBe('CONFIRMED');
    expect(counted).toEqual([]);
  });

  it('rejectOrder closes with the reason and the payment status; the reconciler closing it counts as a repair too', async () => {
    const cancelled = input();
    await run(orders.createOrder, cancelled);
    await run(orders.rejectOrder, { orderId: cancelled.orderId, status: 'CANCELLED', reason: 'OPERATOR_CANCELLED', paymentStatus: 'VOIDED' });
    expect(await orderRow(cancelled.orderId)).toMatchObject({ status: 'CANCELLED', failure_reason: 'OPERATOR_CANCELLED', payment_status: 'VOIDED' });

    const aborted = input();
    await run(orders.createOrder, aborted);
    await run(orders.rejectOrder, { orderId: aborted.orderId, status: 'REJECTED', reason: 'SAGA_ABORTED', paymentStatus: 'REFUNDED', reconciler: true });
    await run(orders.rejectOrder, { orderId: aborted.orderId, status: 'REJECTED', reason: 'SAGA_ABORTED', paymentStatus: 'REFUNDED', reconciler: true });
    expect(await orderRow(aborted.orderId)).toMatchObject({ status: 'REJECTED', failure_reason: 'SAGA_ABORTED' });
    expect(counted).toEqual(['outcome CANCELLED OPERATOR_CANCELLED', 'outcome REJECTED SAGA_ABORTED', 'repair rejected']);
  });
});
