// `npm run chaos -- --help` lists the flags.
// Drives a seeded stream of orders through the real stack while crashing and disturbing its parts,
// then runs a reconciler pass and audits. Exit code 0 only when nothing was lost, duplicated, kept or
// charged twice, the PSP's books agree and the reconciler pass succeeded (harness/chaos/summary.ts).
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chaosRunClean, CLUSTER_FAULT_KINDS, FAULT_KINDS, faultKindsFor, formatChaosSummary, runChaos, type FaultKind } from '../harness/chaos';

const USAGE = `npm run chaos -- [flags]
  --orders N        orders to offer (default 5000)
  --rate R          orders offered per second (default 4: about what one 2-core machine completes with
                    every fault kind running; far above it the run builds a backlog it cannot drain)
  --seed S          seed of the order mix and the fault schedule (default 42)
  --fault-every S   mean seconds between faults (default 4; 0: no faults). Kinds come in seeded
                    shuffles of all ${FAULT_KINDS.length}, so each gets its share. One fault finishes before the
                    next starts; the slow-PSP and paused-worker windows hold while the schedule goes on
  --window S        restaurants' acceptance window in seconds (default 20)
  --workers N       worker processes per service (default 2)
  --slow-psp-seconds S  length of each psp-slower-than-timeout window (default 60)
  --recovery S      seconds to wait after the traffic for every order to settle (default 600)
  --reconcile-timeout S  longest wait for the reconciler pass at the end (default 120)
  --json FILE       where to write the summary (default bench-results/chaos-<seed>-<time>.json)
  --cluster         run on the Temporal cluster (a process per service, two history processes,
                    Postgres; built by \`npm run setup\`) instead of the dev server, and add its node-loss
                    faults: ${CLUSTER_FAULT_KINDS.join(', ')}
  --api-order-worker  the API process also runs an order worker and starts sagas eagerly (API_ORDER_WORKER);
                    the --workers order worker processes still run beside it
  --kinds K1,K2     only these fault kinds (e.g. --kinds ${CLUSTER_FAULT_KINDS.join(',')} for node loss alone)
  --keep-data       keep the stack's data folder and logs
  --help            this text`;

const { values: flags } = parseArgs({
  options: {
    orders: { type: 'string' },
    rate: { type: 'string' },
    seed: { type: 'string' },
    'fault-every': { type: 'string' },
    window: { type: 'string' },
    workers: { type: 'string' },
    recovery: { type: 'string' },
    'slow-psp-seconds': { type: 'string' },
    'reconcile-timeout': { type: 'string' },
    json: { type: 'string' },
    'keep-data': { type: 'boolean' },
    cluster: { type: 'boolean' },
    'api-order-worker': { type: 'boolean' },
    kinds: { type: 'string' },
    help: { type: 'boolean' },
  },
  strict: true,
});

function num(flag: keyof typeof flags, fallback: number): number {
  const raw = flags[flag];
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${flag} takes a non-negative number`);
  return v;
}

/** --kinds: each must be a kind of the engine. */
function kindsFlag(engine: 'dev-server' | 'cluster'): FaultKind[] | undefined {
  if (flags.kinds === undefined) return undefined;
  const known = faultKindsFor(engine);
  const kinds = flags.kinds.split(',').map((k) => k.trim()) as FaultKind[];
  const unknown = kinds.filter((k) => !known.includes(k));
  if (unknown.length > 0 || kinds.length === 0) throw new Error(`--kinds: not a fault kind of the ${engine}: ${unknown.join(', ') || '(none given)'}`);
  return kinds;
}

async function main() {
  if (flags.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const engine = flags.cluster ? 'cluster' : 'dev-server';
  const summary = await runChaos({
    orders: num('orders', 5000),
    rate: num('rate', 4),
    seed: num('seed', 42),
    faultEverySeconds: num('fault-every', 4),
    acceptanceWindowSeconds: num('window', 20),
    workersPerService: num('workers', 2),
    recoveryTimeoutSeconds: num('recovery', 600),
    slowPspSeconds: num('slow-psp-seconds', 60),
    reconcileTimeoutSeconds: num('reconcile-timeout', 120),
    keepData: flags['keep-data'] === true,
    engine,
    kinds: kindsFlag(engine),
    apiOrderWorker: flags['api-order-worker'] === true || process.env.API_ORDER_WORKER === 'true',
  });
  process.stdout.write(`\n${formatChaosSummary(summary)}\n`);
  const out = flags.json ?? path.join('bench-results', `chaos-${summary.seed}-${Date.now()}.json`);
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(summary, null, 2)}\n`);
  process.stdout.write(`summary written to ${out}\n`);
  process.exit(chaosRunClean(summary) ? 0 : 1);
}

// A closed pipe on stdout (`npm run chaos | head`) must not kill the harness before it stops the stack.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
});

main().catch((err) => {
  process.stderr.write(`chaos run failed: ${(err as Error).stack ?? err}\n`);
  process.exit(2);
});
