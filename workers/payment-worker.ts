import { runWorkerProcess } from './run-worker';
import { createPaymentWorker } from './service-workers';
import { createPspClient } from '../activities/psp-client';
import { loadConfig } from '../lib/node/config';
import { payloadCodecFrom } from '../lib/node/payload-codec';
import { assertPspAllowed } from './psp-guard';

// Payment worker process: payment activities (payments DB and the PSP only). In production it first
// makes sure PSP_URL is not the sandbox (workers/psp-guard.ts).
const runWorker = () =>
  runWorkerProcess(
    'payment',
    (c) => c.PAYMENTS_DATABASE_URL,
    ({ config, connection, payloadCodec, db, metrics }) =>
      createPaymentWorker({
        connection,
        payloadCodec,
        namespace: config.TEMPORAL_NAMESPACE,
        taskQueuePrefix: config.TASK_QUEUE_PREFIX,
        db,
        metrics,
        // Every PSP call is counted by operation and outcome (psp_calls_total, psp_call_duration_seconds).
        psp: createPspClient({ baseUrl: config.PSP_URL, timeoutMs: config.PSP_TIMEOUT_MS, observe: metrics.pspCall }),
        pspTimeouts: { firstMs: config.PSP_TIMEOUT_MS, maxMs: Math.max(config.PSP_TIMEOUT_MS, config.PSP_MAX_TIMEOUT_MS) },
      }),
  );

async function main() {
  const config = loadConfig();
  payloadCodecFrom(config); // no keyring in production: refuse before anything else, as every process does
  await assertPspAllowed(config);
  await runWorker();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
