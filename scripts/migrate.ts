// One-shot job for a deployment (docker-compose.yml's `migrate`): create the database roles and each
// service's database when missing, migrate each as its owner role, seed the demo restaurants, and
// grant each service's role its rights (db/roles.ts). Safe to run again: every step is idempotent
// (test/migrations.test.ts, test/db-roles.test.ts); a second run also resets the roles' passwords.
//   node --import tsx scripts/migrate.ts            migrate and seed
//   node --import tsx scripts/migrate.ts --no-seed  migrate only
// Env: ORDERS_DATABASE_URL, PAYMENTS_DATABASE_URL, RESTAURANTS_DATABASE_URL, MENU_READ_DATABASE_URL (and
// MENU_READ_REPLICA_DATABASE_URLS, further read replicas' menu_read, comma-separated) as the superuser
// (the only process that holds it), CDC_PUBLICATION, and every role's password:
// DB_PASSWORD_ORDERS_SERVICE, _PAYMENTS_SERVICE, _PAYMENTS_READER, _RESTAURANTS_SERVICE,
// _MENU_PROJECTOR, _MENU_READER.
import type { DatabaseName } from '../db/migrations';
import { passwordVariable, SERVICE_ROLE_NAMES, setUpDatabases, type DatabaseTarget, type ServiceRole } from '../db/roles';
import { seedRestaurants } from '../db/seed';
import { loadConfig } from '../lib/node/config';
import { createLogger } from '../lib/node/logger';

function target(url: string): DatabaseTarget {
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.slice(1));
  u.pathname = '/postgres';
  return { adminUrl: u.toString(), name };
}

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger('migrate', config.LOG_LEVEL);
  const missing = SERVICE_ROLE_NAMES.map(passwordVariable).filter((v) => !process.env[v]);
  if (missing.length > 0) throw new Error(`Set the database roles' passwords: ${missing.join(', ')}`);
  const passwords = Object.fromEntries(SERVICE_ROLE_NAMES.map((r) => [r, process.env[passwordVariable(r)]!])) as Record<ServiceRole, string>;
  const targets: Record<DatabaseName, DatabaseTarget> = {
    orders: target(config.ORDERS_DATABASE_URL),
    payments: target(config.PAYMENTS_DATABASE_URL),
    restaurants: target(config.RESTAURANTS_DATABASE_URL),
    menu_read: target(config.MENU_READ_DATABASE_URL),
  };
  const seed = !process.argv.includes('--no-seed');
  await setUpDatabases({
    targets,
    passwords,
    publication: config.CDC_PUBLICATION,
    afterMigrate: async (name, db, applied) => {
      const seeded = name === 'restaurants' && seed ? await seedRestaurants(db) : undefined;
      logger.info({ database: name, host: new URL(targets[name].adminUrl).host, applied, seeded }, 'database migrated');
    },
  });
  // Every further read replica: the same menu_read database, roles and grants on its own instance
  // (as harness/local-stack.ts sets up `npm start -- --read-replicas N`); the publication is the primary's.
  for (const url of config.MENU_READ_REPLICA_DATABASE_URLS.split(',').filter(Boolean)) {
    const replica = target(url.trim());
    await setUpDatabases({
      targets: { menu_read: replica },
      passwords,
      publication: config.CDC_PUBLICATION,
      afterMigrate: async (name, _db, applied) => logger.info({ database: name, host: new URL(replica.adminUrl).host, applied }, 'read replica migrated'),
    });
  }
  logger.info({ roles: SERVICE_ROLE_NAMES }, 'roles granted');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
