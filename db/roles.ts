import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDb } from './knex';
import { migrateLatest, type DatabaseName } from './migrations';
import { SOURCE_TABLES } from './projector/changes';
import { hasMaintainPrivilege } from '../lib/node/pg-admin';

// Least privilege in Postgres: who may do what in which database. Every process logs in as the role of
// its service, which reaches its own database and nothing else; tables belong to a per-database owner
// role that only the migrations act as; the superuser only creates databases and roles.
//
//   setUpDatabases(): create the roles (or reset their passwords) and the databases, hand each
//   database and its tables to its owner, migrate as the owner, then grant each role its rights on
//   the tables that exist and (ALTER DEFAULT PRIVILEGES) on those later migrations create.
//
// Idempotent: scripts/migrate.ts, `npm start` and the tests run it on every start.

/** The role that owns a database, its schema objects and its migrations (NOLOGIN: migrations SET ROLE to it). */
export const OWNER_ROLES: Record<DatabaseName, string> = {
  orders: 'orders_owner',
  payments: 'payments_owner',
  restaurants: 'restaurants_owner',
  menu_read: 'menu_read_owner',
};

export type ServiceRole = 'orders_service' | 'payments_service' | 'payments_reader' | 'restaurants_service' | 'menu_projector' | 'menu_reader';

/** `write`: SELECT, INSERT, UPDATE, DELETE (and the sequences); `read`: SELECT. */
export type Access = 'write' | 'read';

export interface RoleGrant {
  database: DatabaseName;
  access: Access;
  /** Only these tables (default: every table of the database, present and future, but the migrations' own). */
  tables?: readonly string[];
  /** Also VACUUM and ANALYZE (Postgres 17+ MAINTAIN; not granted on older servers). */
  maintain?: boolean;
}

export interface RoleSpec {
  /** Who logs in with it. */
  usedBy: string;
  /** The REPLICATION attribute: a walsender connection (logical replication), nothing more. */
  replication?: boolean;
  grants: readonly RoleGrant[];
}

/** The role matrix. A role exists on every Postgres instance that holds one of its databases. */
export const SERVICE_ROLES: Record<ServiceRole, RoleSpec> = {
  orders_service: { usedBy: "order worker; API (recording and reading orders, the desk's audit trail)", grants: [{ database: 'orders', access: 'write' }] },
  payments_service: { usedBy: 'payment worker', grants: [{ database: 'payments', access: 'write' }] },
  payments_reader: { usedBy: "API: the operator's desk reads one order's payment row and events", grants: [{ database: 'payments', access: 'read' }] },
  restaurants_service: {
    usedBy: 'restaurant worker (tickets); API (menu commands, the desk reads tickets)',
    grants: [{ database: 'restaurants', access: 'write' }],
  },
  menu_projector: {
    usedBy: 'CDC projector: streams the published tables of restaurants, writes menu_read',
    replication: true,
    grants: [
      { database: 'restaurants', access: 'read', tables: Object.keys(SOURCE_TABLES) },
      // MAINTAIN: it vacuums and analyzes the read model after copying a snapshot into it.
      { database: 'menu_read', access: 'write', maintain: true },
    ],
  },
  menu_reader: { usedBy: "API: menu queries and the menu cache's LISTEN", grants: [{ database: 'menu_read', access: 'read' }] },
};

export const SERVICE_ROLE_NAMES = Object.keys(SERVICE_ROLES) as ServiceRole[];

/** The environment variable that carries a role's password (scripts/migrate.ts, docker-compose.yml). */
export const passwordVariable = (role: ServiceRole) => `DB_PASSWORD_${role.toUpperCase()}`;

/** Where one database lives: the superuser URL of its instance (any database) and its name there. */
export interface DatabaseTarget {
  adminUrl: string;
  name: string;
}

