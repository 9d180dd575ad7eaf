import { runWorkerProcess } from './run-worker';
import { createOrderWorker } from './service-workers';

// Order worker process: runs the orderSaga workflows and the order activities (orders DB only).
runWorkerProcess('order', (c) => c.ORDERS_DATABASE_URL, ({ config, connection, db }) =>
  createOrderWorker({ connection, namespace: config.TEMPORAL_NAMESPACE, taskQueuePrefix: config.TASK_QUEUE_PREFIX, db }),
).catch((err) => {
  console.error(err);
  process.exit(1);
});
