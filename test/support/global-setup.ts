import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPostgres, type PostgresInstance } from '../../lib/node/embedded-postgres';
import { freePort } from '../../lib/node/ports';

declare global {
  var __TEST_POSTGRES__: { instances: PostgresInstance[]; root: string } | undefined;
}

/**
 * Two real Postgres instances for the whole run, as in production: a primary (orders, payments,
 * restaurants) and a separate read instance (menu_read). Each test file creates its own databases
 * in them (see databases.ts), so files never see each other's rows.
 */
export default async function globalSetup(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'delivery-test-pg-'));
  // Postgres runs as its own user when we are root: it must be able to enter this folder.
  fs.chmodSync(root, 0o755);
  const [primaryPort, readPort] = [await freePort(), await freePort()];
  const [primary, read] = await Promise.all([
    startPostgres({ dataDir: path.join(root, 'primary'), port: primaryPort }),
    startPostgres({ dataDir: path.join(root, 'read'), port: readPort }),
  ]);
  process.env.TEST_PG_PRIMARY_ADMIN_URL = primary.url('postgres');
  process.env.TEST_PG_READ_ADMIN_URL = read.url('postgres');
  process.env.TEST_PG_PRIMARY_PORT = String(primaryPort);
  process.env.TEST_PG_READ_PORT = String(readPort);
  globalThis.__TEST_POSTGRES__ = { instances: [primary, read], root };
}
