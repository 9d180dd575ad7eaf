import pg from 'pg';
import { round } from './stats';

// What a database takes on disk: each table of its public schema with its indexes and TOAST
// (pg_total_relation_size) and the whole database (pg_database_size). Knex's migration tables are
// left out; every other table is listed, so a table a migration adds shows without a change here.

export interface DiskSize {
  /** What the report calls it: read-1, read-2, source. */
  name: string;
  database: string;
  /** Largest first. */
  tables: Array<{ table: string; bytes: number }>;
  databaseBytes: number;
}

export async function diskSize(url: string, name: string): Promise<DiskSize> {
  const client = new pg.Client({ connectionString: url, application_name: 'bench-disk-size' });
  await client.connect();
  try {
    const tables = await client.query<{ table: string; bytes: string }>(
      `SELECT c.relname AS table, pg_total_relation_size(c.oid) AS bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname NOT LIKE 'knex\\_migrations%'
        ORDER BY pg_total_relation_size(c.oid) DESC, c.relname`,
    );
    const db = await client.query<{ database: string; bytes: string }>('SELECT current_database() AS database, pg_database_size(current_database()) AS bytes');
    return {
      name,
      database: db.rows[0]!.database,
      tables: tables.rows.map((r) => ({ table: r.table, bytes: Number(r.bytes) })),
      databaseBytes: Number(db.rows[0]!.bytes),
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Bytes in MB (2^20), one decimal. */
export const mb = (bytes: number): number => round(bytes / 2 ** 20, 1);

/** The figures kept in the run's summary, in MB. */
export function diskSizeSummary(sizes: DiskSize[]): Record<string, { database: string; databaseMB: number; tablesMB: Record<string, number> }> {
  return Object.fromEntries(
    sizes.map((s) => [
      s.name,
      { database: s.database, databaseMB: mb(s.databaseBytes), tablesMB: Object.fromEntries(s.tables.map((t) => [t.table, mb(t.bytes)])) },
    ]),
  );
}

/** One line per database: its tables (with indexes and TOAST), then the whole database. */
export function diskSizeLines(sizes: DiskSize[]): string[] {
  return sizes.map(
    (s) =>
      `  ${s.name} (${s.database}): ${s.tables.map((t) => `${t.table} ${mb(t.bytes)}`).join(', ') || 'no tables'}; whole database ${mb(s.databaseBytes)} MB`,
  );
}
