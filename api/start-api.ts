import type { Server } from 'node:http';
import type { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import { Gauge } from 'prom-client';
import { createDb } from '../db/knex';
import { codecCorsOrigins, reconcileSettings, tokenLifetimes, type Config } from '../lib/node/config';
import type { Logger } from '../lib/node/logger';
import { createRegistry } from '../lib/node/metrics';
import { createApiSagaStarter, createApp } from './app';
import { MenuCache } from './services/menu-cache';

export interface RunningApi {
  server: Server;
  /** Finishes in-flight requests and the saga starts in flight, then closes the pools and the menu cache (not the Temporal connection: the caller's). */
  stop(): Promise<void>;
}

/**
 * The API of one process: its pools, menu cache and metrics, listening on PORT. The Temporal client
 * is the caller's: api/server.ts connects its own; processes/api-order-worker.ts passes one on the
 * NativeConnection its order worker polls with, and `eagerOrderSagaStart`.
 */
export function startApi(opts: { config: Config; payloadCodec: PayloadCodec; temporal: Client; logger: Logger; eagerOrderSagaStart?: boolean }): RunningApi {
  const { config, payloadCodec, temporal, logger } = opts;
  const dbs = {
    ordersDb: createDb(config.ORDERS_DATABASE_URL, config.DB_POOL_MAX),
    restaurantsDb: createDb(config.RESTAURANTS_DATABASE_URL, config.DB_POOL_MAX),
    menuReadDb: createDb(config.MENU_READ_DATABASE_URL, config.DB_POOL_MAX),
    // The operator's desk only (admin routes): read-only, a small pool; no customer path reads payments.
    paymentsReadDb: createDb(config.PAYMENTS_DATABASE_URL, 2, { readOnly: true, applicationName: 'api-admin-desk' }),
  };
  const { graceSeconds, staleSeconds } = reconcileSettings(config);
  const registry = createRegistry('api');
  // Which read replica this process reads menus from (MENU_READ_DATABASE_URL), for the dashboard to
  // match its menu latencies with that replica's projector lag (cdc_projector_*{replica}).
  new Gauge({
    name: 'api_menu_read_replica',
    help: 'Always 1, labelled with the read replica this API process reads menus from',
    labelNames: ['replica'],
    registers: [registry],
  }).set({ replica: config.MENU_READ_REPLICA }, 1);
  const menuCache =
    config.MENU_CACHE_ENTRIES > 0
      ? new MenuCache({
          connectionString: config.MENU_READ_DATABASE_URL,
          maxEntries: config.MENU_CACHE_ENTRIES,
          ttlMs: config.MENU_CACHE_TTL_SECONDS * 1000,
          logger,
          registry,
        })
      : undefined;
  menuCache?.start();
  // Sagas start in the background after POST /orders answers; stopped (its queue dropped) on shutdown.
  const sagaStarter = createApiSagaStarter({
    temporal,
    taskQueuePrefix: config.TASK_QUEUE_PREFIX,
    logger,
    registry,
    sagaStartLimits: { concurrency: config.SAGA_START_CONCURRENCY, queueMax: config.SAGA_START_QUEUE_MAX },
    eagerOrderSagaStart: opts.eagerOrderSagaStart ?? false,
  });
  const app = createApp({
    ordersDb: dbs.ordersDb,
    restaurantsDb: dbs.restaurantsDb,
    menuReadDb: dbs.menuReadDb,
    adminDesk: { paymentsReadDb: dbs.paymentsReadDb, pspUrl: config.PSP_URL, reconcile: { graceSeconds, staleSeconds } },
    menuCache,
    temporal,
    logger,
    registry,
    authSecret: config.AUTH_SECRET,
    taskQueuePrefix: config.TASK_QUEUE_PREFIX,
    acceptanceWindowSeconds: config.ACCEPTANCE_WINDOW_SECONDS,
    temporalUiUrl: config.TEMPORAL_UI_URL,
    payloadCodec,
    codecCorsOrigins: codecCorsOrigins(config),
    namespace: config.TEMPORAL_NAMESPACE,
    rateLimit: {
      windowMs: config.RATE_LIMIT_WINDOW_MS,
      customer: config.RATE_LIMIT_CUSTOMER_MAX,
      restaurant: config.RATE_LIMIT_RESTAURANT_MAX,
      admin: config.RATE_LIMIT_ADMIN_MAX,
      anonymous: config.RATE_LIMIT_ANONYMOUS_MAX,
      probes: config.RATE_LIMIT_PROBES_MAX,
    },
    tokenLifetimes: tokenLifetimes(config),
    ordersInFlightMax: config.ORDERS_IN_FLIGHT_MAX,
    orderWaitMaxHolds: config.ORDER_WAIT_MAX_HOLDS,
    refuseSandboxCardTokens: config.NODE_ENV === 'production',
    trustProxy: config.TRUST_PROXY,
    sagaStarter,
  });
  const server = app.listen(config.PORT, config.HOST, () => logger.info({ port: config.PORT, host: config.HOST }, 'API listening'));
  return {
    server,
    // Finish in-flight requests; then drop the saga starts still queued (their orders are committed
    // PENDING rows: the order worker's sweeper starts them) and let the start calls in flight settle
    // (each within its deadline); then close the pools.
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          void sagaStarter
            .stop()
            .then(() => Promise.all([...Object.values(dbs).map((d) => d.destroy()), menuCache?.stop()]))
            .finally(() => resolve());
        });
      }),
  };
}
