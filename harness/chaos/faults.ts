import { setTimeout as sleep } from 'node:timers/promises';
import type { ApiClient } from '../api-client';
import { waitForPort, type LocalStack } from '../local-stack';
import type { ManagedProcess } from '../managed-process';
import type { TemporalCluster } from '../temporal-cluster';
import type { Operator } from './operator';
import { WINDOW_FAULTS, type FaultKind } from './plan';
import type { PspFaults } from './psp-faults';

// The fault injector: one fault at a time (a kill and its restart, a restart, an operator action, a
// PSP burst) finishes before the next starts, so no two restarts ever fight over one data folder.
// The two window faults (slow PSP, paused worker) hold their condition in the background; at most
// one window of each kind is open, and closeWindows() always ends them (a paused worker resumed).

export interface FaultInjectorOptions {
  stack: LocalStack;
  api: ApiClient;
  psp: PspFaults;
  operator: Operator;
  random: () => number;
  slowPspSeconds: number;
  /** The kinds this run injects (faultKindsFor). */
  kinds: readonly FaultKind[];
  log: (msg: string) => void;
}

export class FaultInjector {
  readonly counts: Record<FaultKind, number>;
  /** One line per fault: when it began (seconds after `epochMs`), how long it held the schedule, what. */
  readonly timeline: string[] = [];
  /** Each fault's wall-clock span (for the pause each node loss causes, checks.ts nodeLossPauses). */
  readonly spans: Array<{ kind: FaultKind; startMs: number; endMs: number; detail: string }> = [];
  /** Where the timeline's clock starts (the run sets it to the traffic's start). */
  epochMs = Date.now();
  private readonly windows = new Map<FaultKind, Promise<void>>();
  private readonly abortWindows = new AbortController();

  constructor(private readonly o: FaultInjectorOptions) {
    this.counts = Object.fromEntries(o.kinds.map((k) => [k, 0])) as Record<FaultKind, number>;
  }

  async inject(kind: FaultKind): Promise<void> {
    if (WINDOW_FAULTS.includes(kind)) await this.windows.get(kind);
    this.counts[kind]++;
    const began = Date.now();
    const line = (what: string) =>
      `${((began - this.epochMs) / 1000).toFixed(1)}s +${((Date.now() - began) / 1000).toFixed(1)}s ${kind}${what ? ` (${what})` : ''}`;
    try {
      const what = (await this.run(kind)) ?? '';
      const detail = line(what);
      this.spans.push({ kind, startMs: began, endMs: Date.now(), detail: what });
      this.timeline.push(detail);
      this.o.log(`fault: ${detail}`);
    } catch (err) {
      this.timeline.push(line(`FAILED: ${(err as Error).message}`));
      throw err;
    }
  }

  /** Waits for open windows to end (or ends them now), then clears every PSP fault. */
  async closeWindows(now = false): Promise<void> {
    if (now) this.abortWindows.abort();
    await Promise.allSettled(this.windows.values());
    await this.o.psp.clear().catch((err: unknown) => this.o.log(`could not clear the PSP's faults: ${(err as Error).message}`));
  }

  private async run(kind: FaultKind): Promise<string | void> {
    const { stack, random } = this.o;
    const down = () => 1000 + random() * 2000;
    switch (kind) {
      case 'kill-order-worker':
        return this.killAndRestart(stack.workers.order);
      case 'kill-payment-worker':
        return this.killAndRestart(stack.workers.payment);
      case 'kill-restaurant-worker':
        return this.killAndRestart(stack.workers.restaurant);
      case 'kill-projector':
        return this.killAndRestart([stack.projector]);
      case 'restart-temporal':
        return stack.temporal.restartServer(down(), 'stop');
      case 'sigkill-temporal':
        return stack.temporal.restartServer(down(), 'kill');
      case 'restart-postgres-primary':
        return stack.primary.restart(down());
      case 'restart-postgres-read':
        return stack.read.restart(down());
      case 'sigkill-postgres-primary':
        return stack.primary.crash(down());
      case 'sigkill-postgres-read':
        return stack.read.crash(down());
      case 'psp-slow':
        return this.pspBurst({ burstDelayMs: 1500 }, { burstDelayMs: 0 });
      case 'psp-transient-errors':
        return this.pspBurst({ failRate: 0.5 }, { failRate: 0 });
      case 'psp-timeout-after-processing':
        return this.pspBurst({ timeoutAfterProcessRate: 0.3 }, { timeoutAfterProcessRate: 0 });
      case 'kill-psp':
        return this.killPsp(down());
      case 'kill-api':
        return this.killApi();
      case 'operator-cancel':
        return this.o.operator.cancelSome();
      case 'operator-terminate':
        return this.o.operator.terminateSome();
      case 'psp-slower-than-timeout':
        return this.slowPspWindow();
      case 'pause-worker':
        return this.pauseWindow();
      case 'sigkill-temporal-history':
        // Down long enough for membership to notice and the other history process to take the shards.
        return this.killClusterProcess((c) => this.pick(c.history), 10_000 + random() * 10_000);
      case 'sigkill-temporal-matching':
        return this.killClusterProcess((c) => c.matching, down());
      case 'sigkill-temporal-frontend':
        return this.killClusterProcess((c) => c.frontend, down());
    }
  }

