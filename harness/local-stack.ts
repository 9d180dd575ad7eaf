import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import pg from 'pg';
import { startPostgres, type PostgresInstance } from '../lib/node/embedded-postgres';
import { randomBytes } from 'node:crypto';
import { type DatabaseName } from '../db/migrations';
import { roleUrl, setUpDatabases, SERVICE_ROLE_NAMES, type DatabaseTarget, type ServiceRole } from '../db/roles';
import { bulkSeedRestaurants } from '../db/bulk-seed';
import { seedRestaurants, type SeedOptions } from '../db/seed';
import { freePort, waitForPort } from '../lib/node/ports';
import { EncryptionCodec, payloadKeysFrom } from '../lib/node/payload-codec';
import { SEARCH_ATTRIBUTES, PROJECT_ROOT, temporalCliPath } from '../lib/node/temporal-tools';
import { ManagedProcess } from './managed-process';
import { reniceProcessTree } from './priority';
import { SHARED_DYNAMIC_CONFIG, startTemporalCluster, type TemporalCluster, type TemporalClusterOptions } from './temporal-cluster';

export { waitForPort };

// The whole system as local processes, shared by `npm start` (scripts/dev-stack.ts) and the chaos
// harness, which also needs to crash and restart each part.

export interface LocalStackPorts {
  pgPrimary: number;
  pgRead: number;
  temporal: number;
  temporalUi: number;
  api: number;
  psp: number;
  projectorMetrics: number;
  /** Temporal's own Postgres (the cluster engine only). */
  pgTemporal?: number;
}

/**
 * The API's abuse limits for a load harness (the chaos run, the benchmark): a few dozen customers
 * there stand for thousands, each with many orders in flight and requests far beyond one person's, so
 * the per-client rate limits are off and the in-flight limit is far above what they reach (still
 * counted on every order, as in production). Configurable for exactly this (lib/node/config.ts).
 */
export const LOAD_HARNESS_LIMITS: Record<string, string> = {
  RATE_LIMIT_CUSTOMER_MAX: '0',
  RATE_LIMIT_RESTAURANT_MAX: '0',
  RATE_LIMIT_ADMIN_MAX: '0',
  RATE_LIMIT_ANONYMOUS_MAX: '0',
  RATE_LIMIT_PROBES_MAX: '0',
  ORDERS_IN_FLIGHT_MAX: '100000',
  ORDER_WAIT_MAX_HOLDS: '0',
};

export interface LocalStackOptions {
  dataDir: string;
  ports: LocalStackPorts;
  /**
   * Read replicas (default 1): each its own Postgres instance with a menu_read database, fed by its
   * own projector process on its own replication slot. The first uses ports.pgRead and
   * ports.projectorMetrics and serves `api`; each further one gets free ports and an API of its own.
   */
  readReplicas?: number;
  workers?: { order: number; payment: number; restaurant: number };
  /**
   * API_ORDER_WORKER: each API process is processes/api-order-worker.ts, the API with the order
   * workflow worker (sweeper, reconciler Schedule) on one connection, starting sagas eagerly; the
   * order worker processes then default to none (workers.order). Default: API_ORDER_WORKER of the
   * options' env or of this process's environment, else false.
   */
  apiOrderWorker?: boolean;
  /**
   * The API processes' scheduling priority (nice, -20..19; below 0 needs root): a load harness on
   * one small machine can put the front door ahead of the rest, as its own machines would in
   * production (bench --api-nice). Default: unchanged.
   */
  apiNice?: number;
  /**
   * The primary Postgres's priority (nice; below 0 needs root): its postmaster and every backend,
   * after each start. It holds the orders database every POST /orders commits to, and the other
   * services' databases too (bench --primary-nice). Default: unchanged.
   */
  primaryNice?: number;
  env?: Record<string, string>;
  seed?: SeedOptions;
  /**
   * Which Temporal runs the sagas: the dev server (default; one process, SQLite) or the cluster
   * (harness/temporal-cluster.ts: a process per service, two history processes, Postgres).
   */
  engine?: 'dev-server' | 'cluster';
  /** Extra arguments for `temporal server start-dev` (e.g. --metrics-port, --sqlite-pragma, --dynamic-config-value). */
  temporalArgs?: string[];
  /** The cluster's settings beyond the stack's (history processes, shards, dynamic config). */
  cluster?: Pick<TemporalClusterOptions, 'historyProcesses' | 'numHistoryShards' | 'dynamicConfig' | 'logLevel'>;
  log: (msg: string) => void;
  onUnexpectedExit?: (name: string, code: number | null, signal: string | null) => void;
}

