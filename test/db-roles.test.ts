import pg from 'pg';
import { createDb } from '../db/knex';
import type { DatabaseName } from '../db/migrations';
import { OWNER_ROLES, scramVerifier, SERVICE_ROLES, SERVICE_ROLE_NAMES, setUpDatabases, type DatabaseTarget, type ServiceRole } from '../db/roles';
import { seedRestaurants } from '../db/seed';
import { createTestDatabases, TEST_PUBLICATION, TEST_ROLE_PASSWORDS, type TestDatabases } from './support/databases';
import { startTestProjector, type TestProjector } from './support/projector';
import { untilPasses } from './support/retry';

// Least privilege in Postgres (db/roles.ts), against the real instances of global-setup: each
// service's role does its job, and reaches nothing else. 42501 is insufficient_privilege.

const DATABASES: DatabaseName[] = ['orders', 'payments', 'restaurants', 'menu_read'];
const DENIED = { code: '42501' };
/** Which instance holds a database (global-setup's primary and read instances). */
const instanceOf = (d: DatabaseName) => (d === 'menu_read' ? 'read' : 'primary');

let dbs: TestDatabases;
const clients: pg.Client[] = [];

async function connect(role: ServiceRole, database: DatabaseName, extra: Partial<pg.ClientConfig> & { replication?: string } = {}): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: dbs.roleUrl(role, database), ...extra });
  client.on('error', () => undefined);
  await client.connect();
  clients.push(client);
  return client;
}

/** The SQLSTATE a query (or a connection) fails with. */
async function failure(work: Promise<unknown>): Promise<{ code?: string }> {
  try {
    await work;
  } catch (e) {
    return { code: (e as { code?: string }).code };
  }
  return { code: 'no error' };
}

const targetsOf = (d: TestDatabases): Record<DatabaseName, DatabaseTarget> =>
  Object.fromEntries(
    DATABASES.map((name) => {
      const u = new URL(d.urls[name]);
      const name_ = u.pathname.slice(1);
      u.pathname = '/postgres';
      return [name, { adminUrl: u.toString(), name: name_ }];
    }),
  ) as Record<DatabaseName, DatabaseTarget>;

beforeAll(async () => {
  dbs = await createTestDatabases('dbroles');
  await seedRestaurants(dbs.restaurants, { restaurants: 3, itemsPerRestaurant: 2 });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  await dbs.destroy();
});

