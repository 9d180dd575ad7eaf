import type { Knex } from 'knex';
import type { Db } from '../knex';
import type { Change, SourceRow, SourceTable, SourceTransaction } from './changes';
import { formatLsn, maxLsn, parseLsn, type Lsn } from './lsn';
import { notifyMenuChanges } from '../menu-read/change-notices';

/** The durable position of the read model, as stored in `projector_state`. */
export interface StoredPosition {
  lastLsn: Lsn;
  lastCommitTime: Date | null;
  changesApplied: number;
}

export async function readState(db: Db | Knex.Transaction, slotName: string, forUpdate = false): Promise<StoredPosition | null> {
  const q = db('projector_state').select(db.raw('last_lsn::text AS last_lsn'), 'last_commit_time', 'changes_applied').where({ slot_name: slotName });
  const row = (await (forUpdate ? q.forUpdate() : q).first()) as
    { last_lsn: string; last_commit_time: Date | null; changes_applied: number | string } | undefined;
  if (!row) return null;
  return { lastLsn: parseLsn(row.last_lsn), lastCommitTime: row.last_commit_time, changesApplied: Number(row.changes_applied) };
}

export interface BatchResult {
  /** New durable position (unchanged when everything was skipped). */
  lastLsn: Lsn;
  applied: SourceTransaction[];
  skipped: number;
  changes: number;
}

/**
 * Applies source transactions (in commit order) in ONE read-model transaction together with the
 * new `projector_state.last_lsn`. Transactions at or below the stored position were applied
 * before (replay after a crash between commit and acknowledgement) and are skipped. `position`
 * is a keepalive position after the last transaction: nothing of ours committed before it.
 */
export async function applyBatch(readDb: Db, slotName: string, txns: SourceTransaction[], position: Lsn | null): Promise<BatchResult> {
  return readDb.transaction(async (trx) => {
    // The row lock also fences a second projector on the same read model.
    const state = await readState(trx, slotName, true);
    if (!state) throw new Error(`projector_state for slot ${slotName} is gone; a re-sync is needed`);
    const fresh = txns.filter((t) => t.endLsn > state.lastLsn);
    const net = new NetChanges();
    let changes = 0;
    for (const txn of fresh) {
      for (const change of txn.changes) {
        if (change.kind === 'truncate') {
          await net.flush(trx);
          await truncate(trx, change.tables, net);
        } else {
          net.add(change, txn);
        }
        changes += 1;
      }
    }
    await net.flush(trx);
    await refreshItemCounts(trx, net.touchedRestaurants);
    await notifyMenuChanges(trx, net.truncated ? 'all' : net.changedRestaurants);

    const last = fresh[fresh.length - 1];
    const lastLsn = maxLsn(maxLsn(state.lastLsn, last?.endLsn ?? 0n), position ?? 0n);
    if (lastLsn > state.lastLsn) {
      await trx('projector_state')
        .where({ slot_name: slotName })
        .update({
          last_lsn: formatLsn(lastLsn),
          ...(last ? { last_commit_time: new Date(last.commitTimeMs) } : {}),
          changes_applied: trx.raw('changes_applied + ?', [changes]),
          updated_at: trx.fn.now(),
        });
    }
    return { lastLsn, applied: fresh, skipped: txns.length - fresh.length, changes };
  });
}

type Pending = { kind: 'upsert'; row: SourceRow; lsn: Lsn; commitTimeMs: number; partial: boolean } | { kind: 'delete' };

/**
 * The net effect of a batch per primary key: the batch commits atomically, so only the last
 * write of each row matters. Lets a batch of thousands of changes become a few set-based
 * statements instead of one round trip per change.
 */
class NetChanges {
  private readonly pending: Record<SourceTable, Map<string, Pending>> = { restaurants: new Map(), menu_items: new Map() };
  /** Restaurants whose item count may have changed (new, moved, deleted, hidden or shown items). */
  readonly touchedRestaurants = new Set<string>();
  /** Restaurants whose menu changed in any way: what the API's menu caches must forget. */
  readonly changedRestaurants = new Set<string>();
  truncated = false;

  add(change: Exclude<Change, { kind: 'truncate' }>, txn: SourceTransaction): void {
    const map = this.pending[change.table];
    if (change.kind === 'delete') {
      map.set(change.key, { kind: 'delete' });
      return;
    }
    const partial = Object.values(change.row).some((v) => v === undefined);
    const prev = map.get(change.key);
    if (partial && prev?.kind === 'upsert') {
      // Unchanged TOAST values were not sent: keep what the batch already knows about the row.
      const row = { ...prev.row };
      for (const [k, v] of Object.entries(change.row)) if (v !== undefined) row[k] = v;
      map.set(change.key, { kind: 'upsert', row, lsn: txn.endLsn, commitTimeMs: txn.commitTimeMs, partial: prev.partial });
    } else {
      map.set(change.key, { kind: 'upsert', row: change.row, lsn: txn.endLsn, commitTimeMs: txn.commitTimeMs, partial });
    }
  }

