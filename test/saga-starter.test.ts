import { Registry } from 'prom-client';
import { createSagaStarter, type StartOutcome } from '../api/services/saga-starter';
import type { Logger } from '../lib/node/logger';
import type { OrderSagaInput } from '../lib/workflow-safe/domain';

// The API's background saga starter with a stand-in start function: its bounds, what it leaves to
// the sweeper (logged once per order), its metrics, and its stop. The real stack's side (POST /orders
// answering while Temporal is held, its saga then started by this starter) is in test/saga.test.ts.

const input = (n: number) => ({ orderId: `ord_unit${n}` }) as OrderSagaInput;

/** A start function whose calls wait until the test settles them. */
function heldStarts() {
  const calls: Array<{ orderId: string; resolve: (ran: boolean) => void; reject: (err: Error) => void }> = [];
  const start = (i: OrderSagaInput) =>
    new Promise<boolean>((resolve, reject) => {
      calls.push({ orderId: i.orderId, resolve, reject });
    });
  return { calls, start };
}

function recordingLogger() {
  const warnings: Array<Record<string, unknown>> = [];
  const infos: Array<Record<string, unknown>> = [];
  const logger = {
    warn: (obj: Record<string, unknown>) => warnings.push(obj),
    info: (obj: Record<string, unknown>) => infos.push(obj),
  } as unknown as Logger;
  return { logger, warnings, infos };
}

const tick = () => new Promise((r) => setImmediate(r));

/** One sample's value; `name` may be a histogram's `_count`. */
async function sample(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name.replace(/_count$/, ''));
  const value = (metric?.values as Array<{ labels: Record<string, unknown>; value: number; metricName?: string }> | undefined)?.find(
    (v) => (v.metricName ?? name) === name && Object.entries(labels).every(([k, l]) => v.labels[k] === l),
  );
  return value?.value;
}

