// The PSP sandbox's fault switches as the harness wants them. A slow-PSP window and a short burst
// can be on at once (the window holds while the schedule goes on), and a restarted sandbox comes
// back with no faults: so the harness keeps the wanted state and sends all of it every time.

export interface PspFaultState {
  /** A window slower than the client's timeout (psp-slower-than-timeout). */
  windowDelayMs: number;
  /** A short slow burst (psp-slow). */
  burstDelayMs: number;
  failRate: number;
  timeoutAfterProcessRate: number;
}

const NONE: PspFaultState = { windowDelayMs: 0, burstDelayMs: 0, failRate: 0, timeoutAfterProcessRate: 0 };

export class PspFaults {
  private state: PspFaultState = { ...NONE };
  /** Captures counted by sandboxes that were killed and came back with empty counters. */
  private capturesBeforeRestarts = 0;
  /** Authorizations (reference -> status) of sandboxes that were killed and came back without them. */
  readonly forgottenBooks = new Map<string, string>();

  constructor(
    private readonly url: string,
    private readonly seed: number,
  ) {}

  async set(patch: Partial<PspFaultState>): Promise<void> {
    this.state = { ...this.state, ...patch };
    await this.push();
  }

  async clear(): Promise<void> {
    await this.set(NONE);
  }

  /** Sends the wanted state (after a restart of the sandbox, too). */
  async push(): Promise<void> {
    const s = this.state;
    const body = {
      delayMs: Math.max(s.windowDelayMs, s.burstDelayMs),
      failRate: s.failRate,
      timeoutAfterProcessRate: s.timeoutAfterProcessRate,
      seed: this.seed,
    };
    const res = await fetch(`${this.url}/_sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) throw new Error(`PSP sandbox refused the faults: HTTP ${res.status}`);
  }

  async stats(): Promise<{ effects: Record<string, number> }> {
    const res = await fetch(`${this.url}/_sandbox/stats`, { signal: AbortSignal.timeout(5000) });
    return (await res.json()) as { effects: Record<string, number> };
  }

  /**
   * Around a kill of the sandbox: its effect counters may start again at zero (or be kept with its
   * books). Captures counted before are carried over only when the new counter is lower.
   */
  async aroundRestart(restart: () => Promise<void>): Promise<void> {
    const before = await this.stats().then(
      (s) => s.effects.capture ?? 0,
      () => undefined,
    );
    const books = await this.authorizations().catch(() => []);
    await restart();
    const after = await this.stats().then(
      (s) => s.effects.capture ?? 0,
      () => undefined,
    );
    if (before !== undefined && after !== undefined && after < before) this.capturesBeforeRestarts += before;
    // What the new sandbox does not know any more is kept here, so money it took is still found.
    const kept = new Set((await this.authorizations().catch(() => [])).map((a) => a.reference));
    for (const a of books) if (!kept.has(a.reference)) this.forgottenBooks.set(a.reference, a.status);
    await this.push();
  }

  async authorizations(): Promise<Array<{ reference: string; status: string }>> {
    const res = await fetch(`${this.url}/_sandbox/authorizations`, { signal: AbortSignal.timeout(10_000) });
    return (await res.json()) as Array<{ reference: string; status: string }>;
  }

  /** Every capture the sandbox (across its restarts) ever performed. */
  async totalCaptures(): Promise<number> {
    return this.capturesBeforeRestarts + ((await this.stats()).effects.capture ?? 0);
  }
}
