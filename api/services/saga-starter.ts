import type { Client } from '@temporalio/client';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../../lib/node/logger';
import { startOrderSaga } from '../../lib/order-saga-starter';
import type { OrderSagaInput } from '../../lib/workflow-safe/domain';
import { orderWorkflowId } from '../../lib/workflow-safe/task-queues';

/**
 * What became of one order's saga start:
 * - `started`: Temporal took the start (or the saga already ran and was joined);
 * - `already-started`: a closed run forbids another (the reconciler's, lib/order-saga-starter.ts);
 * - `left-to-sweeper`: not started here (queue full, start failed or timed out on every try, API stopping). The
 *   order row is its saga's outbox, so the order worker's sweeper starts it.
 */
export type StartOutcome = 'started' | 'already-started' | 'left-to-sweeper';

export interface SagaStarterOptions {
  /** Starts one saga: true when it runs, false when a closed run forbids it; throws when Temporal did not take it (in time). */
  start: (input: OrderSagaInput) => Promise<boolean>;
  /** Start calls in flight at once. */
  concurrency: number;
  /** Starts waiting for a slot; one more is left to the sweeper at once. */
  queueMax: number;
  /**
   * After a start fails, wait this long and queue it again, once per entry (default none: the first
   * failure leaves the order to the sweeper). A failure with none left is the sweeper's.
   */
  retryDelaysMs?: readonly number[];
  logger?: Logger;
  registry?: Registry;
}

export interface SagaStarter {
  /**
   * Queues the start of an order's saga (once per order while queued or in flight) and returns
   * its outcome when known. Never rejects: every failure is `left-to-sweeper`, logged once.
   */
  enqueue(input: OrderSagaInput): Promise<StartOutcome>;
  /** Drops the queue (those orders are left to the sweeper), refuses new starts, and resolves when the calls in flight have settled. */
  stop(): Promise<void>;
  readonly queued: number;
  readonly inFlight: number;
}

interface Entry {
  input: OrderSagaInput;
  queuedAt: number;
  /** Failed start calls so far. */
  failures: number;
  settle: (outcome: StartOutcome) => void;
  outcome: Promise<StartOutcome>;
}

/**
 * POST /orders answers once the order and its key are committed; its saga is started here, in the
 * background. A burst beyond what Temporal takes must not turn into unbounded memory or a storm of
 * start calls: at most `concurrency` calls in flight and `queueMax` waiting, the rest left to the
 * sweeper, which recovers them from the order rows (so dropping the queue loses nothing).
 */