describe('saga starter (api/services/saga-starter.ts)', () => {
  it('makes at most `concurrency` start calls at once, queues up to `queueMax`, and leaves the rest to the sweeper at once, logged once each', async () => {
    const { calls, start } = heldStarts();
    const { logger, warnings } = recordingLogger();
    const registry = new Registry();
    const starter = createSagaStarter({ start, concurrency: 2, queueMax: 3, logger, registry });

    const outcomes: Array<Promise<StartOutcome>> = [];
    for (let n = 0; n < 7; n++) outcomes.push(starter.enqueue(input(n)));
    await tick();
    expect(calls.map((c) => c.orderId)).toEqual(['ord_unit0', 'ord_unit1']);
    expect([starter.inFlight, starter.queued]).toEqual([2, 3]);
    expect(await sample(registry, 'api_saga_starts_queued')).toBe(3);
    // Orders 5 and 6 found the queue full: left to the sweeper without waiting for anything.
    expect(await outcomes[5]).toBe('left-to-sweeper');
    expect(await outcomes[6]).toBe('left-to-sweeper');
    expect(warnings.map((w) => [w.orderId, w.reason])).toEqual([
      ['ord_unit5', 'start queue full (3)'],
      ['ord_unit6', 'start queue full (3)'],
    ]);

    // The same order queued again (a client's retry) joins the start already queued: no second call.
    const again = starter.enqueue(input(2));

    // A slot frees: the next queued start is made; failures and a closed run are told apart.
    calls[0]!.resolve(true);
    await tick();
    expect(calls.map((c) => c.orderId)).toEqual(['ord_unit0', 'ord_unit1', 'ord_unit2']);
    calls[1]!.reject(new Error('deadline exceeded'));
    calls[2]!.resolve(false);
    await tick();
    calls[3]!.resolve(true);
    calls[4]!.resolve(true);
    expect(await Promise.all(outcomes.slice(0, 5))).toEqual(['started', 'left-to-sweeper', 'already-started', 'started', 'started']);
    expect(await again).toBe('already-started');
    expect(calls).toHaveLength(5);
    expect(warnings.map((w) => [w.orderId, w.reason])).toEqual([
      ['ord_unit5', 'start queue full (3)'],
      ['ord_unit6', 'start queue full (3)'],
      ['ord_unit1', 'start failed or timed out'],
    ]);
    expect([starter.inFlight, starter.queued]).toEqual([0, 0]);

    expect(await sample(registry, 'api_saga_start_outcomes_total', { outcome: 'started' })).toBe(3);
    expect(await sample(registry, 'api_saga_start_outcomes_total', { outcome: 'already-started' })).toBe(1);
    expect(await sample(registry, 'api_saga_start_outcomes_total', { outcome: 'left-to-sweeper' })).toBe(3);
    expect(await sample(registry, 'api_saga_start_duration_seconds_count', { outcome: 'started' })).toBe(3);
    expect(await sample(registry, 'api_saga_starts_queued')).toBe(0);
  });

  it('stop drops the queue (one log line, every order left to the sweeper), refuses new starts, and waits for the calls in flight', async () => {
    const { calls, start } = heldStarts();
    const { logger, warnings, infos } = recordingLogger();
    const starter = createSagaStarter({ start, concurrency: 1, queueMax: 10, logger });
    const inFlight = starter.enqueue(input(1));
    const queued = [starter.enqueue(input(2)), starter.enqueue(input(3))];
    await tick();

    let stopped = false;
    const stopping = starter.stop().then(() => (stopped = true));
    expect(await Promise.all(queued)).toEqual(['left-to-sweeper', 'left-to-sweeper']);
    expect(infos).toEqual([{ dropped: 2 }]);
    expect(await starter.enqueue(input(4))).toBe('left-to-sweeper');
    await tick();
    expect(stopped).toBe(false);
    calls[0]!.resolve(true);
    await stopping;
    expect(await inFlight).toBe('started');
    expect(calls).toHaveLength(1);
    expect(warnings.map((w) => [w.orderId, w.reason])).toEqual([['ord_unit4', 'API stopping']]);
  });
  it("tries a failed start again after each pause, in the queue and in its bound; only a start failing every try is the sweeper's; stop ends the waits", async () => {
    const { calls, start } = heldStarts();
    const { logger, warnings, infos } = recordingLogger();
    const registry = new Registry();
    const starter = createSagaStarter({ start, concurrency: 1, queueMax: 1, retryDelaysMs: [20, 40], logger, registry });
    const waitForCalls = async (n: number) => {
      for (let i = 0; i < 200 && calls.length < n; i++) await new Promise((r) => setTimeout(r, 5));
      expect(calls).toHaveLength(n);
    };

    // Fails twice (a shard moving), then Temporal takes it: started, nothing logged.
    const recovering = starter.enqueue(input(1));
    await waitForCalls(1);
    const rejoined = starter.enqueue(input(1)); // a client's retry while it waits: no second start
    calls[0]!.reject(new Error('Unavailable'));
    await waitForCalls(2);
    calls[1]!.reject(new Error('deadline exceeded'));
    await waitForCalls(3);
    calls[2]!.resolve(true);
    expect(await recovering).toBe('started');
    expect(await rejoined).toBe('started');
    expect(calls.map((c) => c.orderId)).toEqual(['ord_unit1', 'ord_unit1', 'ord_unit1']);
    expect(warnings).toEqual([]);
    expect(await sample(registry, 'api_saga_start_retries_total')).toBe(2);

    // Fails on every try: left to the sweeper once its retries are spent, logged once.
    const failing = starter.enqueue(input(2));
    for (const n of [4, 5, 6]) {
      await waitForCalls(n);
      calls[n - 1]!.reject(new Error('Unavailable'));
    }
    expect(await failing).toBe('left-to-sweeper');
    expect(warnings.map((w) => [w.orderId, w.reason])).toEqual([['ord_unit2', 'start failed or timed out']]);

    // A retry that finds the queue full is the sweeper's: other orders took the slot and the only place.
    const crowdedOut = starter.enqueue(input(3));
    await waitForCalls(7);
    calls[6]!.reject(new Error('Unavailable'));
    await new Promise((r) => setTimeout(r, 1));
    const inSlot = starter.enqueue(input(4));
    await waitForCalls(8);
    const inQueue = starter.enqueue(input(6));
    expect(await crowdedOut).toBe('left-to-sweeper');
    expect(warnings.at(-1)).toMatchObject({ orderId: 'ord_unit3', reason: 'start queue full (1) for a retry' });
    calls[7]!.resolve(true);
    await waitForCalls(9);
    calls[8]!.resolve(true);
    expect(await Promise.all([inSlot, inQueue])).toEqual(['started', 'started']);

    // Stopping while a start waits for its retry: left to the sweeper at once, no further call.
    const waiting = starter.enqueue(input(5));
    await waitForCalls(10);
    calls[9]!.reject(new Error('Unavailable'));
    await new Promise((r) => setTimeout(r, 5));
    await starter.stop();
    expect(await waiting).toBe('left-to-sweeper');
    expect(infos).toEqual([{ dropped: 1 }]);
    await new Promise((r) => setTimeout(r, 60));
    expect(calls).toHaveLength(10);
  }, 10_000);
});