/** A Postgres instance that can be stopped (or crashed) and started again on the same data. */
export interface RestartablePostgres {
  url(database: string): string;
  /** A clean stop (fast shutdown), then a start. */
  restart(downMs?: number): Promise<void>;
  /** SIGKILL of the postmaster, then a start on the same data: crash recovery replays the WAL. */
  crash(downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** One read replica: its Postgres, the projector that feeds it, and the API process reading it. */
export interface ReadReplica {
  /** read-1, read-2, ...: MENU_READ_REPLICA of its projector and API, the `replica` label of the CDC metrics. */
  name: string;
  slotName: string;
  postgres: RestartablePostgres;
  /** The superuser's URL of its menu_read database. */
  menuReadUrl: string;
  projector: ManagedProcess;
  api: ManagedProcess;
  apiUrl: string;
}

/** The Temporal the stack runs on, whichever engine it is. */
export interface TemporalEngine {
  kind: 'dev-server' | 'cluster';
  /** Every process of the engine (for CPU sampling): the dev server, or each service and the UI. */
  processes(): ManagedProcess[];
  /** The whole engine down and up again: 'kill' SIGKILLs every process (a crash), 'stop' is a clean stop. */
  restartServer(downMs?: number, mode?: 'stop' | 'kill'): Promise<void>;
  /** Prometheus endpoints of the engine's processes, by name (empty for the dev server unless given --metrics-port). */
  metricsUrls: Record<string, string>;
  /** The cluster's own handles (a history process to kill, ...); absent on the dev server. */
  cluster?: TemporalCluster;
  stop(): Promise<void>;
}

export interface LocalStack {
  ports: LocalStackPorts;
  /** The superuser's URLs (for tools: audit, reconcile, benchmarks); the processes get their roles' URLs. */
  urls: Record<DatabaseName, string>;
  /** What a process of `role` connects to `database` with (db/roles.ts). */
  roleUrl(role: ServiceRole, database: DatabaseName): string;
  apiUrl: string;
  pspUrl: string;
  temporalAddress: string;
  temporalUiUrl: string;
  /** The codec endpoint the Web UI is configured with (the API's /codec; decode and encode below it). */
  codecEndpoint: string;
  /** The codec the stack's processes encrypt Temporal payloads with (for the harness's own clients). */
  payloadCodec: EncryptionCodec;
  /** The stack's environment for tools run beside it (with the superuser's database URLs). */
  env: Record<string, string>;
  primary: RestartablePostgres;
  /** The first read replica's Postgres (replicas[0].postgres). */
  read: RestartablePostgres;
  /** Every read replica, the first one first. */
  replicas: ReadReplica[];
  temporal: TemporalEngine;
  psp: ManagedProcess;
  /** The first read replica's projector (replicas[0].projector). */
  projector: ManagedProcess;
  /** The API reading the first read replica (replicas[0].api). */
  api: ManagedProcess;
  workers: { order: ManagedProcess[]; payment: ManagedProcess[]; restaurant: ManagedProcess[] };
  /** Whether the APIs run the order worker too (API_ORDER_WORKER; then workers.order may be empty). */
  apiOrderWorker: boolean;
  /** Prometheus endpoints by process name (api, projector, api-2, projector-2, order-worker-1, ...). */
  metricsUrls: Record<string, string>;
  stop(): Promise<void>;
}

/** The postmaster's pid: the first line of postmaster.pid in its data folder. */
function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function restartablePostgres(name: string, dataDir: string, port: number, log: (l: string) => void, nice?: number): Promise<RestartablePostgres> {
  const prioritise = () => {
    if (nice === undefined) return;
    const pid = postmasterPid(dataDir);
    if (pid === undefined) throw new Error(`no postmaster.pid in ${dataDir} to set its priority`);
    reniceProcessTree(pid, nice);
  };
  let instance: PostgresInstance = await startPostgres({ dataDir, port, log });
  prioritise();
  let running = true;
  // One stop/start at a time: overlapping restarts would start a second postmaster on the same folder.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => undefined);
    return next;
  };
  // After a crash, backends of the dead postmaster may still hold its shared memory for a moment
  // ("pre-existing shared memory block is still in use"): try again until they are gone.
  const startAgain = async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        instance = await startPostgres({ dataDir, port, log });
        prioritise();
        running = true;
        return;
      } catch (err) {
        if (attempt >= 20) throw err;
        await sleep(500);
      }
    }
  };
  return {
    url: (db) => instance.url(db),
    restart: (downMs = 2000) =>
      serial(async () => {
        await instance.stop();
        running = false;
        await sleep(downMs);
        await startAgain();
        log(`[${name}] restarted\n`);
      }),
    crash: (downMs = 2000) =>
      serial(async () => {
        const pid = postmasterPid(dataDir);
        if (pid === undefined) throw new Error(`no postmaster.pid in ${dataDir}`);
        process.kill(pid, 'SIGKILL');
        running = false;
        for (let i = 0; i < 100 && alive(pid); i++) await sleep(100);
        await sleep(downMs);
        await startAgain();
        log(`[${name}] SIGKILLed (pid ${pid}) and started again: crash recovery\n`);
      }),
    stop: () =>
      serial(async () => {
        if (running) await instance.stop();
        running = false;
      }),
  };
}

