import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { CONFIG_KEYS, loadConfig } from '../lib/node/config';
import { generatePayloadKey } from '../lib/node/payload-codec';
import { SEARCH_ATTRIBUTES } from '../lib/node/temporal-tools';

// No Docker engine runs where these tests run, so docker-compose.yml and the Dockerfile are checked
// by reading them: every service of ours gets only environment variables the code reads (the zod
// schema in lib/node/config.ts), every value parses with that schema, every address names a service of
// the file, every command is an existing entry point whose imports the image contains, and the
// Prometheus config scrapes the ports the services serve metrics on.

const ROOT = path.resolve(__dirname, '..');
const IMAGE = 'delivery-order-saga:local';

interface Service {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string | number | boolean>;
  depends_on?: Record<string, { condition: string }> | string[];
  ports?: string[];
  volumes?: string[];
  profiles?: string[];
  container_name?: string;
}

const compose = parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
};
const services = compose.services;
const ours = Object.entries(services).filter(([, s]) => s.image === IMAGE);

/** Compose interpolation with the defaults of the file: ${X:-default} → default, ${X:?error} → a stand-in. */
function interpolate(value: string | number | boolean): string {
  return String(value).replace(/\$\{(\w+)(?::?([-?])([^}]*))?\}/g, (_m, name: string, op: string | undefined, arg: string) =>
    op === '-' ? arg : name === 'AUTH_SECRET' ? 'compose-test-secret-0123456789-0123456789' : `\${${name}}`,
  );
}
const envOf = (s: Service): Record<string, string> => Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, interpolate(v)]));

// What each entry point needs set in a container (the defaults point at 127.0.0.1, or are for development).
const NEEDS: Record<string, string[]> = {
  'api/server.ts': [
    'NODE_ENV',
    'AUTH_SECRET',
    'HOST',
    'PORT',
    'ORDERS_DATABASE_URL',
    'RESTAURANTS_DATABASE_URL',
    'MENU_READ_DATABASE_URL',
    'TEMPORAL_ADDRESS',
    'PAYLOAD_KEYS',
    'TEMPORAL_UI_URL',
    'PAYMENTS_DATABASE_URL',
    'PSP_URL',
  ],
  'workers/order-worker.ts': ['NODE_ENV', 'AUTH_SECRET', 'PAYLOAD_KEYS', 'HOST', 'ORDERS_DATABASE_URL', 'TEMPORAL_ADDRESS', 'WORKER_METRICS_PORT'],
  'workers/payment-worker.ts': [
    'NODE_ENV',
    'AUTH_SECRET',
    'PAYLOAD_KEYS',
    'HOST',
    'PAYMENTS_DATABASE_URL',
    'TEMPORAL_ADDRESS',
    'PSP_URL',
    'WORKER_METRICS_PORT',
  ],
  'workers/restaurant-worker.ts': ['NODE_ENV', 'AUTH_SECRET', 'PAYLOAD_KEYS', 'HOST', 'RESTAURANTS_DATABASE_URL', 'TEMPORAL_ADDRESS', 'WORKER_METRICS_PORT'],
  'db/projector/main.ts': ['NODE_ENV', 'AUTH_SECRET', 'HOST', 'RESTAURANTS_DATABASE_URL', 'MENU_READ_DATABASE_URL', 'PROJECTOR_METRICS_PORT'],
  'psp/server.ts': ['NODE_ENV', 'AUTH_SECRET', 'HOST', 'PSP_PORT'],
  'scripts/migrate.ts': ['NODE_ENV', 'AUTH_SECRET', 'ORDERS_DATABASE_URL', 'PAYMENTS_DATABASE_URL', 'RESTAURANTS_DATABASE_URL', 'MENU_READ_DATABASE_URL'],
};
// Each service of the system as its own container (the brief of docker-compose.yml).
const EXPECTED = {
  api: 'api/server.ts',
  'order-worker': 'workers/order-worker.ts',
  'payment-worker': 'workers/payment-worker.ts',
  'restaurant-worker': 'workers/restaurant-worker.ts',
  projector: 'db/projector/main.ts',
  psp: 'psp/server.ts',
  migrate: 'scripts/migrate.ts',
};

const entryOf = (s: Service) => (Array.isArray(s.command) ? s.command[0]! : String(s.command));

