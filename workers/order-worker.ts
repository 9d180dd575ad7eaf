import { Client, Connection } from '@temporalio/client';
import { dataConverterFor } from '../lib/node/payload-codec';
import { buildOrderService } from './order-service';
import { runWorkerProcess } from './run-worker';

// Order worker process: the order service's worker, sweeper, reconciler Schedule and open-order
// metrics (order-service.ts). Its client (sweeper, Schedule) has a connection of its own.
runWorkerProcess(
  'order',
  (c) => c.ORDERS_DATABASE_URL,
  async (args) => {
    const clientConnection = await Connection.connect({ address: args.config.TEMPORAL_ADDRESS });
    const client = new Client({ connection: clientConnection, namespace: args.config.TEMPORAL_NAMESPACE, dataConverter: dataConverterFor(args.payloadCodec) });
    const built = await buildOrderService({ ...args, client });
    return {
      worker: built.worker,
      onStop: async () => {
        await built.onStop();
        await clientConnection.close();
      },
    };
  },
).catch((err) => {
  console.error(err);
  process.exit(1);
});
