import pg from 'pg';
import type { Registry } from 'prom-client';
import type { Db } from '../knex';
import type { Logger } from '../../lib/node/logger';
import { applyBatch, readState } from './apply';
import type { SourceTransaction } from './changes';
import { formatLsn, parseLsn, type Lsn } from './lsn';
import { createProjectorMetrics } from './metrics';
import { resyncFromSnapshot, type SnapshotExportedInfo } from './snapshot';
import { ensurePublication, getSlot, sourceClientConfig, walBytesBehind, withSourceClient } from './source';
import { ApplyQueue } from './queue';
import { Signal } from './signal';
import { ReplicationStream } from './stream';

export interface MenuProjectorOptions {
  /** The restaurants database (source of truth); needs wal_level=logical. */
  sourceUrl: string;
  /** The menu_read database (migrated); the projector only writes it. */
  readDb: Db;
  slotName: string;
  publicationName: string;
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

export interface AppliedBatch {
  appliedLsn: string;
  /** Wall-clock time right after the read-model commit. */
  committedAtMs: number;
  changes: number;
  transactions: Array<{ endLsn: string; commitTimeMs: number; changes: number }>;
}

export type ProjectorState = 'idle' | 'starting' | 'resyncing' | 'streaming' | 'retrying' | 'stopping' | 'stopped';

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
  const { sourceUrl, readDb, slotName, publicationName, logger, registry } = options;
  if (!NAME.test(slotName)) throw new Error(`invalid slot name ${slotName}`);
  if (!NAME.test(publicationName)) throw new Error(`invalid publication name ${publicationName}`);
  const maxBatchChanges = options.maxBatchChanges ?? 5000;
  const maxQueuedChanges = options.maxQueuedChanges ?? 50_000;
  const idlePositionIntervalMs = options.idlePositionIntervalMs ?? 200;
  const backoff = options.backoff ?? { initialMs: 250, maxMs: 10_000 };
  const log = logger.child({ component: 'menu-projector', slot: slotName });
  const metrics = createProjectorMetrics(registry, slotName);

  let state: ProjectorState = 'idle';
  let stopping = false;
  let resyncRequested = false;
  let loop: Promise<void> | null = null;
  let applied: Lsn | null = null;
  const queue = new ApplyQueue();
  let inflightOldestCommitMs: number | null = null;
  const wake = new Signal();
  let streamingWaiters: Array<{ resolve(): void; reject(e: Error): void }> = [];

  let lagPool: pg.Pool | null = null;
  let lagTimer: NodeJS.Timeout | null = null;

  function waitStreaming(): Promise<void> {
    return new Promise((resolve, reject) => streamingWaiters.push({ resolve, reject }));
  }

  function settleWaiters(e?: Error): void {
    const waiters = streamingWaiters;
    streamingWaiters = [];
    for (const w of waiters) {
      if (e) w.reject(e);
      else w.resolve();
    }
  }

  /** Decides where to stream from: the stored position, or a fresh snapshot when that cannot be trusted. */
  async function prepare(): Promise<Lsn> {
    const { publicationChanged, slot } = await withSourceClient(sourceUrl, async (c) => ({
      publicationChanged: await ensurePublication(c, publicationName, log),
      slot: await getSlot(c, slotName),
    }));
    const stored = await readState(readDb, slotName);
    const reason = resyncRequested
      ? 'requested'
      : !stored
        ? 'the read model has no position yet'
        : !slot
          ? 'the replication slot is missing'
          : slot.plugin !== 'pgoutput'
            ? `the slot uses ${slot.plugin}`
            : slot.invalidation
              ? `the slot was invalidated (${slot.invalidation})`
              : publicationChanged
                ? 'the publication changed after the slot was created'
                : slot.confirmedFlushLsn !== null && slot.confirmedFlushLsn > stored.lastLsn
                  ? // The slot would skip changes the read model never got (e.g. read DB restored from a backup).
                    `the slot is ahead of the read model (${formatLsn(slot.confirmedFlushLsn)} > ${formatLsn(stored.lastLsn)})`
                  : null;
    if (!reason && stored) {
      if (slot?.activePid) throw new Error(`replication slot ${slotName} is in use by pid ${slot.activePid}`);
      return stored.lastLsn;
    }
    state = 'resyncing';
    // A first start is routine; anything else means the stored position could not be trusted.
    if (stored) log.warn({ reason }, 're-syncing the read model from a snapshot');
    else log.info({ reason }, 're-syncing the read model from a snapshot');
    metrics.resyncs.inc();
    const result = await resyncFromSnapshot({
      sourceUrl,
      readDb,
      slotName,
      logger: log,
      onSnapshotExported: options.onSnapshotExported,
    });
    resyncRequested = false;
    return result.consistentLsn;
  }

