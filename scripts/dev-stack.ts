// `npm start`: the whole system on one machine, with real parts — two embedded Postgres instances
// (primary and read side), the Temporal dev server with its Web UI, the CDC projector, the PSP
// sandbox, the three service workers and the API. Ctrl-C stops everything cleanly.
// `npm start -- --read-replicas N`: N read sides, each its own Postgres, projector (own slot) and API.
// `--cluster`: Temporal as a cluster instead of the dev server (harness/temporal-cluster.ts: a process
// per service, two history processes, Postgres), built by `npm run setup` with Go.
// `--api-order-worker` (or API_ORDER_WORKER=true): the API process also runs the order worker and
// starts sagas eagerly (processes/api-order-worker.ts); no separate order worker process.
import fs from 'node:fs';
import path from 'node:path';
import { restaurantIdFor } from '../db/seed';
import { mintToken } from '../lib/node/auth';
import { loadConfig, tokenLifetimes } from '../lib/node/config';
import { PROJECT_ROOT } from '../lib/node/temporal-tools';
import { startLocalStack, type LocalStack } from '../harness/local-stack';

const cluster = process.argv.includes('--cluster');
// Without the flag, the harness reads API_ORDER_WORKER from the environment.
const apiOrderWorker = process.argv.includes('--api-order-worker') ? true : undefined;
// Each engine keeps its own data: the service databases' orders belong to the sagas of one engine.
const DATA = path.join(PROJECT_ROOT, cluster ? '.data-cluster' : '.data');
const DATA_NAME = path.basename(DATA);
const port = (name: string, fallback: number) => Number(process.env[name] ?? fallback);

let stack: LocalStack | undefined;
let stopping = false;

function say(msg: string) {
  process.stdout.write(`[stack] ${msg}\n`);
}

/** `--read-replicas N` (or `--read-replicas=N`): how many read sides to run; 1 without it. */
function readReplicasArg(argv: string[]): number {
  const at = argv.findIndex((a) => a === '--read-replicas' || a.startsWith('--read-replicas='));
  if (at < 0) return 1;
  const raw = argv[at]!.includes('=') ? argv[at]!.split('=')[1] : argv[at + 1];
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 8) throw new Error(`--read-replicas wants a whole number from 1 to 8 (got ${raw ?? 'nothing'})`);
  return n;
}

