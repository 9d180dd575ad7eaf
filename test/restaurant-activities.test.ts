import { setTimeout as sleep } from 'node:timers/promises';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createRestaurantActivities } from '../activities/restaurant';
import { createDb, type Db } from '../db/knex';
import { menuIdFor, restaurantIdFor, seedRestaurants } from '../db/seed';
import { createTestDatabases, type TestDatabases } from './support/databases';

// createTicket reads (restaurant, ticket, menu rows) and inserts in two statements. A menu change that
// lands between them must be judged, never a ticket at the old price or on a sold-out item: each case
// holds the insert at a lock while the change happens, as a concurrent restaurant would. They fail
// against an insert without the guard (a ticket at the old price), and the in-flight ones against a
// guard without FOR SHARE (it compares against the row as it was before the change commits).

describe('createTicket, acceptTicket and cancelTicket against the restaurants database, as the restaurant worker', () => {
  let dbs: TestDatabases;
  let worker: Db;
  let restaurants: ReturnType<typeof createRestaurantActivities>;
  let statements = 0;
  let n = 0;
  const restaurantId = restaurantIdFor(1);

  beforeAll(async () => {
    dbs = await createTestDatabases('restaurantacts');
    await seedRestaurants(dbs.restaurants, { restaurants: 2, itemsPerRestaurant: 6 });
    // The worker's own role: FOR SHARE and the insert need its grants.
    worker = createDb(dbs.roleUrl('restaurants_service', 'restaurants'), 3);
    worker.on('query', () => statements++);
    restaurants = createRestaurantActivities({ db: worker });
  });
  afterAll(async () => {
    await worker.destroy();
    await dbs.destroy();
  });

  const quiet = new DefaultLogger('ERROR');
  const run = <A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A) =>
    new MockActivityEnvironment({ attempt: 1 }, { logger: quiet }).run(fn, ...args);
  const newOrder = () => `ord_guard_${++n}_${Date.now()}`;
  const menuRow = (menuId: string) => dbs.restaurants('menu_items').where({ menu_id: menuId }).first();
  const ticketOf = (orderId: string) => dbs.restaurants('tickets').where({ order_id: orderId }).first();
  const lineFor = async (menuId: string, quantity = 1) => {
    const row = await menuRow(menuId);
    return { menuId, name: row.name as string, unitPrice: Number(row.price), quantity, menuVersion: row.version as number };
  };
  const ticketInput = async (menuId: string) => {
    const line = await lineFor(menuId, 2);
    return { orderId: newOrder(), restaurantId, items: [line], totalAmount: line.unitPrice * 2 };
  };

  /** Until a session of this database waits for a lock, or `work` has settled (an implementation that never waits). */
  const waitUntilBlocked = async (work: Promise<unknown>) => {
    let settled = false;
    void work.then(
      () => (settled = true),
      () => (settled = true),
    );
    const deadline = Date.now() + 10_000;
    while (!settled && Date.now() < deadline) {
      const { rows } = await dbs.restaurants.raw(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
      );
      if (rows[0].n > 0) return;
      await sleep(20);
    }
    if (!settled) throw new Error('createTicket neither waited for the lock nor finished');
  };

  /** createTicket while `change` is in flight on the menu row (uncommitted, holding its row lock), committed once createTicket waits. */
  const withChangeInFlight = async (menuId: string, change: Record<string, unknown>, input: Awaited<ReturnType<typeof ticketInput>>) => {
    const trx = await dbs.restaurants.transaction();
    await trx('menu_items')
      .where({ menu_id: menuId })
      .update({ ...change, version: trx.raw('version + 1') });
    const ticket = run(restaurants.createTicket, input);
    ticket.catch(() => undefined);
    try {
      await waitUntilBlocked(ticket);
    } finally {
      await trx.commit();
    }
    return ticket;
  };

  /** createTicket with `change` committed after its read and before its insert (the insert held at a table lock meanwhile). */
  const withChangeCommittedBetween = async (menuId: string, change: Record<string, unknown>, input: Awaited<ReturnType<typeof ticketInput>>) => {
    const gate = await dbs.restaurants.transaction();
    await gate.raw('LOCK TABLE tickets IN SHARE MODE');
    const ticket = run(restaurants.createTicket, input);
    ticket.catch(() => undefined);
    try {
      await waitUntilBlocked(ticket);
      // Bounded: a check that kept the row locked until its insert would make this wait for the gate.
      await dbs.restaurants.transaction(async (trx) => {
        await trx.raw("SET LOCAL lock_timeout = '5s'");
        await trx('menu_items')
          .where({ menu_id: menuId })
          .update({ ...change, version: trx.raw('version + 1') });
      });
    } finally {
      await gate.rollback();
    }
    return ticket;
  };

  it('takes two round trips to open a ticket, one to find it again and one to accept it', async () => {
    const input = await ticketInput(menuIdFor(1, 1));
    statements = 0;
    expect(await run(restaurants.createTicket, input)).toMatchObject({ autoAccept: false, accepted: false });
    expect(statements).toBe(2);
    statements = 0;
    expect(await run(restaurants.createTicket, input)).toMatchObject({ autoAccept: false, accepted: false });
    expect(statements).toBe(1);
    statements = 0;
    await run(restaurants.acceptTicket, { orderId: input.orderId });
    expect(statements).toBe(1);
    expect((await ticketOf(input.orderId)).status).toBe('ACCEPTED');
    // Accepting again is a no-op (a retry after a lost completion).
    await run(restaurants.acceptTicket, { orderId: input.orderId });
    expect((await ticketOf(input.orderId)).status).toBe('ACCEPTED');
  });

  it('a price change in flight during the check: PRICE_CHANGED at the new price, no ticket at the old one', async () => {
    const menuId = menuIdFor(1, 2);
    const input = await ticketInput(menuId);
    const ticket = withChangeInFlight(menuId, { price: input.items[0]!.unitPrice + 1000 }, input);
    await expect(ticket).rejects.toMatchObject({
      type: 'PRICE_CHANGED',
      nonRetryable: true,
      details: [{ menuId, orderedPrice: input.items[0]!.unitPrice, currentPrice: input.items[0]!.unitPrice + 1000 }],
    });
    expect(await ticketOf(input.orderId)).toBeUndefined();
  });

  it('a sold-out committed between the check and the insert: ITEM_UNAVAILABLE, no ticket', async () => {
    const menuId = menuIdFor(1, 3);
    const input = await ticketInput(menuId);
    const ticket = withChangeCommittedBetween(menuId, { status: 'SOLD_OUT' }, input);
    await expect(ticket).rejects.toMatchObject({ type: 'ITEM_UNAVAILABLE', nonRetryable: true, details: [{ menuId }] });
    expect(await ticketOf(input.orderId)).toBeUndefined();
  });

  it('a price change committed between the check and the insert: PRICE_CHANGED, no ticket', async () => {
    const menuId = menuIdFor(1, 4);
    const input = await ticketInput(menuId);
    const ticket = withChangeCommittedBetween(menuId, { price: input.items[0]!.unitPrice + 500 }, input);
    await expect(ticket).rejects.toMatchObject({ type: 'PRICE_CHANGED', details: [{ menuId, currentPrice: input.items[0]!.unitPrice + 500 }] });
    expect(await ticketOf(input.orderId)).toBeUndefined();
  });

  it('a change that leaves the line valid (a new name) in flight: the ticket opens, recording the version it was checked against', async () => {
    const menuId = menuIdFor(1, 5);
    const input = await ticketInput(menuId);
    const before = (await menuRow(menuId)).version as number;
    await expect(withChangeInFlight(menuId, { name: 'renamed' }, input)).resolves.toMatchObject({ accepted: false });
    const ticket = await ticketOf(input.orderId);
    expect(ticket.status).toBe('PENDING');
    expect(ticket.items).toEqual([expect.objectContaining({ menuId, currentVersion: before + 1 })]);
  });

  it('cancelTicket takes two round trips: a tombstone for a ticket never opened, a cancel of an open one, nothing for an unknown restaurant; again is a no-op', async () => {
    const neverOpened = newOrder();
    statements = 0;
    await run(restaurants.cancelTicket, { orderId: neverOpened, restaurantId });
    expect(statements).toBe(2);
    expect(await ticketOf(neverOpened)).toMatchObject({ status: 'CANCELLED', reason: 'never opened' });

    const input = await ticketInput(menuIdFor(1, 2));
    await run(restaurants.createTicket, input);
    statements = 0;
    await run(restaurants.cancelTicket, { orderId: input.orderId, restaurantId });
    expect(statements).toBe(2);
    expect(await ticketOf(input.orderId)).toMatchObject({ status: 'CANCELLED', reason: 'compensated' });
    await run(restaurants.cancelTicket, { orderId: input.orderId, restaurantId });
    expect(await ticketOf(input.orderId)).toMatchObject({ status: 'CANCELLED', reason: 'compensated' });

    const unknown = newOrder();
    statements = 0;
    await run(restaurants.cancelTicket, { orderId: unknown, restaurantId: 'rst_nope' });
    expect(statements).toBe(2);
    expect(await ticketOf(unknown)).toBeUndefined();
  });

  it('the CANCELLED tombstone wins over a later createTicket, and acceptTicket refuses it without retrying', async () => {
    const input = await ticketInput(menuIdFor(1, 6));
    await run(restaurants.cancelTicket, { orderId: input.orderId, restaurantId });
    await expect(run(restaurants.createTicket, input)).rejects.toMatchObject({ type: 'SYSTEM_ERROR', nonRetryable: true });
    await expect(run(restaurants.acceptTicket, { orderId: input.orderId })).rejects.toMatchObject({ type: 'SYSTEM_ERROR', nonRetryable: true });
    await expect(run(restaurants.acceptTicket, { orderId: newOrder() })).rejects.toThrow(/is missing, cannot accept/);
    expect(await ticketOf(input.orderId)).toMatchObject({ status: 'CANCELLED', reason: 'never opened' });
  });

  it('an unknown restaurant or an item of another restaurant: ITEM_UNAVAILABLE', async () => {
    const input = await ticketInput(menuIdFor(1, 1));
    await expect(run(restaurants.createTicket, { ...input, restaurantId: 'rst_nope' })).rejects.toMatchObject({ type: 'ITEM_UNAVAILABLE' });
    await expect(run(restaurants.createTicket, { ...input, restaurantId: restaurantIdFor(2) })).rejects.toMatchObject({ type: 'ITEM_UNAVAILABLE' });
    expect(await ticketOf(input.orderId)).toBeUndefined();
  });
});
