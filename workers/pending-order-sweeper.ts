import type { Client } from '@temporalio/client';
import type { Db } from '../db/knex';
import type { Logger } from '../lib/node/logger';
import { sagaInputFromRows, startOrderSaga } from '../lib/order-saga-starter';

export interface SweeperOptions {
  db: Db;
  client: Client;
  taskQueuePrefix: string;
  acceptanceWindowSeconds: number;
  logger: Logger;
  /** Orders PENDING for longer than this get their saga (re)started. */
  olderThanSeconds?: number;
  intervalMs?: number;
}

/**
 * The API records an order and then starts its saga; if it stops in between (crash, Temporal
 * down, a client that never retries), the order would stay PENDING for ever. The order row is its
 * saga's outbox: this sweep (re)starts the saga of every order PENDING for too long. Starting is
 * idempotent, so several order workers sweeping at once is harmless.
 */
export function startPendingOrderSweeper(opts: SweeperOptions): { sweepOnce(): Promise<number>; stop(): void } {
  const olderThan = opts.olderThanSeconds ?? 30;
  async function sweepOnce(): Promise<number> {
    const rows = await opts.db('orders')
      .where({ status: 'PENDING' })
      .andWhere('updated_at', '<', opts.db.raw(`now() - make_interval(secs => ?)`, [olderThan]))
      .orderBy('updated_at')
      .limit(200);
    let started = 0;
    for (const row of rows) {
      const items = await opts.db('order_items').where({ order_id: row.order_id }).orderBy('line_no');
      if (await startOrderSaga(opts.client, sagaInputFromRows(row, items, opts.acceptanceWindowSeconds), opts.taskQueuePrefix)) started++;
    }
    if (rows.length > 0) opts.logger.info({ pending: rows.length, started }, 'swept stale PENDING orders');
    return rows.length;
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
