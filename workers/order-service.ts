import type { Client } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { reconcileSettings, type Config } from '../lib/node/config';
import { createLogger } from '../lib/node/logger';
import { registerOpenOrderMetrics } from './open-orders-metrics';
import { startPendingOrderSweeper } from './pending-order-sweeper';
import { ensureReconcileSchedule, reconcileScheduleId } from './reconcile-schedule';
import type { WorkerProcessParts } from './run-worker';
import { createOrderWorker } from './service-workers';

/**
 * What an order worker process runs, wherever it runs (workers/order-worker.ts on its own,
 * processes/api-order-worker.ts beside the API): the orderSaga workflows, the order activities
 * (orders DB only) and the reconciler (its workflow and activities); the sweep of orders whose saga
 * never started; the reconciler's Schedule kept in place; the open orders on /metrics
 * (open-orders-metrics.ts). `client` starts sagas (sweeper) and manages the Schedule.
 */
export async function buildOrderService(args: WorkerProcessParts & { client: Client }): Promise<{ worker: Worker; onStop: () => Promise<void> }> {
  const { config, connection, payloadCodec, db, metrics, registry, logger, client } = args;
  registerOpenOrderMetrics(registry, db, logger);
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
  return { worker, onStop: async () => sweeper.stop() };
}

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
