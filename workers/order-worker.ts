import { Client, Connection } from '@temporalio/client';
import { reconcileSettings, type Config } from '../lib/node/config';
import { createLogger } from '../lib/node/logger';
import { dataConverterFor } from '../lib/node/payload-codec';
import { registerOpenOrderMetrics } from './open-orders-metrics';
import { startPendingOrderSweeper } from './pending-order-sweeper';
import { ensureReconcileSchedule, reconcileScheduleId } from './reconcile-schedule';
import { runWorkerProcess } from './run-worker';
import { createOrderWorker } from './service-workers';

// Order worker process: runs the orderSaga workflows, the order activities (orders DB only) and the
// reconciler (its workflow and activities), sweeps orders whose saga never started, keeps the
// reconciler's Schedule in place, and reports the open orders on /metrics (open-orders-metrics.ts).
runWorkerProcess(
  'order',
  (c) => c.ORDERS_DATABASE_URL,
  async ({ config, connection, payloadCodec, db, metrics, registry, logger }) => {
    registerOpenOrderMetrics(registry, db, logger);
    const clientConnection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
    const client = new Client({ connection: clientConnection, namespace: config.TEMPORAL_NAMESPACE, dataConverter: dataConverterFor(payloadCodec) });
    const worker = await createOrderWorker({
      connection,
      payloadCodec,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueuePrefix: config.TASK_QUEUE_PREFIX,
      db,
      metrics,
      client,
      acceptanceWindowSeconds: config.ACCEPTANCE_WINDOW_SECONDS,
    });
    const sweeper = startPendingOrderSweeper({
      db,
      client,
      taskQueuePrefix: config.TASK_QUEUE_PREFIX,
      acceptanceWindowSeconds: config.ACCEPTANCE_WINDOW_SECONDS,
      logger: createLogger('order-sweeper', config.LOG_LEVEL),
    });
    await keepReconcileSchedule(client, config);
    return {
      worker,
      onStop: async () => {
        sweeper.stop();
        await clientConnection.close();
      },
    };
  },
).catch((err) => {
  console.error(err);
  process.exit(1);
});

/** Creates or updates the reconciler's Schedule; a failure is logged, not fatal (the saga work matters more). */
async function keepReconcileSchedule(client: Client, config: Config): Promise<void> {
  const logger = createLogger('order-reconciler', config.LOG_LEVEL);
  const settings = reconcileSettings(config);
  const scheduleId = reconcileScheduleId(config.TASK_QUEUE_PREFIX);
  try {
    const outcome = await ensureReconcileSchedule(client, { taskQueuePrefix: config.TASK_QUEUE_PREFIX, ...settings });
    logger.info(
      { scheduleId, outcome, ...settings },
      outcome === 'disabled' || outcome === 'deleted' ? 'reconcile schedule off (RECONCILE_INTERVAL_SECONDS=0)' : 'reconcile schedule in place',
    );
  } catch (err) {
    logger.error({ scheduleId, err: (err as Error).message }, 'could not put the reconcile schedule in place; `npm run reconcile` still runs a pass');
  }
}
