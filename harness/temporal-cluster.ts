import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import YAML from 'yaml';
import { startPostgres, type PostgresInstance } from '../lib/node/embedded-postgres';
import { ensureDatabase } from '../lib/node/pg-admin';
import { freePort, freePortInRange, waitForPort } from '../lib/node/ports';
import { clusterToolPath, PROJECT_ROOT, SEARCH_ATTRIBUTES } from '../lib/node/temporal-tools';
import { ManagedProcess } from './managed-process';

// Temporal as production runs it, on one machine: each service its own process (frontend, matching,
// history x N, worker), finding each other through membership on loopback, persistence and
// visibility on Postgres, many history shards. Built by `npm run setup` (scripts/install-temporal-cluster.mjs).
// The dev server (`temporal server start-dev`) is one process, one shard, SQLite: fine for a laptop,
// not for measuring what production pays or what a lost node does.

const run = promisify(execFile);

export const CLUSTER_NAMESPACE = 'default';

export interface TemporalClusterOptions {
  /** Configs go to <dataDir>/temporal-cluster, logs to <dataDir>/logs/temporal-*.log. */
  dataDir: string;
  /** The frontend's gRPC port (what clients connect to). */
  frontendPort: number;
  /** The Web UI's port; no UI when absent. */
  uiPort?: number;
  /** The codec endpoint the Web UI decrypts payloads through. */
  codecEndpoint?: string;
  /**
   * Where Temporal keeps its data: `{ port }` starts an embedded Postgres of its own there (data in
   * <dataDir>/pg-temporal); `{ adminUrl }` uses an existing instance (the test suite's).
   */
  postgres: { port: number } | { adminUrl: string };
  /** Database names (default temporal, temporal_visibility). */
  databases?: { persistence: string; visibility: string };
  historyProcesses?: number;
  /** Fixed when the cluster's database is first set up. */
  numHistoryShards?: number;
  /** Connections each process may open to each store (default 20 to persistence, 10 to visibility). */
  maxConns?: { persistence: number; visibility: number };
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Extra dynamic config, key -> value (e.g. { 'history.transferProcessorMaxPollRPS': 500 }). */
  dynamicConfig?: Record<string, unknown>;
  log: (msg: string) => void;
  onUnexpectedExit?: (name: string, code: number | null, signal: string | null) => void;
}