/** The project files an entry point imports, transitively (relative imports and require.resolve). */
function importClosure(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = fs.readFileSync(path.join(ROOT, file), 'utf8');
    for (const m of source.matchAll(/(?:from\s+|import\(|require(?:\.resolve)?\()\s*'(\.{1,2}\/[^']+)'/g)) {
      const base = path.join(path.dirname(file), m[1]!);
      const found = [`${base}.ts`, path.join(base, 'index.ts'), base].find(
        (f) => fs.existsSync(path.join(ROOT, f)) && fs.statSync(path.join(ROOT, f)).isFile(),
      );
      if (!found) throw new Error(`${file}: cannot resolve ${m[1]}`);
      if (found.endsWith('.ts')) visit(found);
      else seen.add(found);
    }
  };
  visit(entry);
  return seen;
}

describe('docker-compose.yml', () => {
  it('runs every service of the system as its own container of the project image', () => {
    expect(Object.fromEntries(ours.map(([name, s]) => [name, entryOf(s)]))).toEqual(EXPECTED);
    for (const [, s] of ours) {
      expect(s.build).toBe('.');
      expect(s.container_name).toBeUndefined(); // a fixed name would forbid --scale
    }
  });

  it.each(ours)('%s: its command is an existing entry point', (_name, s) => {
    const entry = entryOf(s);
    expect(fs.existsSync(path.join(ROOT, entry))).toBe(true);
    expect(Object.keys(NEEDS)).toContain(entry);
  });

  it.each(ours)('%s: every environment variable is one the code reads, and the values pass lib/node/config.ts', (_name, s) => {
    const env = envOf(s);
    expect(Object.keys(env).filter((k) => !(CONFIG_KEYS as string[]).includes(k))).toEqual([]);
    expect(() => loadConfig(env)).not.toThrow();
  });

  it.each(ours)('%s: sets what its entry point needs in a container', (_name, s) => {
    const env = envOf(s);
    expect(NEEDS[entryOf(s)]!.filter((k) => env[k] === undefined)).toEqual([]);
    expect(env.NODE_ENV).toBe('production');
    if (env.HOST !== undefined) expect(env.HOST).toBe('0.0.0.0'); // reachable from other containers
  });

  it.each(ours)('%s: every address names a service of this file', (_name, s) => {
    for (const [key, value] of Object.entries(envOf(s))) {
      let host: string | undefined;
      if (key.endsWith('_DATABASE_URL') || key === 'PSP_URL') host = new URL(value).hostname;
      if (key === 'TEMPORAL_ADDRESS') host = value.split(':')[0];
      if (host !== undefined) expect({ key, host, known: host in services }).toEqual({ key, host, known: true });
    }
  });

  it("gives each service only the databases it owns (no service reads another service's database)", () => {
    const databases = (name: string) =>
      Object.keys(envOf(services[name]!))
        .filter((k) => k.endsWith('_DATABASE_URL'))
        .sort();
    expect(databases('order-worker')).toEqual(['ORDERS_DATABASE_URL']);
    expect(databases('payment-worker')).toEqual(['PAYMENTS_DATABASE_URL']);
    expect(databases('restaurant-worker')).toEqual(['RESTAURANTS_DATABASE_URL']);
    // The one exception, like the audit's: the operator's desk (admin routes) reads payments through a
    // read-only pool (api/server.ts); no customer or restaurant route touches it.
    expect(databases('api')).toEqual(['MENU_READ_DATABASE_URL', 'ORDERS_DATABASE_URL', 'PAYMENTS_DATABASE_URL', 'RESTAURANTS_DATABASE_URL']);
    expect(databases('projector')).toEqual(['MENU_READ_DATABASE_URL', 'RESTAURANTS_DATABASE_URL']);
  });

  it('each database URL names the Postgres that holds it: service databases on the logical-replication primary, the read model apart', () => {
    const urls = Object.fromEntries(ours.flatMap(([, s]) => Object.entries(envOf(s)).filter(([k]) => k.endsWith('_DATABASE_URL'))));
    expect(new URL(urls.RESTAURANTS_DATABASE_URL!).hostname).toBe('postgres');
    expect(new URL(urls.MENU_READ_DATABASE_URL!).hostname).toBe('postgres-read');
    expect(services.postgres!.command).toEqual(expect.arrayContaining(['wal_level=logical']));
  });

  it('depends only on services it defines, and the one-shot jobs gate the services', () => {
    for (const [name, s] of Object.entries(services)) {
      const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});
      for (const dep of deps) expect({ name, dep, known: dep in services }).toEqual({ name, dep, known: true });
    }
    for (const name of ['api', 'order-worker', 'payment-worker', 'restaurant-worker', 'projector']) {
      expect(services[name]!.depends_on).toMatchObject({
        migrate: { condition: 'service_completed_successfully' },
        'temporal-setup': { condition: 'service_completed_successfully' },
      });
    }
    expect(services.temporal!.depends_on).toMatchObject({ 'temporal-schema': { condition: 'service_completed_successfully' } });
  });

  it('registers the search attributes the workflow sets', () => {
    const script = fs.readFileSync(path.join(ROOT, 'ops/compose/setup-temporal-namespace.sh'), 'utf8');
    expect(script).toContain('temporal operator search-attribute create');
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) {
      expect(script).toMatch(new RegExp(`\\b${name}\\b`));
      expect(type).toBe('Keyword');
    }
  });

  it('mounts only files that exist, and runs scripts that exist', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const volume of s.volumes ?? []) {
        const [source, target] = volume.split(':');
        if (!source!.startsWith('.')) continue;
        expect({ name, source, exists: fs.existsSync(path.join(ROOT, source!)) }).toEqual({ name, source, exists: true });
        const script = (Array.isArray(s.command) ? s.command : []).find((c) => c.startsWith(`${target}/`));
        if (script) expect(fs.existsSync(path.join(ROOT, source!, script.slice(target!.length + 1)))).toBe(true);
      }
    }
  });

  it('Prometheus scrapes every service on the port it serves /metrics on', () => {
    const prom = parse(fs.readFileSync(path.join(ROOT, 'ops/prometheus/prometheus.yml'), 'utf8')) as {
      scrape_configs: Array<{ job_name: string; dns_sd_configs: Array<{ names: string[]; port: number }> }>;
    };
    const scraped = new Map<string, number>();
    for (const job of prom.scrape_configs) for (const sd of job.dns_sd_configs) for (const name of sd.names) scraped.set(name, sd.port);
    const metricsPort = (s: Service) => {
      const env = envOf(s);
      return Number(env.WORKER_METRICS_PORT ?? env.PROJECTOR_METRICS_PORT ?? (entryOf(s) === 'api/server.ts' ? env.PORT : NaN));
    };
    for (const [name, s] of ours.filter(([n]) => !['psp', 'migrate'].includes(n))) {
      expect({ name, port: scraped.get(name) }).toEqual({ name, port: metricsPort(s) });
    }
    expect(fs.existsSync(path.join(ROOT, 'ops/grafana/dashboards/delivery-order-saga.json'))).toBe(true);
  });
});

