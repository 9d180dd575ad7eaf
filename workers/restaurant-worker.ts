import { runWorkerProcess } from './run-worker';
import { createRestaurantWorker } from './service-workers';

// Restaurant worker process: ticket activities (restaurants DB only).
runWorkerProcess(
  'restaurant',
  (c) => c.RESTAURANTS_DATABASE_URL,
  ({ config, connection, payloadCodec, db, metrics }) =>
    createRestaurantWorker({ connection, payloadCodec, namespace: config.TEMPORAL_NAMESPACE, taskQueuePrefix: config.TASK_QUEUE_PREFIX, db, metrics }),
).catch((err) => {
  console.error(err);
  process.exit(1);
});
