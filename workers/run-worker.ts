import type { PayloadCodec } from '@temporalio/common';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { createDb, type Db } from '../db/knex';
import { loadConfig, type Config } from '../lib/node/config';
import type { Registry } from 'prom-client';
import { createLogger, type Logger } from '../lib/node/logger';
import { payloadCodecFrom } from '../lib/node/payload-codec';
import type { SagaMetrics } from '../activities/saga-metrics';
import { startWorkerTelemetry } from './telemetry';

/** What a worker process has ready when it builds its worker. */
export interface WorkerProcessParts {
  config: Config;
  connection: NativeConnection;
  /** The payload codec of this process's worker and clients (PAYLOAD_KEYS / PAYLOAD_KEYS_FILE). */
  payloadCodec: PayloadCodec;
  db: Db;
  metrics: SagaMetrics;
  registry: Registry;
  logger: Logger;
}

/**
 * The shared shape of a worker process: install the Temporal Runtime (pino logs, Prometheus metrics
 * on WORKER_METRICS_PORT), connect to Temporal (retrying while it starts), open this service's own
 * pool, run until SIGINT/SIGTERM, then let in-flight activities finish and close.
 */
export async function runWorkerProcess(
  service: string,
  databaseUrl: (config: Config) => string,
  build: (args: WorkerProcessParts) => Promise<Worker | { worker: Worker; onStop: () => Promise<void> }>,
): Promise<void> {
  const config = loadConfig();
  // Before anything starts: a missing or bad keyring stops the process here (production needs one).
  const payloadCodec = payloadCodecFrom(config);
  const logger = createLogger(`${service}-worker`, config.LOG_LEVEL);
  const telemetry = await startWorkerTelemetry({ service: `${service}-worker`, logger, metricsPort: config.WORKER_METRICS_PORT, host: config.HOST });
  const db = createDb(databaseUrl(config), config.DB_POOL_MAX);
  const connection = await connectWithRetry(config.TEMPORAL_ADDRESS, logger);
  const built = await build({ config, connection, payloadCodec, db, metrics: telemetry.metrics, registry: telemetry.registry, logger });
  const { worker, onStop } = 'worker' in built ? built : { worker: built, onStop: async () => undefined };
  const stop = () => {
    logger.info('shutting down: finishing in-flight tasks');
    // The Runtime's own signal hook may have begun the shutdown already.
    if (worker.getState() === 'RUNNING') worker.shutdown();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  logger.info({ taskQueue: worker.options.taskQueue, temporal: config.TEMPORAL_ADDRESS }, 'worker running');
  try {
    await worker.run();
  } finally {
    await onStop();
    await connection.close();
    await db.destroy();
    await telemetry.stop();
    logger.info('worker stopped');
  }
}

async function connectWithRetry(address: string, logger: ReturnType<typeof createLogger>): Promise<NativeConnection> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await NativeConnection.connect({ address });
    } catch (err) {
      if (attempt >= 60) throw err;
      logger.warn({ attempt, err: (err as Error).message }, 'Temporal not reachable yet; retrying');
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}
