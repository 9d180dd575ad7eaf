import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { CONFIG_KEYS, loadConfig } from '../lib/node/config';
import { generatePayloadKey } from '../lib/node/payload-codec';
import { SEARCH_ATTRIBUTES } from '../lib/node/temporal-tools';
import { passwordVariable, SERVICE_ROLE_NAMES, SERVICE_ROLES, type ServiceRole } from '../db/roles';

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
  networks?: string[] | Record<string, unknown>;
}

const composeText = fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8');
const compose = parse(composeText, { merge: true }) as {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
  networks?: Record<string, { internal?: boolean } | null>;
};
const services = compose.services;
const ours = Object.entries(services).filter(([, s]) => s.image === IMAGE);

/** A stand-in for a required variable (${X:?error}): URL-safe, as the file asks. */
const standIn = (name: string) => (name === 'AUTH_SECRET' ? 'compose-test-secret-0123456789-0123456789' : `required-${name.toLowerCase().replace(/_/g, '-')}`);
/** Compose interpolation with the defaults of the file: ${X:-default} → default, ${X:?error} → a stand-in. */
function interpolate(value: string | number | boolean): string {
  return String(value).replace(/\$\{(\w+)(?::?([-?])([^}]*))?\}/g, (_m, name: string, op: string | undefined, arg: string) =>
    op === '-' ? arg : op === '?' ? standIn(name) : `\${${name}}`,
  );
}
/** Every ${...} reference of the file: its variable, its operator (`:-`, `:?`, or none) and the rest. */
const references = [...composeText.matchAll(/\$\{(\w+)(:?[-?])?([^}]*)\}/g)].map((m) => ({ name: m[1]!, op: m[2] ?? '', text: m[0] }));
const networksOf = (s: Service) => (Array.isArray(s.networks) ? s.networks : Object.keys(s.networks ?? {})).sort();
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
  'scripts/migrate.ts': [
    'NODE_ENV',
    'AUTH_SECRET',
    'ORDERS_DATABASE_URL',
    'PAYMENTS_DATABASE_URL',
    'RESTAURANTS_DATABASE_URL',
    'MENU_READ_DATABASE_URL',
    'CDC_PUBLICATION',
    ...SERVICE_ROLE_NAMES.map(passwordVariable),
  ],
};
// Each service of the system as its own container (the brief of docker-compose.yml).
const EXPECTED = {
  api: 'api/server.ts',
  'api-2': 'api/server.ts',
  'order-worker': 'workers/order-worker.ts',
  'payment-worker': 'workers/payment-worker.ts',
  'restaurant-worker': 'workers/restaurant-worker.ts',
  projector: 'db/projector/main.ts',
  'projector-2': 'db/projector/main.ts',
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
    for (const api of ['api', 'api-2']) {
      expect(databases(api)).toEqual(['MENU_READ_DATABASE_URL', 'ORDERS_DATABASE_URL', 'PAYMENTS_DATABASE_URL', 'RESTAURANTS_DATABASE_URL']);
    }
    for (const projector of ['projector', 'projector-2']) expect(databases(projector)).toEqual(['MENU_READ_DATABASE_URL', 'RESTAURANTS_DATABASE_URL']);
  });

  it('each database URL names the Postgres that holds it: service databases on the logical-replication primary, the read model apart', () => {
    const hostsOf = (key: string) =>
      Object.fromEntries(ours.filter(([, s]) => envOf(s)[key] !== undefined).map(([name, s]) => [name, new URL(envOf(s)[key]!).hostname]));
    for (const host of Object.values(hostsOf('RESTAURANTS_DATABASE_URL'))) expect(host).toBe('postgres');
    // Each read replica's API and projector on its own read Postgres; migrate sets both up.
    expect(hostsOf('MENU_READ_DATABASE_URL')).toEqual({
      api: 'postgres-read',
      'api-2': 'postgres-read-2',
      projector: 'postgres-read',
      'projector-2': 'postgres-read-2',
      migrate: 'postgres-read',
    });
    expect(
      envOf(services.migrate!)
        .MENU_READ_REPLICA_DATABASE_URLS!.split(',')
        .map((u) => new URL(u).hostname),
    ).toEqual(['postgres-read-2']);
    expect(services.postgres!.command).toEqual(expect.arrayContaining(['wal_level=logical']));
  });

  it('depends only on services it defines, and the one-shot jobs gate the services', () => {
    for (const [name, s] of Object.entries(services)) {
      const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});
      for (const dep of deps) expect({ name, dep, known: dep in services }).toEqual({ name, dep, known: true });
    }
    for (const name of ['api', 'api-2', 'order-worker', 'payment-worker', 'restaurant-worker', 'projector', 'projector-2']) {
      expect(services[name]!.depends_on).toMatchObject({
        migrate: { condition: 'service_completed_successfully' },
        'temporal-setup': { condition: 'service_completed_successfully' },
      });
    }
    expect(services.temporal!.depends_on).toMatchObject({ 'temporal-schema': { condition: 'service_completed_successfully' } });
  });

  it('runs a second read replica as `npm start -- --read-replicas 2` does: its own Postgres, its projector on its own slot, an API reading it', () => {
    const env = (name: string) => envOf(services[name]!);
    expect(services['postgres-read-2']).toMatchObject({ image: services['postgres-read']!.image, volumes: ['read-2-db:/var/lib/postgresql/data'] });
    expect(compose.volumes).toHaveProperty('read-2-db');
    expect(services['postgres-read']!.volumes).toEqual(['read-db:/var/lib/postgresql/data']);
    // The names harness/local-stack.ts gives read-2: replica read-2, slot menu_read_projector_2.
    expect([env('projector').CDC_SLOT_NAME, env('projector-2').CDC_SLOT_NAME]).toEqual(['menu_read_projector', 'menu_read_projector_2']);
    expect(['api', 'projector', 'api-2', 'projector-2'].map((n) => env(n).MENU_READ_REPLICA)).toEqual(['read-1', 'read-1', 'read-2', 'read-2']);
    // Both projectors stream the one publication migrate creates.
    expect(env('projector-2').CDC_PUBLICATION).toBe(env('migrate').CDC_PUBLICATION);
    expect(services.migrate!.depends_on).toMatchObject({ 'postgres-read-2': { condition: 'service_healthy' } });
    // api-2 is the API, its own host ports apart from api's.
    const { environment: _e1, ports: apiPorts, ...api } = services.api!;
    const { environment: _e2, ports: api2Ports, ...api2 } = services['api-2']!;
    expect(api2).toEqual(api);
    expect([apiPorts, api2Ports]).toEqual([['${API_PORTS:-3000-3009}:3000'], ['${API_2_PORTS:-3010-3019}:3000']]);
    const differs = (a: string, b: string) =>
      Object.keys({ ...env(a), ...env(b) })
        .filter((k) => env(a)[k] !== env(b)[k])
        .sort();
    expect(differs('api', 'api-2')).toEqual(['MENU_READ_DATABASE_URL', 'MENU_READ_REPLICA']);
    expect(differs('projector', 'projector-2')).toEqual(['CDC_SLOT_NAME', 'MENU_READ_DATABASE_URL', 'MENU_READ_REPLICA']);
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

describe('docker-compose.yml: what is reachable, and with which credentials', () => {
  // Temporal's frontend has no authentication (whoever reaches it can cancel, terminate or reset a saga),
  // nor have the Web UI and Prometheus; the databases are the data.
  const INTERNAL_ONLY = ['temporal', 'prometheus', 'postgres', 'postgres-read', 'postgres-read-2', 'postgres-temporal'];
  const PUBLIC = ['api', 'api-2', 'grafana'];
  const isDefault = (s: Service) => s.profiles === undefined || s.profiles.length === 0;

  it('has an internal backend network, and every service names its networks (none lands on the default one)', () => {
    expect(compose.networks?.backend).toEqual({ internal: true });
    for (const [name, s] of Object.entries(services)) {
      expect({ name, networks: networksOf(s).length > 0 }).toEqual({ name, networks: true });
      for (const n of networksOf(s)) expect({ name, network: n, known: n in (compose.networks ?? {}) }).toEqual({ name, network: n, known: true });
    }
  });

  it.each(INTERNAL_ONLY)('%s publishes no port and is on the internal network only', (name) => {
    const s = services[name]!;
    expect(s.ports).toBeUndefined();
    expect(networksOf(s)).toEqual(['backend']);
  });

  it('publishes ports only for the API and Grafana; anything else only on 127.0.0.1, and only in an opt-in profile', () => {
    for (const [name, s] of Object.entries(services)) {
      if (!s.ports || PUBLIC.includes(name)) continue;
      expect({ name, optIn: !isDefault(s) }).toEqual({ name, optIn: true });
      for (const port of s.ports) expect({ name, port: port.startsWith('127.0.0.1:') }).toEqual({ name, port: true });
    }
    expect(
      Object.entries(services)
        .filter(([, s]) => s.ports && isDefault(s))
        .map(([n]) => n),
    ).toEqual(['api', 'api-2']);
    // The Web UI: the ops profile, the host's loopback (docs/runbook.md says how to reach it).
    expect(services['temporal-ui']).toMatchObject({ profiles: ['ops'], ports: ['127.0.0.1:${TEMPORAL_UI_PORT:-8080}:8080'] });
    expect(fs.readFileSync(path.join(ROOT, 'docs/runbook.md'), 'utf8')).toMatch(/## Reaching Temporal[\s\S]*--profile ops[\s\S]*ssh -L/);
  });

  it('requires every password and secret: no defaults, anywhere', () => {
    const secrets = references.filter((r) => /PASSWORD|SECRET/.test(r.name));
    expect(secrets.length).toBeGreaterThan(10);
    expect(secrets.filter((r) => r.op !== ':?').map((r) => r.text)).toEqual([]);
    // No literal credentials either: every environment entry named like a secret is a required variable.
    for (const [name, s] of Object.entries(services)) {
      for (const [key, value] of Object.entries(s.environment ?? {})) {
        if (/PASSWORD|PWD|SECRET/.test(key)) expect({ name, key, value: /^\$\{\w+:\?[^}]+\}$/.test(String(value)) }).toEqual({ name, key, value: true });
      }
    }
    // .env.example lists each of them, empty.
    const example = fs.readFileSync(path.join(ROOT, '.env.example'), 'utf8');
    for (const name of new Set(secrets.map((r) => r.name))) expect(example).toMatch(new RegExp(`^${name}=$`, 'm'));
  });

  it('every database URL carries a password from a required variable, never a literal', () => {
    for (const [name, s] of ours) {
      for (const [key, value] of Object.entries(s.environment ?? {})) {
        if (!key.endsWith('_DATABASE_URL')) continue;
        expect({ name, key, password: /^postgres:\/\/\w+:\$\{\w+:\?[^}]+\}@/.test(String(value)) }).toEqual({ name, key, password: true });
      }
    }
  });

  it("each service logs in as its own role (db/roles.ts), with that role's password variable, on a database the role is granted", () => {
    const login = (name: string) =>
      Object.fromEntries(
        Object.entries(services[name]!.environment ?? {})
          .filter(([k]) => k.endsWith('_DATABASE_URL'))
          .map(([k, v]) => [k, /^postgres:\/\/(\w+):\$\{(\w+):/.exec(String(v))!.slice(1, 3)]),
      );
    const expected: Record<string, Record<string, ServiceRole>> = {
      'order-worker': { ORDERS_DATABASE_URL: 'orders_service' },
      'payment-worker': { PAYMENTS_DATABASE_URL: 'payments_service' },
      'restaurant-worker': { RESTAURANTS_DATABASE_URL: 'restaurants_service' },
      api: {
        ORDERS_DATABASE_URL: 'orders_service',
        RESTAURANTS_DATABASE_URL: 'restaurants_service',
        MENU_READ_DATABASE_URL: 'menu_reader',
        PAYMENTS_DATABASE_URL: 'payments_reader',
      },
      projector: { RESTAURANTS_DATABASE_URL: 'menu_projector', MENU_READ_DATABASE_URL: 'menu_projector' },
    };
    expected['api-2'] = expected.api!;
    expected['projector-2'] = expected.projector!;
    for (const [name, roles] of Object.entries(expected)) {
      expect(login(name)).toEqual(Object.fromEntries(Object.entries(roles).map(([k, role]) => [k, [role, passwordVariable(role)]])));
      for (const [key, role] of Object.entries(roles)) {
        const database = new URL(envOf(services[name]!)[key]!).pathname.slice(1);
        expect({ name, role, database, granted: SERVICE_ROLES[role].grants.some((g) => g.database === database) }).toEqual({
          name,
          role,
          database,
          granted: true,
        });
      }
    }
    // Only the migrate job holds the superuser, and it gets every role's password to set.
    for (const [name, s] of ours) {
      const superuser = Object.values(s.environment ?? {}).some((v) => String(v).startsWith('postgres://postgres:'));
      expect({ name, superuser }).toEqual({ name, superuser: name === 'migrate' });
    }
    for (const role of SERVICE_ROLE_NAMES) expect(envOf(services.migrate!)[passwordVariable(role)]).toBe(standIn(passwordVariable(role)));
  });

  it("requires Grafana's admin password, and allows anonymous viewers only in the demo profile (on 127.0.0.1)", () => {
    const grafanas = Object.entries(services).filter(([, s]) => s.image?.startsWith('grafana/grafana'));
    expect(grafanas.map(([n]) => n).sort()).toEqual(['grafana', 'grafana-demo']);
    for (const [name, s] of grafanas) {
      expect({ name, password: s.environment?.GF_SECURITY_ADMIN_PASSWORD }).toEqual({
        name,
        password: expect.stringMatching(/^\$\{GRAFANA_ADMIN_PASSWORD:\?.+\}$/),
      });
      expect({ name, signUp: s.environment?.GF_USERS_ALLOW_SIGN_UP }).toEqual({ name, signUp: 'false' });
      const anonymous = s.environment?.GF_AUTH_ANONYMOUS_ENABLED === 'true';
      expect({ name, anonymous }).toEqual({ name, anonymous: name === 'grafana-demo' });
      if (anonymous) {
        expect(s.profiles).toEqual(['demo']);
        expect(s.ports!.every((p) => p.startsWith('127.0.0.1:'))).toBe(true);
      }
    }
    expect(services.grafana!.environment?.GF_AUTH_ANONYMOUS_ENABLED).toBe('false');
    expect(services.grafana!.profiles).toEqual(['monitoring']);
  });
});

// `docker compose config` (or the older `docker-compose`) validates the file against Compose's own
// schema; it runs only where one is installed (neither is part of `npm run setup`).
const composeCli = [['docker', 'compose'], ['docker-compose']].find(
  ([cmd, ...args]) => spawnSync(cmd!, [...args, 'version'], { stdio: 'ignore' }).status === 0,
);
(composeCli ? it : it.skip)(`docker-compose.yml passes \`${(composeCli ?? ['docker compose']).join(' ')} config\``, () => {
  const [cmd, ...args] = composeCli!;
  const required = Object.fromEntries(references.filter((r) => r.op === ':?').map((r) => [r.name, standIn(r.name)]));
  const run = spawnSync(cmd!, [...args, '-f', path.join(ROOT, 'docker-compose.yml'), 'config', '-q'], {
    env: { ...process.env, ...required, PAYLOAD_KEYS: generatePayloadKey('compose-test') },
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
  });

  it('builds on a current Node LTS line (22 or later, an even major), while package.json keeps Node 20 supported', () => {
    const major = Number(/^ARG NODE_IMAGE=node:(\d+)-/m.exec(dockerfile)?.[1]);
    expect(major).toBeGreaterThanOrEqual(22);
    expect(major % 2).toBe(0); // only even majors become LTS
    expect(dockerfile.match(/^FROM /gm)).toHaveLength(dockerfile.match(/^FROM \$\{NODE_IMAGE\}/gm)!.length);
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
    expect(pkg.engines.node).toBe('>=20');
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
