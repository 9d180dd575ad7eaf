import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Runtime, type ActivityInterceptorsFactory } from '@temporalio/worker';
import type { Registry } from 'prom-client';
import type { Logger } from '../lib/node/logger';
import { createRegistry, serveMetrics } from '../lib/node/metrics';
import { freePort } from '../lib/node/ports';
import { createSagaMetrics, type SagaMetrics } from '../activities/saga-metrics';
import { PinoTemporalLogger } from '../lib/node/temporal-logger';

// A worker process's logs and metrics.
//
// Logs: the Temporal Runtime's logger writes through the process's pino logger, so the SDK's own
// lines, the workflow `log` and the activity `log` are JSON lines with workflowId (and orderId).
//
// Metrics: one /metrics endpoint per process (WORKER_METRICS_PORT) that serves both the saga's
// prom-client registry (outcomes, compensations, PSP calls, Node process metrics) and the Temporal
// SDK's own metrics (pollers, task latencies, slots, activity failures...). The SDK's Prometheus
// exporter is bound to a private loopback port and its text is appended to ours, so Prometheus
// scrapes one target per process.

export interface WorkerTelemetry {
  registry: Registry;
  metrics: SagaMetrics;
  /** The port /metrics listens on; undefined when WORKER_METRICS_PORT is unset. */
  metricsPort: number | undefined;
  stop(): Promise<void>;
}

export async function startWorkerTelemetry(opts: { service: string; logger: Logger; metricsPort: number | undefined; host: string }): Promise<WorkerTelemetry> {
  const registry = createRegistry(opts.service);
  const metrics = createSagaMetrics(registry);
  const sdkPort = opts.metricsPort === undefined ? undefined : await freePort();
  // Must run before the first NativeConnection: the Runtime is a process-wide singleton.
  Runtime.install({
    logger: new PinoTemporalLogger(opts.logger),
    telemetryOptions: {
      // The SDK core's own (Rust) log lines are forwarded to the logger above instead of stderr.
      logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} },
      ...(sdkPort === undefined
        ? {}
        : { metrics: { prometheus: { bindAddress: `127.0.0.1:${sdkPort}`, useSecondsForDurations: true }, globalTags: { service: opts.service } } }),
    },
  });
  if (opts.metricsPort === undefined || sdkPort === undefined) {
    return { registry, metrics, metricsPort: undefined, stop: async () => undefined };
  }
  const server: http.Server = await serveMetrics(registry, opts.metricsPort, opts.host, () => sdkMetrics(sdkPort));
  const metricsPort = (server.address() as AddressInfo).port;
  opts.logger.info({ metricsPort, host: opts.host }, 'metrics listening on /metrics (saga and Temporal SDK)');
  return {
    registry,
    metrics,
    metricsPort,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The SDK exporter's text; while it is not up yet (no worker started), a comment says so. */
async function sdkMetrics(port: number): Promise<string> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return `# Temporal SDK metrics unavailable: HTTP ${res.status}\n`;
    return await res.text();
  } catch (err) {
    return `# Temporal SDK metrics unavailable: ${(err as Error).message}\n`;
  }
}

/**
 * Adds the order id of the activity's input (every saga activity takes `{ orderId, ... }`) to the
 * activity's log lines, next to the workflowId the SDK adds. The task token is left out: it is long
 * and only useful for asynchronous completion, which these activities do not use.
 */
export const orderLogContext: ActivityInterceptorsFactory = () => {
  let orderId: string | undefined;
  return {
    inbound: {
      execute(input, next) {
        const first = input.args[0] as { orderId?: unknown } | undefined;
        if (first && typeof first === 'object' && typeof first.orderId === 'string') orderId = first.orderId;
        return next(input);
      },
    },
    outbound: {
      getLogAttributes(attributes, next) {
        const { taskToken: _taskToken, ...rest } = attributes;
        return next(orderId === undefined ? rest : { ...rest, orderId });
      },
    },
  };
};
