import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createPaymentActivities, paymentIdFor } from '../activities/payment';
import { createRestaurantActivities, ticketIdFor } from '../activities/restaurant';
import { createPspClient, type PspClient } from '../activities/psp-client';
import { createPspSandbox, type PspSandbox } from '../psp/sandbox';
import { menuIdFor, restaurantIdFor, seedRestaurants } from '../db/seed';
import { createTestDatabases, type TestDatabases } from './support/databases';

// Every compensation (void, refund, cancel ticket) and every retried payment step, run as the worker
// runs them (in an activity context, with the attempt number Temporal would give) against a real
// payments/restaurants database and the PSP sandbox over HTTP. Each test checks our rows and the
// PSP's books. The cases that trusted our own row instead of the PSP failed on 86fa527.

describe('compensations and retried payment steps, against real rows and the PSP books', () => {
  let dbs: TestDatabases;
  let sandbox: PspSandbox;
  let server: Server;
  let psp: PspClient;
  let payments: ReturnType<typeof createPaymentActivities>;
  let restaurants: ReturnType<typeof createRestaurantActivities>;
  let n = 0;

  const listen = (app: PspSandbox['app']) =>
    new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
  const useSandbox = async (next: PspSandbox) => {
    if (server) await new Promise((r) => server.close(r));
    sandbox = next;
    server = await listen(sandbox.app);
    psp = createPspClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, timeoutMs: 1000 });
    payments = createPaymentActivities({ db: dbs.payments, psp, pspTimeouts: { firstMs: 1000, maxMs: 8000 } });
  };

  beforeAll(async () => {
    dbs = await createTestDatabases('compensations');
    await seedRestaurants(dbs.restaurants, { restaurants: 3, itemsPerRestaurant: 3 });
    restaurants = createRestaurantActivities({ db: dbs.restaurants });
    await useSandbox(createPspSandbox());
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await dbs.destroy();
  });

  /** Runs an activity as attempt `attempt` of its retries would run. */
  // Failures are what several cases expect: keep the SDK's "Activity failed" warnings out of the output.
  const quiet = new DefaultLogger('ERROR');
  const run = <A extends unknown[], R>(fn: (...args: A) => Promise<R>, attempt: number, ...args: A) =>
    new MockActivityEnvironment({ attempt }, { logger: quiet }).run(fn, ...args);
  const newOrder = () => `ord_comp_${++n}_${Date.now()}`;
  const rowOf = (orderId: string) => dbs.payments('payments').where({ order_id: orderId }).first();
  const eventsOf = async (orderId: string) =>
    (await dbs.payments('payment_events').where({ order_id: orderId }).orderBy('id')).map((e: { kind: string }) => e.kind);
  const pspOf = (orderId: string) => sandbox.authorizations.get(paymentIdFor(orderId));
  const authorized = async (amount = 12000) => {
    const orderId = newOrder();
    expect(await run(payments.authorizePayment, 1, { orderId, amount, cardToken: 'tok_ok' })).toBe('AUTHORIZED');
    return orderId;
  };
  /** A capture that took effect at the PSP while its answer never reached us: our row still says AUTHORIZED. */
  const capturedBehindOurBack = async (orderId: string, amount = 12000) => {
    await psp.capture({ reference: paymentIdFor(orderId), amount, idempotencyKey: `${paymentIdFor(orderId)}:capture` });
    expect((await rowOf(orderId)).status).toBe('AUTHORIZED');
  };

  describe('voidAuthorization', () => {
    it('releases a hold: row VOIDED, events AUTHORIZE then VOID, PSP VOIDED', async () => {
      const orderId = await authorized();
      expect(await run(payments.voidAuthorization, 1, { orderId, amount: 12000 })).toBe('VOIDED');
      expect((await rowOf(orderId)).status).toBe('VOIDED');
      expect(await eventsOf(orderId)).toEqual(['AUTHORIZE', 'VOID']);
      expect(pspOf(orderId)?.status).toBe('VOIDED');
      // Run again (a retry after a lost completion): nothing more happens anywhere.
      const effects = { ...sandbox.stats.effects };
      expect(await run(payments.voidAuthorization, 2, { orderId, amount: 12000 })).toBe('VOIDED');
      expect(sandbox.stats.effects).toEqual(effects);
      expect(await eventsOf(orderId)).toEqual(['AUTHORIZE', 'VOID']);
    });

    it('before any authorization: a VOIDED row and a PSP tombstone, so a late authorize holds nothing', async () => {
      const orderId = newOrder();
      expect(await run(payments.voidAuthorization, 1, { orderId, amount: 9000 })).toBe('VOIDED');
      expect(pspOf(orderId)?.status).toBe('VOIDED');
      await expect(run(payments.authorizePayment, 1, { orderId, amount: 9000, cardToken: 'tok_ok' })).rejects.toMatchObject({ type: 'SYSTEM_ERROR' });
      // The PSP refuses the late hold too, if it arrives from a worker that never saw our row.
      const late = await psp.authorize({
        reference: paymentIdFor(orderId),
        amount: 9000,
        cardToken: 'tok_ok',
        idempotencyKey: `${paymentIdFor(orderId)}:authorize`,
      });
      expect(late.status).toBe('VOIDED');
      expect((await rowOf(orderId)).status).toBe('VOIDED');
    });

    it('a hold that turned out captured (the answer was lost) is refunded, not left captured', async () => {
      const orderId = await authorized();
      await capturedBehindOurBack(orderId);
      expect(await run(payments.voidAuthorization, 1, { orderId, amount: 12000 })).toBe('REFUNDED');
      expect(pspOf(orderId)?.status).toBe('REFUNDED');
      expect((await rowOf(orderId)).status).toBe('REFUNDED');
    });

    it('a declined payment stays DECLINED and nothing is sent to void', async () => {
      const orderId = newOrder();
      await expect(run(payments.authorizePayment, 1, { orderId, amount: 5000, cardToken: 'tok_decline' })).rejects.toMatchObject({ type: 'PAYMENT_DECLINED' });
      const voids = sandbox.stats.calls.void ?? 0;
      expect(await run(payments.voidAuthorization, 1, { orderId, amount: 5000 })).toBe('DECLINED');
      expect(sandbox.stats.calls.void ?? 0).toBe(voids);
      expect(pspOf(orderId)?.status).toBe('DECLINED');
    });
  });

  describe('refundPayment', () => {
    it('gives captured money back: row REFUNDED, events AUTHORIZE, CAPTURE, REFUND, PSP REFUNDED; a retry changes nothing', async () => {
      const orderId = await authorized(15000);
      expect(await run(payments.capturePayment, 1, { orderId, amount: 15000 })).toBe('CAPTURED');
      expect(await run(payments.refundPayment, 1, { orderId, amount: 15000 })).toBe('REFUNDED');
      expect((await rowOf(orderId)).status).toBe('REFUNDED');
      expect(await eventsOf(orderId)).toEqual(['AUTHORIZE', 'CAPTURE', 'REFUND']);
      expect(pspOf(orderId)).toMatchObject({ status: 'REFUNDED', amount: 15000 });
      const effects = { ...sandbox.stats.effects };
      expect(await run(payments.refundPayment, 3, { orderId, amount: 15000 })).toBe('REFUNDED');
      expect(sandbox.stats.effects).toEqual(effects);
    });

    it('our row says AUTHORIZED but the PSP captured (an answer lost, then a cancel): the capture is refunded', async () => {
      const orderId = await authorized();
      await capturedBehindOurBack(orderId);
      expect(await run(payments.refundPayment, 1, { orderId, amount: 12000 })).toBe('REFUNDED');
      expect(pspOf(orderId)?.status).toBe('REFUNDED');
      expect((await rowOf(orderId)).status).toBe('REFUNDED');
    });

    it('a capture that never happened is not refunded: the hold is released instead', async () => {
      const orderId = await authorized();
      const refunds = sandbox.stats.calls.refund ?? 0;
      expect(await run(payments.refundPayment, 1, { orderId, amount: 12000 })).toBe('VOIDED');
      expect(sandbox.stats.calls.refund ?? 0).toBe(refunds);
      expect(pspOf(orderId)?.status).toBe('VOIDED');
    });

    it('the PSP refuses (404: it lost its books) — resolved by asking, not by looping: nothing is held there, the row says so', async () => {
      const orderId = await authorized();
      expect(await run(payments.capturePayment, 1, { orderId, amount: 12000 })).toBe('CAPTURED');
      // A processor that forgot this payment: every call about it is a 404 NOT_FOUND.
      await useSandbox(createPspSandbox());
      const final = await run(payments.refundPayment, 1, { orderId, amount: 12000 });
      expect(final).toBe('VOIDED');
      expect((await rowOf(orderId)).status).toBe('VOIDED');
      // A tombstone now guards the reference at the PSP.
      expect(pspOf(orderId)?.status).toBe('VOIDED');
    });
  });

  describe('retried steps look the operation up at the PSP first', () => {
    it('capture whose first answer was lost: the retry finds it CAPTURED and captures nothing twice', async () => {
      const orderId = await authorized();
      await capturedBehindOurBack(orderId);
      const captures = sandbox.stats.calls.capture ?? 0;
      expect(await run(payments.capturePayment, 2, { orderId, amount: 12000 })).toBe('CAPTURED');
      expect(sandbox.stats.calls.capture ?? 0).toBe(captures);
      expect(await eventsOf(orderId)).toEqual(['AUTHORIZE', 'CAPTURE']);
    });

    it('authorize whose first answer was lost: the retry finds the hold and sends nothing again', async () => {
      const orderId = newOrder();
      await dbs.payments('payments').insert({ payment_id: paymentIdFor(orderId), order_id: orderId, amount: 7000, status: 'PENDING' });
      await psp.authorize({ reference: paymentIdFor(orderId), amount: 7000, cardToken: 'tok_ok', idempotencyKey: `${paymentIdFor(orderId)}:authorize` });
      const calls = sandbox.stats.calls.authorize ?? 0;
      expect(await run(payments.authorizePayment, 2, { orderId, amount: 7000, cardToken: 'tok_ok' })).toBe('AUTHORIZED');
      expect(sandbox.stats.calls.authorize ?? 0).toBe(calls);
      expect((await rowOf(orderId)).status).toBe('AUTHORIZED');
    });

    it('a PSP slower than the first timeout: later attempts wait longer and the operation lands once', async () => {
      const orderId = newOrder();
      // 2.5 s per call against a first timeout of 1 s: attempt 1 gives up, attempt 2 (2 s) too, attempt 3 finds it.
      await expect(run(payments.authorizePayment, 1, { orderId, amount: 8000, cardToken: 'tok_slow_2500' })).rejects.toThrow(/PSP authorize failed/);
      await expect(run(payments.authorizePayment, 2, { orderId, amount: 8000, cardToken: 'tok_slow_2500' })).rejects.toThrow(/PSP authorize failed/);
      await new Promise((r) => setTimeout(r, 600));
      expect(await run(payments.authorizePayment, 3, { orderId, amount: 8000, cardToken: 'tok_slow_2500' })).toBe('AUTHORIZED');
      expect(pspOf(orderId)?.status).toBe('AUTHORIZED');
    }, 30000);

    it('syncPaymentFromPsp brings our row to the PSP state without acting at the PSP', async () => {
      const orderId = await authorized();
      await capturedBehindOurBack(orderId);
      const effects = { ...sandbox.stats.effects };
      expect(await run(payments.syncPaymentFromPsp, 1, { orderId })).toBe('CAPTURED');
      expect((await rowOf(orderId)).status).toBe('CAPTURED');
      expect(sandbox.stats.effects).toEqual(effects);
      expect(await run(payments.syncPaymentFromPsp, 1, { orderId: newOrder() })).toBeNull();
    });
  });

  describe('cancelTicket', () => {
    const restaurantId = restaurantIdFor(1);
    const line = async () => {
      const item = await dbs
        .restaurants('menu_items')
        .where({ menu_id: menuIdFor(1, 1) })
        .first();
      return { menuId: item.menu_id, name: item.name, unitPrice: Number(item.price), quantity: 2, menuVersion: item.version };
    };
    const ticketOf = (orderId: string) => dbs.restaurants('tickets').where({ order_id: orderId }).first();

    it('cancels an open ticket, once', async () => {
      const orderId = newOrder();
      const items = [await line()];
      await run(restaurants.createTicket, 1, { orderId, restaurantId, items, totalAmount: items[0]!.unitPrice * 2 });
      expect((await ticketOf(orderId)).status).toBe('PENDING');
      await run(restaurants.cancelTicket, 1, { orderId, restaurantId });
      expect(await ticketOf(orderId)).toMatchObject({ ticket_id: ticketIdFor(orderId), status: 'CANCELLED', reason: 'compensated' });
      await run(restaurants.cancelTicket, 2, { orderId, restaurantId });
      expect((await ticketOf(orderId)).status).toBe('CANCELLED');
    });

    it('before the ticket exists: a CANCELLED tombstone, and a late createTicket opens nothing', async () => {
      const orderId = newOrder();
      await run(restaurants.cancelTicket, 1, { orderId, restaurantId });
      expect(await ticketOf(orderId)).toMatchObject({ status: 'CANCELLED', reason: 'never opened' });
      await expect(run(restaurants.createTicket, 2, { orderId, restaurantId, items: [await line()] })).rejects.toMatchObject({ type: 'SYSTEM_ERROR' });
      expect((await ticketOf(orderId)).status).toBe('CANCELLED');
    });

    it('accepting a ticket cancelled behind the saga: a non-retryable SYSTEM_ERROR (the saga refunds), not a retry for ever', async () => {
      const orderId = newOrder();
      const items = [await line()];
      await run(restaurants.createTicket, 1, { orderId, restaurantId, items, totalAmount: items[0]!.unitPrice * 2 });
      await run(restaurants.cancelTicket, 1, { orderId, restaurantId });
      await expect(run(restaurants.acceptTicket, 1, { orderId })).rejects.toMatchObject({ type: 'SYSTEM_ERROR', nonRetryable: true });
      expect((await ticketOf(orderId)).status).toBe('CANCELLED');
      // An open ticket is accepted, and accepting it again is a no-op.
      const open = newOrder();
      await run(restaurants.createTicket, 1, { orderId: open, restaurantId, items, totalAmount: items[0]!.unitPrice * 2 });
      await run(restaurants.acceptTicket, 1, { orderId: open });
      await run(restaurants.acceptTicket, 2, { orderId: open });
      expect((await ticketOf(open)).status).toBe('ACCEPTED');
    });

    it('with acceptIfAutoAccept: an auto-accept restaurant gets its ticket ACCEPTED, another PENDING; a retry says the same; the compensation cancels an accepted one', async () => {
      // Seeded restaurants: every third auto-accepts (db/seed.ts).
      const auto = restaurantIdFor(3);
      const autoItem = await dbs
        .restaurants('menu_items')
        .where({ menu_id: menuIdFor(3, 1) })
        .first();
      const autoLines = [{ menuId: autoItem.menu_id, name: autoItem.name, unitPrice: Number(autoItem.price), quantity: 1, menuVersion: autoItem.version }];
      const accepted = newOrder();
      const input = { orderId: accepted, restaurantId: auto, items: autoLines, totalAmount: Number(autoItem.price), acceptIfAutoAccept: true };
      expect(await run(restaurants.createTicket, 1, input)).toMatchObject({ autoAccept: true, accepted: true });
      expect((await ticketOf(accepted)).status).toBe('ACCEPTED');
      expect(await run(restaurants.createTicket, 2, input)).toMatchObject({ autoAccept: true, accepted: true });
      await run(restaurants.cancelTicket, 1, { orderId: accepted, restaurantId: auto });
      expect(await ticketOf(accepted)).toMatchObject({ status: 'CANCELLED', reason: 'compensated' });

      const waits = newOrder();
      const items = [await line()];
      expect(
        await run(restaurants.createTicket, 1, { orderId: waits, restaurantId, items, totalAmount: items[0]!.unitPrice * 2, acceptIfAutoAccept: true }),
      ).toMatchObject({ autoAccept: false, accepted: false });
      expect((await ticketOf(waits)).status).toBe('PENDING');
    });

    it('a total that is not the sum of the lines at the restaurant prices: AMOUNT_MISMATCH, no ticket', async () => {
      const orderId = newOrder();
      await expect(run(restaurants.createTicket, 1, { orderId, restaurantId, items: [await line()], totalAmount: 1 })).rejects.toMatchObject({
        type: 'AMOUNT_MISMATCH',
      });
      expect(await ticketOf(orderId)).toBeUndefined();
    });
  });
});
