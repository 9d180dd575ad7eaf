import type { Server } from 'node:http';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Express } from 'express';
import type { AddressInfo } from 'node:net';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Runtime, DefaultLogger, type Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { createApp, type ApiDeps } from '../../api/app';
import type { RateLimitSettings } from '../../api/security';
import { MenuCache } from '../../api/services/menu-cache';
import { createPspClient } from '../../activities/psp-client';
import { createPspSandbox, type PspSandbox } from '../../psp/sandbox';
import { createOrderWorker, createPaymentWorker, createRestaurantWorker } from '../../workers/service-workers';
import { createDb } from '../../db/knex';
import { seedRestaurants } from '../../db/seed';
import { mintToken, type Principal } from '../../lib/node/auth';
import { createLogger, type Logger } from '../../lib/node/logger';
import { createRegistry } from '../../lib/node/metrics';
import { ORDER_SEARCH_ATTRIBUTES } from '../../lib/workflow-safe/search-attributes';
import { temporalCliPath } from '../../lib/node/temporal-tools';
import { apiRequest } from '../../harness/api-client';
import { createTestDatabases, type TestDatabases } from './databases';
import { TEST_DATA_CONVERTER, TEST_ONLY_PAYLOAD_KEYS, TEST_PAYLOAD_CODEC } from './payload-keys';
import { startTestProjector, type TestProjector } from './projector';

export const TEST_SECRET = 'test-secret-0123456789-0123456789-abcdef';

/** The test stack's API limits: high enough that no suite but the limit tests ever meets them. */
export const TEST_RATE_LIMIT: RateLimitSettings = {
  windowMs: 60_000,
  customer: 100_000,
  restaurant: 100_000,
  admin: 100_000,
  anonymous: 100_000,
  probes: 100_000,
};

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** Bundle the workflows once per test file (webpack takes a few seconds). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: new DefaultLogger('WARN') });
  return bundle;
}

let runtimeInstalled = false;
function quietRuntime() {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger((process.env.TEST_TEMPORAL_LOG_LEVEL as 'ERROR' | undefined) ?? 'ERROR') });
  } catch {
    // already installed by an earlier file in this process
  }
}

export interface StackOptions {
  acceptanceWindowSeconds?: number;
  /** Which in-process service workers to start (default: all three). */
  workers?: boolean | WorkerSet;
  /**
   * Existing Temporal environment (e.g. time-skipping), its client created with TEST_DATA_CONVERTER
   * (payloads are encrypted); default: a local dev server.
   */
  env?: TestWorkflowEnvironment;
  seed?: { restaurants?: number; itemsPerRestaurant?: number };
  decisionWaitMs?: number;
  /** The API's logger (default: silent). */
  apiLogger?: Logger;
  /** The payment worker's first PSP timeout (default 2000 ms; retries double it up to 45 s). */
  pspTimeoutMs?: number;
  /** The grace period of a reconcile from the operator's desk (default 0). */
  reconcileGraceSeconds?: number;
}

export interface WorkerSet {
  order?: boolean;
  payment?: boolean;
  restaurant?: boolean;
}

export interface TestStack {
  baseUrl: string;
  dbs: TestDatabases;
  env: TestWorkflowEnvironment;
  client: Client;
  psp: PspSandbox;
  pspUrl: string;
  taskQueuePrefix: string;
  projector: TestProjector;
  /** The API's menu cache, as in production (listening on the read model's change notices). */
  menuCache: MenuCache;
  /** What the stack's API is built from (with a fresh metrics registry), for a test that builds another app. */
  apiDeps(): ApiDeps;
  token(principal: Principal): Promise<string>;
  startWorkers(which?: WorkerSet): Promise<void>;
  /** Environment for a service process started outside the test (see processes.ts). */
  serviceEnv(): Record<string, string>;
  stopWorkers(): Promise<void>;
  stop(): Promise<void>;
}

function listen(app: Express): Promise<{ server: Server; url: string }> {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ server, url: `http://127.0.0.1:${port}` });
    });
  });
}

/**
 * The whole system for one test file, with real parts: a Temporal dev server (the installed CLI),
 * fresh Postgres databases, the CDC projector feeding the read model, the PSP sandbox over HTTP,
 * the three service workers and the API over HTTP.
 */
