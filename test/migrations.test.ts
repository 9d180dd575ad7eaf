import { createTestDatabases, type TestDatabases } from './support/databases';
import { seedRestaurants } from '../db/seed';
import { migrateLatest } from '../db/migrations';
import { ordersMigrations } from '../db/migrations/orders';

describe('migrations and seed', () => {
  let dbs: TestDatabases;
  beforeAll(async () => {
    dbs = await createTestDatabases('migrations');
  });
  afterAll(async () => {
    await dbs.destroy();
  });

  it('creates every table and is a no-op the second time', async () => {
    expect(await migrateLatest(dbs.orders, 'orders')).toEqual([]);
    for (const table of ['orders', 'order_items', 'order_status_history', 'idempotency_keys']) {
      expect(await dbs.orders.schema.hasTable(table)).toBe(true);
    }
    expect(await dbs.payments.schema.hasTable('payment_events')).toBe(true);
    expect(await dbs.restaurants.schema.hasTable('tickets')).toBe(true);
    expect(await dbs.menuRead.schema.hasTable('menu_items_read')).toBe(true);
  });

  it('0005 removes the card token of every order that has left PENDING, and keeps it for PENDING ones', async () => {
    const row = (orderId: string, status: string) => ({
      order_id: orderId,
      customer_id: 'c',
      restaurant_id: 'rst_0001',
      status,
      total_amount: 1000,
      delivery_address: 'x',
      card_token: 'tok_ok',
      workflow_id: `order-${orderId}`,
    });
    const statuses = ['PENDING', 'AWAITING_RESTAURANT', 'CONFIRMED', 'REJECTED', 'CANCELLED'];
    await dbs.orders('orders').insert(statuses.map((s) => row(`ord_retention_${s}`, s)));
    await ordersMigrations.find((m) => m.name === '0005_orders_card_token_retention')!.up(dbs.orders);
    const rows = await dbs
      .orders('orders')
      .whereIn(
        'order_id',
        statuses.map((s) => `ord_retention_${s}`),
      )
      .select('status', 'card_token');
    expect(Object.fromEntries(rows.map((r) => [r.status, r.card_token]))).toEqual({
      PENDING: 'tok_ok',
      AWAITING_RESTAURANT: null,
      CONFIRMED: null,
      REJECTED: null,
      CANCELLED: null,
    });
    await dbs
      .orders('orders')
      .whereIn(
        'order_id',
        statuses.map((s) => `ord_retention_${s}`),
      )
      .delete();
  });

  it('seeds 50 restaurants with 10 items each, idempotently, some auto-accepting', async () => {
    await seedRestaurants(dbs.restaurants);
    await seedRestaurants(dbs.restaurants);
    const restaurants = (await dbs.restaurants('restaurants').count('* as count').first())?.count;
    const items = (await dbs.restaurants('menu_items').count('* as count').first())?.count;
    const auto = (await dbs.restaurants('restaurants').where({ auto_accept: true }).count('* as count').first())?.count;
    expect(Number(restaurants)).toBe(50);
    expect(Number(items)).toBe(500);
    expect(Number(auto)).toBeGreaterThan(0);
    expect(Number(auto)).toBeLessThan(50);
  });
});
