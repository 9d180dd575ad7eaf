import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import type { Logger } from '../../lib/node/logger';
import type { SourceTransaction } from './changes';
import { TransactionDecoder } from './decoder';
import { formatLsn, parseLsn, type Lsn } from './lsn';
import { sourceClientConfig } from './source';

export interface StreamHandlers {
  /** A whole committed transaction, in commit order. Must not throw. */
  onTransaction(txn: SourceTransaction): void;
  /** A server keepalive position received outside any transaction: nothing of ours commits below it. */
  onPosition(lsn: Lsn): void;
}

export interface ReplicationStreamOptions {
  sourceUrl: string;
  slotName: string;
  publicationName: string;
  logger: Logger;
  handlers: StreamHandlers;
  /** How often to send a standby status even with nothing new (keeps wal_sender_timeout away). */
  statusIntervalMs: number;
}

/**
 * One replication connection streaming the slot with pgoutput. Acknowledgement is manual and
 * explicit: the library's own periodic status is switched off (timeoutSeconds: 0) because it reports
 * the last LSN *received*, which would confirm changes the read model does not have yet.
 */
export class ReplicationStream {
  private readonly service: LogicalReplicationService;
  private readonly decoder = new TransactionDecoder();
  private flushLsn: Lsn | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private closing = false;
  private endedWith: Error | null | undefined = undefined;
  private resolveEnded!: (e: Error | null) => void;
  /** Settles once, when the stream stops for any reason: null when we closed it, else the cause. */
  readonly ended: Promise<Error | null>;

  constructor(private readonly opts: ReplicationStreamOptions) {
    this.ended = new Promise((r) => (this.resolveEnded = r));
    this.service = new LogicalReplicationService(sourceClientConfig(opts.sourceUrl), {
      acknowledge: { auto: false, timeoutSeconds: 0 },
      // Messages are handled synchronously (decode and enqueue) so that data and keepalives stay in
      // wire order; backpressure is pause()/resume() on the socket instead of the library's queue.
      flowControl: { enabled: false },
    });
    this.service.on('data', (_lsn: string, msg: Pgoutput.Message) => {
      if (this.endedWith !== undefined) return;
      try {
        const txn = this.decoder.handle(msg);
        if (txn) opts.handlers.onTransaction(txn);
      } catch (e) {
        // Thrown here it would surface inside pg's socket handler; end the session instead.
        this.end(e instanceof Error ? e : new Error(String(e)));
      }
    });
    this.service.on('heartbeat', (lsn: string, _ts: number, shouldRespond: boolean) => {
      if (this.endedWith !== undefined) return;
      if (!this.decoder.inTransaction) opts.handlers.onPosition(parseLsn(lsn));
      if (shouldRespond) this.sendStatus();
    });
    this.service.on('error', (e: Error) => this.end(e));
  }

  /** Starts streaming after `fromLsn`; resolves once the server has started sending. */
  async start(fromLsn: Lsn): Promise<void> {
    this.flushLsn = fromLsn;
    const started = new Promise<void>((resolve) => this.service.once('start', () => resolve()));
    const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [this.opts.publicationName] });
    this.service.subscribe(plugin, this.opts.slotName, formatLsn(fromLsn)).then(
      () => this.end(this.closing ? null : new Error('replication stream ended by the server')),
      (e: unknown) => this.end(e instanceof Error ? e : new Error(String(e))),
    );
    const outcome = await Promise.race([started.then(() => 'started' as const), this.ended]);
    if (outcome !== 'started') throw outcome ?? new Error('replication stream closed before it started');
    this.statusTimer = setInterval(() => this.sendStatus(), this.opts.statusIntervalMs);
    this.statusTimer.unref();
  }

  /** Reports everything up to `lsn` as durably applied (the slot may then discard it). */
  report(lsn: Lsn): void {
    if (this.flushLsn !== null && lsn < this.flushLsn) return;
    this.flushLsn = lsn;
    this.sendStatus();
  }

  pause(): void {
    this.socket()?.pause?.();
  }

  resume(): void {
    this.socket()?.resume?.();
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.statusTimer) clearInterval(this.statusTimer);
    this.statusTimer = null;
    // A paused socket never sees the server's close; pg's end() would wait forever.
    this.resume();
    const timeout = new Promise<void>((r) => setTimeout(r, 5000).unref());
    await Promise.race([
      this.service.destroy().then(
        () => undefined,
        () => undefined,
      ),
      timeout,
    ]);
    this.end(null);
  }

  private end(e: Error | null): void {
    if (this.endedWith !== undefined) return;
    this.endedWith = this.closing ? null : e;
    this.resolveEnded(this.endedWith);
  }

  private sendStatus(): void {
    if (this.flushLsn === null || this.flushLsn === 0n || this.endedWith !== undefined) return;
    // The library reports lsn + 1 as written/flushed/applied; subtract one so the server records
    // exactly the position we have made durable (confirmed_flush_lsn == projector_state.last_lsn).
    this.service.acknowledge(formatLsn(this.flushLsn - 1n)).catch((e: unknown) => {
      this.opts.logger.warn({ err: e }, 'failed to send standby status');
    });
  }

  /** The library keeps its connection private; its own flow control pauses the same stream. */
  private socket(): { pause?(): void; resume?(): void } | undefined {
    const internals = this.service as unknown as { _connection?: { stream?: { pause?(): void; resume?(): void } } | null };
    return internals._connection?.stream;
  }
}