  function onTransaction(txn: SourceTransaction, stream: ReplicationStream, pausedRef: { paused: boolean }): void {
    queue.pushTransaction(txn);
    if (queue.changes >= maxQueuedChanges && !pausedRef.paused) {
      pausedRef.paused = true;
      stream.pause();
      log.debug({ queuedChanges: queue.changes }, 'applier behind; pausing the stream');
    }
    wake.notify();
  }

  function onPosition(lsn: Lsn): void {
    if (queue.pushPosition(lsn, applied ?? 0n)) wake.notify();
  }

  async function applyLoop(stream: ReplicationStream, sessionStart: Lsn, pausedRef: { paused: boolean }): Promise<void> {
    let lastWriteAt = Date.now();
    let streamError: Error | null | undefined;
    void stream.ended.then((e) => {
      streamError = e;
      wake.notify();
    });
    for (;;) {
      if (stopping || resyncRequested) return;
      if (streamError !== undefined) throw streamError ?? new Error('replication stream closed');
      const batch = queue.peekBatch(maxBatchChanges);
      if (batch.count === 0) {
        await wake.wait(1000);
        continue;
      }
      if (batch.txns.length === 0) {
        // Only a keepalive position: worth a state write now and then, not on every keepalive.
        const due = lastWriteAt + idlePositionIntervalMs - Date.now();
        if (due > 0) {
          await wake.wait(due);
          continue;
        }
      }
      inflightOldestCommitMs = batch.txns[0]?.commitTimeMs ?? null;
      const result = await applyBatch(readDb, slotName, batch.txns, batch.position);
      const committedAtMs = Date.now();
      inflightOldestCommitMs = null;
      lastWriteAt = committedAtMs;
      queue.drop(batch);
      applied = result.lastLsn;
      stream.report(options.acknowledge === false ? sessionStart : applied);
      if (pausedRef.paused && queue.changes < maxQueuedChanges / 2) {
        pausedRef.paused = false;
        stream.resume();
      }
      for (const t of result.applied) metrics.applyDelay.observe(Math.max(0, committedAtMs - t.commitTimeMs) / 1000);
      metrics.changesApplied.inc(result.changes);
      metrics.transactionsApplied.inc(result.applied.length);
      if (result.skipped > 0) {
        metrics.transactionsSkipped.inc(result.skipped);
        log.info({ skipped: result.skipped }, 'skipped transactions already in the read model');
      }
      metrics.batches.inc();
      metrics.appliedLsn.set(Number(applied));
      updateLagSeconds();
      if (result.applied.length > 0 && options.onApplied) {
        options.onApplied({
          appliedLsn: formatLsn(applied),
          committedAtMs,
          changes: result.changes,
          transactions: result.applied.map((t) => ({
            endLsn: formatLsn(t.endLsn),
            commitTimeMs: t.commitTimeMs,
            changes: t.changes.length,
          })),
        });
      }
    }
  }

