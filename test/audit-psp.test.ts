import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { menuIdFor, restaurantIdFor } from '../db/seed';
import { createPspClient, type PspClient } from '../activities/psp-client';
import { formatReport, violationCount, type AuditReport } from '../ops/audit';
import { auditDatabases } from './support/audit';
import { http, startStack, type TestStack } from './support/stack';
import { placeOrder, waitForOrder } from './support/orders';

// The audit reconciling orders with the PSP's own books (its settlement report), on real sagas:
// every order here went through the real saga (Temporal, Postgres, the PSP sandbox over HTTP).
// Then a buggy component acts on the PSP directly, with the real PSP client, as it would in
// production (a payment retry that forgets the first one, a back-office refund or capture, a
// checkout that charged for an order it never stored), and the audit must name what it did.
// Keys: the payment service's own (pay_<orderId>:<op>) where the buggy component reuses its
// reference, else that component's own keys; no database row is written by hand.

const AUTO = restaurantIdFor(3); // auto-accepts
const MANUAL = restaurantIdFor(1); // waits for a decision
const ROOT = path.resolve(__dirname, '..');

describe("audit --psp: every order against the PSP's books", () => {
  let stack: TestStack;
  let customer: string;
  let restaurant: string;
  let psp: PspClient;

  beforeAll(async () => {
    stack = await startStack('auditpsp');
    customer = await stack.token({ role: 'customer', sub: 'cust-audit' });
    restaurant = await stack.token({ role: 'restaurant', sub: 'owner-audit', restaurantId: MANUAL });
    psp = createPspClient({ baseUrl: stack.pspUrl, timeoutMs: 5000 });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  /** A real order through the saga, left where `until` says. */
  async function order(until: 'CONFIRMED' | 'DECLINED' | 'RESTAURANT_REJECTED' | 'CANCELLED' | 'AWAITING_RESTAURANT' | 'ACCEPTED_BY_RESTAURANT') {
    const manual = until !== 'CONFIRMED' && until !== 'DECLINED';
    const placed = await placeOrder(stack, customer, {
      restaurantId: manual ? MANUAL : AUTO,
      items: [{ menuId: manual ? menuIdFor(1, 1) : menuIdFor(3, 1), quantity: 2 }],
      cardToken: until === 'DECLINED' ? 'tok_decline' : 'tok_ok',
    });
    expect(placed.status).toBe(202);
    const { orderId, totalAmount } = placed.body as { orderId: string; totalAmount: number };
    if (manual) await waitForOrder(stack, customer, orderId, ['AWAITING_RESTAURANT']);
    const decide = (what: string, token: string, url: string) =>
      http(stack.baseUrl, 'POST', url, { token, ...(what === 'reject' ? { body: { reason: '재료 소진' } } : {}) });
    if (until === 'RESTAURANT_REJECTED') expect((await decide('reject', restaurant, `/restaurants/${MANUAL}/orders/${orderId}/reject`)).status).toBe(200);
    if (until === 'ACCEPTED_BY_RESTAURANT') expect((await decide('accept', restaurant, `/restaurants/${MANUAL}/orders/${orderId}/accept`)).status).toBe(200);
    if (until === 'CANCELLED') expect((await decide('cancel', customer, `/orders/${orderId}/cancel`)).status).toBe(200);
    const final = {
      CONFIRMED: 'CONFIRMED',
      ACCEPTED_BY_RESTAURANT: 'CONFIRMED',
      DECLINED: 'REJECTED',
      RESTAURANT_REJECTED: 'REJECTED',
      CANCELLED: 'CANCELLED',
      AWAITING_RESTAURANT: 'AWAITING_RESTAURANT',
    }[until];
    await waitForOrder(stack, customer, orderId, [final]);
    return { orderId, total: totalAmount, reference: `pay_${orderId}` };
  }

  // Small pages, so the audit reads the report across many of them.
  const audit = () => auditDatabases(stack.dbs, { stuckAfterSeconds: 3600, batchSize: 3, psp: { url: stack.pspUrl, pageSize: 4 } });
  const kinds = (report: AuditReport, id: string) =>
    report.violations
      .filter((v) => v.orderId === id)
      .map((v) => v.kind)
      .sort();

  /** `npm run audit` itself, against this stack's databases and PSP (asynchronously: the PSP answers from this process). */
  function auditCli(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'scripts/audit.ts', ...args],
        { cwd: ROOT, env: { ...process.env, ...stack.serviceEnv() }, encoding: 'utf8', timeout: 60_000 },
        (err, stdout, stderr) => {
          resolve({ status: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
        },
      );
    });
  }

  let inFlight: { orderId: string };

  it('finds nothing wrong after real orders of every outcome, and reads the whole report', async () => {
    const outcomes = await Promise.all([
      order('CONFIRMED'),
      order('ACCEPTED_BY_RESTAURANT'),
      order('DECLINED'),
      order('RESTAURANT_REJECTED'),
      order('CANCELLED'),
      order('AWAITING_RESTAURANT'),
    ]);
    inFlight = outcomes[5]!;
    const report = await audit();
    expect(report.violations).toEqual([]);
    expect(violationCount(report)).toBe(0);
    expect(report.byStatus).toEqual({ CONFIRMED: 2, REJECTED: 2, CANCELLED: 1, AWAITING_RESTAURANT: 1 });
    expect(report.psp).toMatchObject({
      operations: stack.psp.operations.length,
      authorizations: 6, // five holds and one decline
      captureEffects: 2,
      capturesStanding: 2,
      holdsOpen: 1, // the order still waiting for its restaurant: a saga in flight, not a violation
      refunds: 0,
      voids: 2,
    });
    expect(formatReport(report)).toMatch(/PSP books \(http:\/\/127\.0\.0\.1:\d+\):\n {2}operations read +\d+/);

    const cli = await auditCli('--psp', '--stuck-after', '3600');
    expect({ status: cli.status, stderr: cli.stderr }).toEqual({ status: 0, stderr: '' });
    expect(cli.stdout).toContain('Violations: 0');
    expect(cli.stdout).toContain('holds open             1');
  });

  it("names what a buggy component did at the PSP behind the saga's back", async () => {
    const [refunded, doubled, declined, rejected, shortCaptured] = await Promise.all([
      order('CONFIRMED'),
      order('CONFIRMED'),
      order('DECLINED'),
      order('RESTAURANT_REJECTED'),
      order('AWAITING_RESTAURANT'),
    ]);

    // A back-office refund of a delivered order, the payments service not told: the order stays CONFIRMED.
    await psp.refund({ reference: refunded.reference, amount: refunded.total, idempotencyKey: `${refunded.reference}:refund` });

    // A payment retry that did not see the first payment: a second reference for the same order, captured.
    const second = `${doubled.reference}_retry`;
    await psp.authorize({
      reference: second,
      orderReference: doubled.orderId,
      amount: doubled.total,
      cardToken: 'tok_ok',
      idempotencyKey: `${second}:authorize`,
    });
    await psp.capture({ reference: second, amount: doubled.total, idempotencyKey: `${second}:capture` });

    // After the card was declined, "try another card" holds money for the order and never lets it go.
    const retried = `${declined.reference}_retry`;
    await psp.authorize({
      reference: retried,
      orderReference: declined.orderId,
      amount: declined.total,
      cardToken: 'tok_ok',
      idempotencyKey: `${retried}:authorize`,
    });

    // The same for an order the restaurant rejected, and that retry even captures.
    const taken = `${rejected.reference}_retry`;
    await psp.authorize({
      reference: taken,
      orderReference: rejected.orderId,
      amount: rejected.total,
      cardToken: 'tok_ok',
      idempotencyKey: `${taken}:authorize`,
    });
    await psp.capture({ reference: taken, amount: rejected.total, idempotencyKey: `${taken}:capture` });

    // A dispatch service captures the hold early with a wrong amount; the saga's own capture then
    // finds it CAPTURED and confirms the order.
    await psp.capture({ reference: shortCaptured.reference, amount: shortCaptured.total - 100, idempotencyKey: `dispatch-${shortCaptured.orderId}:capture` });
    expect((await http(stack.baseUrl, 'POST', `/restaurants/${MANUAL}/orders/${shortCaptured.orderId}/accept`, { token: restaurant })).body.status).toBe(
      'CONFIRMED',
    );

    // A checkout that charged and then failed to store its order; and a void for an unknown order
    // (a tombstone: holds nothing, so it is not a payment without order).
    const ghost = `ord_${randomUUID().replace(/-/g, '')}`;
    await psp.authorize({ reference: `pay_${ghost}`, amount: 5000, cardToken: 'tok_ok', idempotencyKey: `pay_${ghost}:authorize` });
    const ghostVoid = `ord_${randomUUID().replace(/-/g, '')}`;
    await psp.void({ reference: `pay_${ghostVoid}`, idempotencyKey: `pay_${ghostVoid}:void` });

    // An order in flight is not judged on its hold, even a wrong one.
    const extra = `pay_${inFlight.orderId}_extra`;
    await psp.authorize({ reference: extra, orderReference: inFlight.orderId, amount: 1, cardToken: 'tok_ok', idempotencyKey: `${extra}:authorize` });

    const report = await audit();
    expect(kinds(report, refunded.orderId)).toEqual(['CONFIRMED_WITHOUT_PSP_CAPTURE', 'PSP_BOOKS_DISAGREE']);
    expect(kinds(report, doubled.orderId)).toEqual(['DOUBLE_CHARGE']);
    expect(kinds(report, declined.orderId)).toEqual(['HOLD_OPEN_AT_PSP']);
    expect(kinds(report, rejected.orderId)).toEqual(['CAPTURED_AT_PSP_NOT_CONFIRMED']);
    expect(kinds(report, shortCaptured.orderId)).toEqual(['PSP_AMOUNT_MISMATCH']);
    expect(kinds(report, ghost)).toEqual(['PSP_PAYMENT_WITHOUT_ORDER']);
    expect(kinds(report, ghostVoid)).toEqual([]);
    expect(kinds(report, inFlight.orderId)).toEqual([]);
    expect(violationCount(report)).toBe(7);
    expect(report.doubleCharges).toBe(1);

    const detail = (id: string) => report.violations.find((v) => v.orderId === id)!.detail;
    expect(detail(doubled.orderId)).toBe(`1 capture(s) in the payments DB, 2 capture effect(s) at the PSP (${doubled.reference}×1, ${second}×1)`);
    expect(report.violations.find((v) => v.kind === 'PSP_BOOKS_DISAGREE')!.detail).toBe(`payments row CAPTURED, PSP ${refunded.reference} REFUNDED`);
    expect(detail(shortCaptured.orderId)).toBe(`total ${shortCaptured.total}, at the PSP: ${shortCaptured.reference} CAPTURED ${shortCaptured.total - 100}`);
    expect(detail(declined.orderId)).toContain(`${retried} AUTHORIZED ${declined.total}`);
    expect(report.violations[0]!.workflowUrl).toMatch(/^http:\/\/ui\/namespaces\/default\/workflows\/order-ord_/);

    const cli = await auditCli('--psp', '--json', '--stuck-after', '3600');
    expect(cli.status).toBe(1);
    const json = JSON.parse(cli.stdout) as AuditReport;
    expect(json.violationsByKind).toEqual(report.violationsByKind);
    expect(json.psp?.captureEffects).toBe(report.psp!.captureEffects);
    // Without --psp the PSP's books are not read: the databases alone look consistent.
    const dbOnly = await auditCli('--stuck-after', '3600');
    expect({ status: dbOnly.status, out: dbOnly.stdout.includes('Violations: 0') }).toEqual({ status: 0, out: true });
  });
});
