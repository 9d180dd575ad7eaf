// `npm run chaos -- --help` lists the flags.
// Drives a seeded stream of orders through the real stack while crashing and disturbing its parts,
// then audits. Exit code 0 only with 0 violations, 0 lost orders and 0 double charges.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { formatChaosSummary, runChaos } from '../harness/chaos';

const USAGE = `npm run chaos -- [flags]
  --orders N        orders to offer (default 5000)
  --rate R          orders offered per second (default 4: about what one 2-core machine completes with
                    every fault kind running; far above it the run builds a backlog it cannot drain)
  --seed S          seed of the order mix and the fault schedule (default 42)
  --fault-every S   seconds between faults (default 4)
  --window S        restaurants' acceptance window in seconds (default 20)
  --workers N       worker processes per service (default 2)
  --recovery S      seconds to wait after the traffic for every order to settle (default 600)
  --json FILE       where to write the summary (default bench-results/chaos-<seed>-<time>.json)
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
    json: { type: 'string' },
    'keep-data': { type: 'boolean' },
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

async function main() {
  if (flags.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const summary = await runChaos({
    orders: num('orders', 5000),
    rate: num('rate', 4),
    seed: num('seed', 42),
    faultEverySeconds: num('fault-every', 4),
    acceptanceWindowSeconds: num('window', 20),
    workersPerService: num('workers', 2),
    recoveryTimeoutSeconds: num('recovery', 600),
    keepData: flags['keep-data'] === true,
  });
  process.stdout.write(`\n${formatChaosSummary(summary)}\n`);
  const out = flags.json ?? path.join('bench-results', `chaos-${summary.seed}-${Date.now()}.json`);
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(summary, null, 2)}\n`);
  process.stdout.write(`summary written to ${out}\n`);
  const ok = summary.violations === 0 && summary.lostOrders === 0 && summary.doubleCharges === 0 && summary.pspMismatches === 0 && summary.duplicateMismatches === 0;
  process.exit(ok ? 0 : 1);
}

// A closed pipe on stdout (`npm run chaos | head`) must not kill the harness before it stops the stack.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
});

main().catch((err) => {
  process.stderr.write(`chaos run failed: ${(err as Error).stack ?? err}\n`);
  process.exit(2);
});