  /** SIGKILL of one of the cluster's service processes, a start after `downMs`, then until the frontend serves. */
  private async killClusterProcess(which: (c: TemporalCluster) => ManagedProcess, downMs: number): Promise<string> {
    const cluster = this.o.stack.temporal.cluster;
    if (!cluster) throw new Error('node-loss faults need the cluster engine (--cluster)');
    const victim = which(cluster);
    await victim.kill();
    await sleep(downMs);
    victim.restarts++;
    victim.start();
    await cluster.waitUntilServing(120_000);
    return `${victim.name}, down ${(downMs / 1000).toFixed(1)} s`;
  }

  private async killAndRestart(group: ManagedProcess[]): Promise<string> {
    // A paused process is left to its window (killing it is another fault's job).
    const live = group.filter((p) => !p.paused);
    const victim = this.pick(live.length > 0 ? live : group);
    await victim.kill();
    await sleep(500 + this.o.random() * 2000);
    victim.start();
    return victim.name;
  }

  private async pspBurst(on: Parameters<PspFaults['set']>[0], off: Parameters<PspFaults['set']>[0]): Promise<void> {
    await this.o.psp.set(on);
    await sleep(3000);
    await this.o.psp.set(off);
  }

  private async killPsp(downMs: number): Promise<string> {
    const { stack } = this.o;
    await this.o.psp.aroundRestart(async () => {
      await stack.psp.kill();
      await sleep(downMs);
      stack.psp.start();
      await waitForPort(stack.ports.psp, 60_000);
    });
    return `down ${(downMs / 1000).toFixed(1)} s`;
  }

  /** SIGKILL while a write is in flight (waits up to 3 s for one), restart after 0.3-1.5 s. */
  private async killApi(): Promise<string> {
    const { stack, api } = this.o;
    for (let waited = 0; api.inFlightWrites === 0 && waited < 3000; waited += 10) await sleep(10);
    const inFlight = api.inFlight;
    await stack.api.kill();
    await sleep(300 + this.o.random() * 1200);
    stack.api.start();
    // An API running the order worker (API_ORDER_WORKER) listens once its workflows are bundled.
    await waitForPort(stack.ports.api, stack.apiOrderWorker ? 180_000 : 60_000);
    return `${inFlight} request(s) in flight`;
  }

  private slowPspWindow(): string {
    const delayMs = Math.round(6000 + this.o.random() * 6000);
    const seconds = this.o.slowPspSeconds;
    this.window('psp-slower-than-timeout', async (signal) => {
      await this.o.psp.set({ windowDelayMs: delayMs });
      try {
        await sleep(seconds * 1000, undefined, { signal });
      } finally {
        await this.o.psp.set({ windowDelayMs: 0 });
      }
    });
    return `PSP answers after ${delayMs} ms for ${seconds} s`;
  }

  private pauseWindow(): string {
    const { workers } = this.o.stack;
    const all = [...workers.order, ...workers.payment, ...workers.restaurant].filter((p) => p.running && !p.paused);
    if (all.length === 0) return 'no running worker to pause';
    const victim = this.pick(all);
    const ms = Math.round(20_000 + this.o.random() * 10_000);
    victim.pause();
    this.window('pause-worker', async (signal) => {
      try {
        await sleep(ms, undefined, { signal });
      } finally {
        victim.resume();
      }
    });
    return `${victim.name} SIGSTOPped for ${(ms / 1000).toFixed(0)} s`;
  }

  /** Runs `body` in the background as the open window of `kind`; its errors are logged. */
  private window(kind: FaultKind, body: (signal: AbortSignal) => Promise<void>): void {
    const done = body(this.abortWindows.signal)
      .catch((err: unknown) => {
        if ((err as Error).name !== 'AbortError') this.o.log(`${kind} window: ${(err as Error).message}`);
      })
      .finally(() => this.windows.delete(kind));
    this.windows.set(kind, done);
  }

  private pick<T>(items: T[]): T {
    return items[Math.floor(this.o.random() * items.length)]!;
  }
}