type Managed = (name: string, command: string, args: string[], extraEnv?: Record<string, string>, nice?: number) => ManagedProcess;
type TsProcess = (name: string, file: string, extraEnv?: Record<string, string>, nice?: number) => ManagedProcess;

/**
 * The services' database role passwords, generated on first start and kept in the stack's data
 * folder (git-ignored, 0600); every start sets them again (db/roles.ts is idempotent).
 */
function rolePasswords(dataDir: string): Record<ServiceRole, string> {
  const file = path.join(dataDir, 'db-role-passwords.json');
  let stored: Partial<Record<ServiceRole, string>> = {};
  try {
    stored = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<Record<ServiceRole, string>>;
  } catch {
    // first start (or an unreadable file): new passwords
  }
  const passwords = Object.fromEntries(SERVICE_ROLE_NAMES.map((r) => [r, stored[r] ?? randomBytes(24).toString('hex')])) as Record<ServiceRole, string>;
  fs.writeFileSync(file, JSON.stringify(passwords, null, 2), { mode: 0o600 });
  return passwords;
}

/** The read replicas' names, data folders and ports: the first keeps the single-replica names. */
async function replicaPlaces(opts: LocalStackOptions) {
  const count = opts.readReplicas ?? 1;
  if (!Number.isInteger(count) || count < 1) throw new Error(`readReplicas must be a whole number of at least 1 (got ${count})`);
  const places = [];
  for (let i = 1; i <= count; i++) {
    places.push({
      name: `read-${i}`,
      dataDir: path.join(opts.dataDir, i === 1 ? 'pg-read' : `pg-read-${i}`),
      pgPort: i === 1 ? opts.ports.pgRead : await freePort(),
      metricsPort: i === 1 ? opts.ports.projectorMetrics : await freePort(),
      apiPort: i === 1 ? opts.ports.api : await freePort(),
      // The order worker's /metrics of an API running it (API_ORDER_WORKER), beside the API's own.
      apiWorkerMetricsPort: apiOrderWorkerOf(opts) ? await freePort() : undefined,
      slotName: i === 1 ? (opts.env?.CDC_SLOT_NAME ?? 'menu_read_projector') : `menu_read_projector_${i}`,
    });
  }
  return places;
}
type ReplicaPlace = Awaited<ReturnType<typeof replicaPlaces>>[number];

/** The stack's layout of the order service: the option, else API_ORDER_WORKER (options' env, then ours). */
function apiOrderWorkerOf(opts: LocalStackOptions): boolean {
  return opts.apiOrderWorker ?? (opts.env?.API_ORDER_WORKER ?? process.env.API_ORDER_WORKER) === 'true';
}

