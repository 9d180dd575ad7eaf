import os from 'node:os';
import { Client } from '@temporalio/client';
import { startApi } from '../api/start-api';
import { createLogger } from '../lib/node/logger';
import { dataConverterFor } from '../lib/node/payload-codec';
import { buildOrderService } from '../workers/order-service';
import { runWorkerProcess } from '../workers/run-worker';

// The API and the order workflow worker in one process (API_ORDER_WORKER=true; issue #15, eager
// workflow start). Everything the order worker process runs (workers/order-service.ts: worker,
// sweeper, reconciler Schedule, open-order metrics on WORKER_METRICS_PORT) plus the API on PORT,
// all on one NativeConnection: the API's client shares it with the worker, so its saga starts ask
// for eager start and the server hands the saga's first workflow task back in the start call (no
// poll, about one state transition less per order). The API and the workers stay separate code
// (the lint fences); only this file, outside both, puts them together.
//
// Stopping (SIGTERM/SIGINT): the worker finishes its in-flight tasks while the API still answers
// (a start in that window is a plain start: the worker no longer takes eager tasks), then the API
// finishes its requests and the pools and the connection close.
runWorkerProcess(
  'api-order',
  (c) => c.ORDERS_DATABASE_URL,
  async (args) => {
    const { config, connection, payloadCodec } = args;
    // The API's own identity (the worker's is `pid@host`): a saga's history then names the API as the
    // one that took its first workflow task when the start was eager (test/api-order-worker.test.ts).
    const client = new Client({
      connection,
      namespace: config.TEMPORAL_NAMESPACE,
      dataConverter: dataConverterFor(payloadCodec),
      identity: `${process.pid}@${os.hostname()} api`,
    });
    const service = await buildOrderService({ ...args, client });
    const api = startApi({ config, payloadCodec, temporal: client, logger: createLogger('api', config.LOG_LEVEL), eagerOrderSagaStart: true });
    return {
      worker: service.worker,
      onStop: async () => {
        args.logger.info('shutting down: finishing in-flight requests');
        await api.stop();
        await service.onStop();
      },
    };
  },
).catch((err) => {
  console.error(err);
  process.exit(1);
});
