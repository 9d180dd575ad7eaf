import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import { ManagedProcess } from '../../harness/managed-process';
import { waitForPort } from '../../harness/local-stack';
import { dataConverterFor } from '../../lib/node/payload-codec';
import { freePort } from '../../lib/node/ports';
import { PROJECT_ROOT } from '../../lib/node/temporal-tools';
import type { OrderSagaInput } from '../../lib/workflow-safe/domain';
import { startOrderSaga } from '../../lib/order-saga-starter';
import { postgresWritingTransactions } from '../lib/postgres-writes';
import type { ProcessGroup } from '../lib/proc';
import { scrape, sumOf } from '../lib/stats';

// The three engines behind one interface, so the benchmark and the smoke test drive each the same
// way: start its processes, hand it an order's saga, count its durable writes, crash it.

/** What every engine's saga uses: the service databases (each service's own role), the PSP. */
export interface PeerEnvironment {
  /** Superuser URL of the primary's `postgres` database (DBOS creates its system database from it). */
  adminUrl: string;
  serviceUrls: { orders: string; payments: string; restaurants: string };
  pspUrl: string;
  dataDir: string;
  log: (msg: string) => void;
  /** Extra environment for the engine's processes (LOG_LEVEL, ...). */
  env?: Record<string, string>;
}

