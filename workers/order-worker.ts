import { Client, Connection } from '@temporalio/client';
import { createLogger } from '../lib/node/logger';
import { startPendingOrderSweeper } from './pending-order-sweeper';
import { runWorkerProcess } from './run-worker';
import { createOrderWorker } from './service-workers';

// Order worker process: runs the orderSaga workflows and the order activities (orders DB only),
// and sweeps orders whose saga never started.
runWorkerProcess('order', (c) => c.ORDERS_DATABASE_URL, async ({ config, connection, db, metrics }) => {
  const worker = await createOrderWorker({ connection, namespace: config.TEMPORAL_NAMESPACE, taskQueuePrefix: config.TASK_QUEUE_PREFIX, db, metrics });
  const clientConnection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  const sweeper = startPendingOrderSweeper({
    db,
    client: new Client({ connection: clientConnection, namespace: config.TEMPORAL_NAMESPACE }),
    taskQueuePrefix: config.TASK_QUEUE_PREFIX,
    acceptanceWindowSeconds: config.ACCEPTANCE_WINDOW_SECONDS,
    logger: createLogger('order-sweeper', config.LOG_LEVEL),
  });
  return { worker, onStop: async () => { sweeper.stop(); await clientConnection.close(); } };
}).catch((err) => {
  console.error(err);
  process.exit(1);
});
