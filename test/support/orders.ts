import { randomUUID } from 'node:crypto';
import { createLogger } from '../../lib/node/logger';
import { startPendingOrderSweeper } from '../../workers/pending-order-sweeper';
import { eventually, http, type TestStack } from './stack';

export interface PlacedOrder {
  status: number;
  body: any;
  key: string;
}

export async function placeOrder(
  stack: TestStack,
  token: string,
  body: { restaurantId: string; items: Array<{ menuId: string; quantity: number }>; cardToken?: string; deliveryAddress?: string },
  opts: { key?: string; wait?: number } = {},
): Promise<PlacedOrder> {
  const key = opts.key ?? randomUUID();
  const res = await http(stack.baseUrl, 'POST', `/orders${opts.wait ? `?wait=${opts.wait}` : ''}`, {
    token,
    headers: { 'idempotency-key': key },
    body: {
      restaurantId: body.restaurantId,
      items: body.items,
      deliveryAddress: body.deliveryAddress ?? '서울시 강남구 테헤란로 1',
      paymentMethod: { cardToken: body.cardToken ?? 'tok_ok' },
    },
  });
  return { status: res.status, body: res.body, key };
}

/** Waits until the order row reaches one of `statuses` and returns the API's view of it. */
export async function waitForOrder(stack: TestStack, token: string, orderId: string, statuses: string[], timeoutMs = 30000) {
  return eventually(async () => {
    const res = await http(stack.baseUrl, 'GET', `/orders/${orderId}`, { token });
    return res.status === 200 && statuses.includes(res.body.status) ? res.body : undefined;
  }, timeoutMs);
}

/** The rows every service holds about one order. */
export async function rowsOf(stack: TestStack, orderId: string) {
  const [order, payment, paymentEvents, ticket, history] = await Promise.all([
    stack.dbs.orders('orders').where({ order_id: orderId }).first(),
    stack.dbs.payments('payments').where({ order_id: orderId }).first(),
    stack.dbs.payments('payment_events').where({ order_id: orderId }).orderBy('id'),
    stack.dbs.restaurants('tickets').where({ order_id: orderId }).first(),
    stack.dbs.orders('order_status_history').where({ order_id: orderId }).orderBy('id'),
  ]);
  return { order, payment, paymentEvents, ticket, history: history.map((h: { status: string }) => h.status) };
}

/**
 * A PENDING-order sweeper on the test stack. By default it sweeps only when asked (its own interval
 * is an hour); `intervalMs` makes it sweep on its own as the order worker's does in production.
 */
export function testSweeper(stack: TestStack, olderThanSeconds: number, intervalMs = 3_600_000) {
  return startPendingOrderSweeper({
    db: stack.dbs.orders,
    client: stack.client,
    taskQueuePrefix: stack.taskQueuePrefix,
    acceptanceWindowSeconds: 300,
    logger: createLogger('sweeper-test', 'silent'),
    olderThanSeconds,
    intervalMs,
  });
}
