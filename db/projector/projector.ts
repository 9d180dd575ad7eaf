import type { Registry } from 'prom-client';
import type { Db } from '../knex';
import type { Logger } from '../../lib/node/logger';
import { LagGauges } from './lag';
import { formatLsn, parseLsn } from './lsn';
import { createProjectorMetrics, type ProjectorMetrics } from './metrics';
import { RunState, type ProjectorState } from './run-state';
import { runSession, type AppliedBatch, type ProjectorParts, type ProjectorSettings } from './session';
import type { SnapshotExportedInfo } from './snapshot';

export type { AppliedBatch } from './session';
export type { ProjectorState } from './run-state';

export interface MenuProjectorOptions {
  /** The restaurants database (source of truth); needs wal_level=logical. */
  sourceUrl: string;
  /** The menu_read database (migrated); the projector only writes it. */
  readDb: Db;
  slotName: string;
  publicationName: string;
  /** The read replica this projector feeds: a label on its metrics (default read-1). */
  replica?: string;
  /**
   * Re-sync from a snapshot instead of streaming when the read model is more than this many bytes of
   * source WAL behind, at a (re)connect or while streaming: a replay that long costs more than a copy,
   * and the slot holds that WAL on the source meanwhile. 0 (the default here): never.
   */
  resyncBehindBytes?: number;
  logger: Logger;
  registry: Registry;
  /** Largest read-model transaction, in row changes (a bigger source transaction still goes whole). */
  maxBatchChanges?: number;
  /** Pause reading the stream while this many changes wait to be applied. */
  maxQueuedChanges?: number;
  lagSampleIntervalMs?: number;
  /** Standby status interval; must be well under the source's wal_sender_timeout (60 s default). */
  statusIntervalMs?: number;
  /** While idle, persist keepalive positions at most this often (lets the slot release WAL). */
  idlePositionIntervalMs?: number;
  backoff?: { initialMs: number; maxMs: number };
  /**
   * false: never advance the slot, as if every run crashed between the read-model commit and the
   * acknowledgement. Only for tests of replay; the default is true.
   */
  acknowledge?: boolean;
  /** Called after the slot and its snapshot exist and before the copy starts. */
  onSnapshotExported?: (info: SnapshotExportedInfo) => Promise<void> | void;
  /** Called after each read-model commit (benchmarks measure commit-to-visible from it). */
  onApplied?: (batch: AppliedBatch) => void;
}

export interface ProjectorStatus {
  state: ProjectorState;
  /** Everything up to here is committed in the read model (null before the first session). */
  appliedLsn: string | null;
  queuedTransactions: number;
  queuedChanges: number;
}

export interface MenuProjector {
  /**
   * Ensures publication and slot, re-syncs when the read model has no position (or `resync`), and
   * streams. Resolves once streaming; keeps retrying with backoff (and logging) until then.
   */
  start(opts?: { resync?: boolean }): Promise<void>;
  /** Finishes the in-flight apply, acknowledges it, closes the stream. */
  stop(): Promise<void>;
  /** Rebuilds the read model from a fresh snapshot; resolves once streaming again. */
  resync(): Promise<void>;
  status(): ProjectorStatus;
  /**
   * Resolves once the read model has everything up to `lsn`, e.g. pg_current_wal_lsn() read after a
   * write. WAL beyond our last commit (other tables and databases) is passed by idle keepalive
   * positions, persisted every idlePositionIntervalMs.
   */
  waitForLsn(lsn: string, timeoutMs?: number): Promise<void>;
}

export class ProjectorStoppedError extends Error {
  constructor() {
    super('projector stopped');
  }
}

const NAME = /^[a-z0-9_]{1,63}$/;

export function createMenuProjector(options: MenuProjectorOptions): MenuProjector {
  if (!NAME.test(options.slotName)) throw new Error(`invalid slot name ${options.slotName}`);
  if (!NAME.test(options.publicationName)) throw new Error(`invalid publication name ${options.publicationName}`);
  return new MenuProjectorRun(options);
}

/**
 * The projector's lifecycle: start() runs stream sessions one after another (session.ts), backing
 * off after a failed one, until stop(). Its state is one RunState (run-state.ts): the phase
 * status() reports, the stop and re-sync requests, the applied position and the queue.
 */
