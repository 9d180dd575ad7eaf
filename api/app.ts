import path from 'node:path';
import express from 'express';
import type { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Db } from '../db/knex';
import type { Logger } from '../lib/node/logger';
import { readCredentials, refuseBadCredentials } from './auth';
import { errorHandler, unknownRoute } from './errors';
import { buildOpenApiDocument } from './openapi';
import { requestLogger } from './request-log';
import { adminRoutes } from './routes/admin';
import { CODEC_BODY_LIMIT, codecCors, codecRoutes, readCodecCookie } from './routes/codec';
import { menuRoutes } from './routes/menus';
import { operationsRoutes } from './routes/operations';
import { orderRoutes } from './routes/orders';
import { DEFAULT_TOKEN_LIFETIMES, type TokenLifetimes } from '../lib/node/auth';
import {
  DEFAULT_RATE_LIMIT,
  hardenListen,
  probeRateLimiter,
  rateLimiter,
  requireJsonBody,
  securityHeaders,
  trustProxySetting,
  type RateLimitSettings,
} from './security';
import type { MenuCache } from './services/menu-cache';
import { createAdminActions } from './services/admin-actions';
import { createAdminOrders } from './services/admin-orders';
import { createAdminStory } from './services/admin-story';
import { createMenuService } from './services/menus';
import { createOrderService } from './services/orders';
import { createSagaStarter, START_SAGA_RETRY_DELAYS_MS, temporalSagaStart, type SagaStarter } from './services/saga-starter';

export interface ApiDeps {
  ordersDb: Db;
  restaurantsDb: Db;
  menuReadDb: Db;
  temporal: Client;
  logger: Logger;
  registry: Registry;
  authSecret: string;
  taskQueuePrefix: string;
  acceptanceWindowSeconds: number;
  temporalUiUrl: string;
  namespace: string;
  /** The codec of Temporal payloads (lib/node/payload-codec.ts), served to operators at /codec/. */
  payloadCodec: PayloadCodec;
  /** Browser origins the codec endpoint allows (CORS); default: the origin of temporalUiUrl. */
  codecCorsOrigins?: readonly string[];
  bodyLimit?: string;
  /** How long accept/reject/cancel wait for the saga before answering with the current status. */
  decisionWaitMs?: number;
  /** Per-client rate limits by role, for anonymous callers and for probes (default DEFAULT_RATE_LIMIT; 0 = off). */
  rateLimit?: RateLimitSettings;
  /** The longest a token of each role may live (default DEFAULT_TOKEN_LIFETIMES). */
  tokenLifetimes?: TokenLifetimes;
  /** A customer's orders not yet final beyond which POST /orders is refused (ORDERS_IN_FLIGHT_MAX, default 5; 0 = none). */
  ordersInFlightMax?: number;
  /** POST /orders?wait= requests held open at once by this process (ORDER_WAIT_MAX_HOLDS, default 200; 0 = no cap). */
  orderWaitMaxHolds?: number;
  /** Refuse the PSP sandbox's steering card tokens (default: under NODE_ENV=production). */
  refuseSandboxCardTokens?: boolean;
  /**
   * Starts order sagas in the background after POST /orders answers (api/server.ts builds it, to
   * drop its queue on shutdown). Default: one over `temporal`, bounded by `sagaStartLimits`.
   */
  sagaStarter?: SagaStarter;
  /** SAGA_START_CONCURRENCY and SAGA_START_QUEUE_MAX (defaults 16 and 2000) for the default starter. */
  sagaStartLimits?: { concurrency: number; queueMax: number };
  /** Start order sagas eagerly: `temporal` shares its NativeConnection with this process's order worker (API_ORDER_WORKER). */
  eagerOrderSagaStart?: boolean;
  /** Express "trust proxy" (TRUST_PROXY); default false. */
  trustProxy?: string | number | boolean;
  /** The built web console served at /console/ (default web/dist, built by `npm run setup`). */
  consoleDir?: string;
  /** Menus cached and kept fresh by the projector's change notices (MENU_CACHE_ENTRIES; none: no cache). */
  menuCache?: MenuCache;
  /** Check every answer against its documented schema, a mismatch being a 500 (default: under NODE_ENV=test). */
  checkResponses?: boolean;
  /**
   * The operator's desk (admin routes only): a read-only pool on the payments database and the PSP's
   * base URL, an operator-only read path like the audit's (customer and restaurant routes never read
   * them), and the reconciler's settings for a one-order pass. Without them the desk still answers,
   * naming the sources it cannot read.
   */
  adminDesk?: {
    paymentsReadDb?: Db;
    pspUrl?: string;
    reconcile?: { graceSeconds: number; staleSeconds: number };
  };
}

