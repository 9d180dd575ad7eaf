import knexFactory, { type Knex } from 'knex';
import pg from 'pg';

// bigint columns (money, versions) come back as strings by default; our amounts fit in a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export type Db = Knex;

export function createDb(connectionString: string, poolMax = 10): Db {
  return knexFactory({
    client: 'pg',
    connection: { connectionString, application_name: process.env.APP_NAME ?? 'delivery' },
    pool: { min: 0, max: poolMax },
  });
}
