// `npm start`: the whole system on one machine, with real parts — two embedded Postgres instances
// (primary and read replica side), the Temporal dev server with its Web UI, the CDC projector, the
// PSP sandbox, the three service workers and the API. Ctrl-C stops everything cleanly.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { startPostgres, type PostgresInstance } from '../lib/embedded-postgres';
import { createDb } from '../db/knex';
import { migrateLatest, type DatabaseName } from '../db/migrations';
import { seedRestaurants, restaurantIdFor } from '../db/seed';
import { mintToken } from '../lib/auth';
import { loadConfig } from '../lib/config';
import { SEARCH_ATTRIBUTES, PROJECT_ROOT, temporalCliPath } from '../lib/temporal-tools';

const DATA = path.join(PROJECT_ROOT, '.data');
const LOGS = path.join(DATA, 'logs');
const env = {
  PG_PRIMARY_PORT: Number(process.env.PG_PRIMARY_PORT ?? 54329),
  PG_READ_PORT: Number(process.env.PG_READ_PORT ?? 54339),
  TEMPORAL_PORT: Number(process.env.TEMPORAL_PORT ?? 7233),
  TEMPORAL_UI_PORT: Number(process.env.TEMPORAL_UI_PORT ?? 8233),
};

const children: Array<{ name: string; proc: ChildProcess }> = [];
const postgres: PostgresInstance[] = [];
let stopping = false;