export function createApp(deps: ApiDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Flat query strings (node:querystring): no nested objects from `a[b][c]=`; a repeated name is an array, which the schemas refuse.
  app.set('query parser', 'simple');
  app.set('trust proxy', trustProxySetting(deps.trustProxy));
  hardenListen(app);
  app.use(securityHeaders());
  // req.log: the logger with this request's id, and the order's id and workflow id once known.
  app.use(requestLogger(deps.logger));

  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [deps.registry],
  });
  const latency = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [deps.registry],
  });
  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      // The matched route pattern, never the raw path: ids would explode the label set.
      const route = req.route?.path ? `${req.baseUrl}${req.route.path as string}` : 'unmatched';
      const labels = { method: req.method, route, status: String(res.statusCode) };
      requests.inc(labels);
      latency.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
    });
    next();
  });

  // Probes and metrics cost a query or a registry walk each: limited per IP address.
  const rateLimit = deps.rateLimit ?? DEFAULT_RATE_LIMIT;
  app.use(['/readyz', '/metrics'], probeRateLimiter(rateLimit, deps.logger));

  // The codec endpoint's CORS (preflights carry no credentials): only the Web UI's origin.
  app.use('/codec', codecCors(deps.codecCorsOrigins ?? [new URL(deps.temporalUiUrl).origin]));

  // Probes, metrics, the OpenAPI document and /docs, the console: public, before credentials are read.
  app.use(
    operationsRoutes({
      registry: deps.registry,
      document: buildOpenApiDocument(),
      readiness: () => readiness(deps),
      consoleDir: deps.consoleDir ?? DEFAULT_CONSOLE_DIR,
    }),
  );

  // Credentials are read first so the rate limiter can key by subject; a bad token is refused
  // after the limiter, so floods of bad tokens are limited by IP. Bodies are parsed last.
  app.use(readCredentials(deps.authSecret, deps.tokenLifetimes ?? DEFAULT_TOKEN_LIFETIMES));
  app.use('/codec', readCodecCookie(deps.authSecret, deps.tokenLifetimes ?? DEFAULT_TOKEN_LIFETIMES));
  app.use(rateLimiter(rateLimit, deps.logger));
  app.use(refuseBadCredentials);
  app.use(requireJsonBody);
  app.use('/codec', express.json({ limit: CODEC_BODY_LIMIT, strict: true }));
  app.use(express.json({ limit: deps.bodyLimit ?? '32kb', strict: true }));
  const sagaStarter = deps.sagaStarter ?? createApiSagaStarter(deps);
  const orders = createOrderService({
    ordersDb: deps.ordersDb,
    menuReadDb: deps.menuReadDb,
    temporal: deps.temporal,
    taskQueuePrefix: deps.taskQueuePrefix,
    acceptanceWindowSeconds: deps.acceptanceWindowSeconds,
    temporalUiUrl: deps.temporalUiUrl,
    namespace: deps.namespace,
    logger: deps.logger,
    sagaStarter,
    ...(deps.decisionWaitMs !== undefined ? { decisionWaitMs: deps.decisionWaitMs } : {}),
    ordersInFlightMax: deps.ordersInFlightMax ?? 5,
    waitMaxHolds: deps.orderWaitMaxHolds ?? 200,
    refuseSandboxCardTokens: deps.refuseSandboxCardTokens ?? process.env.NODE_ENV === 'production',
  });
  const menus = createMenuService({ restaurantsDb: deps.restaurantsDb, menuReadDb: deps.menuReadDb, menuCache: deps.menuCache });
  const mount = { checkResponses: deps.checkResponses ?? process.env.NODE_ENV === 'test' };
  app.use(orderRoutes(orders, mount));
  app.use(menuRoutes(menus, mount));
  app.use(adminRoutes(adminDesk(deps, orders.uiUrl), mount));
  app.use(codecRoutes(deps.payloadCodec, mount));
  app.use(unknownRoute);
  // Errors are logged with the request's logger, so they carry its id (and order id).
  app.use(((err, req, res, next) => errorHandler(req.log ?? deps.logger)(err, req, res, next)) as express.ErrorRequestHandler);
  return app;
}