// `docker compose config` (or the older `docker-compose`) validates the file against Compose's own
// schema; it runs only where one is installed (neither is part of `npm run setup`).
const composeCli = [['docker', 'compose'], ['docker-compose']].find(
  ([cmd, ...args]) => spawnSync(cmd!, [...args, 'version'], { stdio: 'ignore' }).status === 0,
);
(composeCli ? it : it.skip)(`docker-compose.yml passes \`${(composeCli ?? ['docker compose']).join(' ')} config\``, () => {
  const [cmd, ...args] = composeCli!;
  const run = spawnSync(cmd!, [...args, '-f', path.join(ROOT, 'docker-compose.yml'), 'config', '-q'], {
    env: { ...process.env, AUTH_SECRET: 'compose-test-secret-0123456789-0123456789', PAYLOAD_KEYS: generatePayloadKey('compose-test') },
    encoding: 'utf8',
  });
  expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
});

describe('Dockerfile', () => {
  const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const copied = new Set([...dockerfile.matchAll(/^COPY (?!--from)(.+) \.\/?\S*$/gm)].flatMap((m) => m[1]!.split(/\s+/)));

  it('runs TypeScript through tsx, the loader the processes use everywhere', () => {
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "--import", "tsx"\]$/m);
    expect(dockerfile).toMatch(/tsx@/);
    expect(dockerfile).toMatch(/^FROM \$\{NODE_IMAGE\}/m);
    expect(dockerfile).toMatch(/ARG NODE_IMAGE=node:20/);
  });

  it.each(Object.values(EXPECTED))('contains every file %s imports', (entry) => {
    const dirs = new Set([...importClosure(entry)].map((f) => f.split('/')[0]!));
    if (entry.startsWith('workers/order')) expect(dirs).toContain('workflows'); // bundled at start
    expect([...dirs].filter((d) => !copied.has(d))).toEqual([]);
  });

  it('ships the web console and the OpenAPI page the API serves', () => {
    expect(dockerfile).toMatch(/COPY --from=web \/app\/web\/dist \.\/web\/dist/);
    expect(copied.has('api')).toBe(true);
    expect(fs.existsSync(path.join(ROOT, 'api/openapi-ui/index.html'))).toBe(true);
  });
});
