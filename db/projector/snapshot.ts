import pg from 'pg';
import type { Knex } from 'knex';
import type { Db } from '../knex';
import type { Logger } from '../../lib/node/logger';
import { createSlotWithSnapshot, dropSlot, sourceClientConfig, withSourceClient } from './source';
import { formatLsn, type Lsn } from './lsn';
import { pgArray } from './apply';
import { notifyMenuChanges } from '../menu-read/change-notices';
import { hasMaintainPrivilege } from '../../lib/node/pg-admin';

export interface SnapshotExportedInfo {
  slotName: string;
  consistentLsn: string;
  snapshotName: string;
}

export interface ResyncOptions {
  sourceUrl: string;
  readDb: Db;
  slotName: string;
  logger: Logger;
  pageSize?: number;
  /** Called after the slot exists and before the copy reads anything (tests write here). */
  onSnapshotExported?: (info: SnapshotExportedInfo) => Promise<void> | void;
}

export interface ResyncResult {
  consistentLsn: Lsn;
  restaurants: number;
  menuItems: number;
}

/**
 * Rebuilds the read model from a consistent snapshot and returns the LSN to stream from:
 * (re)creates the slot with an exported snapshot, copies both tables under that snapshot, and
 * stores the slot's consistent point as `last_lsn`, all in one read-model transaction. Readers
 * see the old model until the new one commits (rows are deleted, not truncated, so reads are not
 * blocked while the copy runs).
 */
export async function resyncFromSnapshot(opts: ResyncOptions): Promise<ResyncResult> {
  const { sourceUrl, readDb, slotName, logger } = opts;
  const pageSize = opts.pageSize ?? 5000;
  await withSourceClient(sourceUrl, (c) => dropSlot(c, slotName));
  const slot = await createSlotWithSnapshot(sourceUrl, slotName);
  const reader = new pg.Client(sourceClientConfig(sourceUrl));
  reader.on('error', () => undefined);
  try {
    const info = { slotName, consistentLsn: formatLsn(slot.consistentLsn), snapshotName: slot.snapshotName };
    logger.info(info, 'created replication slot with exported snapshot; copying');
    await opts.onSnapshotExported?.(info);
    await reader.connect();
    await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await reader.query(`SET TRANSACTION SNAPSHOT '${slot.snapshotName.replace(/'/g, "''")}'`);
    const snapshotAt = (await reader.query<{ now: Date }>('SELECT now() AS now')).rows[0]!.now;

    const counts = await readDb.transaction(async (trx) => {
      // The name-pieces triggers stand aside for this transaction; the table is refilled once below.
      await trx.raw(`SET LOCAL menu_read.name_pieces = 'deferred'`);
      await trx.raw('DELETE FROM restaurant_name_pieces');
      await trx.raw('DELETE FROM menu_items_read');
      await trx.raw('DELETE FROM restaurants_read');
      // One read model, one stream: positions of other slots no longer describe these rows.
      await trx('projector_state').delete();
      const lsn = formatLsn(slot.consistentLsn);
      const restaurants = await copyTable(reader, pageSize, 'restaurants', 'restaurant_id', (rows) =>
        trx.raw(
          `INSERT INTO restaurants_read (restaurant_id, name, auto_accept, category, source_lsn, updated_at)
           SELECT r.*, ?::pg_lsn, ?::timestamptz FROM unnest(?::text[], ?::text[], ?::boolean[], ?::text[]) AS r`,
          [lsn, snapshotAt, col(rows, 'restaurant_id'), col(rows, 'name'), col(rows, 'auto_accept'), col(rows, 'category')],
        ),
      );
      const menuItems = await copyTable(reader, pageSize, 'menu_items', 'menu_id', (rows) =>
        trx.raw(
          `INSERT INTO menu_items_read (menu_id, restaurant_id, name, price, status, version, source_lsn, updated_at)
           SELECT m.*, ?::pg_lsn, ?::timestamptz
             FROM unnest(?::text[], ?::text[], ?::text[], ?::bigint[], ?::text[], ?::int[]) AS m`,
          [lsn, snapshotAt, col(rows, 'menu_id'), col(rows, 'restaurant_id'), col(rows, 'name'), col(rows, 'price'), col(rows, 'status'), col(rows, 'version')],
        ),
      );
      await fillNamePieces(trx);
      await trx.raw(
        `UPDATE restaurants_read r SET item_count = c.n
           FROM (SELECT restaurant_id, count(*) AS n FROM menu_items_read WHERE status <> 'HIDDEN' GROUP BY restaurant_id) c
          WHERE r.restaurant_id = c.restaurant_id`,
      );
      await notifyMenuChanges(trx, 'all');
      await trx('projector_state').insert({
        slot_name: slotName,
        last_lsn: lsn,
        last_commit_time: snapshotAt,
        changes_applied: 0,
        resynced_at: trx.fn.now(),
        updated_at: trx.fn.now(),
      });
      return { restaurants, menuItems };
    });
    await reader.query('COMMIT');
    logger.info({ slotName, consistentLsn: formatLsn(slot.consistentLsn), ...counts }, 'read model rebuilt from snapshot');
    await settleAfterSnapshot(readDb, logger);
    return { consistentLsn: slot.consistentLsn, ...counts };
  } finally {
    await reader.end().catch(() => undefined);
    await slot.close();
  }
}

