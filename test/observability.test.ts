import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { defaultPayloadConverter } from '@temporalio/common';
import { menuIdFor, restaurantIdFor } from '../db/seed';
import { Registry } from 'prom-client';
import { createProjectorMetrics } from '../db/projector/metrics';
import { freePort } from '../lib/node/ports';
import { ORDER_STATUS } from '../lib/workflow-safe/search-attributes';
import { orderWorkflowId } from '../lib/workflow-safe/task-queues';
import { eventually, http, startStack, type TestStack } from './support/stack';
import { placeOrder, waitForOrder } from './support/orders';
import { startServiceProcess, type ServiceProcess } from './support/processes';
import { TEST_PAYLOAD_CODEC } from './support/payload-keys';
import { decodePayloadsIn } from '../lib/node/payload-codec';

// The three workers run as real processes, as in production: each installs the Temporal Runtime
// with its pino logger and serves one /metrics port with the saga's and the SDK's metrics.

type Line = Record<string, any>;

function jsonLines(text: string): Line[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line);
}

/** The value of one sample in Prometheus text, matched by name and a subset of its labels. */
/** The activity type a local-activity marker records (core SDK: details.data holds its JSON). */
function localActivityType(details: Record<string, { payloads?: unknown[] | null }> | null | undefined): string | undefined {
  const data = details?.data?.payloads?.[0];
  return data ? (defaultPayloadConverter.fromPayload(data as never) as { activity_type?: string }).activity_type : undefined;
}