async function main() {
  if (process.argv.includes('--fresh')) {
    say(`--fresh: deleting ${DATA_NAME}`);
    fs.rmSync(DATA, { recursive: true, force: true });
  }
  const config = loadConfig();
  const readReplicas = readReplicasArg(process.argv.slice(2));
  stack = await startLocalStack({
    engine: cluster ? 'cluster' : 'dev-server',
    dataDir: DATA,
    readReplicas,
    apiOrderWorker,
    ports: {
      pgPrimary: port('PG_PRIMARY_PORT', 54329),
      pgRead: port('PG_READ_PORT', 54339),
      temporal: port('TEMPORAL_PORT', 7233),
      temporalUi: port('TEMPORAL_UI_PORT', 8233),
      pgTemporal: port('PG_TEMPORAL_PORT', 54349),
      api: config.PORT,
      psp: config.PSP_PORT,
      projectorMetrics: config.PROJECTOR_METRICS_PORT,
    },
    env: { AUTH_SECRET: config.AUTH_SECRET },
    log: say,
    onUnexpectedExit: (name, code, signal) => {
      if (!stopping) say(`${name} exited (${signal ?? code}); see ${DATA_NAME}/logs/${name}.log`);
    },
  });

  // Each cut to its role's maximum lifetime (the API refuses longer ones).
  const ttl = config.TOKEN_TTL_SECONDS;
  const lifetimes = tokenLifetimes(config);
  const [customer, restaurant, admin] = await Promise.all([
    mintToken({ role: 'customer', sub: 'customer-1' }, config.AUTH_SECRET, ttl, lifetimes),
    mintToken({ role: 'restaurant', sub: 'owner-1', restaurantId: restaurantIdFor(1) }, config.AUTH_SECRET, ttl, lifetimes),
    mintToken({ role: 'admin', sub: 'admin-1' }, config.AUTH_SECRET, ttl, lifetimes),
  ]);
  const api = stack.apiUrl;
  process.stdout.write(`
  The delivery stack is up.

  API                 ${api}        (ready: curl ${api}/readyz)
  Temporal Web UI     ${stack.temporalUiUrl}
  Temporal frontend   ${stack.temporalAddress}  (temporal workflow list --address ${stack.temporalAddress})
${engineLines(stack)}  Postgres primary    ${stack.primary.url('')}  (orders, payments, restaurants)
${stack.replicas
  .map(
    (r) =>
      `  Read replica ${r.name.padEnd(7)}Postgres ${r.postgres.url('')} (menu_read), slot ${r.slotName}, API ${r.apiUrl}${r === stack!.replicas[0] ? ' (the API above)' : ''}`,
  )
  .join('\n')}
  PSP sandbox         ${stack.pspUrl}
  Order worker        ${
    stack.apiOrderWorker
      ? 'inside the API process (API_ORDER_WORKER: one connection, sagas started eagerly)'
      : `${stack.workers.order.length} process(es); \`npm start -- --api-order-worker\` runs it inside the API`
  }
  Logs                ${DATA_NAME}/logs/<service>.log
  OpenAPI             ${api}/openapi.json  (browse: ${api}/docs)
  Metrics (Prometheus)
${Object.entries(stack.metricsUrls)
  .map(([name, url]) => `    ${name.padEnd(20)}${url}`)
  .join('\n')}

  Tokens (Authorization: Bearer <token>; more with \`npm run token -- <role> <subject> [restaurantId]\`):
  customer   (customer-1)          ${customer}
  restaurant (${restaurantIdFor(1)}, owner-1)  ${restaurant}
  admin      (admin-1)             ${admin}

  Temporal payloads are encrypted (keyring: ${stack.env.PAYLOAD_KEYS_FILE ?? 'PAYLOAD_KEYS'}); operators decode them through ${stack.codecEndpoint}:
    CLI     temporal workflow show --address ${stack.temporalAddress} -w <workflowId> --codec-endpoint ${stack.codecEndpoint} --codec-auth "Bearer <admin token>"
    Web UI  once per browser: ${api}/console/operator/ (admin token), "Let the Web UI decrypt"; then in the
            Web UI's codec settings turn on "Include cross-origin credentials" (docs/runbook.md)

  Try:  curl -s ${api}/restaurants/${restaurantIdFor(3)}/menu
  Ctrl-C stops everything.
`);
}

/** What the cluster engine adds to the banner: its processes and Temporal's own Postgres. */
function engineLines(s: LocalStack): string {
  const cluster = s.temporal.cluster;
  if (!cluster) return '  Temporal engine     dev server (one process, SQLite); `npm start -- --cluster` for the cluster\n';
  const services = cluster
    .services()
    .map((p) => `${p.name.replace('temporal-', '')} (pid ${p.pid})`)
    .join(', ');
  return [
    `  Temporal engine     cluster, ${cluster.numHistoryShards} history shards: ${services}`,
    `                      logs ${DATA_NAME}/logs/temporal-<service>.log, configs ${DATA_NAME}/temporal-cluster/`,
    `  Temporal's Postgres ${cluster.postgres?.url('') ?? '(shared)'}  (temporal, temporal_visibility)`,
    '',
  ].join('\n');
}

async function shutdown(code: number) {
  if (stopping) return;
  stopping = true;
  say('stopping services');
  await stack?.stop();
  say('stopped');
  process.exit(code);
}

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
main().catch((err) => {
  console.error('[stack] failed to start:', err);
  void shutdown(1);
});