export function createSagaStarter(opts: SagaStarterOptions): SagaStarter {
  const queue: Entry[] = [];
  const pending = new Map<string, Entry>(); // queued or in flight, by order id
  const settling = new Set<Promise<unknown>>();
  const retrying = new Map<Entry, NodeJS.Timeout>(); // failed, waiting to be queued again
  const retryDelays = opts.retryDelaysMs ?? [];
  let inFlight = 0;
  let stopped = false;
  const metrics = opts.registry ? starterMetrics(opts.registry) : undefined;

  function finish(entry: Entry, outcome: StartOutcome, reason?: string, err?: unknown) {
    pending.delete(entry.input.orderId);
    metrics?.outcomes.inc({ outcome });
    metrics?.latency.observe({ outcome }, (Date.now() - entry.queuedAt) / 1000);
    if (reason)
      opts.logger?.warn(
        { orderId: entry.input.orderId, workflowId: orderWorkflowId(entry.input.orderId), reason, ...(err ? { err } : {}) },
        'order saga not started by the API; the order is recorded and the sweeper will start it',
      );
    entry.settle(outcome);
  }

  /**
   * A failed start is tried again after a pause while it has retries left: a shard moving to another
   * history process, or a frontend restarting, refuses starts for seconds, and the sweeper would
   * only take the order after its threshold (30 s). Back in the queue, it counts against its bound.
   */
  function failed(entry: Entry, err: unknown) {
    const delay = retryDelays[entry.failures++];
    if (delay === undefined || stopped) return finish(entry, 'left-to-sweeper', 'start failed or timed out', err);
    metrics?.retries.inc();
    const timer = setTimeout(() => {
      retrying.delete(entry);
      if (stopped) finish(entry, 'left-to-sweeper');
      else if (queue.length >= opts.queueMax) finish(entry, 'left-to-sweeper', `start queue full (${opts.queueMax}) for a retry`, err);
      else {
        queue.push(entry);
        pump();
      }
    }, delay);
    timer.unref();
    retrying.set(entry, timer);
  }

  function pump() {
    while (!stopped && inFlight < opts.concurrency && queue.length > 0) {
      const entry = queue.shift()!;
      inFlight++;
      const call = opts
        .start(entry.input)
        .then(
          (ran) => finish(entry, ran ? 'started' : 'already-started'),
          (err: unknown) => failed(entry, err),
        )
        .finally(() => {
          inFlight--;
          settling.delete(call);
          metrics?.queued.set(queue.length);
          pump();
        });
      settling.add(call);
    }
    metrics?.queued.set(queue.length);
  }

  return {
    enqueue(input) {
      const known = pending.get(input.orderId);
      if (known) return known.outcome;
      let settle!: (outcome: StartOutcome) => void;
      const outcome = new Promise<StartOutcome>((resolve) => (settle = resolve));
      const entry: Entry = { input, queuedAt: Date.now(), failures: 0, settle, outcome };
      if (stopped) finish(entry, 'left-to-sweeper', 'API stopping');
      else if (queue.length >= opts.queueMax) finish(entry, 'left-to-sweeper', `start queue full (${opts.queueMax})`);
      else {
        pending.set(input.orderId, entry);
        queue.push(entry);
        pump();
      }
      return outcome;
    },
    async stop() {
      stopped = true;
      for (const timer of retrying.values()) clearTimeout(timer);
      const dropped = [...queue.splice(0), ...retrying.keys()];
      retrying.clear();
      // One line for the whole queue, not one per order: the sweeper recovers them all.
      if (dropped.length > 0) opts.logger?.info({ dropped: dropped.length }, 'API stopping: queued saga starts left to the sweeper');
      for (const entry of dropped) finish(entry, 'left-to-sweeper');
      metrics?.queued.set(0);
      await Promise.allSettled([...settling]);
    },
    get queued() {
      return queue.length;
    },
    get inFlight() {
      return inFlight;
    },
  };
}

/** How long one start call may wait for Temporal to take it. */
export const START_SAGA_DEADLINE_MS = 5_000;

/**
 * The API's pauses before a failed start is tried again: with the deadline, the last attempt ends
 * about 20 s after the first began, before the sweeper's 30 s threshold, and covers a history
 * process's shards moving to another (about 6 s on the cluster, test/cluster.test.ts).
 */
export const START_SAGA_RETRY_DELAYS_MS = [1_000, 4_000] as const;

/**
 * The API's start of one saga: first run only, within START_SAGA_DEADLINE_MS (Temporal restarting or
 * saturated); `eager` when `temporal` shares its NativeConnection with this process's order worker.
 */
export function temporalSagaStart(temporal: Client, taskQueuePrefix: string, opts: { eager?: boolean } = {}): SagaStarterOptions['start'] {
  return (input) =>
    temporal.withDeadline(Date.now() + START_SAGA_DEADLINE_MS, () => startOrderSaga(temporal, input, taskQueuePrefix, 'first-run', { eager: opts.eager }));
}

function starterMetrics(registry: Registry) {
  return {
    queued: new Gauge({
      name: 'api_saga_starts_queued',
      help: 'Order saga starts waiting for a slot in this API process (POST /orders answers before its saga starts)',
      registers: [registry],
    }),
    outcomes: new Counter({
      name: 'api_saga_start_outcomes_total',
      help: 'Order saga starts by outcome: started, already-started (a closed run forbids another), left-to-sweeper (queue full, failed or timed out on every try, API stopping)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    retries: new Counter({
      name: 'api_saga_start_retries_total',
      help: 'Order saga starts that failed (Temporal unavailable or past the deadline) and were queued again after a pause',
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'api_saga_start_duration_seconds',
      help: 'From an order saga start queued to its outcome (time in the queue included), by outcome',
      labelNames: ['outcome'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
  };
}
