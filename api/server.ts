import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../lib/node/config';
import { createLogger } from '../lib/node/logger';
import { dataConverterFor, payloadCodecFrom } from '../lib/node/payload-codec';
import { startApi } from './start-api';

// Entry point of the API process (with API_ORDER_WORKER=true the API runs from
// processes/api-order-worker.ts instead, beside the order workflow worker).
async function main() {
  const config = loadConfig();
  if (config.API_ORDER_WORKER === 'true')
    throw new Error('API_ORDER_WORKER=true: start processes/api-order-worker.ts (the API with the order worker), not api/server.ts');
  // Before anything starts: a missing or bad keyring stops the API here (production needs one).
  const payloadCodec = payloadCodecFrom(config);
  const logger = createLogger('api', config.LOG_LEVEL);
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter: dataConverterFor(payloadCodec) });
  const api = startApi({ config, payloadCodec, temporal, logger });
  // Graceful stop: finish in-flight requests, then close pools and the Temporal connection.
  const stop = () => {
    logger.info('shutting down: finishing in-flight requests');
    void api
      .stop()
      .then(() => connection.close())
      .finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 15000).unref();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