  async function runSession(onStreaming: () => void): Promise<void> {
    state = 'starting';
    const startLsn = await prepare();
    applied = startLsn;
    metrics.appliedLsn.set(Number(applied));
    queue.clear();
    const pausedRef = { paused: false };
    const stream: ReplicationStream = new ReplicationStream({
      sourceUrl,
      slotName,
      publicationName,
      logger: log,
      statusIntervalMs: options.statusIntervalMs ?? 10_000,
      handlers: {
        onTransaction: (txn) => onTransaction(txn, stream, pausedRef),
        onPosition,
      },
    });
    try {
      await stream.start(startLsn);
      state = 'streaming';
      metrics.streaming.set(1);
      log.info({ fromLsn: formatLsn(startLsn) }, 'streaming changes');
      onStreaming();
      if (!resyncRequested) settleWaiters();
      await applyLoop(stream, startLsn, pausedRef);
    } finally {
      if (state === 'streaming') state = 'starting';
      metrics.streaming.set(0);
      await stream.close();
      // Whatever was received but not applied comes again from the slot next time.
      queue.clear();
      inflightOldestCommitMs = null;
      updateLagSeconds();
    }
  }

  async function runLoop(): Promise<void> {
    let attempt = 0;
    while (!stopping) {
      try {
        await runSession(() => (attempt = 0));
      } catch (e) {
        if (stopping) break;
        attempt += 1;
        metrics.reconnects.inc();
        const base = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt - 1, 20));
        const delay = Math.round(base * (0.8 + Math.random() * 0.4));
        state = 'retrying';
        log.error({ err: e, attempt, retryInMs: delay }, 'projector session failed; retrying');
        await wake.wait(delay);
      }
    }
  }

  let caughtUpAtMs: number | null = null;
  function updateLagSeconds(): void {
    if (state !== 'streaming') {
      // Disconnected: unseen commits have unknown times; report how long since we were last caught up.
      metrics.lagSeconds.set(caughtUpAtMs === null ? 0 : (Date.now() - caughtUpAtMs) / 1000);
      return;
    }
    const oldest = inflightOldestCommitMs ?? queue.oldestCommitMs();
    if (oldest === null) caughtUpAtMs = Date.now();
    metrics.lagSeconds.set(oldest === null ? 0 : Math.max(0, Date.now() - oldest) / 1000);
  }

  let sampling = false;
  async function sampleLag(): Promise<void> {
    updateLagSeconds();
    if (sampling || applied === null || !lagPool) return;
    sampling = true;
    try {
      metrics.lagBytes.set(await walBytesBehind(lagPool, formatLsn(applied)));
    } catch (e) {
      log.debug({ err: e }, 'could not sample WAL lag');
    } finally {
      sampling = false;
    }
  }

  return {
    start(opts = {}) {
      if (loop) throw new Error('projector already started');
      stopping = false;
      resyncRequested = opts.resync ?? false;
      const streaming = waitStreaming();
      lagPool = new pg.Pool({ ...sourceClientConfig(sourceUrl), max: 1, idleTimeoutMillis: 10_000 });
      lagPool.on('error', () => undefined);
      lagTimer = setInterval(() => void sampleLag(), options.lagSampleIntervalMs ?? 1000);
      lagTimer.unref();
      loop = runLoop().finally(() => {
        state = 'stopped';
      });
      return streaming;
    },

    async stop() {
      if (!loop) return;
      stopping = true;
      state = 'stopping';
      wake.notify();
      await loop;
      loop = null;
      if (lagTimer) clearInterval(lagTimer);
      lagTimer = null;
      settleWaiters(new ProjectorStoppedError());
      await lagPool?.end().catch(() => undefined);
      lagPool = null;
      log.info({ appliedLsn: applied === null ? null : formatLsn(applied) }, 'projector stopped');
    },

    resync() {
      if (!loop) return Promise.reject(new Error('projector not started'));
      resyncRequested = true;
      const streaming = waitStreaming();
      wake.notify();
      return streaming;
    },

    status() {
      return {
        state,
        appliedLsn: applied === null ? null : formatLsn(applied),
        queuedTransactions: queue.transactions,
        queuedChanges: queue.changes,
      };
    },

    async waitForLsn(lsn, timeoutMs = 30_000) {
      const target = parseLsn(lsn);
      const deadline = Date.now() + timeoutMs;
      while (applied === null || applied < target) {
        if (Date.now() > deadline) {
          throw new Error(`read model did not reach ${lsn} in ${timeoutMs} ms (at ${applied === null ? '-' : formatLsn(applied)})`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}
