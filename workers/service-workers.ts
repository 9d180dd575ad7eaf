import type { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import { type NativeConnection, Worker, type WorkflowBundleOption } from '@temporalio/worker';
import type { Db } from '../db/knex';
import { createOrderActivities } from '../activities/order';
import { createPaymentActivities, type PaymentDeps } from '../activities/payment';
import { createReconcilerActivities } from '../activities/reconciler';
import { createRestaurantActivities } from '../activities/restaurant';
import type { PspClient } from '../activities/psp-client';
import type { SagaMetrics } from '../activities/saga-metrics';
import { dataConverterFor } from '../lib/node/payload-codec';
import { taskQueuesFor } from '../lib/workflow-safe/task-queues';
import { orderLogContext } from './telemetry';

// Factories for the three service workers. Each takes only its own database (and, for payments,
// the PSP client): a worker cannot reach another service's data. Entry points and tests share them.

export interface CommonWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  /** Encrypts every payload the worker sends and decrypts what it receives (lib/node/payload-codec.ts). */
  payloadCodec: PayloadCodec;
  taskQueuePrefix?: string;
  /** Tests pass a pre-built bundle; processes bundle `workflows/` at start. */
  workflowBundle?: WorkflowBundleOption;
  /** Saga outcome and compensation counters (workers/telemetry.ts); none in tests. */
  metrics?: SagaMetrics;
}

// Every activity's log lines carry the order id of its input (and the SDK adds the workflow id).
const interceptors = { activity: [orderLogContext] };

export interface OrderWorkerOptions extends CommonWorkerOptions {
  db: Db;
  /**
   * With a client, the worker also runs the reconciler's activities (they ask Temporal about
   * sagas, start and cancel them); without one, a reconcile pass on its queue cannot progress.
   */
  client?: Client;
  /** The acceptance window of sagas the reconciler starts from an order's rows (default 300 s). */
  acceptanceWindowSeconds?: number;
}

export function createOrderWorker(opts: OrderWorkerOptions): Promise<Worker> {
  const reconciler = opts.client
    ? createReconcilerActivities({
        db: opts.db,
        client: opts.client,
        taskQueuePrefix: opts.taskQueuePrefix ?? '',
        acceptanceWindowSeconds: opts.acceptanceWindowSeconds ?? 300,
      })
    : {};
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    dataConverter: dataConverterFor(opts.payloadCodec),
    taskQueue: taskQueuesFor(opts.taskQueuePrefix).order,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: require.resolve('../workflows') }),
    activities: { ...createOrderActivities({ db: opts.db, metrics: opts.metrics }), ...reconciler },
    interceptors,
    shutdownGraceTime: '10s',
  });
}

export function createPaymentWorker(opts: CommonWorkerOptions & { db: Db; psp: PspClient; pspTimeouts?: PaymentDeps['pspTimeouts'] }): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    dataConverter: dataConverterFor(opts.payloadCodec),
    taskQueue: taskQueuesFor(opts.taskQueuePrefix).payment,
    activities: createPaymentActivities({ db: opts.db, psp: opts.psp, metrics: opts.metrics, pspTimeouts: opts.pspTimeouts }),
    interceptors,
    shutdownGraceTime: '10s',
  });
}

export function createRestaurantWorker(opts: CommonWorkerOptions & { db: Db }): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    dataConverter: dataConverterFor(opts.payloadCodec),
    taskQueue: taskQueuesFor(opts.taskQueuePrefix).restaurant,
    activities: createRestaurantActivities({ db: opts.db, metrics: opts.metrics }),
    interceptors,
    shutdownGraceTime: '10s',
  });
}