class MenuProjectorRun implements MenuProjector {
  private readonly run = new RunState();
  private readonly settings: ProjectorSettings;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly lagSampleIntervalMs: number;
  private readonly log: Logger;
  private readonly metrics: ProjectorMetrics;
  private readonly lag: LagGauges;
  private readonly parts: ProjectorParts;
  /** The session loop while started (start() to stop()). */
  private loop: Promise<void> | null = null;

  constructor(options: MenuProjectorOptions) {
    this.settings = {
      sourceUrl: options.sourceUrl,
      readDb: options.readDb,
      slotName: options.slotName,
      publicationName: options.publicationName,
      replica: options.replica ?? 'read-1',
      resyncBehindBytes: options.resyncBehindBytes ?? 0,
      maxBatchChanges: options.maxBatchChanges ?? 5000,
      maxQueuedChanges: options.maxQueuedChanges ?? 50_000,
      statusIntervalMs: options.statusIntervalMs ?? 10_000,
      idlePositionIntervalMs: options.idlePositionIntervalMs ?? 200,
      acknowledge: options.acknowledge !== false,
      onSnapshotExported: options.onSnapshotExported,
      onApplied: options.onApplied,
    };
    this.backoff = options.backoff ?? { initialMs: 250, maxMs: 10_000 };
    this.lagSampleIntervalMs = options.lagSampleIntervalMs ?? 1000;
    this.log = options.logger.child({ component: 'menu-projector', replica: this.settings.replica, slot: options.slotName });
    this.metrics = createProjectorMetrics(options.registry, options.slotName, this.settings.replica);
    this.lag = new LagGauges(this.run, this.metrics, this.log, this.settings.resyncBehindBytes);
    this.parts = { settings: this.settings, run: this.run, lag: this.lag, metrics: this.metrics, log: this.log };
  }

  start(opts: { resync?: boolean } = {}): Promise<void> {
    if (this.loop) throw new Error('projector already started');
    this.run.stopRequested = false;
    this.run.resyncRequested = opts.resync ?? false;
    this.run.resyncCause = null;
    const streaming = this.run.waitStreaming();
    this.lag.startSampling(this.settings.sourceUrl, this.lagSampleIntervalMs);
    this.loop = this.runSessions().finally(() => {
      this.run.phase = 'stopped';
    });
    return streaming;
  }

  async stop(): Promise<void> {
    if (!this.loop) return;
    this.run.stopRequested = true;
    this.run.phase = 'stopping';
    this.run.wake.notify();
    await this.loop;
    this.loop = null;
    this.lag.stopSampling();
    this.run.settleStreamingWaiters(new ProjectorStoppedError());
    await this.lag.close();
    this.log.info({ appliedLsn: this.appliedLsn() }, 'projector stopped');
  }

  resync(): Promise<void> {
    if (!this.loop) return Promise.reject(new Error('projector not started'));
    this.run.resyncRequested = true;
    this.run.resyncCause = null;
    const streaming = this.run.waitStreaming();
    this.run.wake.notify();
    return streaming;
  }

  status(): ProjectorStatus {
    return {
      state: this.run.phase,
      appliedLsn: this.appliedLsn(),
      queuedTransactions: this.run.queue.transactions,
      queuedChanges: this.run.queue.changes,
    };
  }

  async waitForLsn(lsn: string, timeoutMs = 30_000): Promise<void> {
    const target = parseLsn(lsn);
    const deadline = Date.now() + timeoutMs;
    while (this.run.applied === null || this.run.applied < target) {
      if (Date.now() > deadline) {
        throw new Error(`read model did not reach ${lsn} in ${timeoutMs} ms (at ${this.run.applied === null ? '-' : formatLsn(this.run.applied)})`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private appliedLsn(): string | null {
    return this.run.applied === null ? null : formatLsn(this.run.applied);
  }

  /** Sessions one after another until stop(); after a failed one, backs off and connects again. */
  private async runSessions(): Promise<void> {
    let attempt = 0;
    while (!this.run.stopRequested) {
      try {
        await runSession(this.parts, () => (attempt = 0));
      } catch (e) {
        if (this.run.stopRequested) break;
        attempt += 1;
        await this.backOff(e, attempt);
      }
    }
  }

  /** The retrying phase: exponential backoff with jitter, cut short by a stop or a re-sync request. */
  private async backOff(err: unknown, attempt: number): Promise<void> {
    this.metrics.reconnects.inc();
    const base = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** Math.min(attempt - 1, 20));
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.run.phase = 'retrying';
    this.log.error({ err, attempt, retryInMs: delay }, 'projector session failed; retrying');
    await this.run.wake.wait(delay);
  }
}
