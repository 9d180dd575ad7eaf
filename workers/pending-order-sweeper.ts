import type { Client } from '@temporalio/client';
import type { Db } from '../db/knex';
import type { Logger } from '../lib/node/logger';
import { loadSagaInputs, startOrderSaga, type OrderRowForSaga } from '../lib/order-saga-starter';

export interface SweeperOptions {
  db: Db;
  client: Client;
  taskQueuePrefix: string;
  acceptanceWindowSeconds: number;
  logger: Logger;
  /** Orders PENDING for longer than this get their saga (re)started. */
  olderThanSeconds?: number;
  intervalMs?: number;
  /** Orders read per query; a sweep reads every page. */
  pageSize?: number;
}

/** Where a sweep stands: the last order read, by (updated_at, order_id). updated_at as Postgres prints it (microseconds). */
interface SweepCursor {
  updatedAt: string;
  orderId: string;
}

type PendingRow = OrderRowForSaga & { cursor_at: string };

/**
 * The API records an order and then starts its saga; if it stops in between (crash, Temporal down
 * or too slow to take the start), the order would stay PENDING for ever. The order row is its saga's
 * outbox: this sweep starts the saga of every order PENDING for too long whose saga never ran (its
 * first step marks `saga_started_at`). A saga that ran and closed is the reconciler's, after its grace
 * period; one that runs is left to run, so a backlog of slow sagas does not turn into a storm of
 * start calls. Starting is idempotent, so several order workers sweeping at once is harmless.
 *
 * Each sweep pages through them with a keyset cursor on (updated_at, order_id): orders whose start
 * fails are passed over, never read again in the same sweep, so they cannot hide newer orders.
 */
export function startPendingOrderSweeper(opts: SweeperOptions): { sweepOnce(): Promise<number>; stop(): void } {
  const olderThan = opts.olderThanSeconds ?? 30;
  const pageSize = opts.pageSize ?? 200;

  async function page(after: SweepCursor | null): Promise<PendingRow[]> {
    const query = opts
      .db('orders')
      .select('*', opts.db.raw('updated_at::text AS cursor_at'))
      .where({ status: 'PENDING' })
      .whereNull('saga_started_at')
      .andWhere('updated_at', '<', opts.db.raw(`now() - make_interval(secs => ?)`, [olderThan]));
    if (after) query.andWhereRaw('(updated_at, order_id) > (?::timestamptz, ?)', [after.updatedAt, after.orderId]);
    return query.orderBy([{ column: 'updated_at' }, { column: 'order_id' }]).limit(pageSize);
  }

  /** Starts (or joins) the saga of each order; a failed start is counted and the sweep goes on. */
  async function startAll(rows: PendingRow[]): Promise<{ started: number; failed: number; firstError?: string }> {
    let started = 0;
    let failed = 0;
    let firstError: string | undefined;
    for (const input of await loadSagaInputs(opts.db, rows, opts.acceptanceWindowSeconds)) {
      try {
        if (await startOrderSaga(opts.client, input, opts.taskQueuePrefix)) started++;
      } catch (err) {
        failed++;
        firstError ??= `${input.orderId}: ${(err as Error).message}`;
      }
    }
    return { started, failed, firstError };
  }

  async function sweepOnce(): Promise<number> {
    let after: SweepCursor | null = null;
    const totals = { pending: 0, started: 0, failed: 0, firstError: undefined as string | undefined };
    do {
      const rows = await page(after);
      const result = await startAll(rows);
      totals.pending += rows.length;
      totals.started += result.started;
      totals.failed += result.failed;
      totals.firstError ??= result.firstError;
      const last = rows[rows.length - 1];
      after = rows.length === pageSize && last ? { updatedAt: last.cursor_at, orderId: last.order_id } : null;
    } while (after);
    if (totals.failed > 0) opts.logger.warn(totals, 'swept stale PENDING orders; some sagas could not be started');
    else if (totals.pending > 0) opts.logger.info({ pending: totals.pending, started: totals.started }, 'swept stale PENDING orders');
    return totals.pending;
  }

  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    sweepOnce()
      .catch((err) => opts.logger.warn({ err: (err as Error).message }, 'pending-order sweep failed; will retry'))
      .finally(() => {
        running = false;
      });
  }, opts.intervalMs ?? 15000);
  timer.unref();
  return { sweepOnce, stop: () => clearInterval(timer) };
}
