import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createLogger } from '../lib/node/logger';
import { registerOpenOrderMetrics } from '../workers/open-orders-metrics';
import { menuIdFor, restaurantIdFor } from '../db/seed';
import { placeOrder, rowsOf, waitForOrder } from './support/orders';
import { eventually, http, startStack, type TestStack } from './support/stack';

// The operator's desk against the real stack (Temporal dev server, Postgres, the PSP sandbox over
// HTTP, the workers, the API): an order's story from every source, the attention list, and the three
// actions with their audit trail, refusals and idempotency.

const MANUAL = restaurantIdFor(1); // waits for the restaurant's decision
const AUTO = restaurantIdFor(3); // auto-accepts
const OUT = path.resolve(__dirname, '..', 'test-results', 'admin-desk');

jest.setTimeout(120_000);

type Entry = { at: string; source: string; kind: string; summary: string; activityType?: string; failure?: string };

describe("the operator's desk (real stack)", () => {
  let stack: TestStack;
  let admin: string;
  let customer: string;
  let restaurant: string;
  const logLines: Array<Record<string, any>> = [];
  let keys = 0;

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n')) if (line.startsWith('{')) logLines.push(JSON.parse(line));
        done();
      },
    });
    stack = await startStack('desk', { apiLogger: pino({ level: 'info' }, sink) });
    admin = await stack.token({ role: 'admin', sub: 'ops-1' });
    customer = await stack.token({ role: 'customer', sub: 'cust-desk' });
    restaurant = await stack.token({ role: 'restaurant', sub: 'owner-1', restaurantId: MANUAL });
    fs.mkdirSync(OUT, { recursive: true });
  });
  afterAll(async () => {
    stack?.psp.setFaults({ failRate: 0, delayMs: 0 });
    await stack?.stop();
  });

  const get = (p: string, token = admin) => http(stack.baseUrl, 'GET', p, { token });
  const act = (orderId: string, action: string, body: unknown, key = `desk-${++keys}`, token = admin) =>
    http(stack.baseUrl, 'POST', `/admin/orders/${orderId}/${action}`, { token, body, headers: { 'idempotency-key': key } });
  const story = async (orderId: string) => {
    const res = await get(`/admin/orders/${orderId}/story`);
    expect(res.status).toBe(200);
    return res.body;
  };
  /** `source kind [activityType]` of every timeline entry, in order. */
  const lines = (s: { timeline: Entry[] }, source: string) =>
    s.timeline.filter((e) => e.source === source).map((e) => [e.kind, e.activityType].filter(Boolean).join(' '));
  const order = async (restaurantId: string, menu: number, status: string[], cardToken = 'tok_ok') => {
    const placed = await placeOrder(stack, customer, {
      restaurantId,
      items: [{ menuId: menuIdFor(Number(restaurantId.slice(4)), menu), quantity: 1 }],
      cardToken,
    });
    expect(placed.status).toBe(202);
    await waitForOrder(stack, customer, placed.body.orderId, status);
    return placed.body.orderId as string;
  };
  const describePending = async (orderId: string) => (await stack.client.workflow.getHandle(`order-${orderId}`).describe()).raw.pendingActivities ?? [];

  it('refuses everyone but admins (403), and anonymous callers (401)', async () => {
    for (const token of [customer, restaurant]) {
      expect((await get('/admin/orders', token)).status).toBe(403);
      expect((await get('/admin/orders/ord_x/story', token)).status).toBe(403);
      expect((await act('ord_x', 'cancel', { reason: 'x' }, 'k', token)).status).toBe(403);
    }
    expect((await http(stack.baseUrl, 'GET', '/admin/orders')).status).toBe(401);
    expect((await get('/admin/orders/ord_unknown/story')).body.error.code).toBe('NOT_FOUND');
  });

  it("a confirmed order's story: the order's statuses, the payment and its events, the PSP's operations, the ticket and the saga's steps, each with time and source", async () => {
    const orderId = await order(AUTO, 1, ['CONFIRMED']);
    // The row says CONFIRMED as soon as confirmOrder commits, a moment before its workflow task completes.
    await stack.client.workflow.getHandle(`order-${orderId}`).result();
    const s = await story(orderId);
    fs.writeFileSync(path.join(OUT, 'story-confirmed.json'), JSON.stringify(s, null, 2));
    expect(s.sources).toEqual({ order: 'ok', payment: 'ok', psp: 'ok', ticket: 'ok', saga: 'ok', reconciler: 'ok' });
    expect(s.order).toMatchObject({ orderId, status: 'CONFIRMED', paymentStatus: 'CAPTURED', restaurantId: AUTO, customerId: 'cust-desk' });
    expect(lines(s, 'order')).toEqual(['PENDING', 'CONFIRMED']);
    expect(lines(s, 'payment')).toEqual(['PAYMENT_ROW', 'AUTHORIZE', 'CAPTURE']);
    expect(lines(s, 'psp')).toEqual(['authorize', 'capture']);
    expect(lines(s, 'ticket')).toEqual(['OPENED', 'ACCEPTED']);
    // The hold and the ticket run together (patch hold-and-ticket-together): which of the two starts
    // and completes first is up to the workers; the auto-accept ticket is created ACCEPTED.
    const saga = lines(s, 'saga');
    expect(saga.slice(0, 2)).toEqual(['WorkflowExecutionStarted', 'MarkerRecorded createOrder']);
    expect(saga.slice(2, 4)).toEqual(['ActivityTaskScheduled authorizePayment', 'ActivityTaskScheduled createTicket']);
    expect(saga.slice(4, 8).sort()).toEqual(
      [
        'ActivityTaskStarted authorizePayment',
        'ActivityTaskCompleted authorizePayment',
        'ActivityTaskStarted createTicket',
        'ActivityTaskCompleted createTicket',
      ].sort(),
    );
    expect(saga.slice(8)).toEqual([
      'ActivityTaskScheduled capturePayment',
      'ActivityTaskStarted capturePayment',
      'ActivityTaskCompleted capturePayment',
      'MarkerRecorded confirmOrder',
      'UpsertWorkflowSearchAttributes',
      'WorkflowExecutionCompleted',
    ]);
    const hold = s.timeline.find((e: Entry) => e.kind === 'ActivityTaskScheduled' && e.activityType === 'authorizePayment');
    expect(hold.summary).toBe(`authorizePayment: Hold ${s.order.totalAmount} KRW on the card`);
    expect(hold.link).toBe(`${s.saga.url}/${s.saga.runId}/history`);
    expect(s.saga).toMatchObject({
      workflowId: `order-${orderId}`,
      status: 'COMPLETED',
      url: `http://127.0.0.1:8233/namespaces/default/workflows/order-${orderId}`,
    });
    expect(s.repair).toBeNull();
    expect(s.psp).toEqual({ authorizations: [expect.objectContaining({ reference: `pay_${orderId}`, status: 'CAPTURED', captureEffects: 1 })], findings: [] });
    // One timeline, in time order.
    const times = s.timeline.map((e: Entry) => e.at);
    expect([...times].sort()).toEqual(times);
  });

  it("a rejected order's story: the decision, the rejection and the compensation from every source", async () => {
    const orderId = await order(MANUAL, 2, ['AWAITING_RESTAURANT']);
    const rejected = await http(stack.baseUrl, 'POST', `/restaurants/${MANUAL}/orders/${orderId}/reject`, { token: restaurant, body: { reason: '재료 소진' } });
    expect(rejected.body).toEqual({ status: 'REJECTED' });
    const s = await story(orderId);
    expect(lines(s, 'order')).toEqual(['PENDING', 'AWAITING_RESTAURANT', 'REJECTED']);
    expect(s.timeline.find((e: Entry) => e.source === 'order' && e.kind === 'REJECTED').summary).toBe('order REJECTED (RESTAURANT_REJECTED)');
    expect(lines(s, 'payment')).toEqual(['PAYMENT_ROW', 'AUTHORIZE', 'VOID']);
    expect(lines(s, 'psp')).toEqual(['authorize', 'void']);
    expect(lines(s, 'ticket')).toEqual(['OPENED', 'REJECTED']);
    expect(s.ticket).toMatchObject({ status: 'REJECTED', reason: '재료 소진' });
    const saga = lines(s, 'saga');
    for (const step of [
      'MarkerRecorded markAwaitingRestaurant',
      'TimerStarted',
      'WorkflowExecutionUpdateAccepted',
      'ActivityTaskScheduled rejectTicket',
      'ActivityTaskScheduled cancelTicket',
      'ActivityTaskScheduled voidAuthorization',
      'MarkerRecorded rejectOrder',
    ]) {
      expect(saga).toContain(step);
    }
    expect(saga.indexOf('ActivityTaskScheduled voidAuthorization')).toBeGreaterThan(saga.indexOf('ActivityTaskScheduled rejectTicket'));
    expect(s.timeline.find((e: Entry) => e.kind === 'WorkflowExecutionUpdateAccepted').summary).toBe('update decide');
    expect(s.timeline.find((e: Entry) => e.activityType === 'voidAuthorization').summary).toMatch(
      /^voidAuthorization: Compensate: release the hold of \d+ KRW$/,
    );
    expect(s.psp.findings).toEqual([]);
  });

  it("a repaired order: the saga terminated, the desk's reconcile runs repair-<orderId>; the story shows the termination, the repair's steps and the operator's action", async () => {
    const orderId = await order(MANUAL, 3, ['AWAITING_RESTAURANT']);
    await stack.client.workflow.getHandle(`order-${orderId}`).terminate('test: the saga ended from outside');
    const res = await act(orderId, 'reconcile', { reason: 'saga terminated by mistake; release the money' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      orderId,
      action: 'reconcile',
      operator: 'ops-1',
      status: 'DONE',
      httpStatus: 200,
      result: { message: 'repaired: rejected (saga TERMINATED, payment VOIDED)' },
    });
    expect(res.body.result.details).toMatchObject({ outcome: 'repaired', sagaStatus: 'TERMINATED', decided: 'repair' });
    const rows = await rowsOf(stack, orderId);
    expect(rows.order).toMatchObject({ status: 'REJECTED', failure_reason: 'SAGA_ABORTED', payment_status: 'VOIDED' });
    expect(rows.ticket.status).toBe('CANCELLED');

    const s = await story(orderId);
    fs.writeFileSync(path.join(OUT, 'story-repaired.json'), JSON.stringify(s, null, 2));
    expect(lines(s, 'order')).toEqual(['PENDING', 'AWAITING_RESTAURANT', 'REJECTED']);
    expect(lines(s, 'payment')).toEqual(['PAYMENT_ROW', 'AUTHORIZE', 'VOID']);
    expect(lines(s, 'psp')).toEqual(['authorize', 'void']);
    expect(lines(s, 'ticket')).toEqual(['OPENED', 'CANCELLED']);
    expect(s.saga.status).toBe('TERMINATED');
    expect(s.timeline.find((e: Entry) => e.kind === 'WorkflowExecutionTerminated').summary).toMatch(/test: the saga ended from outside/);
    expect(s.repair).toMatchObject({ workflowId: `repair-${orderId}`, status: 'COMPLETED' });
    expect(lines(s, 'reconciler').filter((l: string) => l.startsWith('ActivityTaskScheduled'))).toEqual([
      'ActivityTaskScheduled syncPaymentFromPsp',
      'ActivityTaskScheduled getTicket',
      'ActivityTaskScheduled releasePayment',
      'ActivityTaskScheduled cancelTicket',
      'ActivityTaskScheduled rejectOrder',
    ]);
    expect(lines(s, 'operator')).toEqual(['RECONCILE_REQUESTED', 'RECONCILE_DONE']);
    expect(s.timeline.find((e: Entry) => e.kind === 'RECONCILE_REQUESTED').summary).toBe(
      'ops-1 asked to reconcile: "saga terminated by mistake; release the money"',
    );
    expect(s.operatorActions).toEqual([expect.objectContaining({ action: 'reconcile', operator: 'ops-1', status: 'DONE' })]);
    // The repair comes after the termination, the operator's request before the repair.
    const at = (source: string, kind: string) => s.timeline.findIndex((e: Entry) => e.source === source && e.kind === kind);
    expect(at('operator', 'RECONCILE_REQUESTED')).toBeGreaterThan(at('saga', 'WorkflowExecutionTerminated'));
    expect(at('reconciler', 'WorkflowExecutionStarted')).toBeGreaterThan(at('operator', 'RECONCILE_REQUESTED'));
    expect(s.psp.findings).toEqual([]);
  });

  it('search: by order, customer and restaurant, newest first, keyset-paged', async () => {
    const mine = await get('/admin/orders?customerId=cust-desk&limit=2');
    expect(mine.status).toBe(200);
    expect(mine.body.orders).toHaveLength(2);
    expect(mine.body.nextCursor).toEqual(expect.any(String));
    const next = await get(`/admin/orders?customerId=cust-desk&limit=2&cursor=${mine.body.nextCursor}`);
    const all = [...mine.body.orders, ...next.body.orders].map((o: { orderId: string }) => o.orderId);
    expect(new Set(all).size).toBe(all.length);
    const created = [...mine.body.orders, ...next.body.orders].map((o: { createdAt: string }) => o.createdAt);
    expect([...created].sort().reverse()).toEqual(created);
    const one = all[0]!;
    expect((await get(`/admin/orders?orderId=${one}`)).body.orders.map((o: { orderId: string }) => o.orderId)).toEqual([one]);
    const atManual = (await get(`/admin/orders?restaurantId=${MANUAL}&status=REJECTED`)).body.orders;
    expect(atManual.length).toBeGreaterThanOrEqual(2);
    expect(atManual.every((o: { restaurantId: string; status: string }) => o.restaurantId === MANUAL && o.status === 'REJECTED')).toBe(true);
    for (const bad of ['?attention=true&orderId=x', '?olderThanSeconds=5', '?attention=yes', '?limit=0', '?cursor=abc', '?sort=asc']) {
      expect({ bad, status: (await get(`/admin/orders${bad}`)).status }).toEqual({ bad, status: 400 });
    }
  });

  it('attention: a saga whose step keeps failing is listed with its stage and last failure, a final order is not; retry now skips the backoff', async () => {
    const confirmed = await order(AUTO, 4, ['CONFIRMED']);
    stack.psp.setFaults({ failRate: 1 });
    let stuck: string;
    try {
      const placed = await placeOrder(stack, customer, { restaurantId: AUTO, items: [{ menuId: menuIdFor(3, 5), quantity: 1 }] });
      stuck = placed.body.orderId;
      // Far enough into its retries that the next attempt is seconds away.
      await eventually(async () => ((await describePending(stuck))[0]?.attempt ?? 0) >= 6, 60_000, 200);
      const list = await get('/admin/orders?attention=true&olderThanSeconds=0&failingAttempts=3');
      expect(list.status).toBe(200);
      const listed = list.body.orders.find((o: { orderId: string }) => o.orderId === stuck);
      expect(listed.findings).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ kind: 'NOT_FINAL', stage: expect.stringMatching(/^PENDING · authorizePayment \(attempt \d+\)$/) }),
          expect.objectContaining({
            kind: 'STEP_FAILING',
            activityType: 'authorizePayment',
            attempt: expect.any(Number),
            lastFailure: expect.stringMatching(/503|unavailable/i),
            nextAttemptAt: expect.any(String),
          }),
        ]),
      );
      expect(list.body.orders.map((o: { orderId: string }) => o.orderId)).not.toContain(confirmed);
      expect(list.body.attention).toMatchObject({ olderThanSeconds: 0, failingAttempts: 3, pspChecked: true });
      // What the alert OrdersNotFinal watches: the order worker's gauges, read at scrape time.
      const registry = new Registry();
      registerOpenOrderMetrics(registry, stack.dbs.orders, createLogger('gauges', 'silent'));
      const text = await registry.metrics();
      const value = (line: RegExp) => Number(line.exec(text)?.[1]);
      expect(value(/^orders_open\{status="PENDING"\} (\S+)$/m)).toBeGreaterThanOrEqual(1);
      expect(value(/^orders_open_oldest_age_seconds\{status="PENDING"\} (\S+)$/m)).toBeGreaterThan(0);
      expect(value(/^orders_past_acceptance_deadline (\S+)$/m)).toBe(0);
      // Just after a failure, so its next attempt is at least 6.4 s away (200 ms doubling from attempt 1).
      const seen = (await describePending(stuck))[0]!.attempt!;
      await eventually(async () => ((await describePending(stuck))[0]?.attempt ?? 0) > seen, 30_000, 50);
    } finally {
      stack.psp.setFaults({ failRate: 0 });
    }
    const [pending] = await describePending(stuck);
    const nextAttemptAt = Number(pending!.nextAttemptScheduleTime!.seconds) * 1000;
    expect(nextAttemptAt - Date.now()).toBeGreaterThan(3000);
    const retried = await act(stuck, 'retry', { reason: 'PSP is back' });
    expect(retried.status).toBe(200);
    expect(retried.body.result.details).toMatchObject({ activityType: 'authorizePayment', attemptBefore: pending!.attempt });
    // The hold is placed before the backoff would have let it try again: the reset skipped the wait.
    await eventually(async () => ['AUTHORIZED', 'CAPTURED'].includes((await rowsOf(stack, stuck)).payment?.status), 10_000, 50);
    expect(Date.now()).toBeLessThan(nextAttemptAt);
    await waitForOrder(stack, customer, stuck, ['CONFIRMED'], 30_000);
    expect((await get('/admin/orders?attention=true&olderThanSeconds=0')).body.orders.map((o: { orderId: string }) => o.orderId)).not.toContain(stuck);
    // Nothing waits to retry any more.
    const again = await act(stuck, 'retry', { reason: 'again' });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('ORDER_CLOSED');
  });

  it("attention: a compensation still retrying is listed; a PSP that disagrees with a final order is listed with the audit's kind", async () => {
    const waiting = await order(MANUAL, 1, ['AWAITING_RESTAURANT']);
    stack.psp.setFaults({ failRate: 1 });
    try {
      await http(stack.baseUrl, 'POST', `/orders/${waiting}/cancel`, { token: customer });
      await eventually(
        async () => (await describePending(waiting)).some((p) => p.activityType?.name === 'voidAuthorization' && (p.attempt ?? 0) > 2),
        60_000,
        200,
      );
      const list = await get('/admin/orders?attention=true');
      const listed = list.body.orders.find((o: { orderId: string }) => o.orderId === waiting);
      expect(listed.findings).toEqual([
        expect.objectContaining({
          kind: 'COMPENSATION_RETRYING',
          activityType: 'voidAuthorization',
          stage: expect.stringMatching(/^AWAITING_RESTAURANT · voidAuthorization/),
        }),
      ]);
    } finally {
      stack.psp.setFaults({ failRate: 0 });
    }
    // The desk retries the compensation now; the order closes CANCELLED with the hold released.
    expect((await act(waiting, 'retry', { reason: 'PSP is back: release the hold now' })).body.result.details.activityType).toBe('voidAuthorization');
    await waitForOrder(stack, customer, waiting, ['CANCELLED'], 30_000);

    // The PSP refunds a confirmed order behind our back: the audit's PSP check finds it.
    const confirmed = await order(AUTO, 2, ['CONFIRMED']);
    const refund = await fetch(`${stack.pspUrl}/v1/authorizations/pay_${confirmed}/refund`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': `manual-refund-${confirmed}` },
      body: '{}',
    });
    expect(refund.status).toBe(200);
    const list = await get('/admin/orders?attention=true');
    const mismatch = list.body.orders.find((o: { orderId: string }) => o.orderId === confirmed);
    expect(mismatch.findings.map((f: { kind: string; pspKind: string; stage: string }) => [f.kind, f.pspKind, f.stage])).toEqual([
      ['PSP_MISMATCH', 'CONFIRMED_WITHOUT_PSP_CAPTURE', 'CONFIRMED'],
      ['PSP_MISMATCH', 'PSP_BOOKS_DISAGREE', 'CONFIRMED'],
    ]);
    expect((await story(confirmed)).psp.findings.map((f: { kind: string }) => f.kind)).toEqual(['CONFIRMED_WITHOUT_PSP_CAPTURE', 'PSP_BOOKS_DISAGREE']);
  });

  it('cancel before the decision: the saga compensates and closes CANCELLED/OPERATOR_CANCELLED; audited; the same key twice is one action', async () => {
    const orderId = await order(MANUAL, 4, ['AWAITING_RESTAURANT']);
    const key = `cancel-${orderId}`;
    const first = await act(orderId, 'cancel', { reason: 'customer phoned: wrong address' }, key);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      action: 'cancel',
      operator: 'ops-1',
      reason: 'customer phoned: wrong address',
      status: 'DONE',
      finishedAt: expect.any(String),
    });
    const rows = await rowsOf(stack, orderId);
    expect(rows.order).toMatchObject({ status: 'CANCELLED', failure_reason: 'OPERATOR_CANCELLED', payment_status: 'VOIDED' });
    expect(rows.ticket.status).toBe('CANCELLED');
    expect(stack.psp.authorizations.get(`pay_${orderId}`)?.status).toBe('VOIDED');

    const second = await act(orderId, 'cancel', { reason: 'customer phoned: wrong address' }, key);
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
    expect(await stack.dbs.orders('operator_actions').where({ order_id: orderId })).toHaveLength(1);
    expect((await act(orderId, 'cancel', { reason: 'another reason' }, key)).body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');

    const logged = logLines.filter((l) => l.msg === 'operator action' && l.orderId === orderId);
    expect(logged).toEqual([
      expect.objectContaining({
        actionId: first.body.actionId,
        action: 'cancel',
        operator: 'ops-1',
        reason: 'customer phoned: wrong address',
        outcome: 'DONE',
        httpStatus: 200,
        reqId: expect.any(String),
      }),
    ]);
    expect(lines(await story(orderId), 'operator')).toEqual(['CANCEL_REQUESTED', 'CANCEL_DONE']);
  });

  it('cancel after the decision is refused with 409 PAST_DECISION (the saga finishes what the restaurant decided); refusals are audited and replayed too', async () => {
    const orderId = await order(MANUAL, 5, ['AWAITING_RESTAURANT']);
    // A slow PSP keeps the accepted order capturing (still AWAITING_RESTAURANT) for a while.
    stack.psp.setFaults({ delayMs: 6000 });
    try {
      await http(stack.baseUrl, 'POST', `/restaurants/${MANUAL}/orders/${orderId}/accept`, { token: restaurant });
      const key = `late-${orderId}`;
      const refused = await act(orderId, 'cancel', { reason: 'too late?' }, key);
      expect(refused.status).toBe(409);
      expect(refused.body.error).toMatchObject({ code: 'PAST_DECISION', details: { decision: 'ACCEPT', actionId: expect.any(String) } });
      const replay = await act(orderId, 'cancel', { reason: 'too late?' }, key);
      expect(replay.status).toBe(409);
      expect(replay.body.error).toMatchObject({ code: 'PAST_DECISION', details: { actionId: refused.body.error.details.actionId, replayed: true } });
      expect(await stack.dbs.orders('operator_actions').where({ order_id: orderId })).toEqual([
        expect.objectContaining({ status: 'REFUSED', http_status: 409 }),
      ]);
    } finally {
      stack.psp.setFaults({ delayMs: 0 });
    }
    await waitForOrder(stack, customer, orderId, ['CONFIRMED'], 60_000);
    expect((await act(orderId, 'cancel', { reason: 'now?' })).body.error.code).toBe('ORDER_CLOSED');
    expect(lines(await story(orderId), 'operator')).toEqual(['CANCEL_REQUESTED', 'CANCEL_REFUSED', 'CANCEL_REQUESTED', 'CANCEL_REFUSED']);
  });

  it('actions need a reason and an Idempotency-Key; a running saga with nothing to retry or repair says so', async () => {
    const orderId = await order(MANUAL, 1, ['AWAITING_RESTAURANT']);
    expect((await act(orderId, 'cancel', {})).body.error.code).toBe('VALIDATION_FAILED');
    expect((await act(orderId, 'cancel', { reason: '  ' })).body.error.code).toBe('VALIDATION_FAILED');
    const noKey = await http(stack.baseUrl, 'POST', `/admin/orders/${orderId}/cancel`, { token: admin, body: { reason: 'x' } });
    expect(noKey.body.error.code).toBe('IDEMPOTENCY_KEY_REQUIRED');
    expect((await act('ord_nope', 'cancel', { reason: 'x' })).status).toBe(404);
    const retry = await act(orderId, 'retry', { reason: 'nothing is failing' });
    expect(retry.status).toBe(409);
    expect(retry.body.error.code).toBe('NO_STEP_TO_RETRY');
    const reconcile = await act(orderId, 'reconcile', { reason: 'check it' });
    expect(reconcile.status).toBe(200);
    expect(reconcile.body.result).toMatchObject({ message: 'left alone: its saga is running', details: { outcome: 'leftAlone', sagaStatus: 'RUNNING' } });
    expect((await rowsOf(stack, orderId)).order.status).toBe('AWAITING_RESTAURANT');
  });
});
