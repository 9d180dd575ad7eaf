import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_TOKEN_LIFETIMES, type TokenLifetimes } from './auth';

/** The API's rate limits by default (requests per RATE_LIMIT_WINDOW_MS): far above any real client, far below a flood. */
export const DEFAULT_RATE_LIMITS = { windowMs: 60_000, customer: 300, restaurant: 600, admin: 600, anonymous: 300, probes: 120 } as const;

/** Fewer characters than this make a secret that can be brute-forced offline from one token. */
export const MIN_SECRET_LENGTH = 32;

// One schema over the environment: every address and credential has a default that matches
// `npm start`'s embedded stack, so the same code runs against external Postgres and Temporal.
const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  // The interface every listener of a process binds: the API, the PSP sandbox, worker and projector /metrics.
  HOST: z.string().default('127.0.0.1'),
  ORDERS_DATABASE_URL: z.string().default('postgres://postgres:postgres@127.0.0.1:54329/orders'),
  PAYMENTS_DATABASE_URL: z.string().default('postgres://postgres:postgres@127.0.0.1:54329/payments'),
  RESTAURANTS_DATABASE_URL: z.string().default('postgres://postgres:postgres@127.0.0.1:54329/restaurants'),
  MENU_READ_DATABASE_URL: z.string().default('postgres://postgres:postgres@127.0.0.1:54339/menu_read'),
  DB_POOL_MAX: z.coerce.number().int().min(1).default(10),
  // scripts/migrate.ts only: the superuser's URLs of further read replicas' menu_read databases,
  // comma-separated (docker-compose.yml's read-2); each gets the read model's roles and migrations.
  MENU_READ_REPLICA_DATABASE_URLS: z.string().default(''),
  // scripts/migrate.ts only: the passwords it gives the services' database roles (db/roles.ts); the
  // *_DATABASE_URLs it is given are the superuser's. Each process then connects with its role's URL.
  DB_PASSWORD_ORDERS_SERVICE: z.string().min(1).optional(),
  DB_PASSWORD_PAYMENTS_SERVICE: z.string().min(1).optional(),
  DB_PASSWORD_PAYMENTS_READER: z.string().min(1).optional(),
  DB_PASSWORD_RESTAURANTS_SERVICE: z.string().min(1).optional(),
  DB_PASSWORD_MENU_PROJECTOR: z.string().min(1).optional(),
  DB_PASSWORD_MENU_READER: z.string().min(1).optional(),
  // API: menus kept in memory, dropped when the CDC projector announces a change; 0 switches it off.
  MENU_CACHE_ENTRIES: z.coerce.number().int().min(0).default(20_000),
  MENU_CACHE_TTL_SECONDS: z.coerce.number().int().min(1).default(300),
  // CDC projector (db/projector): slot and publication on the restaurants database, its /metrics port.
  CDC_SLOT_NAME: z
    .string()
    .regex(/^[a-z0-9_]{1,63}$/)
    .default('menu_read_projector'),
  CDC_PUBLICATION: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/)
    .default('menu_cdc'),
  PROJECTOR_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  // The read replica a process serves: each replica is its own menu_read database with its own
  // projector and slot; the name labels the projector's metrics (cdc_projector_*{replica=...}).
  // An API process reads the replica MENU_READ_DATABASE_URL points at.
  MENU_READ_REPLICA: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,31}$/)
    .default('read-1'),
  // Projector: a read model more than this much source WAL behind re-syncs from a snapshot instead
  // of replaying (at a reconnect or while streaming); 0: never.
  CDC_RESYNC_BEHIND_BYTES: z.coerce
    .number()
    .int()
    .min(0)
    .default(1024 ** 3),
  // Workers (workers/run-worker.ts): one /metrics port per process serving the Temporal SDK's and
  // the saga's metrics. Unset or empty: no endpoint; 0: any free port (logged at start).
  WORKER_METRICS_PORT: z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().int().min(0).max(65535).optional()),
  TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_UI_URL: z.string().default('http://127.0.0.1:8233'),
  // The order service's layout. 'true': the API process also runs the order workflow worker (with the
  // PENDING sweeper, the reconciler's Schedule and the open-order metrics), both on one Temporal
  // NativeConnection, and starts each order's saga with eager workflow start (the server hands the
  // first workflow task back in the start call: one poll and about one state transition less per
  // order). The entry point is then processes/api-order-worker.ts, and no separate order worker is
  // needed (more may still run: they share the task queue). api/server.ts refuses to start with it;
  // `npm start`, `npm run bench` and the harness pick the entry point from it (or --api-order-worker).
  API_ORDER_WORKER: z.enum(['true', 'false']).default('false'),
  // Lets several stacks (or test files) share one Temporal server without stealing each other's tasks.
  TASK_QUEUE_PREFIX: z.string().default(''),
  PSP_URL: z.string().default('http://127.0.0.1:4010'),
  PSP_PORT: z.coerce.number().int().min(0).max(65535).default(4010),
  PSP_TIMEOUT_MS: z.coerce.number().int().min(1).default(5000),
  // A retried PSP call waits longer each attempt (PSP_TIMEOUT_MS doubling) up to this; the saga's
  // payment steps allow 2 minutes per attempt (a lookup and a call), so keep it below a minute.
  PSP_MAX_TIMEOUT_MS: z.coerce.number().int().min(1).max(55_000).default(45_000),
  // PSP sandbox (psp/server.ts): the file its books are kept in (JSON lines, replayed on start); unset: in memory.
  PSP_DATA_FILE: z.preprocess((v) => (v === '' ? undefined : v), z.string().optional()),
  AUTH_SECRET: z.string().optional(),
  // The payment worker refuses to start against the PSP sandbox in production unless this is true.
  PSP_SANDBOX_ALLOWED: z.enum(['true', 'false']).default('false'),
  // Temporal payload encryption (lib/node/payload-codec.ts): a keyring `id:base64key[,id:base64key...]`
  // (32-byte keys; the first encrypts, all decrypt), inline or in a file. Required in production;
  // elsewhere unset means a keyring generated once into .data/payload-keys.
  PAYLOAD_KEYS: z.preprocess((v) => (v === '' ? undefined : v), z.string().optional()),
  PAYLOAD_KEYS_FILE: z.preprocess((v) => (v === '' ? undefined : v), z.string().optional()),
  // The codec endpoint (/codec/decode, /codec/encode): browser origins allowed by CORS, comma-separated
  // (unset: the origin of TEMPORAL_UI_URL, the Temporal Web UI).
  CODEC_CORS_ORIGINS: z.preprocess((v) => (v === '' ? undefined : v), z.string().optional()),
  TOKEN_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .default(7 * 24 * 3600),
  ACCEPTANCE_WINDOW_SECONDS: z.coerce.number().int().min(1).default(300),
  // The reconciler (workflows/reconcile.ts), run by a Temporal Schedule the order worker keeps in
  // place: one pass every RECONCILE_INTERVAL_SECONDS (0: no schedule). It repairs orders whose saga
  // ended more than RECONCILE_GRACE_SECONDS ago (longer than any saga activity attempt can run, 2 min
  // for a payment step, so no attempt of the old run can still act) and asks sagas whose order is older than
  // RECONCILE_STALE_SECONDS (unset: an hour past the acceptance window) to cancel.
  RECONCILE_INTERVAL_SECONDS: z.coerce.number().int().min(0).default(300),
  RECONCILE_GRACE_SECONDS: z.coerce.number().int().min(0).default(180),
  RECONCILE_STALE_SECONDS: z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().int().min(1).optional()),
  // Bearer tokens: the longest a token of each role may live (exp - iat), enforced when verifying;
  // `npm run token` and the dev stack cut TOKEN_TTL_SECONDS to it.
  TOKEN_MAX_LIFETIME_CUSTOMER_SECONDS: z.coerce.number().int().min(60).default(DEFAULT_TOKEN_LIFETIMES.customer),
  TOKEN_MAX_LIFETIME_RESTAURANT_SECONDS: z.coerce.number().int().min(60).default(DEFAULT_TOKEN_LIFETIMES.restaurant),
  TOKEN_MAX_LIFETIME_ADMIN_SECONDS: z.coerce.number().int().min(60).default(DEFAULT_TOKEN_LIFETIMES.admin),
  // API rate limits per window: per token subject for each role, per IP address for callers without
  // a token, and per IP address for /readyz and /metrics. 0 switches that limit off.
  RATE_LIMIT_WINDOW_MS: z.coerce.number().int().min(1000).default(DEFAULT_RATE_LIMITS.windowMs),
  RATE_LIMIT_CUSTOMER_MAX: z.coerce.number().int().min(0).default(DEFAULT_RATE_LIMITS.customer),
  RATE_LIMIT_RESTAURANT_MAX: z.coerce.number().int().min(0).default(DEFAULT_RATE_LIMITS.restaurant),
  RATE_LIMIT_ADMIN_MAX: z.coerce.number().int().min(0).default(DEFAULT_RATE_LIMITS.admin),
  RATE_LIMIT_ANONYMOUS_MAX: z.coerce.number().int().min(0).default(DEFAULT_RATE_LIMITS.anonymous),
  RATE_LIMIT_PROBES_MAX: z.coerce.number().int().min(0).default(DEFAULT_RATE_LIMITS.probes),
  // A customer's orders not yet final (PENDING, AWAITING_RESTAURANT): one more is refused 429 (0: no limit).
  ORDERS_IN_FLIGHT_MAX: z.coerce.number().int().min(0).default(5),
  // POST /orders?wait=: requests one API process holds open at once while their order leaves PENDING (0: no cap).
  ORDER_WAIT_MAX_HOLDS: z.coerce.number().int().min(0).default(200),
  // POST /orders answers before its saga starts; one API process makes at most this many start calls
  // at once, with at most SAGA_START_QUEUE_MAX waiting (beyond: left to the order worker's sweeper).
  SAGA_START_CONCURRENCY: z.coerce.number().int().min(1).default(16),
  SAGA_START_QUEUE_MAX: z.coerce.number().int().min(0).default(2000),
  // Express "trust proxy" for the API: false (the socket's address is the client), true, a hop count,
  // or addresses/subnets of the proxies in front of it. Decides the IP the rate limiter sees.
  TRUST_PROXY: z.string().default('false'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = z.infer<typeof envSchema> & { AUTH_SECRET: string };

/** Every environment variable the processes read through loadConfig (docker-compose.yml is checked against it). */
export const CONFIG_KEYS = Object.keys(envSchema.shape) as Array<keyof z.infer<typeof envSchema>>;

/** The reconciler's settings, with the stale limit's default (an hour past the acceptance window). */
export function reconcileSettings(
  config: Pick<Config, 'RECONCILE_INTERVAL_SECONDS' | 'RECONCILE_GRACE_SECONDS' | 'RECONCILE_STALE_SECONDS' | 'ACCEPTANCE_WINDOW_SECONDS'>,
) {
  return {
    intervalSeconds: config.RECONCILE_INTERVAL_SECONDS,
    graceSeconds: config.RECONCILE_GRACE_SECONDS,
    staleSeconds: config.RECONCILE_STALE_SECONDS ?? 3600 + config.ACCEPTANCE_WINDOW_SECONDS,
  };
}

/** The token lifetimes the API verifies with (and the minting scripts cut to). */
export function tokenLifetimes(
  config: Pick<Config, 'TOKEN_MAX_LIFETIME_CUSTOMER_SECONDS' | 'TOKEN_MAX_LIFETIME_RESTAURANT_SECONDS' | 'TOKEN_MAX_LIFETIME_ADMIN_SECONDS'>,
): TokenLifetimes {
  return {
    customer: config.TOKEN_MAX_LIFETIME_CUSTOMER_SECONDS,
    restaurant: config.TOKEN_MAX_LIFETIME_RESTAURANT_SECONDS,
    admin: config.TOKEN_MAX_LIFETIME_ADMIN_SECONDS,
  };
}

/** The origins the codec endpoint's CORS allows: CODEC_CORS_ORIGINS, else the Web UI's origin. */
export function codecCorsOrigins(config: Pick<Config, 'CODEC_CORS_ORIGINS' | 'TEMPORAL_UI_URL'>): string[] {
  if (config.CODEC_CORS_ORIGINS === undefined) return [new URL(config.TEMPORAL_UI_URL).origin];
  return config.CODEC_CORS_ORIGINS.split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '')
    .map((o) => new URL(o).origin);
}

