import { createPspSandbox } from './sandbox';
import { loadConfig } from '../lib/node/config';
import { createLogger } from '../lib/node/logger';

// Entry point of the PSP sandbox process (`npm start` runs it; never in production). With
// PSP_DATA_FILE its books (authorizations, idempotent replies, the operations report) survive a restart.
const config = loadConfig();
const logger = createLogger('psp-sandbox', config.LOG_LEVEL);
const psp = createPspSandbox({ dataFile: config.PSP_DATA_FILE });
const server = psp.app.listen(config.PSP_PORT, config.HOST, () => {
  logger.info(
    { port: config.PSP_PORT, dataFile: config.PSP_DATA_FILE ?? null, authorizations: psp.authorizations.size, operations: psp.operations.length },
    'PSP sandbox listening',
  );
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