export interface TemporalCluster {
  address: string;
  uiUrl?: string;
  numHistoryShards: number;
  frontend: ManagedProcess;
  matching: ManagedProcess;
  history: ManagedProcess[];
  worker: ManagedProcess;
  ui?: ManagedProcess;
  /** Temporal's services (not the UI, not Postgres). */
  services(): ManagedProcess[];
  /** Prometheus endpoints by process name. */
  metricsUrls: Record<string, string>;
  /** Temporal's own Postgres when the cluster started it. */
  postgres?: PostgresInstance;
  /** Stops (or SIGKILLs) every service, waits `downMs`, starts them again and waits until it serves. */
  restartServices(downMs?: number, mode?: 'stop' | 'kill'): Promise<void>;
  /** How many history shards a history process owns now (its numshards_gauge metric). */
  ownedShards(history: ManagedProcess): Promise<number>;
  /** Until the frontend answers for the namespace (after a start or restart). */
  waitUntilServing(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The dynamic config of both engines' tuning (harness/local-stack.ts passes the same to the dev
 * server): each shard reads its task queues at most 20 times a second by default, which added ~25 ms
 * to each of a saga's nine tasks on the one-shard dev server (BENCHMARKS.md).
 */
export const SHARED_DYNAMIC_CONFIG: Record<string, unknown> = {
  'history.transferProcessorMaxPollRPS': 500,
  'history.timerProcessorMaxPollRPS': 500,
  'history.visibilityProcessorMaxPollRPS': 500,
};

type ServiceName = 'frontend' | 'matching' | 'history' | 'worker';
interface ServicePorts {
  grpcPort: number;
  membershipPort: number;
  httpPort?: number;
  metricsPort: number;
}
interface ProcessPlan {
  name: string;
  service: ServiceName;
  ports: ServicePorts;
}

async function servicePorts(service: ServiceName, grpcPort?: number): Promise<ServicePorts> {
  return {
    grpcPort: grpcPort ?? (await freePort()),
    // Membership records its port in a SMALLINT column (cluster_membership.rpc_port): below 32768,
    // where the OS's ephemeral ports (freePort) never are.
    membershipPort: await freePortInRange(20000, 32767),
    metricsPort: await freePort(),
    ...(service === 'frontend' ? { httpPort: await freePort() } : {}),
  };
}

/** One process per service, two (or more) for history; each its own gRPC, membership and metrics ports. */
async function planProcesses(opts: TemporalClusterOptions): Promise<ProcessPlan[]> {
  const plan: ProcessPlan[] = [{ name: 'temporal-frontend', service: 'frontend', ports: await servicePorts('frontend', opts.frontendPort) }];
  for (let i = 1; i <= (opts.historyProcesses ?? 2); i++) {
    plan.push({ name: `temporal-history-${i}`, service: 'history', ports: await servicePorts('history') });
  }
  plan.push({ name: 'temporal-matching', service: 'matching', ports: await servicePorts('matching') });
  plan.push({ name: 'temporal-worker', service: 'worker', ports: await servicePorts('worker') });
  return plan;
}

interface Store {
  host: string;
  port: number;
  user: string;
  password: string;
}

function storeOf(adminUrl: string): Store {
  const u = new URL(adminUrl);
  return { host: u.hostname, port: Number(u.port || 5432), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
}

/** The server's config for one process: every service listed (membership needs them), this one's ports its own. */
function serverConfig(opts: TemporalClusterOptions, store: Store, plan: ProcessPlan[], self: ProcessPlan, dynamicConfigFile: string) {
  const dbs = opts.databases ?? { persistence: 'temporal', visibility: 'temporal_visibility' };
  const conns = opts.maxConns ?? { persistence: 20, visibility: 10 };
  const sql = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `${store.host}:${store.port}`,
      connectProtocol: 'tcp',
      user: store.user,
      password: store.password,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const services: Record<string, unknown> = {};
  for (const service of ['frontend', 'history', 'matching', 'worker'] as const) {
    const p = self.service === service ? self : plan.find((x) => x.service === service)!;
    const { grpcPort, membershipPort, httpPort } = p.ports;
    services[service] = { rpc: { grpcPort, membershipPort, bindOnIP: '127.0.0.1', ...(httpPort ? { httpPort } : {}) } };
  }
  return {
    log: { stdout: true, level: opts.logLevel ?? 'warn' },
    persistence: {
      defaultStore: 'default',
      visibilityStore: 'visibility',
      numHistoryShards: opts.numHistoryShards ?? 16,
      datastores: { default: sql(dbs.persistence, conns.persistence), visibility: sql(dbs.visibility, conns.visibility) },
    },
    global: {
      membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' },
      metrics: { prometheus: { framework: 'tally', timerType: 'histogram', listenAddress: `127.0.0.1:${self.ports.metricsPort}` } },
    },
    services,
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: `127.0.0.1:${opts.frontendPort}` },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: dynamicConfigFile, pollInterval: '10s' },
  };
}

/** The dynamic config file: `key: [{ value }]` for each setting (no per-namespace constraints). */
function writeDynamicConfig(file: string, settings: Record<string, unknown>): void {
  const doc = Object.fromEntries(Object.entries(settings).map(([k, value]) => [k, [{ value }]]));
  fs.writeFileSync(file, YAML.stringify(doc));
}

/**
 * Both databases created and brought to the server's schema with its own tool (idempotent: setup-schema
 * only adds the version tables, update-schema applies the versions the database does not have yet).
 */
async function applySchema(adminUrl: string, store: Store, opts: TemporalClusterOptions): Promise<void> {
  const dbs = opts.databases ?? { persistence: 'temporal', visibility: 'temporal_visibility' };
  const tool = clusterToolPath('temporal-sql-tool');
  const base = ['--plugin', 'postgres12', '--ep', store.host, '-p', String(store.port), '-u', store.user, '--pw', store.password];
  for (const [db, schema] of [
    [dbs.persistence, 'postgresql/v12/temporal'],
    [dbs.visibility, 'postgresql/v12/visibility'],
  ] as const) {
    await ensureDatabase(adminUrl, db);
    for (const args of [
      ['--db', db, 'setup-schema', '-v', '0.0'],
      ['--db', db, 'update-schema', '--schema-name', schema],
    ]) {
      try {
        await run(tool, [...base, ...args], { maxBuffer: 16 * 1024 * 1024 });
      } catch (err) {
        const e = err as { stderr?: string; stdout?: string; message: string };
        throw new Error(`temporal-sql-tool ${args.slice(2).join(' ')} on ${db} failed: ${e.stderr || e.stdout || e.message}`, { cause: err });
      }
    }
  }
}