/** Above this many restaurants the stack's seed is generated inside Postgres (db/bulk-seed.ts). */
const BULK_SEED_ABOVE = 20_000;

/** The seed: row by row for the usual small menus; the bulk seed for a benchmark's full size. */
async function seedStack(db: Parameters<typeof seedRestaurants>[0], seed: SeedOptions | undefined, log: (msg: string) => void): Promise<void> {
  const restaurants = seed?.restaurants ?? 0;
  const itemsPerRestaurant = seed?.itemsPerRestaurant ?? 10;
  if (restaurants <= BULK_SEED_ABOVE || itemsPerRestaurant > 99) {
    await seedRestaurants(db, seed);
    return;
  }
  let lastLog = 0;
  await bulkSeedRestaurants(db, {
    restaurants,
    itemsPerRestaurant,
    onProgress: (p) => {
      if (p.elapsedMs - lastLog < 10_000) return;
      lastLog = p.elapsedMs;
      log(`bulk seed: ${p.restaurants} restaurants, ${p.items} items after ${(p.elapsedMs / 1000).toFixed(0)} s`);
    },
    log,
  });
}

/**
 * A start with fewer replicas than the last one: the slots of the replicas not started would hold the
 * source's WAL until Postgres invalidates them (max_slot_wal_keep_size). Drop them; such a replica
 * re-syncs from a snapshot when it is started again.
 */
async function dropSlotsOfReplicasGone(restaurantsUrl: string, count: number, log: (msg: string) => void): Promise<void> {
  const client = new pg.Client({ connectionString: restaurantsUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ slot_name: string }>(
      `SELECT slot_name FROM pg_replication_slots
        WHERE NOT active AND slot_name ~ '^menu_read_projector_[0-9]+$' AND substring(slot_name FROM '[0-9]+$')::int > $1`,
      [count],
    );
    for (const { slot_name } of rows) {
      await client.query('SELECT pg_drop_replication_slot($1)', [slot_name]);
      log(`dropped the replication slot ${slot_name}: its read replica is not started (it re-syncs when it is)`);
    }
  } finally {
    await client.end();
  }
}

