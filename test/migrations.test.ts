import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { createTestDatabases, TEST_ROLE_PASSWORDS, type TestDatabases } from './support/databases';
import { seedRestaurants } from '../db/seed';
import { migrateLatest } from '../db/migrations';
import { ordersMigrations } from '../db/migrations/orders';
import { menuReadMigrations } from '../db/migrations/menu-read';
import { passwordVariable, SERVICE_ROLE_NAMES } from '../db/roles';
import { namePiecesDrift } from './support/read-model';
import { FILL_NAME_PIECES_SQL } from '../db/projector/snapshot';

const ROOT = path.resolve(__dirname, '..');

type Db = TestDatabases['menuRead'];

/** The read model's name-pieces migrations, 0005 to 0008, for the cases that take them down and up. */
const namePieceMigrations = () =>
  ['0005_restaurant_name_pieces', '0006_restaurant_name_pieces_category', '0007_restaurant_name_pieces_deferrable', '0008_name_pieces_function'].map((name) =>
    menuReadMigrations.find((m) => m.name === name)!,
  );

const piecesOf = async (db: Db, restaurantId: string) =>
  ((await db('restaurant_name_pieces').where({ restaurant_id: restaurantId }).pluck('piece')) as string[]).sort();

/**
 * On restaurants `${p}1` (교촌치킨 강남점), `${p}2` (chicken), `${p}3` (홍콩반점) and `${p}4`, which the
 * caller inserted: a rename, a same-name update, a recategorization and the projector's upsert.
 * The name pieces follow each one.
 */
async function renameRecategorizeUpsert(db: Db, p: string): Promise<void> {
  await db('restaurants_read')
    .where({ restaurant_id: `${p}1` })
    .update({ name: '교촌치킨 홍대점' });
  // Same name again, and a change of another column: no pieces move.
  await db('restaurants_read')
    .where({ restaurant_id: `${p}3` })
    .update({ name: '홍콩반점', item_count: 3 });
  // A new category moves every piece of the name with it.
  await db('restaurants_read')
    .where({ restaurant_id: `${p}2` })
    .update({ category: 'burger' });
  expect(
    await db('restaurant_name_pieces')
      .where({ restaurant_id: `${p}2` })
      .distinct('category'),
  ).toEqual([{ category: 'burger' }]);
  // The projector's upsert: one row inserted, one renamed.
  await db.raw(
    `INSERT INTO restaurants_read (restaurant_id, name, auto_accept) VALUES (?, '맘스터치', false), (?, '도미노피자', false)
     ON CONFLICT (restaurant_id) DO UPDATE SET name = excluded.name`,
    [`${p}6`, `${p}4`],
  );
  expect(await piecesOf(db, `${p}1`)).toContain('홍대');
  expect(await piecesOf(db, `${p}1`)).not.toContain('강남');
  expect(await piecesOf(db, `${p}4`)).toEqual(['노피', '도미', '미노', '피자'].sort());
  expect(await namePiecesDrift(db)).toEqual([]);
}