/** The Web UI server's config folder (development.yaml): the frontend, the port, the codec endpoint. */
function uiConfigDir(dir: string, opts: TemporalClusterOptions): string {
  const uiDir = path.join(dir, 'ui');
  fs.mkdirSync(uiDir, { recursive: true });
  const config = {
    temporalGrpcAddress: `127.0.0.1:${opts.frontendPort}`,
    host: '127.0.0.1',
    port: opts.uiPort,
    enableUi: true,
    defaultNamespace: CLUSTER_NAMESPACE,
    refreshInterval: '1m',
    cors: { cookieInsecure: true, allowOrigins: [], unsafeAllowAllOrigins: false },
    codec: { endpoint: opts.codecEndpoint ?? '', passAccessToken: false, includeCredentials: false },
    hideLogs: false,
  };
  fs.writeFileSync(path.join(uiDir, 'development.yaml'), YAML.stringify(config));
  return uiDir;
}

/** A connection to the frontend, retried while the cluster starts (the port opens before it serves). */
async function connectWhenReady(address: string, deadline: number): Promise<Connection> {
  for (;;) {
    try {
      return await Connection.connect({ address, connectTimeout: 5000 });
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(500);
    }
  }
}

/** Temporal's Web UI server on `opts.uiPort`, pointed at the frontend. */
async function startUi(dir: string, logs: string, opts: TemporalClusterOptions): Promise<ManagedProcess> {
  const args = ['--root', uiConfigDir(dir, opts), '--config', '.', '--env', 'development', 'start'];
  const ui = new ManagedProcess('temporal-ui', clusterToolPath('temporal-ui-server'), args, {
    cwd: PROJECT_ROOT,
    env: {},
    logFile: path.join(logs, 'temporal-ui.log'),
    onUnexpectedExit: opts.onUnexpectedExit,
  });
  ui.start();
  try {
    await waitForPort(opts.uiPort!, 30_000, () => ui.running);
  } catch (err) {
    await ui.kill();
    throw err;
  }
  return ui;
}

/** The namespace and the project's search attributes, registered once (a restart finds them). */
async function registerNamespace(address: string, log: (msg: string) => void): Promise<void> {
  const deadline = Date.now() + 90_000;
  const connection = await connectWhenReady(address, deadline);
  try {
    const ws = connection.workflowService;
    let created = false;
    // The frontend serves before history and matching have joined: registration fails until then.
    for (;;) {
      try {
        await ws.registerNamespace({ namespace: CLUSTER_NAMESPACE, workflowExecutionRetentionPeriod: msToTs('24h') });
        created = true;
        break;
      } catch (err) {
        if ((err as { code?: number }).code === 6 /* ALREADY_EXISTS */) break;
        if (Date.now() > deadline) throw err;
        await sleep(500);
      }
    }
    const keyword = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
    const have = await connection.operatorService.listSearchAttributes({ namespace: CLUSTER_NAMESPACE });
    const missing = Object.keys(SEARCH_ATTRIBUTES).filter((name) => !(name in (have.customAttributes ?? {})));
    if (missing.length > 0) {
      await connection.operatorService.addSearchAttributes({
        namespace: CLUSTER_NAMESPACE,
        searchAttributes: Object.fromEntries(missing.map((name) => [name, keyword])),
      });
    }
    if (created || missing.length > 0) log(`registered namespace ${CLUSTER_NAMESPACE}${missing.length ? ` and search attributes ${missing.join(', ')}` : ''}`);
  } finally {
    await connection.close();
  }
}

/** Until the frontend answers a visibility query for the namespace (its namespace cache has it). */
async function waitUntilServing(address: string, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const connection = await Connection.connect({ address, connectTimeout: 2000 });
      try {
        await connection.workflowService.countWorkflowExecutions({ namespace: CLUSTER_NAMESPACE, query: '' });
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      if (!alive()) throw new Error('a Temporal service exited while the cluster was starting (see logs/temporal-*.log)', { cause: err });
      if (Date.now() > deadline) throw new Error(`the Temporal cluster did not serve within ${timeoutMs} ms: ${(err as Error).message}`, { cause: err });
      await sleep(500);
    }
  }
}

/** The history service's own count of the shards it holds (0 when it does not answer). */
async function ownedShards(metricsUrl: string): Promise<number> {
  try {
    const text = await (await fetch(metricsUrl, { signal: AbortSignal.timeout(2000) })).text();
    const line = text.split('\n').find((l) => l.startsWith('numshards_gauge'));
    return line ? Number(line.split(' ').pop()) : 0;
  } catch {
    return 0;
  }
}

