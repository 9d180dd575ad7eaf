import type { Db } from '../knex';
import type { Logger } from '../../lib/node/logger';
import { applyBatch, readState, type BatchResult, type StoredPosition } from './apply';
import type { SourceTransaction } from './changes';
import type { LagGauges } from './lag';
import { formatLsn, type Lsn } from './lsn';
import type { ProjectorMetrics } from './metrics';
import type { Batch } from './queue';
import type { ResyncCause, RunState } from './run-state';
import { resyncFromSnapshot, type SnapshotExportedInfo } from './snapshot';
import { currentWalLsn, ensurePublication, getSlot, withSourceClient, type SlotInfo } from './source';
import { ReplicationStream } from './stream';

/** The projector's options with their defaults filled in. */
export interface ProjectorSettings {
  sourceUrl: string;
  readDb: Db;
  slotName: string;
  publicationName: string;
  /** The read replica this projector feeds (a metrics label and a log field). */
  replica: string;
  /** Re-sync instead of streaming when the read model is more WAL than this behind (0: never). */
  resyncBehindBytes: number;
  maxBatchChanges: number;
  maxQueuedChanges: number;
  statusIntervalMs: number;
  idlePositionIntervalMs: number;
  /** false: report the session's start position only (tests of replay). */
  acknowledge: boolean;
  onSnapshotExported?: (info: SnapshotExportedInfo) => Promise<void> | void;
  onApplied?: (batch: AppliedBatch) => void;
}

/** What the onApplied hook hears after each read-model commit. */
export interface AppliedBatch {
  appliedLsn: string;
  /** Wall-clock time right after the read-model commit. */
  committedAtMs: number;
  changes: number;
  transactions: Array<{ endLsn: string; commitTimeMs: number; changes: number }>;
}

/** What a session works with: the settings, the run's state, and where it reports. */
export interface ProjectorParts {
  settings: ProjectorSettings;
  run: RunState;
  lag: LagGauges;
  metrics: ProjectorMetrics;
  log: Logger;
}

/**
 * One replication session, from connecting to the stream's end: chooses where to stream from (the
 * stored position, or a fresh snapshot when that cannot be trusted), opens the stream, and commits
 * what it delivers into the read model batch by batch. Returns when a stop or a re-sync is
 * requested; throws when the stream or an apply fails (the run loop backs off and starts another).
 */
export async function runSession(parts: ProjectorParts, onStreaming: () => void): Promise<void> {
  const { run, metrics } = parts;
  run.phase = 'starting';
  const startLsn = await chooseStartPosition(parts);
  run.applied = startLsn;
  metrics.appliedLsn.set(Number(run.applied));
  run.queue.clear();
  await new StreamSession(parts, startLsn).stream(onStreaming);
}

/** Decides where to stream from: the stored position, or a fresh snapshot when that cannot be trusted. */
async function chooseStartPosition({ settings, run, metrics, log }: ProjectorParts): Promise<Lsn> {
  const { publicationChanged, slot, sourceLsn } = await withSourceClient(settings.sourceUrl, async (c) => ({
    publicationChanged: await ensurePublication(c, settings.publicationName, log),
    slot: await getSlot(c, settings.slotName),
    sourceLsn: await currentWalLsn(c),
  }));
  const stored = await readState(settings.readDb, settings.slotName);
  const why: ResyncCause | null = run.resyncRequested
    ? (run.resyncCause ?? { reason: 'requested', detail: 'a re-sync was requested' })
    : untrustedPosition(stored, slot, publicationChanged, { sourceLsn, maxBehindBytes: settings.resyncBehindBytes });
  if (!why && stored) {
    if (slot?.activePid) throw new Error(`replication slot ${settings.slotName} is in use by pid ${slot.activePid}`);
    run.catchingUpFromSnapshot = false;
    return stored.lastLsn;
  }
  const cause = why ?? { reason: 'first_start', detail: 'the read model has no position yet' };
  run.phase = 'resyncing';
  // A first start is routine; anything else is the replica healing itself (or an operator's request).
  if (stored) log.warn({ reason: cause.reason, detail: cause.detail }, 're-syncing the read model from a snapshot');
  else log.info({ reason: cause.reason, detail: cause.detail }, 're-syncing the read model from a snapshot');
  metrics.resyncs(cause.reason).inc();
  const result = await resyncFromSnapshot({
    sourceUrl: settings.sourceUrl,
    readDb: settings.readDb,
    slotName: settings.slotName,
    logger: log,
    onSnapshotExported: settings.onSnapshotExported,
  });
  run.resyncRequested = false;
  run.resyncCause = null;
  run.catchingUpFromSnapshot = true;
  return result.consistentLsn;
}

/**
 * Why streaming from the stored position would lose or skip changes, or cost more than a snapshot;
 * null when it is safe (and null without a stored position: that is a first start).
 */