describe('migrations and seed', () => {
  let dbs: TestDatabases;
  beforeAll(async () => {
    dbs = await createTestDatabases('migrations');
  });
  afterAll(async () => {
    await dbs.destroy();
  });

  it('creates every table and is a no-op the second time', async () => {
    expect(await migrateLatest(dbs.orders, 'orders')).toEqual([]);
    for (const table of ['orders', 'order_items', 'order_status_history', 'idempotency_keys']) {
      expect(await dbs.orders.schema.hasTable(table)).toBe(true);
    }
    expect(await dbs.payments.schema.hasTable('payment_events')).toBe(true);
    expect(await dbs.restaurants.schema.hasTable('tickets')).toBe(true);
    expect(await dbs.menuRead.schema.hasTable('menu_items_read')).toBe(true);
  });

  it("menu-read 0008: the snapshot's fill takes the pieces from name_pieces(), which the planner inlines: the plan of the pieces written out, no Function Scan on it", async () => {
    const explain = async (run: (sql: string) => Promise<{ rows: Array<{ 'QUERY PLAN': string }> }>, sql: string) =>
      (await run(`EXPLAIN (VERBOSE, COSTS OFF) ${sql}`)).rows.map((r) => r['QUERY PLAN']).join('\n');
    // What the fill was before 0008, with the pieces written out.
    const writtenOut = `INSERT INTO restaurant_name_pieces (piece, restaurant_id, category)
     SELECT g, r.restaurant_id, r.category FROM restaurants_read r, unnest(r.name_grams) AS g
      WHERE char_length(g) = 2
      ORDER BY 1, 2`;
    expect(FILL_NAME_PIECES_SQL).toMatch(/\bname_pieces\(r\.name_grams\) AS g\b/);
    // As the projector, which runs the snapshot (inlining also needs the caller's EXECUTE right), and
    // before the cases below re-create the pieces table as the superuser (the projector has no grant on that one).
    const c = new pg.Client({ connectionString: dbs.roleUrl('menu_projector', 'menu_read') });
    await c.connect();
    try {
      const plan = await explain((sql) => c.query(sql), FILL_NAME_PIECES_SQL);
      expect(plan).not.toMatch(/Function Scan on (public\.)?name_pieces/);
      expect(plan).toMatch(/Function Scan on pg_catalog\.unnest g\n.*\n\s*Function Call: unnest\(r\.name_grams\)\n\s*Filter: \(char_length\(g\.g\) = 2\)/);
      expect(plan).toEqual(await explain((sql) => c.query(sql), writtenOut));
    } finally {
      await c.end();
    }
    // The check can fail: a STRICT copy of the function is not inlined, and its plan shows the Function Scan.
    await dbs.menuRead.transaction(async (trx) => {
      await trx.raw(`CREATE FUNCTION name_pieces_strict(grams text[]) RETURNS SETOF text LANGUAGE sql IMMUTABLE STRICT
                       BEGIN ATOMIC SELECT g FROM unnest(grams) AS g WHERE char_length(g) = 2; END`);
      const strictPlan = await explain((sql) => trx.raw(sql), FILL_NAME_PIECES_SQL.replace('name_pieces(', 'name_pieces_strict('));
      expect(strictPlan).toMatch(/Function Scan on public\.name_pieces_strict g\b/);
      await trx.rollback();
    });
  });

  it('0005 removes the card token of every order that has left PENDING, and keeps it for PENDING ones', async () => {
    const row = (orderId: string, status: string) => ({
      order_id: orderId,
      customer_id: 'c',
      restaurant_id: 'rst_0001',
      status,
      total_amount: 1000,
      delivery_address: 'x',
      card_token: 'tok_ok',
      workflow_id: `order-${orderId}`,
    });
    const statuses = ['PENDING', 'AWAITING_RESTAURANT', 'CONFIRMED', 'REJECTED', 'CANCELLED'];
    await dbs.orders('orders').insert(statuses.map((s) => row(`ord_retention_${s}`, s)));
    await ordersMigrations.find((m) => m.name === '0005_orders_card_token_retention')!.up(dbs.orders);
    const rows = await dbs
      .orders('orders')
      .whereIn(
        'order_id',
        statuses.map((s) => `ord_retention_${s}`),
      )
      .select('status', 'card_token');
    expect(Object.fromEntries(rows.map((r) => [r.status, r.card_token]))).toEqual({
      PENDING: 'tok_ok',
      AWAITING_RESTAURANT: null,
      CONFIRMED: null,
      REJECTED: null,
      CANCELLED: null,
    });
    await dbs
      .orders('orders')
      .whereIn(
        'order_id',
        statuses.map((s) => `ord_retention_${s}`),
      )
      .delete();
  });

  it("menu-read 0005 and 0006 list the names' pieces of the rows already there, and their triggers follow every insert, upsert, rename, recategorization and delete", async () => {
    const db = dbs.menuRead;
    const drift = () => namePiecesDrift(db);
    const pieces = (restaurantId: string) => piecesOf(db, restaurantId);
    const [pieces5, category6, deferrable7, function8] = namePieceMigrations();
    // The triggers as 0005 and 0006 wrote them; 0008 (their bodies on name_pieces()) comes back at the end.
    await function8!.down(db);
    await deferrable7!.down(db);
    await category6!.down(db);
    await pieces5!.down(db);
    await db('restaurants_read').insert([
      { restaurant_id: 'rst_np1', name: '교촌치킨 강남점', auto_accept: false, category: 'chicken' },
      { restaurant_id: 'rst_np2', name: 'BHC치킨', auto_accept: false, category: 'chicken' },
    ]);
    await pieces5!.up(db);
    await category6!.up(db);
    await deferrable7!.up(db);
    expect(await pieces('rst_np2')).toEqual(['c치', 'bh', 'hc', '치킨'].sort());
    expect(await drift()).toEqual([]);

    await db('restaurants_read').insert([
      { restaurant_id: 'rst_np3', name: '홍콩반점', auto_accept: false },
      { restaurant_id: 'rst_np4', name: '피자', auto_accept: false },
    ]);
    await renameRecategorizeUpsert(db, 'rst_np');

    await db('restaurants_read').whereIn('restaurant_id', ['rst_np1', 'rst_np4']).delete();
    expect(await pieces('rst_np1')).toEqual([]);
    expect(await drift()).toEqual([]);
    await db('restaurants_read').where('restaurant_id', 'like', 'rst_np%').delete();
    expect(await db('restaurant_name_pieces').count({ n: '*' }).first()).toEqual({ n: 0 });
    await function8!.up(db);
  });

  it("menu-read 0007: a transaction that sets menu_read.name_pieces = 'deferred' inserts and deletes restaurants without their pieces; others keep them", async () => {
    const db = dbs.menuRead;
    const count = async () => Number((await db('restaurant_name_pieces').where('restaurant_id', 'like', 'rst_df%').count({ n: '*' }).first())!.n);
    await db('restaurants_read').insert({ restaurant_id: 'rst_df1', name: '교촌치킨', auto_accept: false, category: 'chicken' });
    const before = await count();
    expect(before).toBeGreaterThan(0);
    await db.transaction(async (trx) => {
      await trx.raw(`SET LOCAL menu_read.name_pieces = 'deferred'`);
      await trx('restaurants_read').insert({ restaurant_id: 'rst_df2', name: '홍콩반점', auto_accept: false });
      await trx('restaurants_read').where({ restaurant_id: 'rst_df1' }).delete();
      expect(await trx('restaurant_name_pieces').whereIn('restaurant_id', ['rst_df1', 'rst_df2']).pluck('restaurant_id')).toEqual(
        Array(before).fill('rst_df1'),
      );
    });
    // The setting ended with its transaction: the next insert and delete are followed again.
    await db('restaurant_name_pieces').where({ restaurant_id: 'rst_df1' }).delete();
    await db('restaurants_read').insert({ restaurant_id: 'rst_df3', name: '피자', auto_accept: false });
    await db('restaurants_read').where({ restaurant_id: 'rst_df2' }).delete();
    expect(await namePiecesDrift(db)).toEqual([]);
    await db('restaurants_read').where({ restaurant_id: 'rst_df3' }).delete();
    expect(await count()).toBe(0);
  });

  it('menu-read 0008: with the triggers on name_pieces() the pieces follow every insert, upsert, rename, recategorization and delete; 0008 goes down to the bodies of 0005/0006 and up again', async () => {
    const db = dbs.menuRead;
    const drift = () => namePiecesDrift(db);
    const pieces = (restaurantId: string) => piecesOf(db, restaurantId);
    const bodies = async () =>
      Object.fromEntries(
        (
          (await db.raw(`SELECT proname, prosrc FROM pg_proc WHERE proname LIKE 'restaurant_name_pieces\\_%'`)).rows as Array<{
            proname: string;
            prosrc: string;
          }>
        ).map((r) => [r.proname, r.prosrc]),
      );
    const hasFunction = async () => (await db.raw(`SELECT to_regprocedure('name_pieces(text[])') IS NOT NULL AS ok`)).rows[0].ok as boolean;
    const [pieces5, category6, deferrable7, function8] = namePieceMigrations();
    const triggerFunctions = ['restaurant_name_pieces_added', 'restaurant_name_pieces_removed', 'restaurant_name_pieces_renamed'];

    expect(await hasFunction()).toBe(true);
    const with8 = await bodies();
    expect(Object.keys(with8).sort()).toEqual(triggerFunctions);
    for (const f of triggerFunctions) {
      expect({ f, calls: with8[f]!.includes('name_pieces('), unnests: with8[f]!.includes('unnest(') }).toEqual({ f, calls: true, unnests: false });
    }
    await db('restaurants_read').insert([
      { restaurant_id: 'rst_fn1', name: '교촌치킨 강남점', auto_accept: false, category: 'chicken' },
      { restaurant_id: 'rst_fn2', name: 'BHC치킨', auto_accept: false, category: 'chicken' },
    ]);
    expect(await pieces('rst_fn2')).toEqual(['c치', 'bh', 'hc', '치킨'].sort());
    expect(await drift()).toEqual([]);

    // Down: the function is gone and the triggers are exactly what 0005 and 0006 created
    // (0007..0005 down and up again recreate those to compare), and they still keep the pieces.
    await function8!.down(db);
    expect(await hasFunction()).toBe(false);
    const without8 = await bodies();
    await deferrable7!.down(db);
    await category6!.down(db);
    await pieces5!.down(db);
    await pieces5!.up(db);
    await category6!.up(db);
    await deferrable7!.up(db);
    expect(await bodies()).toEqual(without8);
    await db('restaurants_read').where({ restaurant_id: 'rst_fn2' }).update({ name: 'BBQ치킨' });
    expect(await drift()).toEqual([]);

    // Up again, with rows in place: nothing to refill, and the triggers are 0008's again.
    await function8!.up(db);
    expect(await hasFunction()).toBe(true);
    expect(await bodies()).toEqual(with8);
    expect(await drift()).toEqual([]);

    await db('restaurants_read').insert([
      { restaurant_id: 'rst_fn3', name: '홍콩반점', auto_accept: false },
      { restaurant_id: 'rst_fn4', name: '피', auto_accept: false }, // one character: no pieces
      { restaurant_id: 'rst_fn5', name: 'Pizza HUT', auto_accept: false, category: 'pizza' },
    ]);
    expect(await pieces('rst_fn4')).toEqual([]);
    expect(await pieces('rst_fn5')).toEqual(['pi', 'iz', 'zz', 'za', 'a ', ' h', 'hu', 'ut'].sort());
    await renameRecategorizeUpsert(db, 'rst_fn');

    // The triggers' statements inline it too: counting every function call of a transaction
    // (track_functions = 'all' counts SQL functions run as functions), each trigger ran and name_pieces() never did.
    const calls = await db.transaction(async (trx) => {
      await trx.raw(`SET LOCAL track_functions = 'all'`);
      await trx('restaurants_read').insert({ restaurant_id: 'rst_fn7', name: '롯데리아', auto_accept: false });
      await trx('restaurants_read').where({ restaurant_id: 'rst_fn7' }).update({ name: '롯데리아 역삼점' });
      await trx('restaurants_read').where({ restaurant_id: 'rst_fn7' }).delete();
      const n = async (fn: string) => Number((await trx.raw(`SELECT coalesce(pg_stat_get_xact_function_calls(?::regprocedure), 0) AS n`, [fn])).rows[0].n);
      return {
        added: await n('restaurant_name_pieces_added()'),
        renamed: await n('restaurant_name_pieces_renamed()'),
        removed: await n('restaurant_name_pieces_removed()'),
        namePieces: await n('name_pieces(text[])'),
      };
    });
    expect(calls).toEqual({ added: 1, renamed: 1, removed: 1, namePieces: 0 });

    await db('restaurants_read').whereIn('restaurant_id', ['rst_fn1', 'rst_fn4']).delete();
    expect(await pieces('rst_fn1')).toEqual([]);
    expect(await drift()).toEqual([]);
    await db('restaurants_read').where('restaurant_id', 'like', 'rst_fn%').delete();
    expect(await db('restaurant_name_pieces').where('restaurant_id', 'like', 'rst_fn%').count({ n: '*' }).first()).toEqual({ n: 0 });
    expect(await drift()).toEqual([]);
  });

  it('seeds 50 restaurants with 10 items each, idempotently, some auto-accepting', async () => {
    await seedRestaurants(dbs.restaurants);
    await seedRestaurants(dbs.restaurants);
    const restaurants = (await dbs.restaurants('restaurants').count('* as count').first())?.count;
    const items = (await dbs.restaurants('menu_items').count('* as count').first())?.count;
    const auto = (await dbs.restaurants('restaurants').where({ auto_accept: true }).count('* as count').first())?.count;
    expect(Number(restaurants)).toBe(50);
    expect(Number(items)).toBe(500);
    expect(Number(auto)).toBeGreaterThan(0);
    expect(Number(auto)).toBeLessThan(50);
  });
});