/**
 * Every row of a freshly copied read model is new: without this, autovacuum would come to freeze
 * and analyze all of it minutes later, and the first reads would set hint bits (a full-page WAL
 * write per page, with data checksums), both while the replica streams and serves. Vacuuming now,
 * before streaming starts, does that work once, with nothing else waiting on it, and gives the
 * planner statistics for the new rows. The stream resumes afterwards from the snapshot's point.
 * Needs the MAINTAIN privilege (Postgres 17+; db/roles.ts grants it); on older servers autovacuum does it.
 */
async function settleAfterSnapshot(readDb: Db, logger: Logger): Promise<void> {
  if (!(await hasMaintainPrivilege((sql) => readDb.raw(sql)))) {
    logger.info('read model not vacuumed after the snapshot (a non-owner needs Postgres 17+); autovacuum will');
    return;
  }
  const started = Date.now();
  await readDb.raw('VACUUM (FREEZE, ANALYZE) restaurants_read, restaurant_name_pieces, menu_items_read');
  logger.info({ ms: Date.now() - started }, 'read model vacuumed (frozen) and analyzed after the snapshot');
}

/**
 * One sorted insert of every name's pieces (migration 0005's table): index pages fill in order,
 * where the per-page trigger scattered each page's pieces over both indexes. `name_pieces()`
 * (migration 0008) is inlined by the planner: the plan scans the unnest directly
 * (test/migrations.test.ts explains this statement to check).
 */
export const FILL_NAME_PIECES_SQL = `INSERT INTO restaurant_name_pieces (piece, restaurant_id, category)
     SELECT g, r.restaurant_id, r.category FROM restaurants_read r, name_pieces(r.name_grams) AS g
      ORDER BY 1, 2`;

async function fillNamePieces(trx: Knex.Transaction): Promise<void> {
  await trx.raw(FILL_NAME_PIECES_SQL);
  await trx.raw(`SET LOCAL menu_read.name_pieces = 'kept'`);
}

function col(rows: Array<Record<string, unknown>>, name: string) {
  return pgArray(rows.map((r) => (r[name] === null || r[name] === undefined ? null : String(r[name]))));
}

/** Keyset-paged copy, so a large menu never sits in memory at once. Returns the row count. */
async function copyTable(
  reader: pg.Client,
  pageSize: number,
  table: 'restaurants' | 'menu_items',
  pk: string,
  insert: (rows: Array<Record<string, unknown>>) => Promise<unknown>,
): Promise<number> {
  const columns =
    table === 'restaurants' ? 'restaurant_id, name, auto_accept, category' : 'menu_id, restaurant_id, name, price::text AS price, status, version';
  let after: string | null = null;
  let total = 0;
  for (;;) {
    const res: pg.QueryResult<Record<string, unknown>> =
      after === null
        ? await reader.query(`SELECT ${columns} FROM ${table} ORDER BY ${pk} LIMIT ${pageSize}`)
        : await reader.query(`SELECT ${columns} FROM ${table} WHERE ${pk} > $1 ORDER BY ${pk} LIMIT ${pageSize}`, [after]);
    if (res.rows.length === 0) return total;
    await insert(res.rows);
    total += res.rows.length;
    after = String(res.rows[res.rows.length - 1]![pk]);
  }
}