/** The primary and every read instance, their roles and databases set up (db/roles.ts), migrated as the owners and seeded. */
async function startDatabases(opts: LocalStackOptions, places: ReplicaPlace[], pgLog: fs.WriteStream, started: Array<() => Promise<unknown>>) {
  const { dataDir, ports, log } = opts;
  log(`starting Postgres (primary and ${places.length} read instance${places.length > 1 ? 's' : ''})`);
  const instances = await Promise.allSettled([
    restartablePostgres('primary', path.join(dataDir, 'pg-primary'), ports.pgPrimary, (l) => pgLog.write(`[primary] ${l}`), opts.primaryNice),
    ...places.map((p) => restartablePostgres(p.name, p.dataDir, p.pgPort, (l) => pgLog.write(`[${p.name}] ${l}`))),
  ]);
  for (const i of instances) if (i.status === 'fulfilled') started.unshift(() => i.value.stop());
  const failed = instances.find((i) => i.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  const [primary, read, ...moreReads] = instances.map((i) => (i as PromiseFulfilledResult<RestartablePostgres>).value) as [
    RestartablePostgres,
    RestartablePostgres,
    ...RestartablePostgres[],
  ];
  const urls: Record<DatabaseName, string> = {
    orders: primary.url('orders'),
    payments: primary.url('payments'),
    restaurants: primary.url('restaurants'),
    menu_read: read.url('menu_read'),
  };
  const targets: Record<DatabaseName, DatabaseTarget> = {
    orders: { adminUrl: primary.url('postgres'), name: 'orders' },
    payments: { adminUrl: primary.url('postgres'), name: 'payments' },
    restaurants: { adminUrl: primary.url('postgres'), name: 'restaurants' },
    menu_read: { adminUrl: read.url('postgres'), name: 'menu_read' },
  };
  const passwords = rolePasswords(dataDir);
  log('setting up the database roles, migrating and seeding');
  await setUpDatabases({
    targets,
    passwords,
    publication: opts.env?.CDC_PUBLICATION ?? 'menu_cdc',
    afterMigrate: async (name, db) => {
      if (name === 'restaurants') await seedStack(db, opts.seed, log);
    },
  });
  // Every further replica: the same menu_read database, roles and grants on its own instance.
  for (const instance of moreReads) {
    await setUpDatabases({ targets: { menu_read: { adminUrl: instance.url('postgres'), name: 'menu_read' } }, passwords, publication: 'unused' });
  }
  await dropSlotsOfReplicasGone(urls.restaurants, places.length, log);
  const urlOf = (role: ServiceRole, database: DatabaseName) => roleUrl(targets[database], role, passwords[role]);
  const readInstances = [read, ...moreReads];
  const replicas = places.map((place, i) => ({
    place,
    postgres: readInstances[i]!,
    menuReadUrl: readInstances[i]!.url('menu_read'),
    roleUrl: (role: ServiceRole) => roleUrl({ adminUrl: readInstances[i]!.url('postgres'), name: 'menu_read' }, role, passwords[role]),
  }));
  return { primary, read, replicas, urls, roleUrl: urlOf };
}

function devServer(opts: LocalStackOptions, managed: Managed): TemporalEngine {
  const { dataDir, ports } = opts;
  const saArgs = Object.entries(SEARCH_ATTRIBUTES).flatMap(([k, t]) => ['--search-attribute', `${k}=${t}`]);
  // The dev server has one history shard, and each shard reads its transfer (and timer and
  // visibility) queue at most 20 times a second by default: above ~3 orders/s every activity and
  // workflow task then waited ~25 ms in history before matching saw it (nine waits per saga).
  // Measured by `npm run bench`: order-to-CONFIRMED p50 at 3-5 orders/s 460-480 -> 180-210 ms.
  // The cluster gets the same settings (SHARED_DYNAMIC_CONFIG).
  const tuning = Object.entries(SHARED_DYNAMIC_CONFIG).flatMap(([k, v]) => ['--dynamic-config-value', `${k}=${JSON.stringify(v)}`]);
  const server = managed('temporal', temporalCliPath(), [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(ports.temporal),
    '--ui-port',
    String(ports.temporalUi),
    // Payloads are encrypted (lib/node/payload-codec.ts): the Web UI decodes them through the API's
    // codec endpoint, which wants an operator's token (docs/runbook.md, "Reading encrypted histories").
    '--ui-codec-endpoint',
    codecEndpoint(ports),
    '--db-filename',
    path.join(dataDir, 'temporal.db'),
    '--log-level',
    'warn',
    // SQLite in WAL mode, fsync at checkpoints only: a commit no longer creates, fsyncs and deletes
    // a rollback journal. Survives a crash of the server process (chaos restarts it); may lose the
    // last commits on a power cut, as any dev server may. Measured by `npm run bench`: about a third
    // less Temporal CPU per order and half the order-to-CONFIRMED latency (BENCHMARKS.md).
    '--sqlite-pragma',
    'journal_mode=wal',
    '--sqlite-pragma',
    'synchronous=normal',
    ...tuning,
    ...saArgs,
    ...(opts.temporalArgs ?? []),
  ]);
  return {
    kind: 'dev-server',
    processes: () => [server],
    metricsUrls: {},
    async restartServer(downMs = 2000, mode: 'stop' | 'kill' = 'stop') {
      // SQLite in WAL mode keeps every committed transaction across a SIGKILL of the server.
      if (mode === 'kill') await server.kill();
      else await server.stop();
      await sleep(downMs);
      server.restarts++;
      server.start();
      await waitForPort(ports.temporal, 60000, () => server.running);
    },
    stop: () => server.stop(),
  };
}

async function startDevServer(opts: LocalStackOptions, managed: Managed, address: string): Promise<TemporalEngine> {
  const engine = devServer(opts, managed);
  const [server] = engine.processes();
  server!.start();
  try {
    await waitForPort(opts.ports.temporal, 60000, () => server!.running);
    await (await Connection.connect({ address })).close();
  } catch (err) {
    await server!.stop();
    throw err;
  }
  return engine;
}

/** The cluster engine: its own Postgres, Temporal's services as processes, the Web UI server. */
async function startCluster(opts: LocalStackOptions): Promise<TemporalEngine> {
  const { ports } = opts;
  const cluster = await startTemporalCluster({
    dataDir: opts.dataDir,
    frontendPort: ports.temporal,
    uiPort: ports.temporalUi,
    codecEndpoint: codecEndpoint(ports),
    postgres: { port: ports.pgTemporal ?? (await freePort()) },
    ...(opts.cluster ?? {}),
    log: opts.log,
    onUnexpectedExit: opts.onUnexpectedExit,
  });
  return {
    kind: 'cluster',
    processes: () => [...cluster.services(), ...(cluster.ui ? [cluster.ui] : [])],
    metricsUrls: cluster.metricsUrls,
    restartServer: (downMs, mode) => cluster.restartServices(downMs, mode),
    cluster,
    stop: () => cluster.stop(),
  };
}

/** Each process's database URLs: its service's roles only (db/roles.ts). */
function databaseEnv(roleUrlOf: LocalStack['roleUrl']) {
  return {
    api: {
      ORDERS_DATABASE_URL: roleUrlOf('orders_service', 'orders'),
      RESTAURANTS_DATABASE_URL: roleUrlOf('restaurants_service', 'restaurants'),
      MENU_READ_DATABASE_URL: roleUrlOf('menu_reader', 'menu_read'),
      // The operator's desk only: SELECT on payments (and the API opens it read-only as well).
      PAYMENTS_DATABASE_URL: roleUrlOf('payments_reader', 'payments'),
    },
    order: { ORDERS_DATABASE_URL: roleUrlOf('orders_service', 'orders') },
    payment: { PAYMENTS_DATABASE_URL: roleUrlOf('payments_service', 'payments') },
    restaurant: { RESTAURANTS_DATABASE_URL: roleUrlOf('restaurants_service', 'restaurants') },
    projector: {
      RESTAURANTS_DATABASE_URL: roleUrlOf('menu_projector', 'restaurants'),
      MENU_READ_DATABASE_URL: roleUrlOf('menu_projector', 'menu_read'),
    },
  };
}

const codecEndpoint = (ports: LocalStackPorts) => `http://127.0.0.1:${ports.api}/codec`;

/**
 * The keyring of the stack's processes: PAYLOAD_KEYS or PAYLOAD_KEYS_FILE when given (options or this
 * process's environment), else one generated once into the data folder, so that the histories of a
 * local stack stay readable across restarts and `--fresh` forgets them with everything else.
 */
function stackPayloadKeys(opts: LocalStackOptions): { env: Record<string, string>; codec: EncryptionCodec } {
  const given = { ...process.env, ...(opts.env ?? {}) };
  if (given.PAYLOAD_KEYS || given.PAYLOAD_KEYS_FILE) {
    const settings = {
      NODE_ENV: 'production' as const,
      PAYLOAD_KEYS: given.PAYLOAD_KEYS || undefined,
      PAYLOAD_KEYS_FILE: given.PAYLOAD_KEYS_FILE || undefined,
    };
    return { env: {}, codec: new EncryptionCodec(payloadKeysFrom(settings)) };
  }
  const file = path.join(opts.dataDir, 'payload-keys');
  return { env: { PAYLOAD_KEYS_FILE: file }, codec: new EncryptionCodec(payloadKeysFrom({ NODE_ENV: 'development' }, file)) };
}

type ReplicaDatabases = Awaited<ReturnType<typeof startDatabases>>['replicas'];

/**
 * Per read replica, its projector (own slot, own metrics port) and the API reading it: the first
 * replica's are `projector` and `api`, further ones `projector-N` and `api-N`.
 */
function replicaProcesses(tsProcess: TsProcess, dbEnv: ReturnType<typeof databaseEnv>, replicas: ReplicaDatabases, apiNice: number | undefined) {
  return replicas.map(({ place, postgres, menuReadUrl, roleUrl: replicaRoleUrl }, i) => {
    const suffix = i === 0 ? '' : `-${i + 1}`;
    const projector = tsProcess(`projector${suffix}`, 'db/projector/main.ts', {
      ...dbEnv.projector,
      MENU_READ_DATABASE_URL: replicaRoleUrl('menu_projector'),
      MENU_READ_REPLICA: place.name,
      CDC_SLOT_NAME: place.slotName,
      PROJECTOR_METRICS_PORT: String(place.metricsPort),
    });
    const withOrderWorker = place.apiWorkerMetricsPort !== undefined;
    const api = tsProcess(
      `api${suffix}`,
      withOrderWorker ? 'processes/api-order-worker.ts' : 'api/server.ts',
      {
        ...dbEnv.api,
        MENU_READ_DATABASE_URL: replicaRoleUrl('menu_reader'),
        MENU_READ_REPLICA: place.name,
        PORT: String(place.apiPort),
        API_ORDER_WORKER: String(withOrderWorker),
        ...(withOrderWorker ? { WORKER_METRICS_PORT: String(place.apiWorkerMetricsPort) } : {}),
      },
      apiNice,
    );
    const replica: ReadReplica = {
      name: place.name,
      slotName: place.slotName,
      postgres,
      menuReadUrl,
      projector,
      api,
      apiUrl: `http://127.0.0.1:${place.apiPort}`,
    };
    const metrics: Record<string, string> = {
      [`api${suffix}`]: `${replica.apiUrl}/metrics`,
      [`projector${suffix}`]: `http://127.0.0.1:${place.metricsPort}/metrics`,
    };
    if (withOrderWorker) metrics[`api-order-worker${suffix}`] = `http://127.0.0.1:${place.apiWorkerMetricsPort}/metrics`;
    return { replica, metrics };
  });
}

/** The PSP sandbox, the CDC projectors, the workers and the APIs, not started yet. */
async function serviceProcesses(opts: LocalStackOptions, managed: Managed, dbEnv: ReturnType<typeof databaseEnv>, replicaDbs: ReplicaDatabases) {
  const tsProcess: TsProcess = (name, file, extraEnv, nice) =>
    managed(name, process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, file)], extraEnv, nice);
  // With API_ORDER_WORKER the APIs run the order worker: no order worker process unless asked for.
  const counts = opts.workers ?? { order: apiOrderWorkerOf(opts) ? 0 : 1, payment: 1, restaurant: 1 };
  // Worker processes share this host, so each gets its own free /metrics port (kept across restarts).
  const perReplica = replicaProcesses(tsProcess, dbEnv, replicaDbs, opts.apiNice);
  const metricsUrls: Record<string, string> = Object.assign({}, ...perReplica.map((r) => r.metrics)) as Record<string, string>;
  const workerProcesses = async (service: 'order' | 'payment' | 'restaurant', count: number) => {
    const list: ManagedProcess[] = [];
    for (let i = 1; i <= count; i++) {
      const name = `${service}-worker-${i}`;
      const metricsPort = await freePort();
      metricsUrls[name] = `http://127.0.0.1:${metricsPort}/metrics`;
      list.push(tsProcess(name, `workers/${service}-worker.ts`, { ...dbEnv[service], WORKER_METRICS_PORT: String(metricsPort) }));
    }
    return list;
  };
  return {
    psp: tsProcess('psp', 'psp/server.ts'),
    replicas: perReplica.map((r) => r.replica),
    workers: {
      order: await workerProcesses('order', counts.order),
      payment: await workerProcesses('payment', counts.payment),
      restaurant: await workerProcesses('restaurant', counts.restaurant),
    },
    metricsUrls,
  };
}

