import pg from 'pg';
import type { Logger } from '../../lib/node/logger';
import { SOURCE_TABLES } from './changes';
import { parseLsn, type Lsn } from './lsn';

/** Connection settings shared by every source connection the projector opens. */
export function sourceClientConfig(sourceUrl: string, replication = false): pg.ClientConfig {
  const config: pg.ClientConfig & { replication?: string } = {
    connectionString: sourceUrl,
    application_name: 'menu-projector',
    connectionTimeoutMillis: 5000,
    keepAlive: true,
  };
  // A walsender connection bound to one database: logical replication commands over simple queries.
  if (replication) config.replication = 'database';
  return config;
}

export async function withSourceClient<T>(sourceUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(sourceClientConfig(sourceUrl));
  client.on('error', () => undefined); // surfaced through the failing query instead
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Creates the publication for the source tables, or adds a table it lacks. Returns true when
 * anything changed: a slot created earlier cannot decode WAL written before its publication existed.
 */
export async function ensurePublication(client: pg.Client, publication: string, logger: Logger): Promise<boolean> {
  const tables = Object.keys(SOURCE_TABLES);
  const exists = await client.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [publication]);
  if (exists.rowCount === 0) {
    try {
      await client.query(`CREATE PUBLICATION "${publication}" FOR TABLE ${tables.join(', ')}`);
      logger.info({ publication, tables }, 'created publication');
      return true;
    } catch (e) {
      // Another projector won the race: fine, check its tables below.
      if ((e as { code?: string }).code !== '42710') throw e;
    }
  }
  const have = await client.query<{ tablename: string }>("SELECT tablename FROM pg_publication_tables WHERE pubname = $1 AND schemaname = 'public'", [
    publication,
  ]);
  const missing = tables.filter((t) => !have.rows.some((r) => r.tablename === t));
  if (missing.length === 0) return false;
  await client.query(`ALTER PUBLICATION "${publication}" ADD TABLE ${missing.join(', ')}`);
  logger.warn({ publication, added: missing }, 'publication lacked tables; added them');
  return true;
}

export interface SlotInfo {
  plugin: string | null;
  database: string | null;
  activePid: number | null;
  confirmedFlushLsn: Lsn | null;
  /** Non-null when Postgres invalidated the slot (WAL removed, etc.): it can no longer stream. */
  invalidation: string | null;
}

export async function getSlot(client: pg.Client, slotName: string): Promise<SlotInfo | null> {
  const res = await client.query<{
    plugin: string | null;
    database: string | null;
    active_pid: number | null;
    confirmed_flush_lsn: string | null;
    invalidation: string | null;
  }>(
    `SELECT plugin, database, active_pid, confirmed_flush_lsn::text AS confirmed_flush_lsn,
            CASE WHEN wal_status = 'lost' THEN 'wal_lost' ELSE invalidation_reason END AS invalidation
       FROM pg_replication_slots WHERE slot_name = $1`,
    [slotName],
  );
  const row = res.rows[0];
  if (!row) return null;
  return {
    plugin: row.plugin,
    database: row.database,
    activePid: row.active_pid,
    confirmedFlushLsn: row.confirmed_flush_lsn ? parseLsn(row.confirmed_flush_lsn) : null,
    invalidation: row.invalidation,
  };
}

/** Drops the slot, waiting a little for a just-closed stream to release it. */
export async function dropSlot(client: pg.Client, slotName: string, waitMs = 10_000): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const slot = await getSlot(client, slotName);
    if (!slot) return;
    if (slot.activePid === null) {
      try {
        await client.query('SELECT pg_drop_replication_slot($1)', [slotName]);
        return;
      } catch (e) {
        // 55006: it became active again in between; 42704: someone else dropped it.
        const code = (e as { code?: string }).code;
        if (code === '42704') return;
        if (code !== '55006') throw e;
      }
    }
    if (Date.now() > deadline) {
      throw new Error(`replication slot ${slotName} is in use by pid ${slot.activePid}; is another projector running?`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface ExportedSlot {
  consistentLsn: Lsn;
  snapshotName: string;
  /** Closing the replication connection ends the exported snapshot. */
  close(): Promise<void>;
}

/**
 * Creates the slot on a replication connection and exports the snapshot of its consistent point:
 * a transaction that imports that snapshot sees exactly the commits the slot will not stream.
 */
export async function createSlotWithSnapshot(sourceUrl: string, slotName: string): Promise<ExportedSlot> {
  const client = new pg.Client(sourceClientConfig(sourceUrl, true));
  client.on('error', () => undefined);
  await client.connect();
  try {
    const res = await client.query<{ consistent_point: string; snapshot_name: string }>(
      `CREATE_REPLICATION_SLOT "${slotName}" LOGICAL pgoutput (SNAPSHOT 'export')`,
    );
    const row = res.rows[0];
    if (!row?.snapshot_name) throw new Error('CREATE_REPLICATION_SLOT returned no snapshot');
    return {
      consistentLsn: parseLsn(row.consistent_point),
      snapshotName: row.snapshot_name,
      close: () => client.end().catch(() => undefined),
    };
  } catch (e) {
    await client.end().catch(() => undefined);
    throw e;
  }
}

/** The source's current WAL position. */
export async function currentWalLsn(client: pg.Client): Promise<Lsn> {
  const res = await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  return parseLsn(res.rows[0]!.lsn);
}

/** Bytes of WAL the source has written beyond `lsn`. */
export async function walBytesBehind(pool: pg.Pool, lsn: string): Promise<number> {
  const res = await pool.query<{ behind: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::text AS behind', [lsn]);
  return Math.max(0, Number(res.rows[0]?.behind ?? 0));
}
