import pg from 'pg';

/** What a Postgres instance has written so far; the difference of two samples is what happened between them. */
export interface PostgresWrites {
  /**
   * Transaction ids assigned so far (the next one to give out), whole instance: only a transaction
   * that writes gets one, and reading it takes none. Exact at once.
   */
  writingTransactions: number;
  /** Bytes of WAL written so far: exact at once. */
  walBytes: number;
  /**
   * Rows inserted, updated and deleted, every database (pg_stat_database). A busy backend flushes its
   * counts within a second, an idle pooled one up to ten seconds late: right over a steady step, not
   * over a few seconds.
   */
  rows: number;
}

/** Samples an instance's write counters through its admin URL (one short connection per sample). */
export async function postgresWrites(adminUrl: string): Promise<PostgresWrites> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ xmax: string; wal: string; rows: string | null }>(
      `SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xmax,
              (pg_current_wal_lsn() - '0/0'::pg_lsn)::text AS wal,
              (SELECT sum(tup_inserted + tup_updated + tup_deleted) FROM pg_stat_database)::text AS rows`,
    );
    const r = rows[0]!;
    return { writingTransactions: Number(r.xmax), walBytes: Number(r.wal), rows: Number(r.rows ?? 0) };
  } finally {
    await client.end();
  }
}

/** Writing transactions so far (the peers' engines are compared on this). */
export async function postgresWritingTransactions(adminUrl: string): Promise<number> {
  return (await postgresWrites(adminUrl)).writingTransactions;
}
