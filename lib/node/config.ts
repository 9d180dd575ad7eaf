import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

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
  // Workers (workers/run-worker.ts): one /metrics port per process serving the Temporal SDK's and
  // the saga's metrics. Unset or empty: no endpoint; 0: any free port (logged at start).
  WORKER_METRICS_PORT: z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().int().min(0).max(65535).optional()),
  TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_UI_URL: z.string().default('http://127.0.0.1:8233'),
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
  // API rate limit per client (token subject, else IP) and window; RATE_LIMIT_MAX=0 switches it off.
  RATE_LIMIT_WINDOW_MS: z.coerce.number().int().min(1000).default(60_000),
  RATE_LIMIT_MAX: z.coerce.number().int().min(0).default(20_000),
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
function devSecret(): string {
  const file = path.resolve(__dirname, '..', '..', '.data', 'auth-secret');
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    const secret = randomBytes(32).toString('base64url');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, secret, { mode: 0o600 });
    return secret;
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`Invalid environment: ${problems}`);
  }
  const cfg = parsed.data;
  if (cfg.AUTH_SECRET !== undefined && cfg.AUTH_SECRET.length < 32) {
    throw new Error('AUTH_SECRET must be at least 32 characters');
  }
  if (cfg.AUTH_SECRET === undefined) {
    if (cfg.NODE_ENV === 'production') throw new Error('AUTH_SECRET must be set in production');
    return { ...cfg, AUTH_SECRET: devSecret() };
  }
  return { ...cfg, AUTH_SECRET: cfg.AUTH_SECRET };
}