/** Starts Temporal's Postgres (when its own), schema, services, namespace and Web UI. */
export async function startTemporalCluster(opts: TemporalClusterOptions): Promise<TemporalCluster> {
  const dir = path.join(opts.dataDir, 'temporal-cluster');
  const logs = path.join(opts.dataDir, 'logs');
  fs.mkdirSync(dir, { recursive: true });
  fs.mkdirSync(logs, { recursive: true });
  const server = clusterToolPath('temporal-server');
  const started: ManagedProcess[] = [];
  let postgres: PostgresInstance | undefined;
  let pgLog: fs.WriteStream | undefined;
  try {
    let adminUrl: string;
    if ('adminUrl' in opts.postgres) adminUrl = opts.postgres.adminUrl;
    else {
      opts.log("starting Temporal's Postgres");
      pgLog = fs.createWriteStream(path.join(logs, 'postgres-temporal.log'), { flags: 'a' });
      postgres = await startPostgres({ dataDir: path.join(opts.dataDir, 'pg-temporal'), port: opts.postgres.port, log: (l) => pgLog?.write(l) });
      adminUrl = postgres.url('postgres');
    }
    const store = storeOf(adminUrl);
    opts.log("applying Temporal's schema (temporal-sql-tool)");
    await applySchema(adminUrl, store, opts);

    const dynamicConfigFile = path.join(dir, 'dynamicconfig.yaml');
    writeDynamicConfig(dynamicConfigFile, { ...SHARED_DYNAMIC_CONFIG, ...(opts.dynamicConfig ?? {}) });
    const plan = await planProcesses(opts);
    const metricsUrls: Record<string, string> = {};
    const processes = plan.map((p) => {
      const configFile = path.join(dir, `${p.name}.yaml`);
      fs.writeFileSync(configFile, YAML.stringify(serverConfig(opts, store, plan, p, dynamicConfigFile)));
      metricsUrls[p.name] = `http://127.0.0.1:${p.ports.metricsPort}/metrics`;
      return new ManagedProcess(p.name, server, ['--config-file', configFile, '--allow-no-auth', 'start', '--service', p.service], {
        cwd: PROJECT_ROOT,
        env: {},
        logFile: path.join(logs, `${p.name}.log`),
        onUnexpectedExit: opts.onUnexpectedExit,
      });
    });
    const byService = (s: ServiceName) => processes.filter((_, i) => plan[i]!.service === s);
    const address = `127.0.0.1:${opts.frontendPort}`;
    const allAlive = () => processes.every((p) => p.running);
    // One process first: on a fresh database every service writes the cluster's metadata record at
    // start, and concurrent first writes fail (duplicate key) and stop the losers.
    const firstIndex = plan.findIndex((p) => p.service === 'history');
    const startServices = async () => {
      const first = processes[firstIndex]!;
      first.start();
      started.push(first);
      await waitForPort(plan[firstIndex]!.ports.grpcPort, 60_000, () => first.running);
      for (const p of processes.filter((x) => x !== first)) {
        p.start();
        started.push(p);
      }
      await waitForPort(opts.frontendPort, 60_000, () => processes[0]!.running);
    };
    opts.log(`starting Temporal's services (${plan.map((p) => p.name.replace('temporal-', '')).join(', ')}; ${opts.numHistoryShards ?? 16} history shards)`);
    await startServices();
    await registerNamespace(address, opts.log);
    await waitUntilServing(address, 60_000, allAlive);

    const ui = opts.uiPort ? await startUi(dir, logs, opts) : undefined;
    if (ui) started.push(ui);

    return {
      address,
      uiUrl: opts.uiPort ? `http://127.0.0.1:${opts.uiPort}` : undefined,
      numHistoryShards: opts.numHistoryShards ?? 16,
      frontend: byService('frontend')[0]!,
      matching: byService('matching')[0]!,
      history: byService('history'),
      worker: byService('worker')[0]!,
      ui,
      services: () => processes,
      metricsUrls,
      postgres,
      async restartServices(downMs = 2000, mode = 'stop') {
        await Promise.all(processes.map((p) => (mode === 'kill' ? p.kill() : p.stop())));
        await sleep(downMs);
        for (const p of processes) p.restarts++;
        await startServices();
        await waitUntilServing(address, 120_000, allAlive);
      },
      ownedShards: (history) => ownedShards(metricsUrls[history.name]!),
      waitUntilServing: (timeoutMs = 120_000) => waitUntilServing(address, timeoutMs, allAlive),
      async stop() {
        await ui?.stop();
        // The frontend first, so that clients see it go before the services behind it.
        await processes[0]!.stop();
        await Promise.all(processes.slice(1).map((p) => p.stop()));
        await postgres?.stop();
        pgLog?.end();
      },
    };
  } catch (err) {
    await Promise.all(started.map((p) => p.kill()));
    await postgres?.stop().catch(() => undefined);
    pgLog?.end();
    throw err;
  }
}
