import knexFactory, { type Knex } from 'knex';
import pg from 'pg';

// bigint columns (money, versions) come back as strings by default; our amounts fit in a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export type Db = Knex;

/**
 * A knex pool. `readOnly`: every transaction of every connection is read-only
 * (default_transaction_read_only), whatever the credentials allow: the API's operator-only read paths
 * into another service's database (the admin desk) can read and nothing else. `role`: every
 * connection acts as that role (SET ROLE; the login must be a member of it, or a superuser).
 */
export function createDb(connectionString: string, poolMax = 10, opts: { readOnly?: boolean; applicationName?: string; role?: string } = {}): Db {
  const { role } = opts;
  if (role !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(role)) throw new Error(`Unsafe role name: ${role}`);
  return knexFactory({
    client: 'pg',
    connection: {
      connectionString,
      application_name: opts.applicationName ?? process.env.APP_NAME ?? 'delivery',
      ...(opts.readOnly ? { options: '-c default_transaction_read_only=on' } : {}),
    },
    pool: {
      min: 0,
      max: poolMax,
      // `role`: every connection acts as that role (SET ROLE), e.g. migrations as a database's owner (db/roles.ts).
      ...(role
        ? {
            afterCreate: (conn: pg.Client, done: (err: Error | undefined, conn: pg.Client) => void) => {
              conn.query(`SET ROLE ${role}`).then(
                () => done(undefined, conn),
                (err: Error) => done(err, conn),
              );
            },
          }
        : {}),
    },
  });
}