describe('database roles: each service reaches its own database only', () => {
  const cases = SERVICE_ROLE_NAMES.flatMap((role) => {
    const own = new Set(SERVICE_ROLES[role].grants.map((g) => g.database));
    return DATABASES.map((database) => [role, database, own.has(database)] as const);
  });

  // Roles exist only on the instances holding a database they are granted (primary: orders, payments,
  // restaurants; read: menu_read): elsewhere the login itself fails (28P01), on the same instance the
  // database refuses the connection (42501).
  it.each(cases)('%s on %s: may connect = %s', async (role, database, allowed) => {
    const result = await failure(connect(role, database));
    const onInstance = SERVICE_ROLES[role].grants.some((g) => instanceOf(g.database) === instanceOf(database));
    expect(result).toEqual(allowed ? { code: 'no error' } : onInstance ? DENIED : { code: '28P01' });
  });

  it("even let in to another service's database (a CONNECT granted by mistake), a role can neither read nor write its tables", async () => {
    const admin: Record<DatabaseName, TestDatabases['orders']> = {
      orders: dbs.orders,
      payments: dbs.payments,
      restaurants: dbs.restaurants,
      menu_read: dbs.menuRead,
    };
    const checked: string[] = [];
    for (const role of SERVICE_ROLE_NAMES) {
      const own = new Set(SERVICE_ROLES[role].grants.map((g) => g.database));
      for (const database of DATABASES.filter((d) => !own.has(d) && SERVICE_ROLES[role].grants.some((g) => instanceOf(g.database) === instanceOf(d)))) {
        const name = new URL(dbs.urls[database]).pathname.slice(1);
        await admin[database].raw(`GRANT CONNECT ON DATABASE ${name} TO ${role}`);
        try {
          const c = await connect(role, database);
          const tables = (await admin[database].raw("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")).rows.map(
            (r: { tablename: string }) => r.tablename,
          );
          for (const table of tables) {
            expect({ role, table, ...(await failure(c.query(`SELECT * FROM ${table} LIMIT 1`))) }).toEqual({ role, table, ...DENIED });
            expect({ role, table, ...(await failure(c.query(`INSERT INTO ${table} DEFAULT VALUES`))) }).toEqual({ role, table, ...DENIED });
            checked.push(`${role}:${table}`);
          }
        } finally {
          await admin[database].raw(`REVOKE CONNECT ON DATABASE ${name} FROM ${role}`);
        }
      }
    }
    expect(checked).toEqual(
      expect.arrayContaining(['orders_service:payments', 'payments_service:orders', 'restaurants_service:payments', 'menu_projector:orders']),
    );
  });

  it('no service role is a superuser, creates databases or roles, or bypasses row security; the owners cannot log in', async () => {
    const query = `SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolreplication, rolcanlogin FROM pg_roles WHERE rolname = ANY(?)`;
    const names = [...SERVICE_ROLE_NAMES, ...Object.values(OWNER_ROLES)];
    const rows = [...(await dbs.orders.raw(query, [names])).rows, ...(await dbs.menuRead.raw(query, [names])).rows];
    for (const r of rows) {
      expect({ role: r.rolname, su: r.rolsuper, db: r.rolcreatedb, cr: r.rolcreaterole, rls: r.rolbypassrls }).toEqual({
        role: r.rolname,
        su: false,
        db: false,
        cr: false,
        rls: false,
      });
      expect({ role: r.rolname, replication: r.rolreplication }).toEqual({ role: r.rolname, replication: r.rolname === 'menu_projector' });
      expect({ role: r.rolname, login: r.rolcanlogin }).toEqual({ role: r.rolname, login: !r.rolname.endsWith('_owner') });
    }
    // menu_projector is on both instances.
    expect(rows.map((r: { rolname: string }) => r.rolname).sort()).toEqual([...names, 'menu_projector'].sort());
  });

  it('stores the passwords as SCRAM verifiers computed here: the clear text never reaches the server', async () => {
    const { rows } = await dbs.orders.raw('SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(?)', [SERVICE_ROLE_NAMES]);
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) expect({ role: r.rolname, verifier: /^SCRAM-SHA-256\$4096:/.test(r.rolpassword) }).toEqual({ role: r.rolname, verifier: true });
    const salt = Buffer.from(
      /^SCRAM-SHA-256\$4096:([^$]+)\$/.exec(rows.find((r: { rolname: string }) => r.rolname === 'orders_service').rolpassword)![1]!,
      'base64',
    );
    expect(scramVerifier(TEST_ROLE_PASSWORDS.orders_service, salt)).toBe(rows.find((r: { rolname: string }) => r.rolname === 'orders_service').rolpassword);
  });

  it('refuses a wrong password', async () => {
    const u = new URL(dbs.roleUrl('orders_service', 'orders'));
    u.password = 'not-the-password';
    const c = new pg.Client({ connectionString: u.toString() });
    c.on('error', () => undefined);
    expect(await failure(c.connect())).toEqual({ code: '28P01' });
  });
});