function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('metrics and logs of the saga', () => {
  let stack: TestStack;
  const apiLines: Line[] = [];
  const workers: Record<'order' | 'payment' | 'restaurant', ServiceProcess> = {} as never;
  const metricsPorts: Record<string, number> = {};
  let confirmedId: string;
  let cancelledId: string;

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _enc, done) {
        apiLines.push(...jsonLines(String(chunk)));
        done();
      },
    });
    stack = await startStack('obs', { workers: false, apiLogger: pino({ level: 'info', base: { service: 'api' } }, sink) });
    for (const service of ['order', 'payment', 'restaurant'] as const) {
      metricsPorts[service] = await freePort();
      workers[service] = startServiceProcess(`workers/${service}-worker.ts`, {
        ...stack.serviceEnv(),
        LOG_LEVEL: 'info',
        WORKER_METRICS_PORT: String(metricsPorts[service]),
      });
    }

    const customer = await stack.token({ role: 'customer', sub: 'cust-obs' });
    // Auto-accepting restaurant: CONFIRMED. Another restaurant, cancelled while it waits: CANCELLED,
    // with the payment hold voided and the ticket cancelled by the compensations.
    const confirmed = await placeOrder(stack, customer, { restaurantId: restaurantIdFor(3), items: [{ menuId: menuIdFor(3, 1), quantity: 2 }] });
    confirmedId = confirmed.body.orderId;
    const cancelled = await placeOrder(stack, customer, { restaurantId: restaurantIdFor(1), items: [{ menuId: menuIdFor(1, 1), quantity: 1 }] });
    cancelledId = cancelled.body.orderId;
    await waitForOrder(stack, customer, confirmedId, ['CONFIRMED'], 90000);
    await waitForOrder(stack, customer, cancelledId, ['AWAITING_RESTAURANT'], 60000);
    expect((await http(stack.baseUrl, 'POST', `/orders/${cancelledId}/cancel`, { token: customer })).body).toEqual({ status: 'CANCELLED' });
  }, 180000);

  afterAll(async () => {
    // What a person would look at: each endpoint's text and each process's log lines.
    const out = path.resolve(__dirname, '..', 'test-results', 'observability');
    fs.mkdirSync(out, { recursive: true });
    for (const service of Object.keys(metricsPorts))
      await scrape(service).then(
        (t) => fs.writeFileSync(path.join(out, `${service}-worker.metrics.txt`), t),
        () => undefined,
      );
    await http(stack.baseUrl, 'GET', '/metrics').then(
      (r) => fs.writeFileSync(path.join(out, 'api.metrics.txt'), String(r.body)),
      () => undefined,
    );
    for (const [service, w] of Object.entries(workers)) fs.writeFileSync(path.join(out, `${service}-worker.log`), w.output());
    fs.writeFileSync(path.join(out, 'api.log'), apiLines.map((l) => JSON.stringify(l)).join('\n'));
    await Promise.all(Object.values(workers).map((w) => w.stop()));
    await stack?.stop();
  });

  const scrape = async (service: string) => (await fetch(`http://127.0.0.1:${metricsPorts[service]}/metrics`)).text();

  it('each worker serves the saga metrics and the Temporal SDK metrics on its own port', async () => {
    const order = await eventually(async () => {
      const text = await scrape('order');
      return sample(text, 'order_saga_outcomes_total', { status: 'CANCELLED' }) === 1 ? text : undefined;
    });
    expect(sample(order, 'order_saga_outcomes_total', { status: 'CONFIRMED', reason: 'none', service: 'order-worker' })).toBe(1);
    expect(sample(order, 'order_saga_outcomes_total', { status: 'CANCELLED', reason: 'CUSTOMER_CANCELLED' })).toBe(1);
    // The SDK's own metrics, from the same endpoint.
    expect(sample(order, 'temporal_workflow_completed', { service: 'order-worker' })).toBeGreaterThanOrEqual(1);
    // The order service's steps run as local activities inside the saga's workflow tasks.
    expect(order).toMatch(/^temporal_local_activity_execution_latency_count\{.*activity_type="confirmOrder"/m);
    expect(order).toMatch(/^nodejs_heap_size_used_bytes\{service="order-worker"\}/m);
    // The open orders, read from the orders database at each scrape (both orders are final by now).
    expect(sample(order, 'orders_open', { status: 'AWAITING_RESTAURANT', service: 'order-worker' })).toBe(0);
    expect(sample(order, 'orders_open_oldest_age_seconds', { status: 'PENDING' })).toBe(0);
    expect(sample(order, 'orders_past_acceptance_deadline')).toBe(0);

    const payment = await scrape('payment');
    expect(sample(payment, 'psp_calls_total', { operation: 'authorize', outcome: 'ok', service: 'payment-worker' })).toBe(2);
    expect(sample(payment, 'psp_calls_total', { operation: 'capture', outcome: 'ok' })).toBe(1);
    expect(sample(payment, 'psp_calls_total', { operation: 'void', outcome: 'ok' })).toBe(1);
    expect(sample(payment, 'psp_call_duration_seconds_count', { operation: 'authorize', outcome: 'ok' })).toBe(2);
    expect(sample(payment, 'order_saga_compensations_total', { compensation: 'voidAuthorization', result: 'VOIDED' })).toBe(1);
    expect(sample(payment, 'order_saga_compensations_total', { compensation: 'refundPayment' })).toBeUndefined();
    expect(sample(payment, 'temporal_activity_execution_latency_count', { activity_type: 'authorizePayment' })).toBe(2);

    const restaurant = await scrape('restaurant');
    expect(sample(restaurant, 'order_saga_compensations_total', { compensation: 'cancelTicket', result: 'CANCELLED', service: 'restaurant-worker' })).toBe(1);
  });

  it('the API serves request counts and latency by route and status', async () => {
    const res = await http(stack.baseUrl, 'GET', '/metrics');
    expect(sample(res.body, 'http_requests_total', { method: 'POST', route: '/orders', status: '202' })).toBe(2);
    expect(sample(res.body, 'http_request_duration_seconds_count', { method: 'POST', route: '/orders/:orderId/cancel', status: '200' })).toBe(1);
  });

  it('the Grafana dashboard queries only metrics that the processes export', async () => {
    const dashboard = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', 'ops', 'grafana', 'dashboards', 'delivery-order-saga.json'), 'utf8'));
    const exprs: string[] = dashboard.panels.flatMap((p: { targets?: Array<{ expr: string }> }) => (p.targets ?? []).map((t) => t.expr));
    const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\b([a-z_][a-z0-9_]*)(?=\{|\[)/g)].map((m) => m[1]!.replace(/_(bucket|count|sum)$/, ''))));
    const projector = new Registry();
    createProjectorMetrics(projector, 'slot');
    const texts = [
      await scrape('order'),
      await scrape('payment'),
      await scrape('restaurant'),
      String((await http(stack.baseUrl, 'GET', '/metrics')).body),
      await projector.metrics(),
    ];
    const exported = new Set(texts.flatMap((t) => [...t.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]!)));
    // Counted by the SDK only once a workflow or an activity has failed: none did in this test.
    for (const lazy of ['temporal_workflow_failed', 'temporal_activity_execution_failed']) exported.add(lazy);
    expect(used.size).toBeGreaterThanOrEqual(15);
    expect([...used].filter((name) => !exported.has(name))).toEqual([]);
  });

  it("the Web UI's timeline reads as the saga: a summary on every activity, local activity and the timer, OrderStatus current", async () => {
    const handle = stack.client.workflow.getHandle(orderWorkflowId(cancelledId));
    // Summaries are payloads, encrypted like the rest: the Web UI shows them through the codec endpoint.
    const history = await decodePayloadsIn(await handle.fetchHistory(), [TEST_PAYLOAD_CODEC]);
    const summary = (m: { summary?: unknown } | null | undefined) => (m?.summary ? defaultPayloadConverter.fromPayload(m.summary as never) : undefined);
    const steps = (history.events ?? [])
      .map((e) =>
        e.activityTaskScheduledEventAttributes
          ? `${e.activityTaskScheduledEventAttributes.activityType?.name}: ${summary(e.userMetadata)}`
          : e.timerStartedEventAttributes
            ? `timer: ${summary(e.userMetadata)}`
            : e.markerRecordedEventAttributes?.markerName === 'core_local_activity'
              ? `local ${localActivityType(e.markerRecordedEventAttributes.details)}: ${summary(e.userMetadata)}`
              : undefined,
      )
      .filter(Boolean);
    expect(steps).toEqual([
      `local createOrder: Record order ${cancelledId}: 1 line(s), 10500 KRW`,
      'authorizePayment: Hold 10500 KRW on the card',
      `createTicket: Re-check 1 line(s) and open a ticket at ${restaurantIdFor(1)}`,
      expect.stringMatching(new RegExp(`^local markAwaitingRestaurant: Wait for ${restaurantIdFor(1)} until \\d{4}-`)),
      `timer: Acceptance window: 300 s for ${restaurantIdFor(1)}`,
      `cancelTicket: Compensate: cancel the ticket at ${restaurantIdFor(1)}`,
      'voidAuthorization: Compensate: release the hold of 10500 KRW',
      `local rejectOrder: Close order ${cancelledId}: CANCELLED (CUSTOMER_CANCELLED)`,
    ]);
    expect((await handle.describe()).typedSearchAttributes.get(ORDER_STATUS)).toBe('CANCELLED');
    const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    expect(metadata.currentDetails).toContain('CANCELLED (CUSTOMER_CANCELLED); payment VOIDED');
  });

  it('every log line about an order carries its orderId and workflowId, from the API, the activities and the workflow', async () => {
    const workflowId = orderWorkflowId(confirmedId);
    const workerLines = () => Object.values(workers).flatMap((w) => jsonLines(w.output()));
    // Workflow log (through the Runtime logger), activity log (payment, order workers).
    await eventually(async () => {
      const msgs = workerLines()
        .filter((l) => l.orderId === confirmedId)
        .map((l) => l.msg);
      return ['Saga started', 'payment authorized', 'order confirmed', 'Saga finished'].every((m) => msgs.includes(m));
    }, 30000);
    const lines = workerLines();
    const about = lines.filter((l) => JSON.stringify(l).includes(confirmedId));
    expect(about.length).toBeGreaterThanOrEqual(4);
    for (const line of about)
      expect({ msg: line.msg, orderId: line.orderId, workflowId: line.workflowId }).toEqual({ msg: line.msg, orderId: confirmedId, workflowId });

    const started = about.find((l) => l.msg === 'Saga started')!;
    expect(started).toMatchObject({ service: 'order-worker', sdkComponent: 'workflow', workflowType: 'orderSaga', level: 30 });
    const authorized = about.find((l) => l.msg === 'payment authorized')!;
    expect(authorized).toMatchObject({ service: 'payment-worker', sdkComponent: 'activity', activityType: 'authorizePayment', attempt: 1 });
    expect(authorized.taskToken).toBeUndefined();

    // The API: the request that created the order, and every later request about it.
    const apiAbout = apiLines.filter((l) => JSON.stringify(l).includes(confirmedId));
    expect(apiAbout.find((l) => l.route === '/orders' && l.method === 'POST')).toMatchObject({
      msg: 'request finished',
      status: 202,
      orderId: confirmedId,
      workflowId,
    });
    expect(apiAbout.some((l) => l.route === '/orders/:orderId')).toBe(true);
    for (const line of apiAbout) expect(line).toMatchObject({ orderId: confirmedId, workflowId, reqId: expect.any(String) });

    // The cancelled order's compensation lines, on two other workers.
    const compensations = workerLines().filter((l) => l.orderId === cancelledId && ['authorization voided', 'ticket cancelled'].includes(l.msg));
    expect(compensations.map((l) => l.service).sort()).toEqual(['payment-worker', 'restaurant-worker']);
    for (const line of compensations) expect(line.workflowId).toBe(orderWorkflowId(cancelledId));
  });
});
