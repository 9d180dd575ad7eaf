// `npm run audit [-- --stuck-after <seconds>] [--psp] [--json]`: checks every order against the
// invariants of docs/design.md, prints a summary and each violation with a link to its saga, exits 1
// on any violation. Read-only and batched: safe against a live system.
import { parseArgs } from 'node:util';
import { createDb } from '../db/knex';
import { loadConfig } from '../lib/node/config';
import { formatReport, runAudit, violationCount, VIOLATION_KINDS } from '../ops/audit';

const USAGE = `Usage: npm run audit -- [--stuck-after <seconds>] [--psp] [--json]

Checks every order in the orders, payments and restaurants databases (from the environment, see
lib/node/config.ts) and prints what is inconsistent. Exit code: 0 consistent, 1 violations, 2 audit failed.

  --stuck-after <s>  an order not final after this many seconds is STUCK (default 900)
  --psp              also reconcile with the PSP's own books: its settlement report at PSP_URL
  --json             print the report as JSON
  -h, --help         this text

Violation kinds:
${Object.entries(VIOLATION_KINDS)
  .map(([kind, text]) => `  ${kind.padEnd(34)} ${text}`)
  .join('\n')}
`;

function parseCli() {
  const { values } = parseArgs({
    options: {
      'stuck-after': { type: 'string', default: '900' },
      psp: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const stuckAfterSeconds = Number(values['stuck-after']);
  if (values['stuck-after'].trim() === '' || !Number.isFinite(stuckAfterSeconds) || stuckAfterSeconds < 0) {
    throw new TypeError('--stuck-after takes a number of seconds');
  }
  return { stuckAfterSeconds, psp: values.psp, json: values.json, help: values.help };
}

async function main() {
  let cli: ReturnType<typeof parseCli>;
  try {
    cli = parseCli();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (cli.help) {
    process.stdout.write(USAGE);
    return;
  }
  const config = loadConfig();
  const dbs = {
    orders: createDb(config.ORDERS_DATABASE_URL, 2),
    payments: createDb(config.PAYMENTS_DATABASE_URL, 2),
    restaurants: createDb(config.RESTAURANTS_DATABASE_URL, 2),
  };
  try {
    const report = await runAudit({
      ...dbs,
      stuckAfterSeconds: cli.stuckAfterSeconds,
      temporalUiUrl: config.TEMPORAL_UI_URL,
      namespace: config.TEMPORAL_NAMESPACE,
      ...(cli.psp ? { psp: { url: config.PSP_URL } } : {}),
    });
    process.stdout.write(cli.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
    process.exitCode = violationCount(report) > 0 ? 1 : 0;
  } finally {
    await Promise.all(Object.values(dbs).map((d) => d.destroy()));
  }
}

main().catch((err) => {
  process.stderr.write(`audit failed: ${(err as Error).message}\n`);
  process.exitCode = 2;
});