function say(msg: string) {
  process.stdout.write(`[stack] ${msg}\n`);
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on ${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function startChild(name: string, command: string, args: string[], extraEnv: Record<string, string>): ChildProcess {
  const log = fs.openSync(path.join(LOGS, `${name}.log`), 'a');
  const proc = spawn(command, args, { cwd: PROJECT_ROOT, env: { ...process.env, ...extraEnv }, stdio: ['ignore', log, log] });
  children.push({ name, proc });
  proc.on('exit', (code, signal) => {
    if (!stopping) say(`${name} exited (${signal ?? code}); see .data/logs/${name}.log`);
  });
  return proc;
}

function tsProcess(name: string, file: string, extraEnv: Record<string, string>, args: string[] = []) {
  return startChild(name, process.execPath, ['--import', 'tsx', file, ...args], extraEnv);
}

async function main() {
  if (process.argv.includes('--fresh')) {
    say('--fresh: deleting .data');
    fs.rmSync(DATA, { recursive: true, force: true });
  }
  fs.mkdirSync(LOGS, { recursive: true });
  const pgLog = fs.createWriteStream(path.join(LOGS, 'postgres.log'), { flags: 'a' });

  say('starting Postgres (primary and read instances)');
  const [primary, read] = await Promise.all([
    startPostgres({ dataDir: path.join(DATA, 'pg-primary'), port: env.PG_PRIMARY_PORT, log: (l) => pgLog.write(`[primary] ${l}`) }),
    startPostgres({ dataDir: path.join(DATA, 'pg-read'), port: env.PG_READ_PORT, log: (l) => pgLog.write(`[read] ${l}`) }),
  ]);
  postgres.push(primary, read);
  const urls: Record<DatabaseName, string> = {
    orders: primary.url('orders'),
    payments: primary.url('payments'),
    restaurants: primary.url('restaurants'),
    menu_read: read.url('menu_read'),
  };
  for (const name of ['orders', 'payments', 'restaurants'] as const) await primary.createDatabase(name);
  await read.createDatabase('menu_read');

  say('migrating and seeding');
  for (const [name, url] of Object.entries(urls) as Array<[DatabaseName, string]>) {
    const db = createDb(url, 2);
    await migrateLatest(db, name);
    if (name === 'restaurants') await seedRestaurants(db);
    await db.destroy();
  }

  say('starting the Temporal dev server');
  const saArgs = Object.entries(SEARCH_ATTRIBUTES).flatMap(([k, t]) => ['--search-attribute', `${k}=${t}`]);
  startChild('temporal', temporalCliPath(), [
    'server', 'start-dev',
    '--ip', '127.0.0.1',
    '--port', String(env.TEMPORAL_PORT),
    '--ui-port', String(env.TEMPORAL_UI_PORT),
    '--db-filename', path.join(DATA, 'temporal.db'),
    '--log-level', 'warn',
    ...saArgs,
  ], {});
  await waitForPort(env.TEMPORAL_PORT, 60000);
  const temporalAddress = `127.0.0.1:${env.TEMPORAL_PORT}`;
  const conn = await Connection.connect({ address: temporalAddress });
  await conn.close();

  const serviceEnv: Record<string, string> = {
    ORDERS_DATABASE_URL: urls.orders,
    PAYMENTS_DATABASE_URL: urls.payments,
    RESTAURANTS_DATABASE_URL: urls.restaurants,
    MENU_READ_DATABASE_URL: urls.menu_read,
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_UI_URL: `http://127.0.0.1:${env.TEMPORAL_UI_PORT}`,
  };
  const config = loadConfig({ ...process.env, ...serviceEnv });
  serviceEnv.PSP_URL = `http://127.0.0.1:${config.PSP_PORT}`;
  serviceEnv.AUTH_SECRET = config.AUTH_SECRET;

  say('starting the PSP sandbox, CDC projector, workers and API');
  tsProcess('psp', 'psp/server.ts', serviceEnv);
  tsProcess('projector', 'db/projector/main.ts', serviceEnv);
  tsProcess('order-worker', 'workers/order-worker.ts', serviceEnv);
  tsProcess('payment-worker', 'workers/payment-worker.ts', serviceEnv);
  tsProcess('restaurant-worker', 'workers/restaurant-worker.ts', serviceEnv);
  tsProcess('api', 'api/server.ts', serviceEnv);
  await waitForPort(config.PORT, 60000);

  const ttl = config.TOKEN_TTL_SECONDS;
  const [customer, restaurant, admin] = await Promise.all([
    mintToken({ role: 'customer', sub: 'customer-1' }, config.AUTH_SECRET, ttl),
    mintToken({ role: 'restaurant', sub: 'owner-1', restaurantId: restaurantIdFor(1) }, config.AUTH_SECRET, ttl),
    mintToken({ role: 'admin', sub: 'admin-1' }, config.AUTH_SECRET, ttl),
  ]);
  const api = `http://${config.HOST}:${config.PORT}`;
  process.stdout.write(`
  The delivery stack is up.

  API                 ${api}        (ready: curl ${api}/readyz)
  Temporal Web UI     http://127.0.0.1:${env.TEMPORAL_UI_PORT}
  Temporal frontend   ${temporalAddress}  (temporal workflow list --address ${temporalAddress})
  Postgres primary    postgres://postgres:postgres@127.0.0.1:${env.PG_PRIMARY_PORT}  (orders, payments, restaurants)
  Postgres read side  postgres://postgres:postgres@127.0.0.1:${env.PG_READ_PORT}  (menu_read)
  PSP sandbox         ${serviceEnv.PSP_URL}
  Logs                .data/logs/<service>.log

  Tokens (Authorization: Bearer <token>; more with \`npm run token -- <role> <subject> [restaurantId]\`):
  customer   (customer-1)           ${customer}
  restaurant (${restaurantIdFor(1)} owner)    ${restaurant}
  admin      (admin-1)              ${admin}

  Try:  curl -s ${api}/restaurants/${restaurantIdFor(3)}/menu
  Ctrl-C stops everything.
`);
}

async function shutdown(code: number) {
  if (stopping) return;
  stopping = true;
  say('stopping services');
  const exits = children
    .slice()
    .reverse()
    .filter((c) => c.proc.exitCode === null && c.proc.signalCode === null)
    .map(
      (c) =>
        new Promise<void>((resolve) => {
          const force = setTimeout(() => c.proc.kill('SIGKILL'), 15000);
          c.proc.once('exit', () => {
            clearTimeout(force);
            resolve();
          });
          c.proc.kill('SIGTERM');
        }),
    );
  await Promise.all(exits);
  say('stopping Postgres');
  await Promise.allSettled(postgres.map((p) => p.stop()));
  say('stopped');
  process.exit(code);
}

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
main().catch((err) => {
  console.error('[stack] failed to start:', err);
  void shutdown(1);
});