describe('database roles: each does its job', () => {
  it('orders_service reads and writes the orders tables', async () => {
    const c = await connect('orders_service', 'orders');
    await c.query(`INSERT INTO orders (order_id, customer_id, restaurant_id, status, total_amount, delivery_address, workflow_id)
                   VALUES ('ord_roles', 'c1', 'rst_0001', 'PENDING', 1000, 'addr', 'order-ord_roles')`);
    // A bigIncrements id: the sequence is usable too.
    await c.query(`INSERT INTO order_status_history (order_id, status) VALUES ('ord_roles', 'PENDING')`);
    await c.query(`UPDATE orders SET status = 'CANCELLED' WHERE order_id = 'ord_roles'`);
    expect((await c.query(`SELECT status FROM orders WHERE order_id = 'ord_roles' FOR UPDATE`)).rows).toEqual([{ status: 'CANCELLED' }]);
    await c.query(`DELETE FROM orders WHERE order_id = 'ord_roles'`);
  });

  it('payments_service reads and writes payments; payments_reader only reads them', async () => {
    const w = await connect('payments_service', 'payments');
    await w.query(`INSERT INTO payments (payment_id, order_id, amount, status) VALUES ('pay_roles', 'ord_roles', 1000, 'PENDING')`);
    await w.query(`UPDATE payments SET status = 'AUTHORIZED' WHERE payment_id = 'pay_roles'`);
    const r = await connect('payments_reader', 'payments');
    expect((await r.query(`SELECT status FROM payments WHERE payment_id = 'pay_roles'`)).rows).toEqual([{ status: 'AUTHORIZED' }]);
    expect(await failure(r.query(`UPDATE payments SET status = 'VOIDED' WHERE payment_id = 'pay_roles'`))).toEqual(DENIED);
    expect(
      await failure(r.query(`INSERT INTO payment_events (payment_id, order_id, kind, amount, idempotency_key) VALUES ('pay_roles', 'ord_roles', 'x', 1, 'k')`)),
    ).toEqual(DENIED);
    expect(await failure(r.query(`DELETE FROM payments`))).toEqual(DENIED);
  });

  it('restaurants_service opens tickets and changes menus (rows locked FOR SHARE)', async () => {
    const c = await connect('restaurants_service', 'restaurants');
    await c.query('BEGIN');
    expect((await c.query(`SELECT menu_id FROM menu_items WHERE restaurant_id = 'rst_0001' FOR SHARE`)).rowCount).toBe(2);
    await c.query(`INSERT INTO tickets (ticket_id, order_id, restaurant_id, status, items) VALUES ('tkt_roles', 'ord_roles', 'rst_0001', 'PENDING', '[]')`);
    await c.query(`UPDATE menu_items SET price = price + 1, version = version + 1 WHERE restaurant_id = 'rst_0001'`);
    await c.query('ROLLBACK');
  });

  it('menu_reader reads the read model and LISTENs, and cannot write it', async () => {
    const c = await connect('menu_reader', 'menu_read');
    await c.query('SELECT * FROM menu_items_read LIMIT 1');
    await c.query('LISTEN menu_read_changes');
    expect(await failure(c.query(`INSERT INTO restaurants_read (restaurant_id, name, auto_accept, item_count) VALUES ('rst_x', 'x', false, 0)`))).toEqual(
      DENIED,
    );
    expect(await failure(c.query('DELETE FROM menu_items_read'))).toEqual(DENIED);
    expect(await failure(c.query('UPDATE projector_state SET changes_applied = 0'))).toEqual(DENIED);
  });

  it('menu_projector streams the restaurants database into the read model: slot, snapshot, changes', async () => {
    let projector: TestProjector | undefined;
    try {
      projector = await startTestProjector(dbs, 'dbroles');
      await projector.waitForCatchUp();
      const slot = await dbs.restaurants.raw('SELECT plugin, active FROM pg_replication_slots WHERE slot_name = ?', [projector.slotName]);
      expect(slot.rows).toEqual([{ plugin: 'pgoutput', active: true }]);
      expect(Number((await dbs.menuRead('menu_items_read').count('* as n').first())?.n)).toBe(6);
      // After its snapshot it vacuums and analyzes the copy (MAINTAIN): without the privilege VACUUM
      // only warns and skips, and autovacuum would do the work later, while the replica streams.
      await untilPasses(
        async () => {
          const stats = await dbs.menuRead.raw(
            `SELECT relname, last_vacuum IS NOT NULL AS vacuumed, last_analyze IS NOT NULL AS analyzed
             FROM pg_stat_user_tables WHERE relname IN ('restaurants_read', 'menu_items_read') ORDER BY relname`,
          );
          expect(stats.rows).toEqual([
            { relname: 'menu_items_read', vacuumed: true, analyzed: true },
            { relname: 'restaurants_read', vacuumed: true, analyzed: true },
          ]);
        },
        5000,
        100,
      );
      await dbs
        .restaurants('menu_items')
        .where({ menu_id: 'mnu_0001_01' })
        .update({ name: '역할 테스트', version: dbs.restaurants.raw('version + 1') });
      await projector.waitForCatchUp();
      expect((await dbs.menuRead('menu_items_read').where({ menu_id: 'mnu_0001_01' }).first())?.name).toBe('역할 테스트');
    } finally {
      await projector?.stop();
    }
  });
});

