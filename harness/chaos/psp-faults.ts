// The PSP sandbox's fault switches as the harness wants them. A slow-PSP window and a short burst
// can be on at once (the window holds while the schedule goes on), and a restarted sandbox comes
// back with no faults: so the harness keeps the wanted state and sends all of it every time.
import { PspBooks } from '../../lib/node/psp-books';

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

  /** Around a kill of the sandbox: what the new one does not know any more is kept here, so money it took is still found. */
  async aroundRestart(restart: () => Promise<void>): Promise<void> {
    const books = await this.authorizations().catch(() => []);
    await restart();
    const kept = new Set((await this.authorizations().catch(() => [])).map((a) => a.reference));
    for (const a of books) if (!kept.has(a.reference)) this.forgottenBooks.set(a.reference, a.status);
    await this.push();
  }

  async authorizations(): Promise<Array<{ reference: string; status: string }>> {
    const res = await fetch(`${this.url}/_sandbox/authorizations`, { signal: AbortSignal.timeout(10_000) });
    return (await res.json()) as Array<{ reference: string; status: string }>;
  }

  /**
   * Every capture the sandbox ever performed, read from its settlement report (kept in its data file,
   * so it survives the sandbox's kills). Its in-memory effect counters start again at zero after a
   * kill and lose the captures made between the harness's last read and the kill.
   */
  async totalCaptures(): Promise<number> {
    const books = new PspBooks(this.url);
    await books.catchUp();
    return books.summary().captureEffects;
  }
}
