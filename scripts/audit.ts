// `npm run audit [-- --stuck-after <seconds>] [--json]`: checks every order against the invariants of
// DESIGN.md, prints a summary and each violation with a link to its saga, exits 1 on any violation.
// Read-only and batched: safe against a live system.
import { createDb } from '../db/knex';
import { loadConfig } from '../lib/config';
import { formatReport, runAudit, violationCount } from '../ops/audit';

async function main() {
  const config = loadConfig();
  const i = process.argv.indexOf('--stuck-after');
  const stuckAfterSeconds = i >= 0 ? Number(process.argv[i + 1]) : 900;
  if (!Number.isFinite(stuckAfterSeconds) || stuckAfterSeconds < 0) throw new Error('--stuck-after takes a number of seconds');
  const dbs = {
    orders: createDb(config.ORDERS_DATABASE_URL, 2),
    payments: createDb(config.PAYMENTS_DATABASE_URL, 2),
    restaurants: createDb(config.RESTAURANTS_DATABASE_URL, 2),
  };
  try {
    const report = await runAudit({ ...dbs, stuckAfterSeconds, temporalUiUrl: config.TEMPORAL_UI_URL, namespace: config.TEMPORAL_NAMESPACE });
    process.stdout.write(process.argv.includes('--json') ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
    process.exitCode = violationCount(report) > 0 ? 1 : 0;
  } finally {
    await Promise.all(Object.values(dbs).map((d) => d.destroy()));
  }
}

main().catch((err) => {
  process.stderr.write(`audit failed: ${(err as Error).message}\n`);
  process.exitCode = 2;
});
