import { randomBytes } from 'node:crypto';
import { createDb, type Db } from '../../db/knex';
import { type DatabaseName } from '../../db/migrations';
import { roleUrl, setUpDatabases, SERVICE_ROLE_NAMES, type DatabaseTarget, type ServiceRole } from '../../db/roles';

/** The test clusters' service role passwords (derived: the clusters live for one run, on 127.0.0.1). */
export const TEST_ROLE_PASSWORDS = Object.fromEntries(SERVICE_ROLE_NAMES.map((r) => [r, `test-${r}-password`])) as Record<ServiceRole, string>;
/** The CDC publication every test stack's projector streams (created by the restaurants owner). */
export const TEST_PUBLICATION = 'menu_cdc';

export interface TestDatabases {
  /** Superuser URLs: tests arrange and inspect rows through these (and the pools below). */
  urls: Record<DatabaseName, string>;
  /** What a process of `role` connects to `database` with (db/roles.ts's matrix, as in production). */
  roleUrl(role: ServiceRole, database: DatabaseName): string;
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
 * menu_read on the read instance (both started by global-setup.ts), set up as in production
 * (db/roles.ts): owned by their owner roles, migrated as them, each service role granted its rights.
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
  const targets: Record<DatabaseName, DatabaseTarget> = {
    orders: { adminUrl: primaryAdmin, name: names.orders },
    payments: { adminUrl: primaryAdmin, name: names.payments },
    restaurants: { adminUrl: primaryAdmin, name: names.restaurants },
    menu_read: { adminUrl: readAdmin, name: names.menu_read },
  };
  await setUpDatabases({ targets, passwords: TEST_ROLE_PASSWORDS, publication: TEST_PUBLICATION });
  const dbs = {
    orders: createDb(urls.orders, 5),
    payments: createDb(urls.payments, 5),
    restaurants: createDb(urls.restaurants, 5),
    menuRead: createDb(urls.menu_read, 5),
  };
  return {
    urls,
    roleUrl: (role, database) => roleUrl(targets[database], role, TEST_ROLE_PASSWORDS[role]),
    ...dbs,
    async destroy() {
      await Promise.all(Object.values(dbs).map((d) => d.destroy()));
    },
  };
}
