// One-shot job for a deployment (docker-compose.yml's `migrate`): create each service's database when
// it is missing, bring its schema up to date and seed the demo restaurants. Safe to run again: every
// step is idempotent (test/migrations.test.ts).
//   node --import tsx scripts/migrate.ts            migrate and seed
//   node --import tsx scripts/migrate.ts --no-seed  migrate only
// Env: ORDERS_DATABASE_URL, PAYMENTS_DATABASE_URL, RESTAURANTS_DATABASE_URL, MENU_READ_DATABASE_URL.
import { createDb } from '../db/knex';
import { migrateLatest, type DatabaseName } from '../db/migrations';
import { seedRestaurants } from '../db/seed';
import { loadConfig } from '../lib/node/config';
import { createLogger } from '../lib/node/logger';
import { ensureDatabase } from '../lib/node/pg-admin';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger('migrate', config.LOG_LEVEL);
  const urls: Record<DatabaseName, string> = {
    orders: config.ORDERS_DATABASE_URL,
    payments: config.PAYMENTS_DATABASE_URL,
    restaurants: config.RESTAURANTS_DATABASE_URL,
    menu_read: config.MENU_READ_DATABASE_URL,
  };
  for (const [name, url] of Object.entries(urls) as Array<[DatabaseName, string]>) {
    const target = new URL(url);
    const database = decodeURIComponent(target.pathname.slice(1));
    const admin = new URL(url);
    admin.pathname = '/postgres';
    await ensureDatabase(admin.toString(), database);
    const db = createDb(url, 2);
    try {
      const applied = await migrateLatest(db, name);
      const seeded = name === 'restaurants' && !process.argv.includes('--no-seed') ? await seedRestaurants(db) : undefined;
      logger.info({ database: name, host: target.host, applied, seeded }, 'database ready');
    } finally {
      await db.destroy();
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