function untrustedPosition(
  stored: StoredPosition | null,
  slot: SlotInfo | null,
  publicationChanged: boolean,
  distance: { sourceLsn: Lsn; maxBehindBytes: number },
): ResyncCause | null {
  if (!stored) return null;
  if (!slot) return { reason: 'slot_missing', detail: 'the replication slot is missing (dropped, or lost with its server)' };
  if (slot.plugin !== 'pgoutput') return { reason: 'slot_plugin', detail: `the slot uses ${slot.plugin}` };
  if (slot.invalidation) return { reason: 'slot_invalidated', detail: `the slot was invalidated (${slot.invalidation})` };
  if (publicationChanged) return { reason: 'publication_changed', detail: 'the publication changed after the slot was created' };
  // The slot would skip changes the read model never got (e.g. read DB restored from a backup).
  if (slot.confirmedFlushLsn !== null && slot.confirmedFlushLsn > stored.lastLsn) {
    return { reason: 'slot_ahead', detail: `the slot is ahead of the read model (${formatLsn(slot.confirmedFlushLsn)} > ${formatLsn(stored.lastLsn)})` };
  }
  const behind = distance.sourceLsn - stored.lastLsn;
  if (distance.maxBehindBytes > 0 && behind > BigInt(distance.maxBehindBytes)) {
    return { reason: 'far_behind', detail: `the read model is ${behind} bytes of WAL behind (more than ${distance.maxBehindBytes})` };
  }
  return null;
}

/** The streaming phase of a session: one replication stream and the loop applying what it delivers. */
class StreamSession {
  private readonly replication: ReplicationStream;
  /** The stream is paused while too many changes wait to be applied (backpressure). */
  private paused = false;

  constructor(
    private readonly parts: ProjectorParts,
    private readonly startLsn: Lsn,
  ) {
    const { settings, log } = parts;
    this.replication = new ReplicationStream({
      sourceUrl: settings.sourceUrl,
      slotName: settings.slotName,
      publicationName: settings.publicationName,
      logger: log,
      statusIntervalMs: settings.statusIntervalMs,
      handlers: {
        onTransaction: (txn) => this.onTransaction(txn),
        onPosition: (lsn) => this.onPosition(lsn),
      },
    });
  }

  async stream(onStreaming: () => void): Promise<void> {
    const { run, metrics, log, lag } = this.parts;
    try {
      await this.replication.start(this.startLsn);
      run.phase = 'streaming';
      metrics.streaming.set(1);
      log.info({ fromLsn: formatLsn(this.startLsn) }, 'streaming changes');
      onStreaming();
      if (!run.resyncRequested) run.settleStreamingWaiters();
      await this.applyLoop();
    } finally {
      if (run.phase === 'streaming') run.phase = 'starting';
      metrics.streaming.set(0);
      await this.replication.close();
      // Whatever was received but not applied comes again from the slot next time.
      run.queue.clear();
      run.inflightOldestCommitMs = null;
      lag.update();
    }
  }

  private onTransaction(txn: SourceTransaction): void {
    const { run, settings, log } = this.parts;
    run.queue.pushTransaction(txn);
    if (run.queue.changes >= settings.maxQueuedChanges && !this.paused) {
      this.paused = true;
      this.replication.pause();
      log.debug({ queuedChanges: run.queue.changes }, 'applier behind; pausing the stream');
    }
    run.wake.notify();
  }

  private onPosition(lsn: Lsn): void {
    const { run } = this.parts;
    if (run.queue.pushPosition(lsn, run.applied ?? 0n)) run.wake.notify();
  }

  /** Applies queued batches until a stop or re-sync is requested; throws when the stream ends. */
  private async applyLoop(): Promise<void> {
    const { run, settings } = this.parts;
    let lastWriteAt = Date.now();
    let streamError: Error | null | undefined;
    void this.replication.ended.then((e) => {
      streamError = e;
      run.wake.notify();
    });
    for (;;) {
      if (run.stopRequested || run.resyncRequested) return;
      if (streamError !== undefined) throw streamError ?? new Error('replication stream closed');
      const batch = run.queue.peekBatch(settings.maxBatchChanges);
      if (batch.count === 0) {
        await run.wake.wait(1000);
        continue;
      }
      if (batch.txns.length === 0) {
        // Only a keepalive position: worth a state write now and then, not on every keepalive.
        const due = lastWriteAt + settings.idlePositionIntervalMs - Date.now();
        if (due > 0) {
          await run.wake.wait(due);
          continue;
        }
      }
      lastWriteAt = await this.commit(batch);
    }
  }

  /** Commits one batch in the read model and acknowledges it; returns the commit's wall-clock time. */
  private async commit(batch: Batch): Promise<number> {
    const { run, settings } = this.parts;
    run.inflightOldestCommitMs = batch.txns[0]?.commitTimeMs ?? null;
    const result = await applyBatch(settings.readDb, settings.slotName, batch.txns, batch.position);
    const committedAtMs = Date.now();
    run.inflightOldestCommitMs = null;
    run.queue.drop(batch);
    run.applied = result.lastLsn;
    this.replication.report(settings.acknowledge ? run.applied : this.startLsn);
    if (this.paused && run.queue.changes < settings.maxQueuedChanges / 2) {
      this.paused = false;
      this.replication.resume();
    }
    this.record(result, committedAtMs);
    return committedAtMs;
  }

  /** Metrics, the lag gauge and the onApplied hook for one committed batch. */
  private record(result: BatchResult, committedAtMs: number): void {
    const { settings, metrics, log, lag } = this.parts;
    for (const t of result.applied) metrics.applyDelay.observe(Math.max(0, committedAtMs - t.commitTimeMs) / 1000);
    metrics.changesApplied.inc(result.changes);
    metrics.transactionsApplied.inc(result.applied.length);
    if (result.skipped > 0) {
      metrics.transactionsSkipped.inc(result.skipped);
      log.info({ skipped: result.skipped }, 'skipped transactions already in the read model');
    }
    metrics.batches.inc();
    metrics.appliedLsn.set(Number(result.lastLsn));
    lag.update();
    if (result.applied.length > 0 && settings.onApplied) {
      settings.onApplied({
        appliedLsn: formatLsn(result.lastLsn),
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
