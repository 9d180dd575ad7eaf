import fs from 'node:fs';
import path from 'node:path';
import express, { type RequestHandler, type Router } from 'express';
import type { Registry } from 'prom-client';
import { HttpError } from '../errors';
import { ErrorBody } from '../responses';
import { mountPlain } from '../mount';
import { defineRoute } from '../route';

// Probes, metrics, the OpenAPI document and its browsable page, the way to the console: public routes
// answered before credentials are read. Defined like every route (api/route.ts), so the document
// lists them, with plain Express handlers.

/** /readyz and /metrics are limited per client address (RATE_LIMIT_PROBES_MAX, api/security.ts). */
const probeLimited = { description: '`RATE_LIMITED`: too many probes from this address in the window (`Retry-After`)', body: ErrorBody } as const;

export const operationsApi = {
  healthz: defineRoute({
    method: 'get',
    path: '/healthz',
    tag: 'Operations',
    summary: 'The process is alive',
    access: 'public',
    responses: { 200: { description: '`{"status":"ok"}`' } },
  }),
  readyz: defineRoute({
    method: 'get',
    path: '/readyz',
    tag: 'Operations',
    summary: 'Its databases and Temporal are reachable',
    access: 'public',
    responses: {
      200: { description: 'Ready: `{"status":"ready","checks":{...}}`, each check `ok`' },
      503: { description: 'Not ready: each check `ok` or `failing` (why is logged, never answered)' },
      429: probeLimited,
    },
  }),
  metrics: defineRoute({
    method: 'get',
    path: '/metrics',
    tag: 'Operations',
    summary: 'Prometheus metrics (requests by route and status, latency, Node process)',
    access: 'public',
    responses: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } }, 429: probeLimited },
  }),
  openapi: defineRoute({
    method: 'get',
    path: '/openapi.json',
    tag: 'Operations',
    summary: 'This document',
    access: 'public',
    responses: { 200: { description: 'OpenAPI 3.1', content: { 'application/json': { schema: { type: 'object' } } } } },
  }),
  docs: defineRoute({
    method: 'get',
    path: '/docs',
    tag: 'Operations',
    summary: 'This document, browsable (Swagger UI)',
    access: 'public',
    responses: { 200: { description: 'HTML' }, 301: { description: 'From /docs to /docs/' } },
  }),
  docsScript: defineRoute({
    method: 'get',
    path: '/docs/init.js',
    tag: 'Operations',
    summary: "The /docs page's script (starts Swagger UI on /openapi.json)",
    access: 'public',
    responses: { 200: { description: 'JavaScript' } },
  }),
  home: defineRoute({
    method: 'get',
    path: '/',
    tag: 'Operations',
    summary: 'Redirects to the web console (/console/)',
    access: 'public',
    responses: { 302: { description: 'To /console/' } },
  }),
};

export interface OperationsDeps {
  registry: Registry;
  /** The OpenAPI document (api/openapi.ts), built once. */
  document: object;
  /** Each dependency's check: 'ok' or why it fails. */
  readiness: () => Promise<Record<string, string>>;
  /** The built web console (web/dist). */
  consoleDir: string;
}

/** The Swagger UI files shipped by swagger-ui-dist and our own page and initializer (no inline script, for helmet's CSP). */
const SWAGGER_UI_DIR = path.dirname(require.resolve('swagger-ui-dist/package.json'));
const DOCS_PAGE_DIR = path.join(__dirname, '..', 'openapi-ui');
const UI_ASSET = /^\/(swagger-ui(-bundle|-standalone-preset)?\.(js|css)(\.map)?|favicon-(16x16|32x32)\.png)$/;

/** The routes above, then the static files they lead to: Swagger UI's assets and the web console. */
export function operationsRoutes(deps: OperationsDeps): Router {
  const router = mountPlain(operationsApi, {
    healthz: (_req, res) => {
      res.json({ status: 'ok' });
    },
    readyz: async (_req, res) => {
      const checks = await deps.readiness();
      const ready = Object.values(checks).every((c) => c === 'ok');
      res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks });
    },
    metrics: async (_req, res) => {
      res.type(deps.registry.contentType).send(await deps.registry.metrics());
    },
    openapi: (_req, res) => {
      res.json(deps.document);
    },
    docs: (req, res, next) => {
      // A trailing slash keeps the page's relative asset URLs under /docs/.
      if (!req.originalUrl.split('?')[0]!.endsWith('/')) return res.redirect(301, '/docs/');
      res.sendFile(path.join(DOCS_PAGE_DIR, 'index.html'), (err) => err && next(err));
    },
    docsScript: (_req, res, next) => res.sendFile(path.join(DOCS_PAGE_DIR, 'init.js'), (err) => err && next(err)),
    home: (_req, res) => res.redirect(302, '/console/'),
  });
  // Only Swagger UI's own assets: not the package's demo page, which points at a remote document.
  const assets = express.static(SWAGGER_UI_DIR, { index: false, maxAge: '1d' });
  router.use('/docs/assets', (req, res, next) => (UI_ASSET.test(req.path) ? assets(req, res, next) : next()));
  // The web console (web/): static pages on the API's own origin, calling the same HTTP API as any
  // other client. Same-origin files only, so helmet's CSP (script-src 'self') needs no exception.
  router.use('/console', consoleFiles(deps.consoleDir));
  return router;
}

function consoleFiles(dir: string): RequestHandler {
  const serve = express.static(dir, {
    index: 'index.html',
    // Vite names assets by their content hash, so they never change; pages are revalidated.
    setHeaders: (res, file) =>
      res.setHeader('cache-control', file.includes(`${path.sep}assets${path.sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache'),
  });
  return (req, res, next) => {
    if (!fs.existsSync(path.join(dir, 'index.html'))) return next(new HttpError(404, 'CONSOLE_NOT_BUILT', 'The web console is not built: run `npm run setup`'));
    serve(req, res, next);
  };
}