describe('database roles: what each may not do inside a database it reaches', () => {
  it('the projector reads only the published tables of restaurants, and writes none of them', async () => {
    const c = await connect('menu_projector', 'restaurants');
    await c.query('SELECT * FROM menu_items LIMIT 1');
    expect(await failure(c.query('SELECT * FROM tickets'))).toEqual(DENIED);
    expect(await failure(c.query(`UPDATE menu_items SET price = 1`))).toEqual(DENIED);
    expect(await failure(c.query(`INSERT INTO restaurants (restaurant_id, name) VALUES ('rst_x', 'x')`))).toEqual(DENIED);
    // The publication is the owner's: the projector may not widen it to tickets.
    expect(await failure(c.query(`ALTER PUBLICATION ${TEST_PUBLICATION} ADD TABLE tickets`))).toEqual(DENIED);
  });

  it('only the projector opens a replication connection', async () => {
    const c = new pg.Client({ connectionString: dbs.roleUrl('restaurants_service', 'restaurants'), replication: 'database' } as pg.ClientConfig);
    c.on('error', () => undefined);
    expect(await failure(c.connect())).toEqual(DENIED);
    const p = await connect('menu_projector', 'restaurants', { replication: 'database' });
    expect((await p.query('IDENTIFY_SYSTEM')).rows).toHaveLength(1);
  });

  it('no service creates tables, or touches the migrations bookkeeping', async () => {
    for (const role of SERVICE_ROLE_NAMES) {
      for (const { database } of SERVICE_ROLES[role].grants) {
        const c = await connect(role, database);
        expect({ role, database, ...(await failure(c.query('CREATE TABLE sneaky (id int)'))) }).toEqual({ role, database, ...DENIED });
        expect({ role, database, ...(await failure(c.query('CREATE TEMP TABLE sneaky (id int)'))) }).toEqual({ role, database, ...DENIED });
        expect({ role, database, ...(await failure(c.query('SELECT * FROM knex_migrations'))) }).toEqual({ role, database, ...DENIED });
        expect({ role, database, ...(await failure(c.query('DROP TABLE IF EXISTS knex_migrations_lock'))) }).toEqual({ role, database, ...DENIED });
      }
    }
  });
});

describe('database roles: set-up', () => {
  it('tables a later migration creates (as the owner) are granted by default privileges', async () => {
    const owner = createDb(dbs.urls.orders, 1, { role: OWNER_ROLES.orders });
    try {
      await owner.raw('CREATE TABLE later_table (id bigserial PRIMARY KEY, note text)');
    } finally {
      await owner.destroy();
    }
    const c = await connect('orders_service', 'orders');
    await c.query(`INSERT INTO later_table (note) VALUES ('ok')`);
    expect((await c.query('SELECT note FROM later_table')).rows).toEqual([{ note: 'ok' }]);
  });

  it('is idempotent, hands tables an earlier version created as the superuser to the owner, and takes back rights granted outside the matrix', async () => {
    await dbs.payments.raw('CREATE TABLE legacy_table (id int)');
    await dbs.restaurants.raw('CREATE PUBLICATION legacy_pub FOR TABLE menu_items');
    await dbs.payments.raw('GRANT SELECT ON knex_migrations TO payments_service');
    await setUpDatabases({ targets: targetsOf(dbs), passwords: TEST_ROLE_PASSWORDS, publication: TEST_PUBLICATION });
    await setUpDatabases({ targets: targetsOf(dbs), passwords: TEST_ROLE_PASSWORDS, publication: TEST_PUBLICATION });
    const owner = await dbs.payments.raw(`SELECT tableowner FROM pg_tables WHERE tablename = 'legacy_table'`);
    expect(owner.rows).toEqual([{ tableowner: 'payments_owner' }]);
    const c = await connect('payments_service', 'payments');
    await c.query('INSERT INTO legacy_table VALUES (1)');
    expect(await failure(c.query('SELECT * FROM knex_migrations'))).toEqual(DENIED);
    // Still exactly the rights it had: the orders role still cannot reach payments.
    expect(await failure(connect('orders_service', 'payments'))).toEqual(DENIED);
    const pubOwners = await dbs.restaurants.raw('SELECT pubname, pg_get_userbyid(pubowner) AS owner FROM pg_publication ORDER BY 1');
    expect(pubOwners.rows).toEqual([
      { pubname: 'legacy_pub', owner: 'restaurants_owner' },
      { pubname: TEST_PUBLICATION, owner: 'restaurants_owner' },
    ]);
    const pubs = await dbs.restaurants.raw('SELECT tablename FROM pg_publication_tables WHERE pubname = ? ORDER BY 1', [TEST_PUBLICATION]);
    expect(pubs.rows.map((r: { tablename: string }) => r.tablename)).toEqual(['menu_items', 'restaurants']);
  });
});