/**
 * Starts the whole stack. If any part fails to start (a port someone else took meanwhile, ...),
 * what was started is stopped again before the error is thrown.
 */
export async function startLocalStack(opts: LocalStackOptions): Promise<LocalStack> {
  const { dataDir, ports, log } = opts;
  const logs = path.join(dataDir, 'logs');
  fs.mkdirSync(logs, { recursive: true });
  const pgLog = fs.createWriteStream(path.join(logs, 'postgres.log'), { flags: 'a' });
  const started: Array<() => Promise<unknown>> = [];
  try {
    const places = await replicaPlaces(opts);
    const { primary, read, replicas: replicaDbs, urls, roleUrl: roleUrlOf } = await startDatabases(opts, places, pgLog, started);
    const temporalAddress = `127.0.0.1:${ports.temporal}`;
    const payloadKeys = stackPayloadKeys(opts);
    // What every process shares; each also gets its own database URLs (databaseEnv), never the superuser's.
    const processEnv: Record<string, string> = {
      ...payloadKeys.env,
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_UI_URL: `http://127.0.0.1:${ports.temporalUi}`,
      PORT: String(ports.api),
      PSP_PORT: String(ports.psp),
      PSP_URL: `http://127.0.0.1:${ports.psp}`,
      PROJECTOR_METRICS_PORT: String(ports.projectorMetrics),
      // The PSP sandbox keeps its books with the rest of the stack's data: a restart forgets nothing.
      PSP_DATA_FILE: path.join(dataDir, 'psp-books.jsonl'),
      ...(opts.env ?? {}),
    };
    const env: Record<string, string> = {
      ...processEnv,
      ORDERS_DATABASE_URL: urls.orders,
      PAYMENTS_DATABASE_URL: urls.payments,
      RESTAURANTS_DATABASE_URL: urls.restaurants,
      MENU_READ_DATABASE_URL: urls.menu_read,
    };
    const managed: Managed = (name, command, args, extraEnv = {}, nice) =>
      new ManagedProcess(name, command, args, {
        cwd: PROJECT_ROOT,
        env: { ...processEnv, ...extraEnv },
        logFile: path.join(logs, `${name}.log`),
        nice,
        onUnexpectedExit: opts.onUnexpectedExit,
      });

    const cluster = opts.engine === 'cluster';
    log(cluster ? 'starting the Temporal cluster' : 'starting the Temporal dev server');
    // A cluster that fails half-way stops what it started itself.
    const temporal = cluster ? await startCluster(opts) : await startDevServer(opts, managed, temporalAddress);
    started.unshift(() => temporal.stop());

    log(`starting the PSP sandbox, CDC projector${places.length > 1 ? 's' : ''}, workers and API${places.length > 1 ? 's' : ''}`);
    const { psp, replicas, workers, metricsUrls } = await serviceProcesses(opts, managed, databaseEnv(roleUrlOf), replicaDbs);
    const [{ projector, api }] = replicas as [ReadReplica, ...ReadReplica[]];
    const projectors = replicas.map((r) => r.projector);
    const apis = replicas.map((r) => r.api);
    const all = [...apis, ...workers.order, ...workers.payment, ...workers.restaurant, ...projectors, psp];
    started.unshift(() => Promise.all(all.map((p) => p.stop())));
    for (const p of [psp, ...projectors, ...workers.order, ...workers.payment, ...workers.restaurant, ...apis]) p.start();
    // An API running the order worker listens once that worker is built (its workflows bundled by
    // webpack: over a minute on two busy cores), so it gets longer.
    const apiStartMs = apiOrderWorkerOf(opts) ? 180_000 : 60_000;
    await Promise.all([
      ...replicas.map((r) => waitForPort(Number(new URL(r.apiUrl).port), apiStartMs, () => r.api.running)),
      waitForPort(ports.psp, 60000, () => psp.running),
    ]);

    return {
      ports,
      urls,
      roleUrl: roleUrlOf,
      apiUrl: `http://127.0.0.1:${ports.api}`,
      pspUrl: env.PSP_URL!,
      temporalAddress,
      temporalUiUrl: env.TEMPORAL_UI_URL!,
      codecEndpoint: codecEndpoint(ports),
      payloadCodec: payloadKeys.codec,
      env,
      primary,
      read,
      replicas,
      temporal,
      psp,
      projector,
      api,
      workers,
      apiOrderWorker: apiOrderWorkerOf(opts),
      metricsUrls,
      async stop() {
        log('stopping the APIs, workers, projectors and PSP sandbox');
        await Promise.all(all.map((p) => p.stop()));
        log(`stopping the Temporal ${temporal.kind === 'cluster' ? 'cluster' : 'dev server'}`);
        await temporal.stop();
        log('stopping Postgres');
        await Promise.allSettled([primary.stop(), ...replicas.map((r) => r.postgres.stop())]);
        pgLog.end();
      },
    };
  } catch (err) {
    log(`the stack did not start (${err instanceof Error ? err.message : String(err)}); stopping what did`);
    for (const stop of started) await stop().catch(() => undefined);
    pgLog.end();
    throw err;
  }
}
