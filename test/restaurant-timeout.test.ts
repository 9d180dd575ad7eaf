import { TestWorkflowEnvironment } from '@temporalio/testing';
import { temporal } from '@temporalio/proto';
import type { WorkflowHandle } from '@temporalio/client';
import { ORDER_SEARCH_ATTRIBUTES } from '../lib/workflow-safe/search-attributes';
import { menuIdFor, restaurantIdFor } from '../db/seed';
import { temporalTestServerPath } from '../lib/node/temporal-tools';
import { eventually, http, startStack, type TestStack } from './support/stack';
import { placeOrder, rowsOf, waitForOrder } from './support/orders';
import { maybeRecordHistory, replayWorkflows } from './support/histories';
import { TEST_DATA_CONVERTER } from './support/payload-keys';

// The acceptance window is a durable timer of minutes, and a hold gives up after 3 minutes of PSP
// outage; the time-skipping server lets both pass at once.
describe('restaurant never answers, PSP stays down (time-skipping Temporal)', () => {
  let env: TestWorkflowEnvironment;
  let stack: TestStack;

  beforeAll(async () => {
    env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: temporalTestServerPath() } },
      client: { dataConverter: TEST_DATA_CONVERTER },
    });
    // The test server knows no custom search attributes until they are added.
    await env.connection.operatorService.addSearchAttributes({
      namespace: env.namespace ?? 'default',
      searchAttributes: Object.fromEntries(ORDER_SEARCH_ATTRIBUTES.map((k) => [k.name, temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD])),
    });
    stack = await startStack('timeout', { env, acceptanceWindowSeconds: 300 });
  });
  afterAll(async () => {
    await stack?.stop();
    await env?.teardown();
  });

  it('ends REJECTED with RESTAURANT_TIMEOUT after the window, payment VOIDED, ticket CANCELLED', async () => {
    const customer = await stack.token({ role: 'customer', sub: 'cust-timeout' });
    const placed = await placeOrder(stack, customer, { restaurantId: restaurantIdFor(1), items: [{ menuId: menuIdFor(1, 1), quantity: 1 }] });
    expect(placed.status).toBe(202);
    const awaiting = await waitForOrder(stack, customer, placed.body.orderId, ['AWAITING_RESTAURANT']);
    const deadline = Date.parse(awaiting.acceptanceDeadline);
    expect(deadline - Date.parse(awaiting.createdAt)).toBeGreaterThanOrEqual(299_000);

    const started = Date.now();
    // Waiting on the result lets the test server skip the five minutes.
    const result = await stack.client.workflow.getHandle(`order-${placed.body.orderId}`).result();
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(result).toMatchObject({ status: 'REJECTED', failureReason: 'RESTAURANT_TIMEOUT', paymentStatus: 'VOIDED' });

    const rows = await rowsOf(stack, placed.body.orderId);
    expect(rows.order.status).toBe('REJECTED');
    expect(rows.order.failure_reason).toBe('RESTAURANT_TIMEOUT');
    expect(rows.payment.status).toBe('VOIDED');
    expect(rows.ticket.status).toBe('CANCELLED');
    // Too late to accept now.
    const restaurant = await stack.token({ role: 'restaurant', sub: 'owner', restaurantId: restaurantIdFor(1) });
    const late = await http(stack.baseUrl, 'POST', `/restaurants/${restaurantIdFor(1)}/orders/${placed.body.orderId}/accept`, { token: restaurant });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('ORDER_CLOSED');

    const workflowId = `order-${placed.body.orderId}`;
    await maybeRecordHistory(stack.client, env.address, 'restaurant-timeout', workflowId);
    expect(await replayWorkflows(stack.client, [workflowId])).toEqual([]);
  });

  it('a PSP that stays down while the money is held: REJECTED / PAYMENT_UNAVAILABLE once the hold gives up (3 min), nothing held', async () => {
    const customer = await stack.token({ role: 'customer', sub: 'cust-psp-down' });
    stack.psp.setFaults({ failRate: 1 });
    let orderId: string;
    let handle: WorkflowHandle;
    try {
      const placed = await placeOrder(stack, customer, { restaurantId: restaurantIdFor(3), items: [{ menuId: menuIdFor(3, 1), quantity: 1 }] });
      expect(placed.status).toBe(202);
      orderId = placed.body.orderId;
      // Time moves in explicit steps here, shorter than the payment activity's heartbeat timeout (10 s).
      // Left to skip by itself (awaiting the result) while activities failed and retried, the test
      // server jumped to its default execution timeout (10 years) and timed the saga out, in 3 of 10
      // runs on a loaded machine (and in CI): its time-skipping lock is not held through every retry.
      handle = stack.client.workflow.getHandle(`order-${orderId}`);
      const compensating = async () =>
        ((await handle.fetchHistory()).events ?? []).some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'voidAuthorization');
      await eventually(() => handle.describe(), 30_000); // the API may answer before the saga has started
      for (let skipped = 0; !(await compensating()); skipped += 5) {
        if (skipped > 300) throw new Error('the hold had not given up after 5 minutes of PSP outage');
        await env.sleep('5s');
      }
    } finally {
      stack.psp.setFaults({ failRate: 0 });
    }
    // The PSP is back: the release and the rest of the saga run in real time, no skipping.
    await eventually(async () => (await handle.describe()).status.name !== 'RUNNING', 30_000);
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'REJECTED', failureReason: 'PAYMENT_UNAVAILABLE' });
    const rows = await rowsOf(stack, orderId);
    expect(rows.order).toMatchObject({ status: 'REJECTED', failure_reason: 'PAYMENT_UNAVAILABLE' });
    expect(stack.psp.authorizations.get(`pay_${orderId}`)?.status ?? 'none').not.toMatch(/AUTHORIZED|CAPTURED/);
    await maybeRecordHistory(stack.client, env.address, 'payment-unavailable', `order-${orderId}`);
    expect(await replayWorkflows(stack.client, [`order-${orderId}`])).toEqual([]);
  });
});
