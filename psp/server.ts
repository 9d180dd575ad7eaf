import { createPspSandbox } from './sandbox';
import { loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';

// Entry point of the PSP sandbox process (`npm start` runs it; never in production).
const config = loadConfig();
const logger = createLogger('psp-sandbox', config.LOG_LEVEL);
const { app } = createPspSandbox();
const server = app.listen(config.PSP_PORT, config.HOST, () => {
  logger.info({ port: config.PSP_PORT }, 'PSP sandbox listening');
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
