import express from 'express';
import type { Client } from '@temporalio/client';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Db } from '../db/knex';
import type { Logger } from '../lib/logger';
import { authenticate } from './auth';
import { errorHandler, unknownRoute } from './errors';
import { menuRoutes } from './routes/menus';
import { orderRoutes } from './routes/orders';
import { createMenuService } from './services/menus';
import { createOrderService } from './services/orders';

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
  bodyLimit?: string;
  /** How long accept/reject/cancel wait for the saga before answering with the current status. */
  decisionWaitMs?: number;
}

export function createApp(deps: ApiDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  const requests = new Counter({ name: 'http_requests_total', help: 'HTTP requests by route and status', labelNames: ['method', 'route', 'status'], registers: [deps.registry] });
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

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    readiness(deps)
      .then((checks) => {
        const ready = Object.values(checks).every((c) => c === 'ok');
        res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks });
      })
      .catch(() => res.status(503).json({ status: 'not ready' }));
  });
  app.get('/metrics', (_req, res) => {
    deps.registry
      .metrics()
      .then((body) => res.type(deps.registry.contentType).send(body))
      .catch(() => res.status(500).end());
  });

  app.use(express.json({ limit: deps.bodyLimit ?? '32kb', strict: true }));
  app.use(authenticate(deps.authSecret));
  const orders = createOrderService({
    ordersDb: deps.ordersDb,
    menuReadDb: deps.menuReadDb,
    temporal: deps.temporal,
    taskQueuePrefix: deps.taskQueuePrefix,
    acceptanceWindowSeconds: deps.acceptanceWindowSeconds,
    temporalUiUrl: deps.temporalUiUrl,
    namespace: deps.namespace,
    logger: deps.logger,
    ...(deps.decisionWaitMs !== undefined ? { decisionWaitMs: deps.decisionWaitMs } : {}),
  });
  const menus = createMenuService({ restaurantsDb: deps.restaurantsDb, menuReadDb: deps.menuReadDb });
  app.use(orderRoutes(orders));
  app.use(menuRoutes(menus));
  app.use(unknownRoute);
  app.use(errorHandler(deps.logger));
  return app;
}

async function readiness(deps: ApiDeps): Promise<Record<string, string>> {
  const check = async (fn: () => Promise<unknown>) => {
    try {
      await Promise.race([fn(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000))]);
      return 'ok';
    } catch (err) {
      return `failing: ${(err as Error).message}`;
    }
  };
  const [orders, restaurants, menuRead, temporal] = await Promise.all([
    check(() => deps.ordersDb.raw('select 1')),
    check(() => deps.restaurantsDb.raw('select 1')),
    check(() => deps.menuReadDb.raw('select 1')),
    check(() => deps.temporal.workflowService.getSystemInfo({})),
  ]);
  return { orders: orders!, restaurants: restaurants!, menuRead: menuRead!, temporal: temporal! };
}