/**
 * Outside production a missing secret is generated once and kept in .data/auth-secret, so the dev
 * stack and `npm run token` agree without anyone choosing a secret.
 */
export const DEV_SECRET_FILE = path.resolve(__dirname, '..', '..', '.data', 'auth-secret');

export function devSecret(file = DEV_SECRET_FILE): string {
  let secret: string;
  try {
    secret = fs.readFileSync(file, 'utf8').trim();
  } catch {
    secret = randomBytes(32).toString('base64url');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, secret, { mode: 0o600 });
    return secret;
  }
  // A file someone edited by hand is held to the same rule as AUTH_SECRET.
  if (secret.length < MIN_SECRET_LENGTH)
    throw new Error(`${file} holds a secret of ${secret.length} characters; it must be at least ${MIN_SECRET_LENGTH} (delete the file to have one generated)`);
  return secret;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`Invalid environment: ${problems}`);
  }
  const cfg = parsed.data;
  if (cfg.AUTH_SECRET !== undefined && cfg.AUTH_SECRET.length < MIN_SECRET_LENGTH) {
    throw new Error(`AUTH_SECRET must be at least ${MIN_SECRET_LENGTH} characters`);
  }
  if (cfg.AUTH_SECRET === undefined) {
    if (cfg.NODE_ENV === 'production') throw new Error('AUTH_SECRET must be set in production');
    return { ...cfg, AUTH_SECRET: devSecret() };
  }
  return { ...cfg, AUTH_SECRET: cfg.AUTH_SECRET };
}
