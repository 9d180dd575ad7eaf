// `npm run chaos -- [--orders 5000] [--rate 25] [--seed 42] [--fault-every 4] [--window 20]
//                   [--workers 2] [--recovery 600] [--json out.json] [--keep-data]`
// Drives a seeded stream of orders through the real stack while crashing and disturbing its parts,
// then audits. Exit code 0 only with 0 violations, 0 lost orders and 0 double charges.
import fs from 'node:fs';
import path from 'node:path';
import { formatChaosSummary, runChaos } from '../ops/chaos';

function num(flag: string, fallback: number): number {
  const i = process.argv.indexOf(flag);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${flag} takes a non-negative number`);
  return v;
}

async function main() {
  const summary = await runChaos({
    orders: num('--orders', 5000),
    rate: num('--rate', 25),
    seed: num('--seed', 42),
    faultEverySeconds: num('--fault-every', 4),
    acceptanceWindowSeconds: num('--window', 20),
    workersPerService: num('--workers', 2),
    recoveryTimeoutSeconds: num('--recovery', 600),
    keepData: process.argv.includes('--keep-data'),
  });
  process.stdout.write(`\n${formatChaosSummary(summary)}\n`);
  const i = process.argv.indexOf('--json');
  const out = i >= 0 ? process.argv[i + 1]! : path.join('bench-results', `chaos-${summary.seed}-${Date.now()}.json`);
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(summary, null, 2)}\n`);
  process.stdout.write(`summary written to ${out}\n`);
  const ok = summary.violations === 0 && summary.lostOrders === 0 && summary.doubleCharges === 0 && summary.pspMismatches === 0 && summary.duplicateMismatches === 0;
  process.exit(ok ? 0 : 1);
}

main().catch((err) => {
  process.stderr.write(`chaos run failed: ${(err as Error).stack ?? err}\n`);
  process.exit(2);
});
