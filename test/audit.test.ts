import { createTestDatabases, type TestDatabases } from './support/databases';
import { formatReport, violationCount } from '../ops/audit';
import { auditDatabases } from './support/audit';
import { seedRestaurants, restaurantIdFor } from '../db/seed';

// The audit against hand-made rows: each invariant of docs/design.md between the three databases,
// broken once, must be reported. Rows are the ones the payment activities write (one CAPTURE event
// under the key pay_<orderId>:capture). Double charges and the PSP's books: test/audit-psp.test.ts,
// with real sagas.
describe('consistency audit', () => {
  let dbs: TestDatabases;
  beforeAll(async () => {
    dbs = await createTestDatabases('audit');
    await seedRestaurants(dbs.restaurants, { restaurants: 1, itemsPerRestaurant: 1 });
  });
  afterAll(async () => {
    await dbs.destroy();
  });

  const r = restaurantIdFor(1);
  async function order(id: string, status: string, opts: { payment?: string; ticket?: string; captured?: boolean; amount?: number; ageSeconds?: number } = {}) {
    const at = new Date(Date.now() - (opts.ageSeconds ?? 0) * 1000);
    await dbs.orders('orders').insert({
      order_id: id,
      customer_id: 'c',
      restaurant_id: r,
      status,
      total_amount: 10000,
      delivery_address: 'x',
      workflow_id: `order-${id}`,
      created_at: at,
      updated_at: at,
    });
    if (opts.payment) {
      await dbs.payments('payments').insert({ payment_id: `pay_${id}`, order_id: id, amount: opts.amount ?? 10000, status: opts.payment });
      if (opts.captured ?? opts.payment === 'CAPTURED') {
        await dbs
          .payments('payment_events')
          .insert({ payment_id: `pay_${id}`, order_id: id, kind: 'CAPTURE', amount: opts.amount ?? 10000, idempotency_key: `pay_${id}:capture` });
      }
    }
    if (opts.ticket) await dbs.restaurants('tickets').insert({ ticket_id: `tkt_${id}`, order_id: id, restaurant_id: r, status: opts.ticket, items: '[]' });
  }

  const audit = () => auditDatabases(dbs, { stuckAfterSeconds: 600, batchSize: 3 });

  it('finds nothing wrong in consistent orders', async () => {
    await order('ok_confirmed', 'CONFIRMED', { payment: 'CAPTURED', ticket: 'ACCEPTED' });
    await order('ok_declined', 'REJECTED', { payment: 'DECLINED' });
    await order('ok_voided', 'REJECTED', { payment: 'VOIDED', ticket: 'REJECTED' });
    await order('ok_refunded', 'REJECTED', { payment: 'REFUNDED', ticket: 'CANCELLED', captured: true });
    await order('ok_cancelled', 'CANCELLED', { payment: 'VOIDED', ticket: 'CANCELLED' });
    await order('ok_pending_recent', 'AWAITING_RESTAURANT', { payment: 'AUTHORIZED', ticket: 'PENDING' });
    const report = await audit();
    expect(report.orders).toBe(6);
    expect(violationCount(report)).toBe(0);
  });

  it('reports each broken invariant with the order id and a link to its saga', async () => {
    await order('bad_confirmed_no_capture', 'CONFIRMED', { payment: 'AUTHORIZED', ticket: 'ACCEPTED' });
    await order('bad_confirmed_wrong_amount', 'CONFIRMED', { payment: 'CAPTURED', ticket: 'ACCEPTED', amount: 9000 });
    await order('bad_confirmed_ticket', 'CONFIRMED', { payment: 'CAPTURED', ticket: 'PENDING' });
    await order('bad_rejected_captured', 'REJECTED', { payment: 'CAPTURED', ticket: 'REJECTED' });
    await order('bad_cancelled_held', 'CANCELLED', { payment: 'AUTHORIZED', ticket: 'CANCELLED' });
    await order('bad_rejected_ticket', 'REJECTED', { payment: 'VOIDED', ticket: 'ACCEPTED' });
    await order('bad_stuck', 'PENDING', { ageSeconds: 3600 });
    await dbs.payments('payments').insert({ payment_id: 'pay_ghost', order_id: 'ghost_order', amount: 1, status: 'AUTHORIZED' });
    await dbs.restaurants('tickets').insert({ ticket_id: 'tkt_ghost', order_id: 'ghost_ticket', restaurant_id: r, status: 'PENDING', items: '[]' });

    const report = await audit();
    const kinds = (id: string) =>
      report.violations
        .filter((v) => v.orderId === id)
        .map((v) => v.kind)
        .sort();
    expect(kinds('bad_confirmed_no_capture')).toEqual(['CONFIRMED_WITHOUT_CAPTURE']);
    expect(kinds('bad_confirmed_wrong_amount')).toEqual(['CONFIRMED_WITHOUT_CAPTURE']);
    expect(kinds('bad_confirmed_ticket')).toEqual(['CONFIRMED_WITHOUT_ACCEPTED_TICKET']);
    expect(kinds('bad_rejected_captured')).toEqual(['CAPTURED_WITHOUT_CONFIRMATION']);
    expect(kinds('bad_cancelled_held')).toEqual(['FAILED_WITH_MONEY_KEPT']);
    expect(kinds('bad_rejected_ticket')).toEqual(['FAILED_WITH_OPEN_TICKET']);
    expect(kinds('bad_stuck')).toEqual(['STUCK']);
    expect(kinds('ghost_order')).toEqual(['PAYMENT_WITHOUT_ORDER']);
    expect(kinds('ghost_ticket')).toEqual(['TICKET_WITHOUT_ORDER']);
    expect(kinds('ok_confirmed')).toEqual([]);
    expect(report.doubleCharges).toBe(0);
    expect(report.psp).toBeUndefined();
    expect(report.violations[0]!.workflowUrl).toMatch(/^http:\/\/ui\/namespaces\/default\/workflows\/order-/);
    expect(formatReport(report)).toContain('Violations: 9');
  });
});
