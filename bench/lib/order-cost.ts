import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { Db } from '../../db/knex';
import { ApiClient } from '../../harness/api-client';
import { mintToken } from '../../lib/node/auth';
import { summarize } from './stats';

// What one saga costs Temporal (issue #15): the manual-accept measurement (state transitions from the
// restaurant's accept to CONFIRMED) and the targets for the bench's target table.

/** Temporal's own count of state transitions of one saga so far. */
async function transitionsOf(temporal: Client, workflowId: string): Promise<number> {
  const d = await temporal.workflow.getHandle(workflowId).describe();
  return Number(d.raw.workflowExecutionInfo?.stateTransitionCount ?? NaN);
}

/** Waits until the order is AWAITING_RESTAURANT and its saga has gone quiet (the count stopped moving). */
async function quietWhileAwaiting(temporal: Client, ordersDb: Db, orderId: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = NaN;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`order ${orderId} did not reach AWAITING_RESTAURANT in ${timeoutMs} ms`);
    const row = await ordersDb('orders').select('status').where({ order_id: orderId }).first();
    if (row?.status === 'AWAITING_RESTAURANT') {
      const now = await transitionsOf(temporal, `order-${orderId}`);
      if (now === last) return now;
      last = now;
    }
    await sleep(250);
  }
}

export interface ManualAcceptFigures {
  orders: number;
  /** State transitions from the restaurant's accept (the Update) until the saga closed CONFIRMED. */
  transitionsAcceptToConfirmed: number;
  /** State transitions of the whole saga, from its start to its close. */
  transitionsPerOrder: number;
  historyEventsPerOrder: number;
}

/**
 * Places `count` orders one at a time at restaurants that wait for a decision, accepts each through
 * the API once the saga awaits it, and counts Temporal's state transitions before the accept and
 * after the saga closed.
 */
export async function measureManualAccept(opts: {
  apiUrl: string;
  secret: string;
  temporal: Client;
  ordersDb: Db;
  menuReadDb: Db;
  count: number;
}): Promise<ManualAcceptFigures | undefined> {
  const menus: Array<{ restaurant_id: string; menu_id: string }> = (
    await opts.menuReadDb.raw(
      `SELECT DISTINCT ON (r.restaurant_id) r.restaurant_id, m.menu_id
         FROM restaurants_read r JOIN menu_items_read m USING (restaurant_id)
        WHERE NOT r.auto_accept AND m.status = 'ON_SALE'
        ORDER BY r.restaurant_id, m.menu_id LIMIT ?`,
      [opts.count],
    )
  ).rows;
  if (menus.length === 0) return undefined;
  const api = new ApiClient(opts.apiUrl, { timeoutMs: 30_000 });
  const customer = await mintToken({ role: 'customer', sub: 'bench-manual-accept' }, opts.secret, 3600);
  const rows: Array<{ afterAccept: number; total: number; events: number }> = [];
  for (const [i, m] of menus.entries()) {
    const placed = await api.request<{ orderId: string }>('POST', '/orders', {
      token: customer,
      body: {
        restaurantId: m.restaurant_id,
        items: [{ menuId: m.menu_id, quantity: 1 }],
        deliveryAddress: `bench manual accept ${i}`,
        paymentMethod: { cardToken: 'tok_ok' },
      },
      idempotencyKey: `bench-manual-${Date.now()}-${i}`,
    });
    if (placed.status !== 202 && placed.status !== 200) throw new Error(`POST /orders answered ${placed.status}: ${placed.text.slice(0, 200)}`);
    const { orderId } = placed.body;
    const workflowId = `order-${orderId}`;
    const before = await quietWhileAwaiting(opts.temporal, opts.ordersDb, orderId, 30_000);
    const owner = await mintToken({ role: 'restaurant', sub: `bench-owner-${i}`, restaurantId: m.restaurant_id }, opts.secret, 3600);
    const accepted = await api.request('POST', `/restaurants/${m.restaurant_id}/orders/${orderId}/accept`, { token: owner });
    if (accepted.status !== 200) throw new Error(`accept answered ${accepted.status}: ${accepted.text.slice(0, 200)}`);
    const result = (await opts.temporal.workflow.getHandle(workflowId).result()) as { status: string };
    if (result.status !== 'CONFIRMED') throw new Error(`manual-accept order ${orderId} ended ${result.status}`);
    const d = await opts.temporal.workflow.getHandle(workflowId).describe();
    const total = Number(d.raw.workflowExecutionInfo?.stateTransitionCount ?? NaN);
    rows.push({ afterAccept: total - before, total, events: d.historyLength });
  }
  return {
    orders: rows.length,
    transitionsAcceptToConfirmed: summarize(rows.map((r) => r.afterAccept)).mean,
    transitionsPerOrder: summarize(rows.map((r) => r.total)).mean,
    historyEventsPerOrder: summarize(rows.map((r) => r.events)).mean,
  };
}

/** One row of the target table: name, at least, aim, measured value, unit, lower is better. */
export type TargetRow = [name: string, atLeast: number, aim: number, value: unknown, unit: string, lowerIsBetter?: boolean];

/** The targets of issue #15 ("cheaper orders"), from the run's summary. */
export function orderCostTargets(summary: Record<string, unknown>): TargetRow[] {
  return [
    ['state transitions per auto-accept order', 13, 10, summary.stateTransitionsPerOrder, '', true],
    ['stack CPU per order at the highest sustained rate', 95, 70, summary.sagaCpuMsPerOrder, ' ms', true],
    ['saga orders/s sustained, p99 order-to-CONFIRMED < 1 s (issue #15)', 18, 25, summary.sagaSustainedRate, ''],
    ['saga p50 order-to-CONFIRMED, no load (issue #15)', 90, 60, summary.idleConfirmP50Ms, ' ms', true],
    ['saga / baseline CPU per order, same rate (issue #15)', 4, 3, summary.ratioCpuPerOrder, 'x', true],
  ];
}

/** The manual-accept line of the report: measured, no target (the issue asks to report it). */
export function manualAcceptLine(m: ManualAcceptFigures | undefined): string | undefined {
  if (!m) return undefined;
  const r = (v: number) => Math.round(v * 10) / 10;
  return (
    `manual-accept orders (${m.orders}, one at a time): ${r(m.transitionsAcceptToConfirmed)} state transitions from the restaurant's accept to CONFIRMED; ` +
    `${r(m.transitionsPerOrder)} transitions and ${r(m.historyEventsPerOrder)} history events per whole saga`
  );
}