  private touch(restaurantId: string): void {
    this.touchedRestaurants.add(restaurantId);
    this.changedRestaurants.add(restaurantId);
  }

  async flush(trx: Knex.Transaction): Promise<void> {
    const r = this.pending.restaurants;
    const m = this.pending.menu_items;
    await upsertRestaurants(trx, upserts(r, false));
    await updatePartial(trx, 'restaurants_read', 'restaurant_id', RESTAURANT_COLUMNS, upserts(r, true));
    await deleteRows(trx, 'restaurants_read', 'restaurant_id', deletes(r));
    for (const [key] of upserts(r, false).concat(upserts(r, true))) this.touchedRestaurants.add(key);
    for (const key of r.keys()) this.changedRestaurants.add(key);

    const fullItems = upserts(m, false);
    for (const [, p] of fullItems) this.changedRestaurants.add(String(p.row.restaurant_id));
    for (const id of await upsertMenuItems(trx, fullItems)) this.touch(id);
    for (const id of await updatePartial(trx, 'menu_items_read', 'menu_id', MENU_ITEM_COLUMNS, upserts(m, true))) this.touch(id);
    for (const id of await deleteRows(trx, 'menu_items_read', 'menu_id', deletes(m))) this.touch(id);
    r.clear();
    m.clear();
  }
}

type UpsertEntry = [string, Extract<Pending, { kind: 'upsert' }>];

function upserts(map: Map<string, Pending>, partial: boolean): UpsertEntry[] {
  const out: UpsertEntry[] = [];
  for (const [k, p] of map) if (p.kind === 'upsert' && p.partial === partial) out.push([k, p]);
  return out;
}

function deletes(map: Map<string, Pending>): string[] {
  const out: string[] = [];
  for (const [k, p] of map) if (p.kind === 'delete') out.push(k);
  return out;
}

const RESTAURANT_COLUMNS = ['name', 'auto_accept', 'category'] as const;
const MENU_ITEM_COLUMNS = ['restaurant_id', 'name', 'price', 'status', 'version'] as const;

/** Values go to Postgres as text arrays and are cast there, whatever type parsers decoded them. */
function text(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  return String(v);
}

const iso = (ms: number) => new Date(ms).toISOString();

/** node-postgres sends a JS array (nulls included) as a Postgres array; knex's types only allow string[]. */
export function pgArray(values: Array<string | null>): Knex.Value {
  return values as unknown as Knex.Value;
}

async function upsertRestaurants(trx: Knex.Transaction, rows: UpsertEntry[]): Promise<void> {
  if (rows.length === 0) return;
  await trx.raw(
    // A change written before the source had a category (restaurants migration 0002) has none: such
    // restaurants were all 'korean', the column's default.
    `INSERT INTO restaurants_read (restaurant_id, name, auto_accept, category, source_lsn, updated_at)
     SELECT id, name, auto_accept, COALESCE(category, 'korean'), lsn, at
       FROM unnest(?::text[], ?::text[], ?::boolean[], ?::text[], ?::pg_lsn[], ?::timestamptz[]) AS t(id, name, auto_accept, category, lsn, at)
     ON CONFLICT (restaurant_id) DO UPDATE SET name = excluded.name, auto_accept = excluded.auto_accept,
       category = excluded.category, source_lsn = excluded.source_lsn, updated_at = excluded.updated_at`,
    [
      pgArray(rows.map(([k]) => k)),
      pgArray(rows.map(([, p]) => text(p.row.name))),
      pgArray(rows.map(([, p]) => text(p.row.auto_accept))),
      pgArray(rows.map(([, p]) => text(p.row.category))),
      pgArray(rows.map(([, p]) => formatLsn(p.lsn))),
      pgArray(rows.map(([, p]) => iso(p.commitTimeMs))),
    ],
  );
}

/**
 * Upserts menu items and returns the restaurants whose visible item count may have changed: new
 * items, items that moved restaurant, items that became or stopped being HIDDEN. (A price change
 * alone does not touch the count, which keeps the hot path to one statement.)
 */
