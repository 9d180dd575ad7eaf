// `npm run reconcile -- --help` lists the flags. Runs one reconcile pass now (the workflow the
// `reconcile-orders` Schedule runs) against the configured Temporal and prints what it found and did.
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { loadConfig, reconcileSettings } from '../lib/node/config';
import { dataConverterFor, payloadCodecFrom } from '../lib/node/payload-codec';
import { workflowUiUrl } from '../lib/workflow-safe/task-queues';
import { formatReconcileReport, runManualReconcilePass } from '../ops/reconcile';

const USAGE = `npm run reconcile -- [flags]
  --grace S      repair orders whose saga closed at least S seconds ago (default RECONCILE_GRACE_SECONDS, 180)
  --stale S      ask sagas to cancel when their order is older than S seconds
                 (default RECONCILE_STALE_SECONDS, an hour past the acceptance window)
  --min-age S    skip orders changed less than S seconds ago (default min(60, grace))
  --wait S       seconds to wait for an order worker to pick the pass up (default 30)
  --json         print the report as JSON
  --help         this text
Needs the workers running (npm start). Exit code 0 when the pass ran, 2 when it could not.`;

const OPTIONS = {
  grace: { type: 'string' },
  stale: { type: 'string' },
  'min-age': { type: 'string' },
  wait: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

class UsageError extends Error {}

function parseFlags() {
  try {
    return parseArgs({ options: OPTIONS, strict: true }).values;
  } catch (err) {
    throw new UsageError((err as Error).message, { cause: err });
  }
}

function seconds(flags: ReturnType<typeof parseFlags>, flag: 'grace' | 'stale' | 'min-age' | 'wait'): number | undefined {
  const raw = flags[flag];
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(v) || v < 0) throw new UsageError(`--${flag} takes a whole number of seconds (got "${raw}")`);
  return v;
}

async function main() {
  const flags = parseFlags();
  if (flags.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const config = loadConfig();
  const defaults = reconcileSettings(config);
  const input = {
    graceSeconds: seconds(flags, 'grace') ?? defaults.graceSeconds,
    staleSeconds: seconds(flags, 'stale') ?? defaults.staleSeconds,
    minAgeSeconds: seconds(flags, 'min-age'),
  };
  const pickupTimeoutMs = (seconds(flags, 'wait') ?? 30) * 1000;
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  } catch (err) {
    throw new Error(`cannot reach Temporal at ${config.TEMPORAL_ADDRESS} (${(err as Error).message}); is the stack running (npm start)?`, { cause: err });
  }
  try {
    const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter: dataConverterFor(payloadCodecFrom(config)) });
    if (!flags.json) process.stderr.write(`running one reconcile pass on ${config.TEMPORAL_ADDRESS} (namespace ${config.TEMPORAL_NAMESPACE})...\n`);
    const result = await runManualReconcilePass({ client, taskQueuePrefix: config.TASK_QUEUE_PREFIX, input, pickupTimeoutMs });
    if (!result.pickedUp) {
      process.stderr.write(
        `No order worker picked the pass up within ${pickupTimeoutMs / 1000} s: nothing polls task queue "${result.taskQueue}" on ${config.TEMPORAL_ADDRESS}.\n` +
          `Start the stack (npm start) or an order worker, then run this again. (The pass ${result.workflowId} was terminated, so it will not run later.)\n`,
      );
      process.exitCode = 2;
      return;
    }
    const url = workflowUiUrl(config.TEMPORAL_UI_URL, config.TEMPORAL_NAMESPACE, result.workflowId);
    process.stdout.write(
      flags.json ? `${JSON.stringify({ workflowId: result.workflowId, ...result.report }, null, 2)}\n` : `${formatReconcileReport(result.report, url)}\n`,
    );
  } finally {
    await connection.close();
  }
}

main().catch((err) => {
  process.stderr.write(err instanceof UsageError ? `${err.message}\n\n${USAGE}\n` : `reconcile failed: ${(err as Error).message}\n`);
  process.exitCode = 2;
});
