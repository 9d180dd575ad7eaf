import { randomBytes } from 'node:crypto';
import { ensureDatabase } from '../../lib/node/pg-admin';
import { createDb, type Db } from '../../db/knex';
import { migrateLatest, type DatabaseName } from '../../db/migrations';

export interface TestDatabases {
  urls: Record<DatabaseName, string>;
  orders: Db;
  payments: Db;
  restaurants: Db;
  menuRead: Db;
  destroy(): Promise<void>;
}

function withDatabase(adminUrl: string, name: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * Fresh, migrated databases for one test file: orders/payments/restaurants on the primary instance,
 * menu_read on the read instance (both started by global-setup.ts).
 */
export async function createTestDatabases(label: string): Promise<TestDatabases> {
  const primaryAdmin = process.env.TEST_PG_PRIMARY_ADMIN_URL;
  const readAdmin = process.env.TEST_PG_READ_ADMIN_URL;
  if (!primaryAdmin || !readAdmin) throw new Error('global-setup did not start Postgres');
  const suffix = `${label
    .replace(/[^a-z0-9]/gi, '')
    .toLowerCase()
    .slice(0, 20)}_${randomBytes(3).toString('hex')}`;
  const names: Record<DatabaseName, string> = {
    orders: `orders_${suffix}`,
    payments: `payments_${suffix}`,
    restaurants: `restaurants_${suffix}`,
    menu_read: `menu_read_${suffix}`,
  };
  const urls: Record<DatabaseName, string> = {
    orders: withDatabase(primaryAdmin, names.orders),
    payments: withDatabase(primaryAdmin, names.payments),
    restaurants: withDatabase(primaryAdmin, names.restaurants),
    menu_read: withDatabase(readAdmin, names.menu_read),
  };
  await Promise.all([
    ensureDatabase(primaryAdmin, names.orders),
    ensureDatabase(primaryAdmin, names.payments),
    ensureDatabase(primaryAdmin, names.restaurants),
    ensureDatabase(readAdmin, names.menu_read),
  ]);
  const dbs = {
    orders: createDb(urls.orders, 5),
    payments: createDb(urls.payments, 5),
    restaurants: createDb(urls.restaurants, 5),
    menuRead: createDb(urls.menu_read, 5),
  };
  await Promise.all([
    migrateLatest(dbs.orders, 'orders'),
    migrateLatest(dbs.payments, 'payments'),
    migrateLatest(dbs.restaurants, 'restaurants'),
    migrateLatest(dbs.menuRead, 'menu_read'),
  ]);
  return {
    urls,
    ...dbs,
    async destroy() {
      await Promise.all(Object.values(dbs).map((d) => d.destroy()));
    },
  };
}