export interface PeerEngine {
  readonly name: 'temporal' | 'dbos' | 'restate';
  /** The processes this engine adds, by the name their CPU and memory are reported under. */
  readonly groups: ProcessGroup[];
  start(): Promise<void>;
  /** Hands the saga to the engine; resolves once the engine has made the start durable. */
  submit(input: OrderSagaInput): Promise<void>;
  /** The engine's own durable writes so far (a counter; compare two readings). */
  durableWrites(): Promise<number>;
  /** What `durableWrites` counts, for the table's footnote. */
  readonly writesCounted: string;
  /** kill -9 of the engine's worker or server process, then a start on the same data. */
  crash(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

function managed(env: PeerEnvironment, name: string, command: string, args: string[], extraEnv: Record<string, string>): ManagedProcess {
  const logs = path.join(env.dataDir, 'logs');
  fs.mkdirSync(logs, { recursive: true });
  return new ManagedProcess(name, command, args, {
    cwd: PROJECT_ROOT,
    env: { ...env.env, ...extraEnv },
    logFile: path.join(logs, `${name}.log`),
    onUnexpectedExit: (n, code, signal) => env.log(`!! ${n} exited unexpectedly (${signal ?? code})`),
  });
}

const tsArgs = (file: string) => ['--import', 'tsx', path.join(PROJECT_ROOT, 'bench', 'peers', file)];

function serviceEnv(env: PeerEnvironment, port: number): Record<string, string> {
  return {
    ORDERS_DATABASE_URL: env.serviceUrls.orders,
    PAYMENTS_DATABASE_URL: env.serviceUrls.payments,
    RESTAURANTS_DATABASE_URL: env.serviceUrls.restaurants,
    PSP_URL: env.pspUrl,
    PEER_PORT: String(port),
  };
}

async function postJson(url: string, body: unknown, expect: number[]): Promise<string> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (!expect.includes(res.status)) throw new Error(`${url} answered ${res.status}: ${text.slice(0, 200)}`);
  return text;
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** DBOS Transact: one Node process (the app, with its HTTP entry) and its system database in Postgres. */
export function dbosEngine(env: PeerEnvironment, systemDatabase = 'dbos_peer_sys'): PeerEngine {
  const systemUrl = withDatabase(env.adminUrl, systemDatabase);
  let port = 0;
  let app: ManagedProcess | undefined;
  return {
    name: 'dbos',
    groups: [{ name: 'dbos-app', roots: () => [app?.pid] }],
    writesCounted: 'writing transactions in Postgres, all its databases (transaction ids assigned): the system database and the services',
    async start() {
      port = await freePort();
      app = managed(env, 'dbos-app', process.execPath, tsArgs('dbos-app.ts'), { ...serviceEnv(env, port), DBOS_SYSTEM_DATABASE_URL: systemUrl });
      app.start();
      await waitForPort(port, 90_000, () => app!.running);
    },
    async submit(input) {
      await postJson(`http://127.0.0.1:${port}/orders`, input, [202]);
    },
    durableWrites: () => postgresWritingTransactions(env.adminUrl),
    async crash(downMs) {
      await app!.kill();
      await sleep(downMs);
      app!.start();
      await waitForPort(port, 90_000, () => app!.running);
    },
    async stop() {
      await app?.stop();
    },
  };
}

/** Restate: the server binary from npm (its own log and state store) and the SDK endpoint process. */
export function restateEngine(env: PeerEnvironment): PeerEngine {
  const ports = { ingress: 0, admin: 0, node: 0, pgsql: 0, endpoint: 0 };
  let server: ManagedProcess | undefined;
  let endpoint: ManagedProcess | undefined;
  // The binary itself, not node_modules/.bin/restate-server: that is a Node wrapper, and a kill -9
  // of the wrapper leaves the server running (the first crash test did exactly that).
  const serverBin = path.join(
    path.dirname(require.resolve(`@restatedev/restate-server-${process.platform}-${process.arch}/package.json`)),
    'bin',
    'restate-server',
  );
  const metricsUrl = () => `http://127.0.0.1:${ports.node}/metrics`;
  return {
    name: 'restate',
    groups: [
      { name: 'restate-server', roots: () => [server?.pid] },
      { name: 'restate-endpoint', roots: () => [endpoint?.pid] },
    ],
    writesCounted: 'records committed to the Restate log (restate_bifrost_sequencer_committed_records_total)',
    async start() {
      for (const k of Object.keys(ports) as Array<keyof typeof ports>) ports[k] = await freePort();
      endpoint = managed(env, 'restate-endpoint', process.execPath, tsArgs('restate-app.ts'), serviceEnv(env, ports.endpoint));
      endpoint.start();
      server = managed(env, 'restate-server', serverBin, ['--base-dir', path.join(env.dataDir, 'restate'), '--no-logo', '--node-name', 'peer'], {
        RESTATE_INGRESS__BIND_ADDRESS: `127.0.0.1:${ports.ingress}`,
        RESTATE_ADMIN__BIND_ADDRESS: `127.0.0.1:${ports.admin}`,
        RESTATE_ADMIN__QUERY_ENGINE__PGSQL_BIND_ADDRESS: `127.0.0.1:${ports.pgsql}`,
        RESTATE_BIND_ADDRESS: `127.0.0.1:${ports.node}`,
        RESTATE_ADVERTISED_ADDRESS: `http://127.0.0.1:${ports.node}/`,
        RESTATE_DISABLE_TELEMETRY: 'true',
        RESTATE_LOG_FILTER: 'warn',
      });
      server.start();
      await waitForPort(ports.endpoint, 90_000, () => endpoint!.running);
      await waitForPort(ports.admin, 90_000, () => server!.running);
      await waitForPort(ports.ingress, 90_000, () => server!.running);
      // Registering the endpoint makes the server discover its services (the first try may come
      // before the server is ready to take it).
      for (let attempt = 1; ; attempt++) {
        try {
          await postJson(`http://127.0.0.1:${ports.admin}/deployments`, { uri: `http://127.0.0.1:${ports.endpoint}`, force: true }, [200, 201]);
          break;
        } catch (err) {
          if (attempt >= 30) throw err;
          await sleep(1000);
        }
      }
    },
    async submit(input) {
      // `/send`: the ingress answers once the invocation is in the log; the workflow key is the order id.
      await postJson(`http://127.0.0.1:${ports.ingress}/OrderSaga/${encodeURIComponent(input.orderId)}/run/send`, input, [200, 202]);
    },
    async durableWrites() {
      return sumOf(await scrape(metricsUrl()), 'restate_bifrost_sequencer_committed_records_total');
    },
    async crash(downMs) {
      await server!.kill();
      await sleep(downMs);
      server!.start();
      await waitForPort(ports.ingress, 90_000, () => server!.running);
    },
    async stop() {
      await server?.stop();
      await endpoint?.stop();
    },
  };
}

/** Temporal: the stack's dev server and its three service workers (started by the stack). */
export function temporalEngine(opts: {
  address: string;
  payloadCodec: PayloadCodec;
  metricsUrl: string;
  groups: ProcessGroup[];
  crash: (downMs: number) => Promise<void>;
}): PeerEngine {
  let client: Client | undefined;
  let connection: Connection | undefined;
  return {
    name: 'temporal',
    groups: opts.groups,
    writesCounted: 'Temporal persistence CreateWorkflowExecution + UpdateWorkflowExecution',
    async start() {
      connection = await Connection.connect({ address: opts.address });
      client = new Client({ connection, dataConverter: dataConverterFor(opts.payloadCodec) });
    },
    async submit(input) {
      await startOrderSaga(client!, input, '');
    },
    async durableWrites() {
      const m = await scrape(opts.metricsUrl);
      return ['CreateWorkflowExecution', 'UpdateWorkflowExecution'].reduce(
        (a, op) => a + sumOf(m, 'persistence_requests', { namespace: 'default', operation: op }),
        0,
      );
    },
    crash: opts.crash,
    async stop() {
      await connection?.close();
    },
  };
}