async function upsertMenuItems(trx: Knex.Transaction, rows: UpsertEntry[]): Promise<string[]> {
  if (rows.length === 0) return [];
  const result = await trx.raw(
    `WITH input AS (
       SELECT * FROM unnest(?::text[], ?::text[], ?::text[], ?::bigint[], ?::text[], ?::int[], ?::pg_lsn[], ?::timestamptz[])
         AS t(menu_id, restaurant_id, name, price, status, version, source_lsn, updated_at)
     ), old AS (
       SELECT m.menu_id, m.restaurant_id, m.status FROM menu_items_read m JOIN input USING (menu_id)
     ), up AS (
       INSERT INTO menu_items_read (menu_id, restaurant_id, name, price, status, version, source_lsn, updated_at)
       SELECT * FROM input
       ON CONFLICT (menu_id) DO UPDATE SET restaurant_id = excluded.restaurant_id, name = excluded.name,
         price = excluded.price, status = excluded.status, version = excluded.version,
         source_lsn = excluded.source_lsn, updated_at = excluded.updated_at
     )
     SELECT i.restaurant_id AS now_id, o.restaurant_id AS was_id
       FROM input i LEFT JOIN old o USING (menu_id)
      WHERE o.menu_id IS NULL OR o.restaurant_id <> i.restaurant_id
         OR (o.status = 'HIDDEN') <> (i.status = 'HIDDEN')`,
    [
      pgArray(rows.map(([k]) => k)),
      pgArray(rows.map(([, p]) => text(p.row.restaurant_id))),
      pgArray(rows.map(([, p]) => text(p.row.name))),
      pgArray(rows.map(([, p]) => text(p.row.price))),
      pgArray(rows.map(([, p]) => text(p.row.status))),
      pgArray(rows.map(([, p]) => text(p.row.version))),
      pgArray(rows.map(([, p]) => formatLsn(p.lsn))),
      pgArray(rows.map(([, p]) => iso(p.commitTimeMs))),
    ],
  );
  const ids: string[] = [];
  for (const r of result.rows as Array<{ now_id: string; was_id: string | null }>) {
    ids.push(r.now_id);
    if (r.was_id) ids.push(r.was_id);
  }
  return ids;
}

/**
 * Rows whose update left out unchanged TOASTed columns: update only the columns that came. Rare
 * (our text columns are short), so one statement per row is fine. Returns affected restaurants.
 */
async function updatePartial(
  trx: Knex.Transaction,
  table: 'restaurants_read' | 'menu_items_read',
  pk: string,
  columns: readonly string[],
  rows: UpsertEntry[],
): Promise<string[]> {
  const touched: string[] = [];
  for (const [key, p] of rows) {
    const set: Record<string, unknown> = { source_lsn: formatLsn(p.lsn), updated_at: new Date(p.commitTimeMs) };
    for (const c of columns) if (p.row[c] !== undefined) set[c] = text(p.row[c]);
    const before = (await trx(table).select('restaurant_id').where(pk, key).first()) as { restaurant_id: string } | undefined;
    const n = await trx(table).where(pk, key).update(set);
    if (n === 0) throw new Error(`${table} ${key}: partial update for a row the read model does not have`);
    if (before) touched.push(before.restaurant_id);
    if (typeof set.restaurant_id === 'string') touched.push(set.restaurant_id);
  }
  return touched;
}

/** Deletes rows; returns the restaurants they belonged to. */
async function deleteRows(trx: Knex.Transaction, table: 'restaurants_read' | 'menu_items_read', pk: string, keys: string[]): Promise<string[]> {
  if (keys.length === 0) return [];
  const result = await trx.raw(`DELETE FROM ${table} WHERE ${pk} = ANY(?::text[]) RETURNING restaurant_id`, [keys]);
  return (result.rows as Array<{ restaurant_id: string }>).map((r) => r.restaurant_id);
}

async function truncate(trx: Knex.Transaction, tables: SourceTable[], net: NetChanges): Promise<void> {
  net.truncated = true;
  if (tables.includes('menu_items')) {
    await trx.raw('DELETE FROM menu_items_read');
    await trx.raw('UPDATE restaurants_read SET item_count = 0 WHERE item_count <> 0');
  }
  if (tables.includes('restaurants')) {
    await trx.raw('DELETE FROM restaurants_read');
    net.touchedRestaurants.clear();
  }
}

async function refreshItemCounts(trx: Knex.Transaction, restaurantIds: Set<string>): Promise<void> {
  if (restaurantIds.size === 0) return;
  await trx.raw(
    `UPDATE restaurants_read r
        SET item_count = (SELECT count(*) FROM menu_items_read m
                           WHERE m.restaurant_id = r.restaurant_id AND m.status <> 'HIDDEN')
      WHERE r.restaurant_id = ANY(?::text[])`,
    [[...restaurantIds]],
  );
}