export interface SetUpOptions {
  /** Usually all four; a further read replica's instance gets menu_read alone. */
  targets: Partial<Record<DatabaseName, DatabaseTarget>>;
  passwords: Record<ServiceRole, string>;
  /** The CDC publication on restaurants, created by its owner (the projector may not own tables). */
  publication: string;
  /** Runs after the migrations, as the owner, on each database (the seed). */
  afterMigrate?: (name: DatabaseName, db: ReturnType<typeof createDb>, applied: string[]) => Promise<void>;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;
function ident(name: string): string {
  if (!IDENTIFIER.test(name)) throw new Error(`Unsafe identifier: ${name}`);
  return name;
}

/** A URL of `target`'s database, or another database of its instance. */
export function databaseUrl(target: DatabaseTarget, database = target.name): string {
  const u = new URL(target.adminUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

/** The URL a process of `role` connects to `database` with. */
export function roleUrl(target: DatabaseTarget, role: ServiceRole, password: string): string {
  const u = new URL(databaseUrl(target));
  u.username = encodeURIComponent(role);
  u.password = encodeURIComponent(password);
  return u.toString();
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'delivery-roles' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** The instance a URL points at (host and port): roles are per instance. */
const instanceOf = (url: string) => new URL(url).host;

/**
 * The SCRAM-SHA-256 verifier Postgres stores for a password (RFC 5802/7677, as libpq's
 * PQencryptPasswordConn builds it): ALTER ROLE ... PASSWORD '<verifier>' sets the password without
 * its clear text ever reaching the server (or a statement log). Postgres SASLpreps non-ASCII
 * passwords first; those are sent as they are instead.
 */
export function scramVerifier(password: string, salt = randomBytes(16), iterations = 4096): string | undefined {
  if (!/^[\x20-\x7e]*$/.test(password)) return undefined;
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

async function ensureRole(c: pg.Client, role: string, attributes: string, password?: string): Promise<void> {
  const exists = await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
  if (exists.rowCount === 0) {
    try {
      await c.query(`CREATE ROLE ${ident(role)}`);
    } catch (e) {
      if ((e as { code?: string }).code !== '42710') throw e; // created meanwhile
    }
  }
  const login = password === undefined ? 'NOLOGIN PASSWORD NULL' : `LOGIN PASSWORD ${c.escapeLiteral(scramVerifier(password) ?? password)}`;
  await c.query(`ALTER ROLE ${ident(role)} ${login} ${attributes}`);
}

/** Roles granted anything in `database`. */
function rolesOn(database: DatabaseName): Array<[ServiceRole, RoleGrant]> {
  return SERVICE_ROLE_NAMES.flatMap((role) =>
    SERVICE_ROLES[role].grants.filter((g) => g.database === database).map((g): [ServiceRole, RoleGrant] => [role, g]),
  );
}

/** Step 1 (superuser, per instance): the roles, the databases, who may connect to each. */
async function prepareInstance(adminUrl: string, databases: Array<[DatabaseName, DatabaseTarget]>, passwords: Record<ServiceRole, string>): Promise<void> {
  await withClient(databaseUrl({ adminUrl, name: 'postgres' }), async (c) => {
    for (const [name] of databases) await ensureRole(c, OWNER_ROLES[name], 'NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT');
    const here = new Set(databases.map(([name]) => name));
    for (const role of SERVICE_ROLE_NAMES) {
      const spec = SERVICE_ROLES[role];
      if (!spec.grants.some((g) => here.has(g.database))) continue;
      const password = passwords[role];
      if (!password) throw new Error(`No password for the database role ${role} (${passwordVariable(role)})`);
      await ensureRole(c, role, `NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS INHERIT ${spec.replication ? 'REPLICATION' : 'NOREPLICATION'}`, password);
    }
    for (const [name, target] of databases) {
      const db = ident(target.name);
      const owner = ident(OWNER_ROLES[name]);
      const found = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [target.name]);
      if (found.rowCount === 0) {
        try {
          await c.query(`CREATE DATABASE ${db} OWNER ${owner}`);
        } catch (e) {
          if ((e as { code?: string }).code !== '42P04') throw e; // created meanwhile
        }
      }
      await c.query(`ALTER DATABASE ${db} OWNER TO ${owner}`);
      // Nobody connects by default (PUBLIC has CONNECT and TEMPORARY on a new database): only the roles granted below.
      await c.query(`REVOKE ALL ON DATABASE ${db} FROM PUBLIC`);
      for (const [role] of rolesOn(name)) await c.query(`GRANT CONNECT ON DATABASE ${db} TO ${ident(role)}`);
    }
  });
}

/**
 * Step 2 (superuser, in the database): its schema objects belong to its owner, including tables an
 * earlier version created as the superuser, so migrations running as the owner can alter them.
 */
async function handToOwner(c: pg.Client, name: DatabaseName): Promise<void> {
  const owner = ident(OWNER_ROLES[name]);
  await c.query('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
  const { rows } = await c.query<{ relname: string; relkind: string }>(
    `SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') AND pg_get_userbyid(c.relowner) <> $1`,
    [OWNER_ROLES[name]],
  );
  for (const r of rows) {
    const kind = r.relkind === 'v' ? 'VIEW' : r.relkind === 'm' ? 'MATERIALIZED VIEW' : 'TABLE';
    await c.query(`ALTER ${kind} public.${c.escapeIdentifier(r.relname)} OWNER TO ${owner}`);
  }
  const pubs = await c.query<{ pubname: string }>('SELECT pubname FROM pg_publication WHERE pg_get_userbyid(pubowner) <> $1', [OWNER_ROLES[name]]);
  for (const p of pubs.rows) await c.query(`ALTER PUBLICATION ${c.escapeIdentifier(p.pubname)} OWNER TO ${owner}`);
}

const MIGRATION_TABLES = ['knex_migrations', 'knex_migrations_lock'];

/** Step 4 (superuser, in the database): each role's rights on the tables, now and for later migrations. */
async function grantRights(c: pg.Client, name: DatabaseName, publication: string): Promise<void> {
  const owner = ident(OWNER_ROLES[name]);
  const tables = (await c.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).rows.map((r) => r.tablename);
  const hasMaintain = await hasMaintainPrivilege((sql) => c.query(sql));
  for (const [role, grant] of rolesOn(name)) {
    const r = ident(role);
    const privileges = (grant.access === 'write' ? 'SELECT, INSERT, UPDATE, DELETE' : 'SELECT') + (grant.maintain && hasMaintain ? ', MAINTAIN' : '');
    await c.query(`GRANT USAGE ON SCHEMA public TO ${r}`);
    // Start from nothing, so a right the matrix no longer gives is taken back.
    await c.query(`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${r}`);
    await c.query(`REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM ${r}`);
    await c.query(`ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA public REVOKE ALL ON TABLES FROM ${r}`);
    await c.query(`ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA public REVOKE ALL ON SEQUENCES FROM ${r}`);
    if (grant.tables) {
      for (const t of grant.tables) if (tables.includes(t)) await c.query(`GRANT ${privileges} ON TABLE public.${ident(t)} TO ${r}`);
      continue;
    }
    const granted = tables.filter((t) => !MIGRATION_TABLES.includes(t));
    for (const t of granted) await c.query(`GRANT ${privileges} ON TABLE public.${ident(t)} TO ${r}`);
    await c.query(`ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA public GRANT ${privileges} ON TABLES TO ${r}`);
    if (grant.access === 'write') {
      await c.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${r}`);
      await c.query(`ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO ${r}`);
    }
  }
  if (name === 'restaurants') await ensurePublication(c, name, publication);
}

/** The publication the projector streams, owned by the restaurants database's owner. */
async function ensurePublication(c: pg.Client, name: DatabaseName, publication: string): Promise<void> {
  const pub = c.escapeIdentifier(publication);
  const tables = Object.keys(SOURCE_TABLES);
  await c.query(`SET ROLE ${ident(OWNER_ROLES[name])}`);
  try {
    const exists = await c.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [publication]);
    if (exists.rowCount === 0) {
      await c.query(`CREATE PUBLICATION ${pub} FOR TABLE ${tables.map((t) => `public.${ident(t)}`).join(', ')}`);
      return;
    }
    const have = await c.query<{ tablename: string }>("SELECT tablename FROM pg_publication_tables WHERE pubname = $1 AND schemaname = 'public'", [
      publication,
    ]);
    const missing = tables.filter((t) => !have.rows.some((r) => r.tablename === t));
    if (missing.length > 0) await c.query(`ALTER PUBLICATION ${pub} ADD TABLE ${missing.map((t) => `public.${ident(t)}`).join(', ')}`);
  } finally {
    await c.query('RESET ROLE');
  }
}

/**
 * Creates (or brings up to date) the roles and the databases (the four, or those given), migrates them as their owners,
 * runs `afterMigrate` (the seed) as the owner, and grants each service role its rights.
 */
export async function setUpDatabases(opts: SetUpOptions): Promise<void> {
  const entries = Object.entries(opts.targets) as Array<[DatabaseName, DatabaseTarget]>;
  for (const t of entries) ident(t[1].name);
  const instances = new Map<string, { adminUrl: string; databases: Array<[DatabaseName, DatabaseTarget]> }>();
  for (const [name, target] of entries) {
    const key = instanceOf(target.adminUrl);
    const instance = instances.get(key) ?? { adminUrl: target.adminUrl, databases: [] };
    instance.databases.push([name, target]);
    instances.set(key, instance);
  }
  for (const { adminUrl, databases } of instances.values()) await prepareInstance(adminUrl, databases, opts.passwords);
  for (const [name, target] of entries) {
    await withClient(databaseUrl(target), (c) => handToOwner(c, name));
    // Migrations (and the seed) run as the owner: the tables they create are the owner's, and the
    // default privileges below cover them.
    const db = createDb(databaseUrl(target), 2, { role: OWNER_ROLES[name], applicationName: 'delivery-migrate' });
    try {
      const applied = await migrateLatest(db, name);
      await opts.afterMigrate?.(name, db, applied);
    } finally {
      await db.destroy();
    }
    // One transaction: a running service never sees its rights taken away between the REVOKE and the GRANT.
    await withClient(databaseUrl(target), async (c) => {
      await c.query('BEGIN');
      try {
        await grantRights(c, name, opts.publication);
        await c.query('COMMIT');
      } catch (e) {
        await c.query('ROLLBACK');
        throw e;
      }
    });
  }
}
