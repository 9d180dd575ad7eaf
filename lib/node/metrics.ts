import http from 'node:http';
import { Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per process, with Node's default process metrics. */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * A tiny /metrics listener for processes that have no HTTP server of their own (workers, projector).
 * `extra` appends another exporter's Prometheus text (the workers append the Temporal SDK's).
 */
export function serveMetrics(registry: Registry, port: number, host = '127.0.0.1', extra?: () => Promise<string>): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.url === '/metrics') {
      Promise.all([registry.metrics(), extra ? extra() : ''])
        .then(([own, more]) => (more ? `${own}\n${more}` : own))
        .then((body) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(body);
        })
        .catch(() => {
          res.writeHead(500);
          res.end();
        });
      return;
    }
    res.writeHead(req.url === '/healthz' ? 200 : 404, { 'content-type': 'text/plain' });
    res.end(req.url === '/healthz' ? 'ok' : 'not found');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject); // EADDRINUSE and the like: fail the start, loudly
    server.listen(port, host, () => resolve(server));
  });
}
