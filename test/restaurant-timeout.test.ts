import { TestWorkflowEnvironment } from '@temporalio/testing';
import { temporal } from '@temporalio/proto';
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
    try {
      const placed = await placeOrder(stack, customer, { restaurantId: restaurantIdFor(3), items: [{ menuId: menuIdFor(3, 1), quantity: 1 }] });
      expect(placed.status).toBe(202);
      orderId = placed.body.orderId;
      // The hold has given up once the saga compensates; the PSP comes back so that the release can land.
      // Waiting on the result is what lets the test server skip the retries' backoff.
      const handle = stack.client.workflow.getHandle(`order-${orderId}`);
      void handle.result().catch(() => undefined);
      await eventually(async () => {
        const history = await handle.fetchHistory();
        return (history.events ?? []).some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'voidAuthorization');
      }, 120_000);
    } finally {
      stack.psp.setFaults({ failRate: 0 });
    }
    const result = await stack.client.workflow.getHandle(`order-${orderId}`).result();
    expect(result).toMatchObject({ status: 'REJECTED', failureReason: 'PAYMENT_UNAVAILABLE' });
    const rows = await rowsOf(stack, orderId);
    expect(rows.order).toMatchObject({ status: 'REJECTED', failure_reason: 'PAYMENT_UNAVAILABLE' });
    expect(stack.psp.authorizations.get(`pay_${orderId}`)?.status ?? 'none').not.toMatch(/AUTHORIZED|CAPTURED/);
    await maybeRecordHistory(stack.client, env.address, 'payment-unavailable', `order-${orderId}`);
    expect(await replayWorkflows(stack.client, [`order-${orderId}`])).toEqual([]);
  });
});