describe("scripts/migrate.ts (the compose file's migrate job)", () => {
  const suffix = randomBytes(3).toString('hex');
  const at = (admin: string, name: string) => {
    const u = new URL(admin);
    u.pathname = `/${name}`;
    return u.toString();
  };
  const env = (): NodeJS.ProcessEnv => ({
    ...process.env,
    NODE_ENV: 'production',
    AUTH_SECRET: 'migrate-test-secret-0123456789-0123456789',
    LOG_LEVEL: 'warn',
    ORDERS_DATABASE_URL: at(process.env.TEST_PG_PRIMARY_ADMIN_URL!, `orders_mig_${suffix}`),
    PAYMENTS_DATABASE_URL: at(process.env.TEST_PG_PRIMARY_ADMIN_URL!, `payments_mig_${suffix}`),
    RESTAURANTS_DATABASE_URL: at(process.env.TEST_PG_PRIMARY_ADMIN_URL!, `restaurants_mig_${suffix}`),
    MENU_READ_DATABASE_URL: at(process.env.TEST_PG_READ_ADMIN_URL!, `menu_read_mig_${suffix}`),
    ...Object.fromEntries(SERVICE_ROLE_NAMES.map((r) => [passwordVariable(r), TEST_ROLE_PASSWORDS[r]])),
  });
  const migrate = (e: NodeJS.ProcessEnv) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'scripts/migrate.ts'], { cwd: ROOT, env: e, encoding: 'utf8', timeout: 120_000 });

  it('refuses to run without every role password', () => {
    const e = env();
    delete e.DB_PASSWORD_MENU_READER;
    const run = migrate(e);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('DB_PASSWORD_MENU_READER');
  });

  it('creates the databases and roles, migrates and seeds as the owners, twice without change; the roles log in with their passwords', async () => {
    for (let i = 0; i < 2; i++) expect({ i, status: migrate(env()).status }).toEqual({ i, status: 0 });
    const u = new URL(env().RESTAURANTS_DATABASE_URL!);
    u.username = 'restaurants_service';
    u.password = TEST_ROLE_PASSWORDS.restaurants_service;
    const c = new pg.Client({ connectionString: u.toString() });
    await c.connect();
    try {
      expect(Number((await c.query('SELECT count(*) AS n FROM restaurants')).rows[0].n)).toBe(50);
      const owners = await c.query("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'");
      expect(owners.rows).toEqual([{ tableowner: 'restaurants_owner' }]);
    } finally {
      await c.end();
    }
  });

  it("sets up a further read replica's menu_read from MENU_READ_REPLICA_DATABASE_URLS (docker-compose.yml's read-2), where the reader reads and the projector writes", async () => {
    const replicaUrl = at(process.env.TEST_PG_READ_ADMIN_URL!, `menu_read_mig2_${suffix}`);
    const run = migrate({ ...env(), MENU_READ_REPLICA_DATABASE_URLS: replicaUrl });
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
    const as = async <T>(role: 'menu_reader' | 'menu_projector', sql: string): Promise<T[]> => {
      const u = new URL(replicaUrl);
      u.username = role;
      u.password = TEST_ROLE_PASSWORDS[role];
      const c = new pg.Client({ connectionString: u.toString() });
      await c.connect();
      try {
        return (await c.query(sql)).rows as T[];
      } finally {
        await c.end();
      }
    };
    expect(await as('menu_reader', 'SELECT count(*)::int AS n FROM restaurants_read')).toEqual([{ n: 0 }]);
    expect(
      await as('menu_projector', "INSERT INTO restaurants_read (restaurant_id, name, auto_accept) VALUES ('rst_t', 't', false) RETURNING restaurant_id"),
    ).toEqual([{ restaurant_id: 'rst_t' }]);
    await expect(as('menu_reader', "DELETE FROM restaurants_read WHERE restaurant_id = 'rst_t'")).rejects.toThrow(/permission denied/);
  });
});
