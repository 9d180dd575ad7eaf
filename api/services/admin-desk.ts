import type { Client } from '@temporalio/client';
import type { Db } from '../../db/knex';
import type { Logger } from '../../lib/node/logger';

// The operator's desk (admin routes): what it reads and with what. Like the audit (ops/audit.ts), it
// is an operator-only read path across the services' databases: the payments database through a
// read-only pool the API opens for the desk alone (PAYMENTS_DATABASE_URL, every transaction read-only),
// tickets through read-only transactions on the restaurants pool, the PSP's own books through its
// settlement report. No customer or restaurant route reads any of them.

export interface AdminDeskDeps {
  ordersDb: Db;
  restaurantsDb: Db;
  /** Read-only pool on the payments database (createDb(..., { readOnly: true })); absent: the desk shows no payment rows. */
  paymentsReadDb?: Db | undefined;
  /** The PSP's base URL (its settlement report); absent: the desk shows nothing of the PSP's books. */
  pspUrl?: string | undefined;
  temporal: Client;
  namespace: string;
  taskQueuePrefix: string;
  uiUrl: (workflowId: string) => string;
  /** The reconciler's settings (RECONCILE_GRACE_SECONDS, RECONCILE_STALE_SECONDS): a one-order pass uses them too. */
  reconcile: { graceSeconds: number; staleSeconds: number };
  /** How long an action waits for the saga or the reconciler before answering 202 (in progress). */
  actionWaitMs: number;
  logger: Logger;
}

/** A source the desk could not read is named in the answer instead of failing the whole answer. */
export type SourceStatus = 'ok' | 'not configured' | `unavailable: ${string}`;

/** Runs `fn` in a read-only transaction with a short statement timeout (another service's database). */
export async function readOnly<T>(db: Db, fn: (trx: Db) => Promise<T>): Promise<T> {
  return db.transaction(async (trx) => {
    await trx.raw('SET TRANSACTION READ ONLY');
    await trx.raw("SET LOCAL statement_timeout = '10s'");
    return fn(trx as unknown as Db);
  });
}

/** `fn`'s value and 'ok', or `fallback` and why the source could not be read. */
export async function fromSource<T>(configured: boolean, fallback: T, fn: () => Promise<T>): Promise<{ value: T; status: SourceStatus }> {
  if (!configured) return { value: fallback, status: 'not configured' };
  try {
    return { value: await fn(), status: 'ok' };
  } catch (err) {
    return { value: fallback, status: `unavailable: ${(err as Error).message.slice(0, 200)}` };
  }
}

/** Runs `fn` over `items` with at most `limit` calls in flight, keeping the order of the results. */
export async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/** The promise's value, or 'timeout' once `ms` have passed. */
export async function withinWait<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Activities that undo a step: a pending one retrying means a compensation cannot finish. */
export const COMPENSATION_ACTIVITIES: readonly string[] = ['voidAuthorization', 'refundPayment', 'cancelTicket', 'releasePayment'];
