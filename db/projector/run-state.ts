import type { Lsn } from './lsn';
import type { ResyncReason } from './metrics';
import { ApplyQueue } from './queue';
import { Signal } from './signal';

/**
 * The phase of the projector's run, as status() reports it:
 *   idle       not started yet
 *   starting   connecting: publication and slot ensured, stored position checked, stream opened
 *   resyncing  snapshotting: rebuilding the read model from a fresh snapshot (a first start, a
 *              requested re-sync, or a stored position that cannot be trusted)
 *   streaming  applying what the stream delivers, batch by batch
 *   retrying   backing off after a failed session, before connecting again
 *   stopping   stop() was called: the in-flight apply finishes, the stream closes
 *   stopped    the run is over
 * A session goes starting → (resyncing →) streaming and back to starting when it ends; a failed
 * one goes to retrying, then starting again.
 */
/** Why the next session rebuilds from a snapshot: a reason for the metric, a sentence for the log. */
export interface ResyncCause {
  reason: ResyncReason;
  detail: string;
}

export type ProjectorState = 'idle' | 'starting' | 'resyncing' | 'streaming' | 'retrying' | 'stopping' | 'stopped';

/**
 * Everything the projector's run holds, in one place: the run loop, each stream session, status(),
 * waitForLsn() and the lag gauges read and write it. The requests (stop, re-sync) are flags apart
 * from the phase because a session that is connecting or snapshotting carries on to its next phase
 * and only then sees them.
 */
export class RunState {
  phase: ProjectorState = 'idle';
  /** stop() was called: the session ends after its in-flight apply and no other one starts. */
  stopRequested = false;
  /** start({ resync: true }) or resync(): the session ends and the next one rebuilds from a snapshot. */
  resyncRequested = false;
  /** Why the re-sync was requested (null: an operator's or a test's request). */
  resyncCause: ResyncCause | null = null;
  /**
   * The session streams from a snapshot it just took and has not yet caught up with the WAL the
   * source wrote meanwhile. That backlog is no reason for another snapshot: one taken now would
   * leave the same behind it (at full size, minutes of snapshot and the hint bits and vacuum of
   * 5.7 M fresh rows: 1.3 GB of WAL), so the far-behind re-sync waits until it has caught up once.
   */
  catchingUpFromSnapshot = false;
  /** Everything up to here is committed in the read model (null before the first session). */
  applied: Lsn | null = null;
  /** What the stream delivered and the read model does not have yet. */
  readonly queue = new ApplyQueue();
  /** The oldest source commit time in the batch being applied; null between batches. */
  inflightOldestCommitMs: number | null = null;
  /** Wakes the apply loop and the backoff wait: changes arrived, a stop or a re-sync was requested. */
  readonly wake = new Signal();
  /** Callers of start() and resync(), waiting for the stream to be up. */
  private streamingWaiters: Array<{ resolve(): void; reject(e: Error): void }> = [];

  /** Resolves once a session streams (and no re-sync is pending); rejects with the stop. */
  waitStreaming(): Promise<void> {
    return new Promise((resolve, reject) => this.streamingWaiters.push({ resolve, reject }));
  }

  settleStreamingWaiters(e?: Error): void {
    const waiters = this.streamingWaiters;
    this.streamingWaiters = [];
    for (const w of waiters) {
      if (e) w.reject(e);
      else w.resolve();
    }
  }
}
