import pg from 'pg';
import type { Logger } from '../../lib/node/logger';
import { formatLsn } from './lsn';
import type { ProjectorMetrics } from './metrics';
import type { RunState } from './run-state';
import { sourceClientConfig, walBytesBehind } from './source';

/**
 * The projector's lag gauges. Seconds: the age of the oldest source commit not applied yet (0 when
 * caught up; while not streaming, the time since it last was). Bytes: the source's WAL beyond the
 * applied position, sampled on a one-connection pool of its own while the projector runs.
 */
export class LagGauges {
  private caughtUpAtMs: number | null = null;
  private sampling = false;
  private pool: pg.Pool | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly run: RunState,
    private readonly metrics: ProjectorMetrics,
    private readonly log: Logger,
    /** More WAL than this behind while streaming asks for a re-sync (0: never). */
    private readonly resyncBehindBytes = 0,
  ) {}

  /** Opens the sampling pool and samples every `intervalMs` until stopSampling(). */
  startSampling(sourceUrl: string, intervalMs: number): void {
    this.pool = new pg.Pool({ ...sourceClientConfig(sourceUrl), max: 1, idleTimeoutMillis: 10_000 });
    this.pool.on('error', () => undefined);
    this.timer = setInterval(() => void this.sample(), intervalMs);
    this.timer.unref();
  }

  stopSampling(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Closes the sampling pool (after stopSampling()). */
  async close(): Promise<void> {
    await this.pool?.end().catch(() => undefined);
    this.pool = null;
  }

  /** Sets the seconds gauge from the run's state (after every batch, session end and sample). */
  update(): void {
    if (this.run.phase !== 'streaming') {
      // Disconnected: unseen commits have unknown times; report how long since we were last caught up.
      this.metrics.lagSeconds.set(this.caughtUpAtMs === null ? 0 : (Date.now() - this.caughtUpAtMs) / 1000);
      return;
    }
    const oldest = this.run.inflightOldestCommitMs ?? this.run.queue.oldestCommitMs();
    if (oldest === null) this.caughtUpAtMs = Date.now();
    this.metrics.lagSeconds.set(oldest === null ? 0 : Math.max(0, Date.now() - oldest) / 1000);
  }

  /**
   * Streaming, but so far behind that a snapshot is the shorter way back: ask the run for one. Not
   * while catching up with what the source wrote during the snapshot this session started from.
   */
  private resyncIfFarBehind(behind: number): void {
    if (this.resyncBehindBytes <= 0) return;
    if (behind <= this.resyncBehindBytes) {
      if (this.run.phase === 'streaming') this.run.catchingUpFromSnapshot = false;
      return;
    }
    if (this.run.phase !== 'streaming' || this.run.resyncRequested || this.run.catchingUpFromSnapshot) return;
    this.run.resyncCause = { reason: 'far_behind', detail: `the read model is ${behind} bytes of WAL behind (more than ${this.resyncBehindBytes})` };
    this.run.resyncRequested = true;
    this.run.wake.notify();
  }

  private async sample(): Promise<void> {
    this.update();
    const applied = this.run.applied;
    if (this.sampling || applied === null || !this.pool) return;
    this.sampling = true;
    try {
      const behind = await walBytesBehind(this.pool, formatLsn(applied));
      this.metrics.lagBytes.set(behind);
      this.resyncIfFarBehind(behind);
    } catch (e) {
      this.log.debug({ err: e }, 'could not sample WAL lag');
    } finally {
      this.sampling = false;
    }
  }
}
