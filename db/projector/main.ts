/**
 * The CDC projector process: streams the restaurants database's changes into the menu_read model.
 *   npx tsx db/projector/main.ts            resume from the stored position (first run: snapshot)
 *   npx tsx db/projector/main.ts --resync   rebuild the read model from a fresh snapshot first
 * Env: RESTAURANTS_DATABASE_URL, MENU_READ_DATABASE_URL, CDC_SLOT_NAME, CDC_PUBLICATION,
 * MENU_READ_REPLICA (the replica's name on the metrics), CDC_RESYNC_BEHIND_BYTES,
 * PROJECTOR_METRICS_PORT (0 picks a free port; bound on HOST), LOG_LEVEL.
 * One process per read replica, each with its own slot (CDC_SLOT_NAME) on the restaurants database.
 */
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../lib/node/config';
import { createLogger } from '../../lib/node/logger';
import { createRegistry, serveMetrics } from '../../lib/node/metrics';
import { createDb } from '../knex';
import { createMenuProjector, ProjectorStoppedError } from './projector';

async function main(): Promise<void> {
  const cfg = loadConfig();
  const logger = createLogger('menu-projector', cfg.LOG_LEVEL);
  const registry = createRegistry('menu-projector');
  process.env.APP_NAME ??= 'menu-projector'; // application_name of the read-model connections
  const readDb = createDb(cfg.MENU_READ_DATABASE_URL, 4);
  const projector = createMenuProjector({
    sourceUrl: cfg.RESTAURANTS_DATABASE_URL,
    readDb,
    slotName: cfg.CDC_SLOT_NAME,
    publicationName: cfg.CDC_PUBLICATION,
    replica: cfg.MENU_READ_REPLICA,
    resyncBehindBytes: cfg.CDC_RESYNC_BEHIND_BYTES,
    logger,
    registry,
  });
  const server = await serveMetrics(registry, cfg.PROJECTOR_METRICS_PORT, cfg.HOST);
  logger.info({ metricsPort: (server.address() as AddressInfo).port }, 'metrics listening on /metrics');

  let shuttingDown = false;
  const shutdown = (signal: string) => {
    if (shuttingDown) {
      logger.warn({ signal }, 'second signal; exiting without waiting');
      process.exit(1);
    }
    shuttingDown = true;
    logger.info({ signal }, 'stopping: finishing the in-flight apply');
    projector
      .stop()
      .then(() => new Promise<void>((r) => server.close(() => r())))
      .then(() => readDb.destroy())
      .then(() => process.exit(0))
      .catch((e: unknown) => {
        logger.error({ err: e }, 'unclean shutdown');
        process.exit(1);
      });
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));

  try {
    await projector.start({ resync: process.argv.includes('--resync') });
    logger.info({ status: projector.status() }, 'projector running');
  } catch (e) {
    if (!(e instanceof ProjectorStoppedError)) throw e;
  }
}

main().catch((e: unknown) => {
  // Only configuration and startup wiring can get here; stream failures are retried inside.
  console.error(e);
  process.exit(1);
});
