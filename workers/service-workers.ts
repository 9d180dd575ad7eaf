import { type NativeConnection, Worker, type WorkflowBundleOption } from '@temporalio/worker';
import type { Db } from '../db/knex';
import { createOrderActivities } from '../activities/order';
import { createPaymentActivities } from '../activities/payment';
import { createRestaurantActivities } from '../activities/restaurant';
import type { PspClient } from '../activities/psp-client';
import { taskQueuesFor } from '../lib/task-queues';

// Factories for the three service workers. Each takes only its own database (and, for payments,
// the PSP client): a worker cannot reach another service's data. Entry points and tests share them.

export interface CommonWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueuePrefix?: string;
  /** Tests pass a pre-built bundle; processes bundle `workflows/` at start. */
  workflowBundle?: WorkflowBundleOption;
}

export function createOrderWorker(opts: CommonWorkerOptions & { db: Db }): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: taskQueuesFor(opts.taskQueuePrefix).order,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: require.resolve('../workflows') }),
    activities: createOrderActivities({ db: opts.db }),
    shutdownGraceTime: '10s',
  });
}

export function createPaymentWorker(opts: CommonWorkerOptions & { db: Db; psp: PspClient }): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: taskQueuesFor(opts.taskQueuePrefix).payment,
    activities: createPaymentActivities({ db: opts.db, psp: opts.psp }),
    shutdownGraceTime: '10s',
  });
}

export function createRestaurantWorker(opts: CommonWorkerOptions & { db: Db }): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: taskQueuesFor(opts.taskQueuePrefix).restaurant,
    activities: createRestaurantActivities({ db: opts.db }),
    shutdownGraceTime: '10s',
  });
}
