import pg from 'pg';

/** Creates the database if it does not exist yet (CREATE DATABASE has no IF NOT EXISTS). */
export async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`Unsafe database name: ${name}`);
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
}

/**
 * Whether the server has the MAINTAIN privilege (Postgres 17+), with which a role that does not own
 * a table may VACUUM and ANALYZE it. `run` is any query function: a pg client's or knex's raw.
 */
export async function hasMaintainPrivilege(run: (sql: string) => Promise<{ rows: Array<Record<string, unknown>> }>): Promise<boolean> {
  const { rows } = await run('SHOW server_version_num');
  return Number(rows[0]!.server_version_num) >= 170000;
}