export async function startStack(label: string, opts: StackOptions = {}): Promise<TestStack> {
  quietRuntime();
  const ownsEnv = !opts.env;
  const env =
    opts.env ??
    (await TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'existing-path', path: temporalCliPath() }, searchAttributes: ORDER_SEARCH_ATTRIBUTES, ui: false },
      // The API's and the tests' client encrypts and decrypts payloads as every client of the system does.
      client: { dataConverter: TEST_DATA_CONVERTER },
    }));
  const dbs = await createTestDatabases(label);
  await seedRestaurants(dbs.restaurants, opts.seed ?? { restaurants: 6, itemsPerRestaurant: 5 });
  const projector = await startTestProjector(dbs, label);
  await projector.waitForCatchUp();

  const psp = createPspSandbox();
  const pspServer = await listen(psp.app);
  // Every part logs in as its service's role (db/roles.ts), as in production: the suite runs under
  // least privilege. dbs.orders, ... (superuser) are the tests' own pools for arranging and checking rows.
  const pools = {
    orders: createDb(dbs.roleUrl('orders_service', 'orders'), 10),
    payments: createDb(dbs.roleUrl('payments_service', 'payments'), 10),
    restaurants: createDb(dbs.roleUrl('restaurants_service', 'restaurants'), 10),
    menuRead: createDb(dbs.roleUrl('menu_reader', 'menu_read'), 10),
  };
  const paymentsRead = createDb(dbs.roleUrl('payments_reader', 'payments'), 2, { readOnly: true });
  const taskQueuePrefix = `${label}-${Math.random().toString(36).slice(2, 8)}-`;
  const logger = opts.apiLogger ?? createLogger('api-test', 'silent');
  const registry = createRegistry('api');
  const menuCache = new MenuCache({
    connectionString: dbs.roleUrl('menu_reader', 'menu_read'),
    maxEntries: 1000,
    ttlMs: 300_000,
    logger,
    registry,
    reconnectMs: 200,
  });
  menuCache.start();
  await menuCache.ready();
  const apiDeps = (): ApiDeps => ({
    ordersDb: pools.orders,
    restaurantsDb: pools.restaurants,
    menuReadDb: pools.menuRead,
    temporal: env.client,
    logger,
    registry: createRegistry('api'),
    authSecret: TEST_SECRET,
    taskQueuePrefix,
    acceptanceWindowSeconds: opts.acceptanceWindowSeconds ?? 300,
    temporalUiUrl: 'http://127.0.0.1:8233',
    payloadCodec: TEST_PAYLOAD_CODEC,
    namespace: env.namespace ?? 'default',
    decisionWaitMs: opts.decisionWaitMs ?? 3000,
    // The suites drive far more than one client's load through a handful of subjects (1,000 fuzzed
    // requests per route, dozens of orders per customer): the abuse limits are tested on their own
    // apps (test/security.ratelimit.test.ts, test/security.limits.test.ts).
    rateLimit: TEST_RATE_LIMIT,
    ordersInFlightMax: 1000,
    // The operator's desk: the payments database read-only (as api/server.ts opens it) and the PSP's
    // report; a one-order reconcile with no grace period (a terminated saga's activities are done here).
    adminDesk: {
      paymentsReadDb: paymentsRead,
      pspUrl: pspServer.url,
      reconcile: { graceSeconds: opts.reconcileGraceSeconds ?? 0, staleSeconds: 3600 + (opts.acceptanceWindowSeconds ?? 300) },
    },
  });
  // The cache's counters are in this app's registry, so its /metrics shows them.
  const app = createApp({ ...apiDeps(), registry, menuCache });
  const apiServer = await listen(app);

  const pspTimeoutMs = opts.pspTimeoutMs ?? 2000;
  let workers: Worker[] = [];
  let running: Promise<void>[] = [];
  const stack: TestStack = {
    baseUrl: apiServer.url,
    dbs,
    env,
    client: env.client,
    psp,
    pspUrl: pspServer.url,
    taskQueuePrefix,
    projector,
    menuCache,
    apiDeps,
    token: (principal) => mintToken(principal, TEST_SECRET, 3600),
    async startWorkers(which = { order: true, payment: true, restaurant: true }) {
      const common = { connection: env.nativeConnection, namespace: env.namespace ?? 'default', taskQueuePrefix, payloadCodec: TEST_PAYLOAD_CODEC };
      const created = await Promise.all([
        which.order
          ? createOrderWorker({
              ...common,
              db: pools.orders,
              workflowBundle: await workflowBundle(),
              client: env.client,
              acceptanceWindowSeconds: opts.acceptanceWindowSeconds ?? 300,
            })
          : undefined,
        which.payment
          ? createPaymentWorker({
              ...common,
              db: pools.payments,
              psp: createPspClient({ baseUrl: pspServer.url, timeoutMs: pspTimeoutMs }),
              pspTimeouts: { firstMs: pspTimeoutMs, maxMs: 45_000 },
            })
          : undefined,
        which.restaurant ? createRestaurantWorker({ ...common, db: pools.restaurants }) : undefined,
      ]);
      const started = created.filter((w): w is Worker => w !== undefined);
      workers.push(...started);
      running.push(...started.map((w) => w.run()));
    },
    serviceEnv() {
      // Each process reads only its own variables, so each logs in as its service's role; the
      // API's PAYMENTS_DATABASE_URL is the payment worker's here (the API opens it read-only).
      return {
        ORDERS_DATABASE_URL: dbs.roleUrl('orders_service', 'orders'),
        PAYMENTS_DATABASE_URL: dbs.roleUrl('payments_service', 'payments'),
        RESTAURANTS_DATABASE_URL: dbs.roleUrl('restaurants_service', 'restaurants'),
        MENU_READ_DATABASE_URL: dbs.roleUrl('menu_reader', 'menu_read'),
        TEMPORAL_ADDRESS: env.address,
        TEMPORAL_NAMESPACE: env.namespace ?? 'default',
        TASK_QUEUE_PREFIX: taskQueuePrefix,
        PSP_URL: pspServer.url,
        PSP_TIMEOUT_MS: '10000',
        AUTH_SECRET: TEST_SECRET,
        PAYLOAD_KEYS: TEST_ONLY_PAYLOAD_KEYS,
        LOG_LEVEL: 'warn',
        NODE_ENV: 'test',
      };
    },
    async stopWorkers() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await Promise.allSettled(running);
      workers = [];
      running = [];
    },
    async stop() {
      await stack.stopWorkers();
      await new Promise((r) => apiServer.server.close(r));
      await menuCache.stop();
      pspServer.server.closeAllConnections?.();
      await new Promise((r) => pspServer.server.close(r));
      await projector.stop();
      await paymentsRead.destroy();
      await Promise.all(Object.values(pools).map((p) => p.destroy()));
      await dbs.destroy();
      if (ownsEnv) await env.teardown();
    },
  };
  if (opts.workers !== false) await stack.startWorkers(opts.workers === true || opts.workers === undefined ? undefined : opts.workers);
  return stack;
}

/** Small fetch wrapper for tests: JSON in, status + JSON out (the harness's client, one attempt). */
export async function http(
  baseUrl: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string>; rawBody?: string } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const { status, body, headers } = await apiRequest(baseUrl, method, path, opts);
  return { status, body, headers };
}

/** Polls until `fn` returns a truthy value or the time runs out. */
export async function eventually<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs = 20000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    await sleep(intervalMs);
  }
}

/**
 * The pid of the stack's Temporal dev server: the child of this process (the SDK spawns the
 * installed CLI) running `server start-dev` on the env's port. For a test that holds Temporal with
 * SIGSTOP (always SIGCONT it in a finally).
 */
export function temporalDevServerPid(stack: TestStack): number {
  const port = stack.env.address.split(':').pop()!;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The field after the parenthesised command name: state, then the parent's pid.
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const args = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (ppid === process.pid && args.includes('start-dev') && args.includes(port)) return Number(entry);
    } catch {
      // A process that ended while we looked.
    }
  }
  throw new Error(`no Temporal dev server on port ${port} among this process's children`);
}