/** The API's background saga starter over its Temporal client, its metrics in the app's registry. */
export function createApiSagaStarter(
  deps: Pick<ApiDeps, 'temporal' | 'taskQueuePrefix' | 'logger' | 'registry' | 'sagaStartLimits' | 'eagerOrderSagaStart'>,
): SagaStarter {
  return createSagaStarter({
    start: temporalSagaStart(deps.temporal, deps.taskQueuePrefix, { eager: deps.eagerOrderSagaStart ?? false }),
    concurrency: deps.sagaStartLimits?.concurrency ?? 16,
    queueMax: deps.sagaStartLimits?.queueMax ?? 2000,
    retryDelaysMs: START_SAGA_RETRY_DELAYS_MS,
    logger: deps.logger,
    registry: deps.registry,
  });
}

/** The desk's services over the API's own connections and the operator-only read paths of `deps.adminDesk`. */
function adminDesk(deps: ApiDeps, uiUrl: (workflowId: string) => string) {
  const desk = {
    ordersDb: deps.ordersDb,
    restaurantsDb: deps.restaurantsDb,
    paymentsReadDb: deps.adminDesk?.paymentsReadDb,
    pspUrl: deps.adminDesk?.pspUrl,
    temporal: deps.temporal,
    namespace: deps.namespace,
    taskQueuePrefix: deps.taskQueuePrefix,
    uiUrl,
    // The Schedule's defaults (lib/node/config.ts) unless the process passes its own.
    reconcile: deps.adminDesk?.reconcile ?? { graceSeconds: 180, staleSeconds: 3600 + deps.acceptanceWindowSeconds },
    actionWaitMs: deps.decisionWaitMs ?? 10_000,
    logger: deps.logger,
  };
  return { story: createAdminStory(desk), orders: createAdminOrders(desk), actions: createAdminActions(desk) };
}

export const DEFAULT_CONSOLE_DIR = path.resolve(__dirname, '..', 'web', 'dist');

/**
 * Each dependency 'ok' or 'failing'. /readyz is public: why a check fails (addresses, user names,
 * driver messages) goes to the log, never into the answer.
 */
async function readiness(deps: ApiDeps): Promise<Record<string, string>> {
  const check = async (name: string, fn: () => Promise<unknown>) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([fn(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), 2000)))]);
      return 'ok';
    } catch (err) {
      deps.logger.warn({ err, check: name }, 'readiness check failing');
      return 'failing';
    } finally {
      clearTimeout(timer);
    }
  };
  const [orders, restaurants, menuRead, temporal] = await Promise.all([
    check('orders', () => deps.ordersDb.raw('select 1')),
    check('restaurants', () => deps.restaurantsDb.raw('select 1')),
    check('menuRead', () => deps.menuReadDb.raw('select 1')),
    check('temporal', () => deps.temporal.workflowService.getSystemInfo({})),
  ]);
  return { orders: orders!, restaurants: restaurants!, menuRead: menuRead!, temporal: temporal! };
}
