/**
 * Lunch-rush benchmark: how close one machine gets to 9.2 M orders a day, what one order costs,
 * and what the durable saga costs against the same writes done without it.
 *
 *   npm run bench                  full run (~15-25 min on 2 cores, the spike's drain included): 100,000 menu items
 *   npm run bench -- --quick       short steps, a 20 s burst and a 20,000-item menu (~6-10 min), for trying things
 *   npm run bench -- --help        every flag
 *
 * It starts the whole system as local processes (harness/local-stack.ts: embedded Postgres x2, the
 * Temporal dev server, PSP sandbox, CDC projector, the three workers, the API) in a temporary
 * directory, seeds the menu, and measures in one run:
 *
 *   1. no-load latency: orders one at a time, POST /orders and order-to-CONFIRMED;
 *   2. orders: an open-loop stream (fixed arrival rate) to auto-accepting restaurants, stepped up
 *      until the system saturates: offered and completed orders/s, POST p50/p99, order-to-CONFIRMED
 *      p50/p99 (CONFIRMED is read from orders.updated_at by one query per 100 ms), errors, the CPU
 *      seconds of every process of the stack per order, Temporal's persistence writes per order;
 *      then 5 orders at restaurants that wait for a decision, accepted through the API: Temporal's state
 *      transitions from the accept to CONFIRMED (bench/lib/order-cost.ts);
 *   3. baseline: the same business writes by one Node process without Temporal (bench/baseline.ts),
 *      stepped to its own saturation, with its CPU per order;
 *   4. menu reads: GET /restaurants/:id/menu against /healthz (the HTTP stack's ceiling), autocannon
 *      at several concurrencies;
 *   4b. popularity: menu reads by Zipf and uniform draws (bench/menu-popularity.ts);
 *   4c. search: GET /restaurants?q=&category= with pages along nextCursor, a fixed mix of searches
 *      at each concurrency (bench/restaurant-search-load.ts);
 *   5. CDC under load: 500 menu updates/s (3,000 with --read-replicas 2 or more: issue #17) while
 *      orders and menu reads run, commit-to-visible lag of each read replica's projector; then update
 *      rates stepped up to find the highest every replica keeps up with;
 *   6. spike: half the sustained rate, a burst at five times it, then half until the backlog has
 *      drained (bench/lib/spike-phase.ts), and the audit with the PSP's books;
 *
 * Once every read model is complete it also records what the read model (each replica's) and the
 * restaurants database take on disk (bench/lib/disk-size.ts),
 * and writes bench-results/lunch-rush-<time>.json and .svg (throughput and latency over time), and
 * a table on stdout. With --api URL it drives a stack that is already running instead (addresses
 * and secret from the same environment variables as the processes; no per-process CPU then).
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import pg from 'pg';
import { createDb, type Db } from '../db/knex';
import { mintToken } from '../lib/node/auth';
import { hasMaintainPrivilege } from '../lib/node/pg-admin';
import { loadConfig } from '../lib/node/config';
import { dataConverterFor, payloadCodecFrom } from '../lib/node/payload-codec';
import { clusterToolPath, PROJECT_ROOT, temporalCliPath } from '../lib/node/temporal-tools';
import { freePort, startHarnessRun, startStackOnFreePorts, stopOnSignal, type HarnessRun } from '../harness/bootstrap';
import { LOAD_HARNESS_LIMITS, type LocalStack } from '../harness/local-stack';
import { checkedNice } from '../harness/managed-process';
import type { BaselineStepResult } from './baseline';
import { offerUpdates } from './cdc';
import { renderChart, type Phase, type Series } from './lib/chart';
import { runHttp, startHttp, type HttpRun } from './lib/http-load';
import { popularityReport, popularityTargetRows, runMenuPopularity, type PopularityResult } from './menu-popularity';
import {
  readSeedShape,
  runRestaurantSearch,
  searchReport,
  searchSettings,
  searchTargetRows,
  SEARCH_FLAGS,
  SEARCH_HELP,
  SEARCH_MIXES,
  type SearchResult,
  type SearchTargets,
} from './restaurant-search-load';
import { diskSize, diskSizeLines, diskSizeSummary, type DiskSize } from './lib/disk-size';
import { OrderDriver, type OrderRecord } from './lib/orders';
import { manualAcceptLine, measureManualAccept, orderCostTargets } from './lib/order-cost';
import {
  reportSpike,
  runSpikePhase,
  spikeBacklogPanel,
  spikeBase,
  spikeChart,
  spikeSettings,
  spikeTargetRows,
  SPIKE_FLAGS,
  SPIKE_HELP,
  type SpikeResult,
  type SpikeSettings,
} from './lib/spike-phase';
import { postgresWrites, type PostgresWrites } from './lib/postgres-writes';
import { cpuBetween, findPostmaster, ProcessAccounting, type ProcessGroup, type Snapshot } from './lib/proc';
import { bucketDelta, fractionAtOrBelow, histogramBuckets, histogramQuantile, round, scrape, summarize, sumOf, type PromSample } from './lib/stats';
import { runPeers } from './peers/run';

// ---------------------------------------------------------------------------------------------
// Flags

/** Issue #17: menu updates/s spread over every restaurant while orders run, and the lag each replica may show. */
const CDC_RATE_REPLICATED = 3000;
const CDC_REPLICA_LAG_P99_MS = 250;

const HELP = `
npm run bench -- [flags]

  --peers                      the saga on Temporal, DBOS and Restate side by side (--peers --help)
  --quick                      short steps, 20,000 menu items, fewer steps, a shorter spike (~6-10 min)
  --api URL                    drive a running stack instead of starting one (env: *_DATABASE_URL,
                               TEMPORAL_ADDRESS, PSP_URL, AUTH_SECRET, PROJECTOR_METRICS_PORT); no per-process CPU
  --phases LIST                idle,orders,baseline,menu,popularity,search,cdc,spike (default: all)
  --restaurants N              restaurants to seed (default 10000; quick 2000), 10 items each
  --menu-items N               menu items to seed instead (restaurants = N / --items-per-restaurant),
                               e.g. 5725500 for the seed's full size (bulk seed; snapshot ~3 min)
  --items-per-restaurant N     (default 10)
  --read-replicas N            read replicas (default 1), as \`npm start -- --read-replicas N\`: each its own
                               Postgres, projector (own slot) and API; menu reads are spread over their APIs
                               and the CDC phases report lag per replica
  --start-rate N               first saga step, orders/s (default 2); each next step is x --growth (default 1.5;
                               quick 2) until a step saturates, then one step halfway back
  --rates LIST                 explicit saga rates instead of the geometric ladder, e.g. 5,10,20
  --step-seconds N             seconds per saga step (default 20; quick 8)
  --drain-seconds N            longest wait for a step's orders to finish (default 20; quick 10)
  --idle-orders N              orders placed one at a time for the no-load latency (default 30; quick 15)
  --baseline-start-rate N      first baseline step (default: the saga's busiest good rate, so both are
                               compared at the same rate; 10 without the orders phase); or --baseline-rates LIST
  --baseline-step-seconds N    (default 10; quick 5)
  --menu-connections LIST      autocannon concurrencies (default 1,2,4,8,16,64; quick 1,4,16)
  --menu-seconds N             seconds per autocannon run (default 10; quick 5)
  --popularity-connections LIST  concurrencies of the Zipf/uniform menu reads (bench/menu-popularity.ts;
                               default 4,16,64; quick 16)
  --popularity-warmup-seconds N  Zipf reads, not measured, before a second (warm) Zipf window at each
                               concurrency; the Zipf target is judged on the warm window (default 30;
                               quick 10; 0: cold windows only, judged cold)
${SEARCH_HELP}  --cdc-rate N                 menu updates/s during the mixed phase, spread over every restaurant that does
                               not auto-accept (default 500; 3000 with --read-replicas 2 or more, issue #17's
                               target: lag p99 <= 250 ms on each replica)
  --mixed-seconds N            mixed phase length (default 30; quick 10)
  --mixed-order-rate N         orders/s during the mixed phase (default: half the sustained saga rate, at least 1)
  --mixed-read-rate N          menu reads/s during the mixed phase (default 200)
  --cdc-rates LIST             update rates stepped to find the projector's limit (default 1000,2000,3000,4000; quick 1000,2000)
  --cdc-step-seconds N         (default 15; quick 6)
  --workers O,P,R              order, payment, restaurant worker processes (default 1,1,1; 0,1,1 with --api-order-worker)
  --api-order-worker           the API process also runs the order worker and starts sagas eagerly
                               (API_ORDER_WORKER=true, processes/api-order-worker.ts); its CPU is reported
                               as api+order-worker
  --api-nice N                 the API processes' scheduling priority (nice, -20..19; below 0 needs root),
                               e.g. -10: the front door ahead of the rest on this one machine, as its own
                               machines would put it in production (default: the same as every process)
  --primary-nice N             the same for the primary Postgres (postmaster and every backend): the orders
                               database each POST commits to, and the services' other databases
  --env KEY=VALUE              extra environment for every process of the stack (repeatable), e.g. LOG_LEVEL=warn
  --temporal-arg ARG           extra argument for 'temporal server start-dev' (repeatable), e.g.
                               --temporal-arg=--sqlite-pragma --temporal-arg=synchronous=NORMAL
  --cluster                    run on the Temporal cluster (a process per service, two history processes,
                               Postgres; built by \`npm run setup\`) instead of the dev server; CPU is then
                               reported per Temporal service and for Temporal's Postgres
  --cpu-profile DIR            V8 CPU profiles of every Node process of the stack over the measured phases
                               (DIR/<process>-<pid>.cpuprofile; pick phases with --phases; Temporal is Go: use perf)
  --label NAME                 a name for this run, kept in the JSON (e.g. "before", "tuned")
  --keep-data                  keep the stack's temporary data directory (logs in <dir>/logs)
${SPIKE_HELP}`;

interface Args {
  quick: boolean;
  api?: string;
  phases: Set<string>;
  restaurants: number;
  itemsPerRestaurant: number;
  readReplicas: number;
  rates: number[] | undefined;
  startRate: number;
  growth: number;
  stepSeconds: number;
  drainSeconds: number;
  idleOrders: number;
  baselineRates: number[] | undefined;
  baselineStartRate: number | undefined;
  baselineStepSeconds: number;
  menuConnections: number[];
  menuSeconds: number;
  popularityConnections: number[];
  popularityWarmupSeconds: number;
  /** The search phase's concurrencies and seconds per concurrency (bench/restaurant-search-load.ts). */
  search: { connections: number[]; seconds: number };
  cdcRate: number;
  mixedSeconds: number;
  mixedOrderRate?: number;
  mixedReadRate: number;
  cdcRates: number[];
  cdcStepSeconds: number;
  workers: { order: number; payment: number; restaurant: number };
  /** API_ORDER_WORKER: the API runs the order worker (processes/api-order-worker.ts). */
  apiOrderWorker: boolean;
  /** The API processes' nice value (harness/managed-process.ts), when set. */
  apiNice?: number;
  /** The primary Postgres's nice value (harness/priority.ts), when set. */
  primaryNice?: number;
  env: Record<string, string>;
  temporalArgs: string[];
  /** Temporal as the cluster (harness/temporal-cluster.ts) instead of the dev server. */
  cluster: boolean;
  label: string;
  keepData: boolean;
  cpuProfile?: string;
  spike: SpikeSettings;
}

function parseArgs(argv: string[]): Args {
  const values = new Map<string, string[]>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (['quick', 'keep-data', 'help', 'cluster', 'api-order-worker'].includes(name)) {
      flags.add(name);
      continue;
    }
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new Error(`--${name} needs a value`);
    values.set(name, [...(values.get(name) ?? []), value]);
  }
  if (flags.has('help')) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const known = [
    'api',
    'phases',
    'restaurants',
    'items-per-restaurant',
    'read-replicas',
    'rates',
    'start-rate',
    'growth',
    'baseline-start-rate',
    'cpu-profile',
    'step-seconds',
    'drain-seconds',
    'idle-orders',
    'baseline-rates',
    'baseline-step-seconds',
    'menu-connections',
    'menu-seconds',
    'popularity-connections',
    'popularity-warmup-seconds',
    'menu-items',
    'cdc-rate',
    'mixed-seconds',
    'mixed-order-rate',
    'mixed-read-rate',
    'cdc-rates',
    'cdc-step-seconds',
    'workers',
    'api-nice',
    'primary-nice',
    'env',
    'temporal-arg',
    'label',
    ...SPIKE_FLAGS,
    ...SEARCH_FLAGS,
  ];
  for (const k of values.keys()) if (!known.includes(k)) throw new Error(`unknown flag --${k} (see --help)`);
  const quick = flags.has('quick');
  const one = (k: string) => values.get(k)?.at(-1);
  const num = (k: string, full: number, q = full) => Number(one(k) ?? (quick ? q : full));
  const list = (k: string, full: string, q = full) => (one(k) ?? (quick ? q : full)).split(',').map(Number);
  const env = Object.fromEntries((values.get('env') ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  const apiOrderWorker = flags.has('api-order-worker') || (env.API_ORDER_WORKER ?? process.env.API_ORDER_WORKER) === 'true';
  const [o, p, r] = (one('workers') ?? (apiOrderWorker ? '0,1,1' : '1,1,1')).split(',').map(Number);
  const phases = new Set((one('phases') ?? 'idle,orders,baseline,menu,popularity,search,cdc,spike').split(','));
  if (phases.has('spike') && !phases.has('orders') && one('spike-base') === undefined) throw new Error('--phases spike without orders needs --spike-base RATE');
  const readReplicas = Number(one('read-replicas') ?? 1);
  if (!Number.isInteger(readReplicas) || readReplicas < 1 || readReplicas > 8) throw new Error(`--read-replicas wants a whole number from 1 to 8`);
  return {
    quick,
    api: one('api'),
    phases,
    restaurants: one('menu-items') ? Math.ceil(Number(one('menu-items')) / num('items-per-restaurant', 10)) : num('restaurants', 10_000, 2_000),
    itemsPerRestaurant: num('items-per-restaurant', 10),
    readReplicas,
    rates: one('rates')?.split(',').map(Number),
    startRate: num('start-rate', 2),
    growth: num('growth', 1.5, 2),
    stepSeconds: num('step-seconds', 20, 8),
    drainSeconds: num('drain-seconds', 20, 10),
    idleOrders: num('idle-orders', 30, 15),
    baselineRates: one('baseline-rates')?.split(',').map(Number),
    baselineStartRate: one('baseline-start-rate') === undefined ? undefined : Number(one('baseline-start-rate')),
    baselineStepSeconds: num('baseline-step-seconds', 10, 5),
    menuConnections: list('menu-connections', '1,2,4,8,16,64', '1,4,16'),
    menuSeconds: num('menu-seconds', 10, 5),
    popularityConnections: list('popularity-connections', '4,16,64', '16'),
    popularityWarmupSeconds: num('popularity-warmup-seconds', 30, 10),
    search: searchSettings(one, quick),
    // With replicas, the mixed phase is issue #17's benchmark (3,000 updates/s); alone, the rate earlier runs used.
    cdcRate: num('cdc-rate', readReplicas >= 2 ? CDC_RATE_REPLICATED : 500),
    mixedSeconds: num('mixed-seconds', 30, 10),
    mixedOrderRate: one('mixed-order-rate') === undefined ? undefined : Number(one('mixed-order-rate')),
    mixedReadRate: num('mixed-read-rate', 200),
    cdcRates: list('cdc-rates', '1000,2000,3000,4000', '1000,2000'),
    cdcStepSeconds: num('cdc-step-seconds', 15, 6),
    workers: { order: o ?? 1, payment: p ?? 1, restaurant: r ?? 1 },
    apiOrderWorker,
    apiNice: one('api-nice') === undefined ? undefined : checkedNice(one('api-nice')!, '--api-nice'),
    primaryNice: one('primary-nice') === undefined ? undefined : checkedNice(one('primary-nice')!, '--primary-nice'),
    env,
    temporalArgs: values.get('temporal-arg') ?? [],
    cluster: flags.has('cluster'),
    label: one('label') ?? (quick ? 'quick' : 'full'),
    cpuProfile: one('cpu-profile') === undefined ? undefined : path.resolve(one('cpu-profile')!),
    keepData: flags.has('keep-data'),
    spike: spikeSettings(one, quick),
  };
}

// ---------------------------------------------------------------------------------------------
// Helpers

const loadavg = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const say = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** The stack's processes, by the name its cost is reported under ('temporal' on the dev server, the rest on the cluster). */
const STACK_GROUPS = [
  'api',
  'api+order-worker',
  'order-worker',
  'payment-worker',
  'restaurant-worker',
  'projector',
  'psp',
  'temporal',
  'temporal-frontend',
  'temporal-history',
  'temporal-matching',
  'temporal-worker',
  'temporal-ui',
  'postgres-temporal',
  'postgres-primary',
  'postgres-read',
];
/** The processes of the read replicas after the first (api-2, projector-2, postgres-read-2, ...). */
const replicaGroupNames = (replicas: number) =>
  Array.from({ length: replicas - 1 }, (_, i) => [`api-${i + 2}`, `projector-${i + 2}`, `postgres-read-${i + 2}`]).flat();

/** What the baseline's cost counts: its own process and what it talks to. */
const BASELINE_GROUPS = ['baseline', 'postgres-primary', 'postgres-read', 'psp'];

interface CpuFigures {
  byGroup: Record<string, number>;
  /** Seconds of CPU of the counted groups. */
  total: number;
  /** Busy CPU of the whole machine over the same time, and the part no counted process used (others' tests). */
  machineBusy: number;
  otherCores: number;
  wallSeconds: number;
}

function cpuFigures(a: Snapshot | undefined, b: Snapshot | undefined, counted: string[]): CpuFigures | undefined {
  if (!a || !b) return undefined;
  const d = cpuBetween(a, b);
  const byGroup = Object.fromEntries(counted.map((g) => [g, d.groups[g] ?? 0]));
  const total = Object.values(byGroup).reduce((x, y) => x + y, 0);
  const everyGroup = Object.values(d.groups).reduce((x, y) => x + y, 0);
  return { byGroup, total, machineBusy: d.machineBusy, otherCores: Math.max(0, d.machineBusy - everyGroup) / d.wallSeconds, wallSeconds: d.wallSeconds };
}

interface OrderStep {
  phase: string;
  rate: number;
  seconds: number;
  offered: number;
  dropped: number;
  answered: number;
  httpErrors: number;
  confirmed: number;
  rejected: number;
  unfinished: number;
  /** Confirmed orders / time from the step's first POST to its last confirmation. */
  completedPerSec: number;
  postMs: ReturnType<typeof summarize>;
  /** Order-to-CONFIRMED; orders not finished count as infinitely slow. */
  confirmMs: ReturnType<typeof summarize>;
  cpu?: CpuFigures;
  cpuMsPerOrder?: number;
  temporalWritesPerOrder?: number;
  temporalRequestsPerOrder?: number;
  /** In Temporal's Postgres (cluster only), per confirmed order. */
  temporalDbPerOrder?: { writingTransactions: number; rows: number; walBytes: number };
  loadavg: string;
  ok: boolean;
  withinSlo: boolean;
  saturated: boolean;
  errorsSample: string[];
}

function orderStepFigures(
  phase: string,
  rate: number,
  seconds: number,
  recs: OrderRecord[],
  dropped: number,
  drainCap: number,
): Omit<OrderStep, 'loadavg' | 'cpu' | 'cpuMsPerOrder'> {
  const answered = recs.filter((r) => r.orderId);
  const confirmed = recs.filter((r) => r.finalStatus === 'CONFIRMED');
  const rejected = recs.filter((r) => r.finalStatus && r.finalStatus !== 'CONFIRMED');
  const httpErrors = recs.filter((r) => !r.orderId);
  const unfinished = answered.filter((r) => !r.finalStatus);
  const first = Math.min(...recs.map((r) => r.sentMs));
  const last = confirmed.length > 0 ? Math.max(...confirmed.map((r) => r.doneAtMs!)) : first + seconds * 1000;
  const span = Math.max(seconds * 1000, (unfinished.length > 0 ? drainCap : last) - first) / 1000;
  const completedPerSec = confirmed.length / span;
  const confirmLat = confirmed
    .map((r) => r.doneAtMs! - r.sentMs)
    .concat(
      unfinished.map(() => Infinity),
      rejected.map(() => Infinity),
    );
  const offered = recs.length + dropped;
  const failures = httpErrors.length + rejected.length + unfinished.length + dropped;
  const confirmMs = summarize(confirmLat);
  const ok = failures <= 0.01 * offered && completedPerSec >= 0.9 * rate;
  return {
    phase,
    rate,
    seconds,
    offered,
    dropped,
    answered: answered.length,
    httpErrors: httpErrors.length,
    confirmed: confirmed.length,
    rejected: rejected.length,
    unfinished: unfinished.length,
    completedPerSec,
    postMs: summarize(recs.filter((r) => r.postMs !== undefined).map((r) => r.postMs!)),
    confirmMs,
    ok,
    withinSlo: ok && confirmMs.p99 < 1000,
    saturated: !ok || confirmMs.p99 > 5000,
    errorsSample: [...new Set(recs.filter((r) => r.error).map((r) => r.error!))]
      .slice(0, 3)
      .concat(rejected.slice(0, 2).map((r) => `${r.finalStatus} ${r.failureReason}`)),
  };
}

/**
 * Steps a load up until one saturates: the given rates, or start, start x growth, ... (at most 16
 * steps). After the first saturated step, one more halfway between it and the last good one, to
 * narrow the limit.
 */
async function ladder(rates: number[] | undefined, start: number, growth: number, step: (rate: number) => Promise<boolean>): Promise<void> {
  const list = rates ?? [];
  if (!rates) for (let r = start; list.length < 16; r = Math.max(r + 1, Math.round(r * growth))) list.push(r);
  let lastOk: number | undefined;
  for (const rate of list) {
    if (await step(rate)) {
      const mid = Math.round(((lastOk ?? 0) + rate) * 5) / 10;
      if (lastOk !== undefined && rate / lastOk > 1.2 && mid > lastOk && mid < rate) await step(mid);
      return;
    }
    lastOk = rate;
  }
}

function table(header: string[], rows: Array<Array<string | number>>): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? (Number.isFinite(c) ? String(c) : c > 0 ? '∞' : '-') : c)));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => '  ' + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

const ms = (v: number) => (Number.isFinite(v) ? Math.round(v) : v > 0 ? Infinity : NaN);

// ---------------------------------------------------------------------------------------------
// The stack: started here, or already running (--api)

/** One read replica as the benchmark reaches it. */
interface ReplicaAccess {
  name: string;
  apiUrl: string;
  /** The superuser's URL of its menu_read database. */
  menuReadUrl: string;
  projectorMetricsUrl: string;
}

/** How to reach the stack, and what of it is ours to measure and stop. */
interface StackAccess {
  /** Set when this run started the stack (then its processes' CPU is measured). */
  stack?: LocalStack;
  run?: HarnessRun;
  dataDir?: string;
  urls: { orders: string; payments: string; restaurants: string; menu_read: string };
  apiUrl: string;
  temporalAddress: string;
  /** The stack's payload codec (its Temporal payloads are encrypted). */
  payloadCodec: PayloadCodec;
  secret: string;
  projectorMetricsUrl: string;
  /** Every read replica (the first is the one above): its API, its read model and its projector's metrics. */
  replicas: ReplicaAccess[];
  /** Temporal's Prometheus endpoints: the dev server's, or every cluster process's (summed). */
  temporalMetricsUrls: string[];
  /** Admin URL of Temporal's own Postgres (the cluster's), for its write counters. */
  temporalDbAdminUrl?: string;
  childEnv: Record<string, string>;
  /** Processes of the stack that exited on their own during the run. */
  unexpected: string[];
}

async function startStack(args: Args): Promise<StackAccess> {
  const unexpected: string[] = [];
  // One bootstrap with the chaos harness: temporary folder, secret, free ports, stop on a signal.
  const run = startHarnessRun({ prefix: 'lunch-rush-', keepData: args.keepData, log: say });
  const dataDir = run.dataDir;
  const secret = run.secret;
  let temporalMetricsPort = 0;
  say(
    `starting the stack in ${dataDir} (seeding ${args.restaurants * args.itemsPerRestaurant} menu items` +
      `${args.readReplicas > 1 ? `, ${args.readReplicas} read replicas` : ''})`,
  );
  const stack = await startStackOnFreePorts(async (ports) => ({
    dataDir,
    ports,
    readReplicas: args.readReplicas,
    workers: args.workers,
    apiOrderWorker: args.apiOrderWorker,
    apiNice: args.apiNice,
    primaryNice: args.primaryNice,
    env: { AUTH_SECRET: secret, ...LOAD_HARNESS_LIMITS, ...profileEnv(args.cpuProfile), ...args.env },
    seed: { restaurants: args.restaurants, itemsPerRestaurant: args.itemsPerRestaurant },
    engine: args.cluster ? ('cluster' as const) : ('dev-server' as const),
    temporalArgs: args.cluster ? [] : ['--metrics-port', String((temporalMetricsPort = await freePort())), ...args.temporalArgs],
    log: (m) => say(m),
    onUnexpectedExit: (name, code, signal) => {
      if (!run.closing) {
        unexpected.push(`${name} (${signal ?? code})`);
        say(`!! ${name} exited unexpectedly (${signal ?? code}); see its log in ${dataDir}/logs`);
      }
    },
  }));
  if (args.apiNice !== undefined)
    say(
      `API processes at nice ${stack.replicas.map((r) => (r.api.pid === undefined ? '?' : os.getPriority(r.api.pid))).join(', ')} (--api-nice ${args.apiNice})`,
    );
  // A start that failed and was tried again on other ports is not part of the measurement.
  if (unexpected.length > 0) say(`before the stack was up: ${unexpected.splice(0).join(', ')}`);
  run.onClose(async () => {
    say('stopping the stack');
    await stack.stop().catch((e: unknown) => say(`stack stop: ${(e as Error).message}`));
  });
  return {
    stack,
    run,
    dataDir,
    urls: stack.urls,
    apiUrl: stack.apiUrl,
    temporalAddress: stack.temporalAddress,
    payloadCodec: stack.payloadCodec,
    secret,
    projectorMetricsUrl: stack.metricsUrls.projector!,
    replicas: stack.replicas.map((r, i) => ({
      name: r.name,
      apiUrl: r.apiUrl,
      menuReadUrl: r.menuReadUrl,
      projectorMetricsUrl: stack.metricsUrls[i === 0 ? 'projector' : `projector-${i + 1}`]!,
    })),
    temporalMetricsUrls: args.cluster ? Object.values(stack.temporal.metricsUrls) : [`http://127.0.0.1:${temporalMetricsPort}/metrics`],
    temporalDbAdminUrl: stack.temporal.cluster?.postgres?.url('postgres'),
    childEnv: { ...stack.env },
    unexpected,
  };
}

function attachStack(api: string): StackAccess {
  const cfg = loadConfig();
  const apiUrl = api.replace(/\/$/, '');
  const projectorMetricsUrl = `http://127.0.0.1:${cfg.PROJECTOR_METRICS_PORT}/metrics`;
  say(`driving the stack at ${apiUrl} (no per-process CPU: the processes are not ours)`);
  // Nothing of ours to stop: a signal just ends the run.
  stopOnSignal(async () => undefined, 130);
  return {
    urls: {
      orders: cfg.ORDERS_DATABASE_URL,
      payments: cfg.PAYMENTS_DATABASE_URL,
      restaurants: cfg.RESTAURANTS_DATABASE_URL,
      menu_read: cfg.MENU_READ_DATABASE_URL,
    },
    apiUrl,
    temporalAddress: cfg.TEMPORAL_ADDRESS,
    payloadCodec: payloadCodecFrom(cfg),
    secret: cfg.AUTH_SECRET,
    projectorMetricsUrl,
    // A running stack is driven through one API and one read replica (the one its settings name).
    replicas: [{ name: cfg.MENU_READ_REPLICA, apiUrl, menuReadUrl: cfg.MENU_READ_DATABASE_URL, projectorMetricsUrl }],
    temporalMetricsUrls: (process.env.TEMPORAL_METRICS_URL ?? '').split(',').filter(Boolean),
    childEnv: {},
    unexpected: [],
  };
}

/** The baseline's child process, once the baseline phase has started it. */
interface BaselineProcess {
  child?: ChildProcess;
}

/** Temporal's processes: the dev server as one group, or each cluster service (both history processes as one) and its Postgres. */
function temporalGroups(s: LocalStack, dataDir: string): ProcessGroup[] {
  const cluster = s.temporal.cluster;
  if (!cluster) return [{ name: 'temporal', roots: () => s.temporal.processes().map((p) => p.pid) }];
  let pgPid: number | undefined;
  return [
    { name: 'temporal-frontend', roots: () => [cluster.frontend.pid] },
    { name: 'temporal-history', roots: () => cluster.history.map((p) => p.pid) },
    { name: 'temporal-matching', roots: () => [cluster.matching.pid] },
    { name: 'temporal-worker', roots: () => [cluster.worker.pid] },
    { name: 'temporal-ui', roots: () => [cluster.ui?.pid] },
    { name: 'postgres-temporal', roots: () => [(pgPid ??= findPostmaster(path.join(dataDir, 'pg-temporal')))], pss: true },
  ];
}

/** The stack's processes (and the baseline's), by the name their CPU and memory are reported under. */
function stackGroups(s: LocalStack, dataDir: string, baseline: BaselineProcess): ProcessGroup[] {
  const primaryDir = path.join(dataDir, 'pg-primary');
  const readDir = path.join(dataDir, 'pg-read');
  let primaryPid: number | undefined;
  let readPid: number | undefined;
  return [
    // With API_ORDER_WORKER the API process runs the order worker too: one figure for both.
    { name: s.apiOrderWorker ? 'api+order-worker' : 'api', roots: () => [s.api.pid] },
    { name: 'order-worker', roots: () => s.workers.order.map((w) => w.pid) },
    { name: 'payment-worker', roots: () => s.workers.payment.map((w) => w.pid) },
    { name: 'restaurant-worker', roots: () => s.workers.restaurant.map((w) => w.pid) },
    { name: 'projector', roots: () => [s.projector.pid] },
    { name: 'psp', roots: () => [s.psp.pid] },
    ...temporalGroups(s, dataDir),
    { name: 'postgres-primary', roots: () => [(primaryPid ??= findPostmaster(primaryDir))], pss: true },
    { name: 'postgres-read', roots: () => [(readPid ??= findPostmaster(readDir))], pss: true },
    ...s.replicas.slice(1).flatMap((r, i) => {
      let pid: number | undefined;
      const n = i + 2;
      return [
        { name: `api-${n}`, roots: () => [r.api.pid] },
        { name: `projector-${n}`, roots: () => [r.projector.pid] },
        { name: `postgres-read-${n}`, roots: () => [(pid ??= findPostmaster(path.join(dataDir, `pg-read-${n}`)))], pss: true },
      ];
    }),
    { name: 'baseline', roots: () => [baseline.child?.pid] },
    // Last, so that it counts only this process (its children are claimed above).
    { name: 'bench', roots: () => [process.pid] },
  ];
}

/** What the phases order from, read once the read model holds the whole seeded menu. */
interface Targets {
  expectedItems: number;
  /** From the start of the run until the read model was complete. */
  seedMs: number;
  /** Auto-accepting restaurants and their items on sale: what the saga and the baseline order. */
  menus: Array<{ restaurantId: string; menuIds: string[] }>;
  /** Every restaurant: what the menu reads read. */
  allRestaurants: string[];
  /** Menu items of restaurants that do not auto-accept: what the CDC phase updates. */
  updateIds: string[];
}

/** Waits until every replica's read model holds the whole seeded menu (each builds it from a snapshot, in one transaction). */
async function waitForReadModels(restaurantsDb: Db, readDbs: Db[]): Promise<number> {
  const expectedItems = Number((await restaurantsDb('menu_items').count('* as n').first())?.n ?? 0);
  // A snapshot commits all at once, so there is no progress to watch: allow 5 minutes, plus 10,000
  // rows a second per replica (a lone snapshot copied 37,400/s at full size; replicas share the cores).
  const allowMs = 300_000 + (readDbs.length * expectedItems) / 10;
  const readyBy = Date.now() + allowMs;
  for (const [i, readDb] of readDbs.entries()) {
    for (;;) {
      const n = Number(
        (
          await readDb('menu_items_read')
            .count('* as n')
            .first()
            .catch(() => ({ n: 0 }))
        )?.n ?? 0,
      );
      if (n >= expectedItems && n > 0) break;
      if (Date.now() > readyBy) throw new Error(`read-${i + 1}'s read model has ${n} of ${expectedItems} menu items after ${Math.round(allowMs / 1000)} s`);
      await sleep(500);
    }
    await waitForSettledReadModel(readDb, i);
  }
  return expectedItems;
}

/**
 * After a snapshot commits, the projector vacuums and analyzes the read model before it streams
 * (db/projector/snapshot.ts); minutes at full size. Measuring meanwhile would time that vacuum too.
 * Waits until every read table's last vacuum is later than the snapshot (Postgres 17+, where the
 * projector may vacuum; older servers leave it to autovacuum, so there is nothing to wait for).
 */
async function waitForSettledReadModel(readDb: Db, replica: number): Promise<void> {
  if (!(await hasMaintainPrivilege((sql) => readDb.raw(sql)))) return;
  const started = Date.now();
  for (;;) {
    const { rows } = await readDb.raw(
      `SELECT count(*) FILTER (WHERE greatest(last_vacuum, last_autovacuum) >= (SELECT max(resynced_at) FROM projector_state))::int AS settled,
              count(*)::int AS tables
         FROM pg_stat_user_tables WHERE relname IN ('restaurants_read', 'menu_items_read', 'restaurant_name_pieces')`,
    );
    if (rows[0].settled === rows[0].tables) return;
    if (Date.now() - started > 600_000) {
      say(`read-${replica + 1}: its read model shows no vacuum since its snapshot after 10 minutes; measuring anyway`);
      return;
    }
    await sleep(1000);
  }
}

async function findTargets(restaurantsDb: Db, readDbs: Db[], t0: number): Promise<Targets> {
  const menuReadDb = readDbs[0]!;
  const expectedItems = await waitForReadModels(restaurantsDb, readDbs);
  const seedMs = Date.now() - t0;
  say(
    `stack ready with ${expectedItems} menu items in the read model${readDbs.length > 1 ? ` of each of ${readDbs.length} replicas` : ''} after ${(seedMs / 1000).toFixed(1)} s`,
  );
  const menuRows: Array<{ restaurant_id: string; menu_ids: string[] }> = (
    await menuReadDb.raw(
      `SELECT r.restaurant_id, array_agg(m.menu_id ORDER BY m.menu_id) AS menu_ids
         FROM restaurants_read r JOIN menu_items_read m USING (restaurant_id)
        WHERE r.auto_accept AND m.status = 'ON_SALE'
        GROUP BY r.restaurant_id ORDER BY r.restaurant_id`,
    )
  ).rows;
  const menus = menuRows.map((r) => ({ restaurantId: r.restaurant_id, menuIds: r.menu_ids }));
  if (menus.length === 0) throw new Error('no auto-accepting restaurant with items on sale in the read model');
  const allRestaurants: string[] = (await menuReadDb('restaurants_read').select('restaurant_id')).map((r) => r.restaurant_id as string);
  // Menu updates go to restaurants that do not auto-accept, so they never change a price under an order.
  const updateIds: string[] = (
    await restaurantsDb('menu_items as m').join('restaurants as r', 'r.restaurant_id', 'm.restaurant_id').where('r.auto_accept', false).select('m.menu_id')
  ).map((r) => r.menu_id as string);
  return { expectedItems, seedMs, menus, allRestaurants, updateIds };
}

// ---------------------------------------------------------------------------------------------
// The run

/** What every phase uses. */
interface Bench {
  args: Args;
  access: StackAccess;
  driver: OrderDriver;
  /** CPU and memory of the stack's processes now (undefined when the stack is not ours). */
  snap: () => Snapshot | undefined;
  temporalSamples: () => Promise<PromSample[] | undefined>;
  /** Temporal's own Postgres write counters (the cluster's database; undefined on the dev server's SQLite). */
  temporalDbWrites: () => Promise<PostgresWrites | undefined>;
  /** Marks a phase on the chart's time axis. */
  phase: (label: string, startMs: number, endMs: number) => void;
  /** The stack's process groups whose CPU a step counts (STACK_GROUPS and those of further read replicas). */
  groups: string[];
}

type BaselineStep = BaselineStepResult & { cpu?: CpuFigures; cpuMsPerOrder?: number; ok: boolean; loadavg: string };
type MenuRun = HttpRun & { cpu?: CpuFigures; loadavg: string };

async function main(): Promise<void> {
  // The same saga on the other engines (bench/peers/run.ts): a run of its own, with its own flags.
  if (process.argv.includes('--peers')) return runPeers(process.argv.slice(2));
  const args = parseArgs(process.argv.slice(2));
  const startedAt = new Date();
  const t0 = Date.now();
  const runId = `bench-${startedAt.getTime().toString(36)}`;
  const loadAtStart = loadavg();
  say(`label ${args.label}; load average ${loadAtStart} on ${os.cpus().length} CPUs`);

  const access = args.api ? attachStack(args.api) : await startStack(args);
  const { stack, urls } = access;
  const ordersDb: Db = createDb(urls.orders, 2);
  const restaurantsDb: Db = createDb(urls.restaurants, 2);
  const menuReadDb: Db = createDb(urls.menu_read, 2);
  // Further replicas' read models: only to wait until each is complete.
  const moreReadDbs: Db[] = access.replicas.slice(1).map((r) => createDb(r.menuReadUrl, 1));
  const baseline: BaselineProcess = {};
  const acct = new ProcessAccounting(stack ? stackGroups(stack, access.dataDir!, baseline) : []);
  acct.start(2000);
  const temporalMetricsUrls = access.temporalMetricsUrls;
  const result: Record<string, unknown> = {
    benchmark: 'lunch-rush',
    label: args.label,
    startedAt: startedAt.toISOString(),
    args: { ...args, phases: [...args.phases] },
  };
  const phases: Phase[] = [];

  try {
    const targets = await findTargets(restaurantsDb, [menuReadDb, ...moreReadDbs], t0);
    const pgVersion = (await ordersDb.raw('SHOW server_version')).rows[0].server_version as string;
    result.machine = {
      nproc: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      memoryGB: round(os.totalmem() / 2 ** 30, 1),
      node: process.version,
      postgres: pgVersion,
      temporal: stack ? temporalVersion(args.cluster) : undefined,
      loadavgAtStart: loadAtStart,
    };
    result.stack = {
      menuItems: targets.expectedItems,
      restaurants: targets.allRestaurants.length,
      autoAcceptRestaurants: targets.menus.length,
      readReplicas: access.replicas.map((r) => r.name),
      workers: args.workers,
      readyAfterMs: targets.seedMs,
    };
    result.diskSize = await measureDiskSizes(access);

    const tokens = await Promise.all(
      Array.from({ length: 50 }, (_, i) => mintToken({ role: 'customer', sub: `bench-customer-${i + 1}` }, access.secret, 86_400)),
    );
    const driver = new OrderDriver({ apiUrl: access.apiUrl, ordersDbUrl: urls.orders, tokens, menus: targets.menus, runId });
    driver.startTracker();
    const temporal = new Client({
      connection: await Connection.connect({ address: access.temporalAddress }),
      dataConverter: dataConverterFor(access.payloadCodec),
    });
    const b: Bench = {
      args,
      access,
      driver,
      snap: () => (stack ? acct.snapshot() : undefined),
      // The cluster's processes each count their own requests: their samples together are Temporal's.
      temporalSamples: async () =>
        temporalMetricsUrls.length > 0
          ? Promise.all(temporalMetricsUrls.map((u) => scrape(u))).then(
              (all) => all.flat(),
              () => undefined,
            )
          : undefined,
      temporalDbWrites: async () => (access.temporalDbAdminUrl ? postgresWrites(access.temporalDbAdminUrl).catch(() => undefined) : undefined),
      phase: (label, startMs, endMs) => phases.push({ label, start: (startMs - t0) / 1000, end: (endMs - t0) / 1000 }),
      groups: [...STACK_GROUPS, ...replicaGroupNames(access.replicas.length)],
    };

    // Warm-up: JIT, pools, Temporal's caches. Not reported.
    say('warming up (5 s at 5 orders/s)');
    await driver.openLoop('warmup', 5, 5);
    await driver.settle('warmup', 30_000);

    if (args.cpuProfile) fs.writeFileSync(path.join(args.cpuProfile, '.recording'), '');

    if (args.phases.has('idle')) result.idle = await runIdlePhase(b);
    const orderSteps = args.phases.has('orders') ? await runOrdersPhase(b) : [];
    if (args.phases.has('orders')) result.orderSteps = orderSteps;
    const described = await describeSagas(temporal, driver);
    if (described) result.temporal = described;
    if (args.phases.has('orders')) {
      say('manual-accept orders: 5 one at a time, accepted through the API (transitions from the accept to CONFIRMED)');
      result.manualAccept = await measureManualAccept({ apiUrl: access.apiUrl, secret: access.secret, temporal, ordersDb, menuReadDb, count: 5 });
    }
    const baselineSteps = args.phases.has('baseline') ? await runBaselinePhase(b, baseline, targets.menus, orderSteps) : [];
    if (args.phases.has('baseline')) result.baselineSteps = baselineSteps;
    const menuRuns: MenuRun[] = [];
    if (args.phases.has('menu')) {
      const menu = await runMenuPhase(b, targets.allRestaurants);
      menuRuns.push(...menu.runs);
      result.menuRuns = menuRuns;
      result.menuCache = menu.cache;
    }
    if (args.phases.has('popularity')) {
      result.menuPopularity = await runMenuPopularity({
        apiUrl: access.apiUrl,
        restaurants: targets.allRestaurants,
        connections: args.popularityConnections,
        seconds: args.menuSeconds,
        warmupSeconds: args.popularityWarmupSeconds,
        log: say,
        phase: b.phase,
      });
    }
    if (args.phases.has('search')) {
      const seedShape = await readSeedShape(menuReadDb);
      say(`search: the ${seedShape} seed's names, ${args.search.seconds} s at each of ${args.search.connections.join(', ')} connections`);
      result.search = await runRestaurantSearch({
        apiUrl: access.apiUrl,
        mix: SEARCH_MIXES[seedShape],
        seedShape,
        restaurants: targets.allRestaurants.length,
        connections: args.search.connections,
        seconds: args.search.seconds,
        log: say,
        phase: b.phase,
      });
    }
    if (args.phases.has('cdc')) result.cdc = await runCdcPhase(b, targets, orderSteps);
    if (args.phases.has('spike')) result.spike = await runSpike(b, orderSteps);

    if (args.cpuProfile) {
      fs.rmSync(path.join(args.cpuProfile, '.recording'), { force: true });
      await sleep(2000);
      say(`CPU profiles of the measured phases written to ${args.cpuProfile}`);
    }
    await driver.close();
    await temporal.connection.close();
    acct.stop();
    const peaks = acct.peakMemBytes();
    result.peakMemoryMB = Object.fromEntries(Object.entries(peaks).map(([k, v]) => [k, round(v / 2 ** 20)]));
    result.unexpectedExits = access.unexpected;
    result.loadavgAtEnd = loadavg();
    result.durationSeconds = round((Date.now() - t0) / 1000);

    writeResults(args, result, startedAt, t0, { records: driver.records, baselineSteps, menuRuns, phases });
  } finally {
    acct.stop();
    if (baseline.child && baseline.child.exitCode === null) baseline.child.kill('SIGTERM');
    await Promise.all([ordersDb.destroy(), restaurantsDb.destroy(), menuReadDb.destroy(), ...moreReadDbs.map((d) => d.destroy())]).catch(() => undefined);
    // After a signal this is the teardown already under way (close runs once).
    await access.run?.close();
  }
}

/** The report on stdout, bench-results/lunch-rush-<label>-<time>.json (with the summary) and .svg. */
function writeResults(
  args: Args,
  result: Record<string, unknown>,
  startedAt: Date,
  t0: number,
  run: { records: OrderRecord[]; baselineSteps: BaselineStep[]; menuRuns: MenuRun[]; phases: Phase[] },
): void {
  const report = buildReport(result, args);
  result.summary = report.summary;
  const outDir = path.join(PROJECT_ROOT, 'bench-results');
  fs.mkdirSync(outDir, { recursive: true });
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const base = path.join(outDir, `lunch-rush-${args.label}-${stamp}`);
  fs.writeFileSync(`${base}.json`, JSON.stringify({ ...result, records: undefined, timeline: timeline(run.records, run.baselineSteps, t0) }, null, 2));
  fs.writeFileSync(`${base}.svg`, chart(run.records, run.baselineSteps, run.menuRuns, run.phases, t0, args, result));
  const spike = result.spike as SpikeResult | undefined;
  if (spike)
    fs.writeFileSync(
      `${base}-spike.svg`,
      spikeChart(spike, `Spike (${args.label}) — ${String(result.startedAt)}`, `load average at the end ${spike.loadavgAtEnd}`),
    );
  process.stdout.write(report.text);
  process.stdout.write(`\nresults: ${path.relative(process.cwd(), base)}.json\nchart:   ${path.relative(process.cwd(), base)}.svg\n`);
}

/**
 * What each replica's read model and the restaurants database (the source) take on disk, once every
 * read model holds the whole menu. A database that cannot be measured is left out, not the run.
 */
async function measureDiskSizes(access: StackAccess): Promise<DiskSize[]> {
  const sizes: DiskSize[] = [];
  for (const [name, url] of [...access.replicas.map((r) => [r.name, r.menuReadUrl] as const), ['source', access.urls.restaurants] as const]) {
    try {
      sizes.push(await diskSize(url, name));
    } catch (e) {
      say(`disk size of ${name}: ${(e as Error).message}`);
    }
  }
  for (const line of diskSizeLines(sizes)) say(`on disk (MB): ${line.trim()}`);
  return sizes;
}

// ---- 1. no-load latency -----------------------------------------------------------------------

async function runIdlePhase({ args, driver, phase }: Bench): Promise<Record<string, unknown>> {
  say(`no-load latency: ${args.idleOrders} orders one at a time`);
  const start = Date.now();
  for (let i = 0; i < args.idleOrders; i++) {
    await driver.place('idle');
    await driver.settle('idle', 10_000);
    await sleep(200);
  }
  phase('no load', start, Date.now());
  const recs = driver.records.filter((r) => r.phase === 'idle');
  const confirmed = recs.filter((r) => r.finalStatus === 'CONFIRMED');
  return {
    orders: recs.length,
    confirmed: confirmed.length,
    postMs: summarize(recs.map((r) => r.postMs ?? NaN)),
    confirmMs: summarize(confirmed.map((r) => r.doneAtMs! - r.sentMs)),
    loadavg: loadavg(),
  };
}

/** What Temporal's Postgres wrote between two samples, per confirmed order. */
function perOrderWrites(w0: PostgresWrites, w1: PostgresWrites, confirmed: number): OrderStep['temporalDbPerOrder'] {
  const n = Math.max(1, confirmed);
  return {
    writingTransactions: (w1.writingTransactions - w0.writingTransactions) / n,
    rows: (w1.rows - w0.rows) / n,
    walBytes: (w1.walBytes - w0.walBytes) / n,
  };
}

// ---- 2. orders: stepped open-loop load --------------------------------------------------------

async function runOrdersPhase(b: Bench): Promise<OrderStep[]> {
  const { args, driver } = b;
  const orderSteps: OrderStep[] = [];
  await ladder(args.rates, args.startRate, args.growth, async (rate) => {
    const step = await runOrderStep(b, `saga#${orderSteps.length + 1}@${rate}`, rate, args.stepSeconds);
    orderSteps.push(step);
    return step.saturated;
  });
  await driver.settle(null, 60_000);
  return orderSteps.sort((a, b) => a.rate - b.rate);
}

async function runOrderStep(
  { args, driver, snap, temporalSamples, temporalDbWrites, phase, groups }: Bench,
  label: string,
  rate: number,
  seconds: number,
): Promise<OrderStep> {
  say(`orders: ${rate}/s for ${seconds} s`);
  const [c0, m0, w0] = [snap(), await temporalSamples(), await temporalDbWrites()];
  const loop = await driver.openLoop(label, rate, seconds);
  const settled = await driver.settle(label, args.drainSeconds * 1000);
  const [c1, m1, w1] = [snap(), await temporalSamples(), await temporalDbWrites()];
  phase(`${rate}/s`, loop.startMs, Date.now());
  const recs = driver.records.filter((r) => r.phase === label);
  const figures = orderStepFigures(label, rate, seconds, recs, loop.dropped, Date.now());
  const cpu = cpuFigures(c0, c1, groups);
  const persisted = (m: PromSample[] | undefined, ops: string[]) =>
    m ? ops.reduce((a, op) => a + sumOf(m, 'persistence_requests', { namespace: 'default', operation: op }), 0) : NaN;
  const writes = ['CreateWorkflowExecution', 'UpdateWorkflowExecution'];
  const step: OrderStep = {
    ...figures,
    cpu,
    cpuMsPerOrder: cpu && figures.confirmed > 0 ? (cpu.total / figures.confirmed) * 1000 : undefined,
    temporalWritesPerOrder: m0 && m1 ? (persisted(m1, writes) - persisted(m0, writes)) / Math.max(1, figures.confirmed) : undefined,
    temporalRequestsPerOrder: m0 && m1 ? (sumOf(m1, 'persistence_requests') - sumOf(m0, 'persistence_requests')) / Math.max(1, figures.confirmed) : undefined,
    temporalDbPerOrder: w0 && w1 ? perOrderWrites(w0, w1, figures.confirmed) : undefined,
    loadavg: loadavg(),
  };
  say(
    `  offered ${step.offered}, confirmed ${step.confirmed} (${step.completedPerSec.toFixed(1)}/s), POST p99 ${ms(step.postMs.p99)} ms, ` +
      `CONFIRMED p50 ${ms(step.confirmMs.p50)} p99 ${ms(step.confirmMs.p99)} ms, cpu ${step.cpuMsPerOrder?.toFixed(1) ?? '-'} ms/order${settled ? '' : ', NOT drained'}`,
  );
  // Whatever did not finish keeps loading the next step: let it finish first.
  if (!settled) await driver.settle(null, 60_000);
  return step;
}

/** State transitions per order, by Temporal's own count, on a sample of confirmed sagas. */
async function describeSagas(temporal: Client, driver: OrderDriver): Promise<Record<string, unknown> | undefined> {
  const sample = driver.records.filter((r) => r.finalStatus === 'CONFIRMED' && r.phase !== 'warmup').slice(-20);
  if (sample.length === 0) return undefined;
  const described = await Promise.all(
    sample.map(async (r) => {
      const d = await temporal.workflow.getHandle(`order-${r.orderId}`).describe();
      return {
        stateTransitions: Number(d.raw.workflowExecutionInfo?.stateTransitionCount ?? NaN),
        historyEvents: d.historyLength,
        historyBytes: Number(d.historySize ?? NaN),
      };
    }),
  );
  return {
    sampledWorkflows: described.length,
    stateTransitionsPerOrder: summarize(described.map((d) => d.stateTransitions)).mean,
    historyEventsPerOrder: summarize(described.map((d) => d.historyEvents)).mean,
    historyBytesPerOrder: summarize(described.map((d) => d.historyBytes)).mean,
  };
}

// ---- 3. baseline ------------------------------------------------------------------------------

async function runBaselinePhase(b: Bench, baseline: BaselineProcess, menus: Targets['menus'], orderSteps: OrderStep[]): Promise<BaselineStep[]> {
  const { args, snap, phase } = b;
  say('baseline: the same writes without Temporal, one Node process');
  const child = forkBaseline(b);
  baseline.child = child;
  const next = baselineReplies(child);
  const baselineSteps: BaselineStep[] = [];
  child.send({ cmd: 'init', menus });
  await next<{ type: 'ready' }>();
  // Start where the saga was busiest (and still kept up), so that the CPU per order of both is
  // also compared at the same rate, then step up to the baseline's own saturation.
  const sagaGood = orderSteps.filter((s) => s.ok).reduce((m, s) => Math.max(m, s.rate), 0);
  const baselineStart = args.baselineStartRate ?? (sagaGood > 0 ? sagaGood : 10);
  await ladder(args.baselineRates, baselineStart, args.growth, async (rate) => {
    say(`baseline: ${rate}/s for ${args.baselineStepSeconds} s`);
    const c0 = snap();
    child.send({
      cmd: 'step',
      phase: `baseline#${baselineSteps.length + 1}@${rate}`,
      rate,
      seconds: args.baselineStepSeconds,
      drainMs: args.drainSeconds * 1000,
    });
    const r = await next<BaselineStepResult>();
    const c1 = snap();
    const cpu = cpuFigures(c0, c1, BASELINE_GROUPS);
    // As for the saga: completed orders over the time from the first order to the last completion.
    const completedPerSec = r.completed / Math.max(args.baselineStepSeconds, (r.lastDoneMs - r.windowStartMs) / 1000);
    const ok = r.failed + r.unfinished + r.dropped <= 0.01 * r.offered && completedPerSec >= 0.9 * rate;
    const step = {
      ...r,
      completedPerSecInWindow: completedPerSec,
      cpu,
      cpuMsPerOrder: cpu && r.completed > 0 ? (cpu.total / r.completed) * 1000 : undefined,
      ok,
      loadavg: loadavg(),
    };
    baselineSteps.push(step);
    phase(`base ${rate}/s`, r.windowStartMs, Date.now());
    say(
      `  completed ${r.completed} (${completedPerSec.toFixed(1)}/s), p50 ${ms(r.latencyMs.p50)} p99 ${ms(r.latencyMs.p99)} ms, failed ${r.failed}, cpu ${step.cpuMsPerOrder?.toFixed(1) ?? '-'} ms/order`,
    );
    if (r.errors.length > 0) say(`  errors: ${r.errors.join(' | ')}`);
    return !ok || r.latencyMs.p99 > 5000;
  });
  child.send({ cmd: 'exit' });
  await new Promise((r) => child.once('exit', r));
  return baselineSteps;
}

/** bench/baseline.ts as a child process, its output in the stack's logs (or the temp folder). */
function forkBaseline({ args, access }: Bench): ChildProcess {
  const { dataDir } = access;
  const logFd = fs.openSync(path.join(dataDir ?? os.tmpdir(), dataDir ? 'logs/baseline.log' : 'lunch-rush-baseline.log'), 'a');
  const child = fork(path.join(__dirname, 'baseline.ts'), [], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...access.childEnv, ...args.env },
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', logFd, logFd, 'ipc'],
  });
  fs.closeSync(logFd);
  return child;
}

/** The baseline's next message; its 'error' message, or its exit, rejects. */
function baselineReplies(child: ChildProcess) {
  return <T>(): Promise<T> =>
    new Promise((resolve, reject) => {
      const onMsg = (m: any) => {
        cleanupListeners();
        if (m?.type === 'error') reject(new Error(`baseline: ${m.message as string}`));
        else resolve(m as T);
      };
      const onExit = (code: number | null) => {
        cleanupListeners();
        reject(new Error(`baseline process exited (${code})`));
      };
      const cleanupListeners = () => {
        child.off('message', onMsg);
        child.off('exit', onExit);
      };
      child.on('message', onMsg);
      child.on('exit', onExit);
    });
}

// ---- 4. menu reads against /healthz -----------------------------------------------------------

/** Menu paths of restaurants picked in a fixed scattered order (a stride of 7919 through the list). */
function menuPaths(restaurants: string[]): () => string {
  let k = 0;
  return () => `/restaurants/${restaurants[(k = (k + 7919) % restaurants.length)]}/menu`;
}

async function runMenuPhase(
  { args, access, snap, phase, groups }: Bench,
  allRestaurants: string[],
): Promise<{ runs: MenuRun[]; cache: Record<string, number> }> {
  const { apiUrl } = access;
  const menuPath = menuPaths(allRestaurants);
  const runs: MenuRun[] = [];
  // Warm-up run, not reported.
  await runHttp({ label: 'warmup', baseUrl: apiUrl, path: menuPath, connections: 8, seconds: 2 });
  // The API's menu cache (api/services/menu-cache.ts): how many of the measured reads it served.
  const cacheReads = async () => {
    const m = await scrape(`${apiUrl}/metrics`).catch(() => [] as PromSample[]);
    return {
      hit: sumOf(m, 'menu_cache_reads_total', { result: 'hit' }),
      miss: sumOf(m, 'menu_cache_reads_total', { result: 'miss' }),
      bypass: sumOf(m, 'menu_cache_reads_total', { result: 'bypass' }),
    };
  };
  const cacheBefore = await cacheReads();
  for (const connections of args.menuConnections) {
    for (const [label, p] of [
      ['healthz', () => '/healthz'],
      ['menu', menuPath],
    ] as const) {
      const c0 = snap();
      const start = Date.now();
      const run = await runHttp({ label, baseUrl: apiUrl, path: p, connections, seconds: args.menuSeconds });
      const c1 = snap();
      phase(`${label} c${connections}`, start, Date.now());
      runs.push({ ...run, cpu: cpuFigures(c0, c1, groups), loadavg: loadavg() });
      say(
        `${label} x${connections}: ${run.requestsPerSec.toFixed(0)} req/s, p50 ${run.p50Ms} p99 ${run.p99Ms} ms, non-2xx ${run.non2xx}, errors ${run.errors}`,
      );
    }
  }
  const cacheAfter = await cacheReads();
  return { runs, cache: { hit: cacheAfter.hit - cacheBefore.hit, miss: cacheAfter.miss - cacheBefore.miss, bypass: cacheAfter.bypass - cacheBefore.bypass } };
}

// ---- 5. CDC -----------------------------------------------------------------------------------

/** The projector's counters, read from its /metrics. */
function projectorProbe(metricsUrl: string) {
  const counters = async () => {
    const m = await scrape(metricsUrl);
    return { m, applied: sumOf(m, 'cdc_projector_transactions_applied_total'), lag: histogramBuckets(m, 'cdc_projector_apply_delay_seconds') };
  };
  /** Waits until the projector has applied `target` transactions in all; returns how many it has. */
  const waitApplied = async (target: number, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { applied } = await counters();
      if (applied >= target || Date.now() > deadline) return applied;
      await sleep(100);
    }
  };
  return { counters, waitApplied };
}
type ProjectorProbe = ReturnType<typeof projectorProbe>;

/** Commit-to-visible lag between two reads of the projector's apply-delay histogram. */
function lagFigures(before: Map<number, number>, after: Map<number, number>) {
  const d = bucketDelta(before, after);
  return {
    transactions: d.get(Infinity) ?? 0,
    lagP50Ms: histogramQuantile(d, 0.5) * 1000,
    lagP99Ms: histogramQuantile(d, 0.99) * 1000,
    within100Ms: fractionAtOrBelow(d, 0.1),
    within250Ms: fractionAtOrBelow(d, 0.25),
    within1s: fractionAtOrBelow(d, 1),
  };
}

/** Each read replica's projector, by the replica's name. */
type ReplicaProbe = ProjectorProbe & { replica: string };

async function runCdcPhase(b: Bench, targets: Targets, orderSteps: OrderStep[]): Promise<Record<string, unknown>> {
  const writer = new pg.Pool({ connectionString: b.access.urls.restaurants, max: 16, application_name: 'bench-menu-writer' });
  writer.on('error', () => undefined);
  const probes: ReplicaProbe[] = b.access.replicas.map((r) => ({ replica: r.name, ...projectorProbe(r.projectorMetricsUrl) }));
  const cdc: Record<string, unknown> = {};
  cdc.mixed = await runCdcWithLoad(b, writer, probes, targets, orderSteps);
  const steps = await runCdcSteps(b, writer, probes, targets.updateIds);
  cdc.steps = steps;
  cdc.highestKeptUpWrittenPerSec = steps.filter((s) => s.keptUp).reduce((m, s) => Math.max(m, s.writtenPerSec as number), 0);
  await writer.end();
  return cdc;
}

/**
 * 5a. `--cdc-rate` updates/s, each to a menu item drawn from every restaurant that does not
 * auto-accept, while orders and menu reads run (the reads spread over the replicas' APIs).
 * Lag per replica; the top-level figures are the first replica's (as with a single one).
 */
async function runCdcWithLoad(
  { args, access, driver, snap, phase, groups }: Bench,
  writer: pg.Pool,
  probes: ReplicaProbe[],
  targets: Targets,
  orderSteps: OrderStep[],
) {
  const bestSaga = orderSteps.filter((s) => s.withinSlo).reduce((m, s) => Math.max(m, s.rate), 0);
  const mixedOrderRate = args.mixedOrderRate ?? Math.max(1, Math.round(bestSaga / 2));
  const readRate = Math.max(1, Math.round(args.mixedReadRate / access.replicas.length));
  say(
    `CDC with load: ${args.cdcRate} menu updates/s (over ${targets.updateIds.length} items) + ${mixedOrderRate} orders/s + ` +
      `${args.mixedReadRate} menu reads/s${access.replicas.length > 1 ? ` (${readRate}/s on each of ${access.replicas.length} replicas' APIs)` : ''} for ${args.mixedSeconds} s`,
  );
  const before = await Promise.all(probes.map((p) => p.counters()));
  const c0 = snap();
  const start = Date.now();
  const reads = access.replicas.map((r) =>
    startHttp({ baseUrl: r.apiUrl, path: menuPaths(targets.allRestaurants), connections: 8, overallRate: readRate, seconds: args.mixedSeconds }),
  );
  const [updates, orderLoop, readRuns] = await Promise.all([
    offerUpdates(writer, targets.updateIds, args.cdcRate, args.mixedSeconds, 64),
    driver.openLoop('mixed', mixedOrderRate, args.mixedSeconds),
    Promise.all(reads.map((r) => r.done)),
  ]);
  const end = Date.now();
  const applied = await Promise.all(probes.map((p, i) => p.waitApplied(before[i]!.applied + updates.written, 30_000)));
  await driver.settle('mixed', args.drainSeconds * 1000);
  const c1 = snap();
  const after = await Promise.all(probes.map((p) => p.counters()));
  phase('CDC+orders+reads', start, Date.now());
  const mixedOrders = orderStepFigures(
    'mixed',
    mixedOrderRate,
    args.mixedSeconds,
    driver.records.filter((r) => r.phase === 'mixed'),
    orderLoop.dropped,
    Date.now(),
  );
  const byReplica = probes.map((p, i) => ({
    replica: p.replica,
    backlogAtEnd: Math.max(0, before[i]!.applied + updates.written - applied[i]!),
    ...lagFigures(before[i]!.lag, after[i]!.lag),
    reads: readRuns[i]!,
  }));
  const updatesPerSecWritten = updates.written / ((end - start) / 1000);
  const { replica: _first, ...first } = byReplica[0]!;
  const mixed = {
    updatesPerSecOffered: args.cdcRate,
    updatesPerSecWritten,
    // The source took less than 95 % of the offered updates: the lag is that of a lower rate.
    sourceLimited: updatesPerSecWritten < 0.95 * args.cdcRate,
    failedUpdates: updates.failed,
    updateTargets: targets.updateIds.length,
    ...first,
    byReplica,
    /** The highest p99 of any replica: what "p99 on each replica" is judged by. */
    lagP99MsWorstReplica: Math.max(...byReplica.map((r) => r.lagP99Ms)),
    orders: mixedOrders,
    cpu: cpuFigures(c0, c1, groups),
    loadavg: loadavg(),
  };
  for (const r of byReplica) {
    say(
      `  ${r.replica}: lag p50 ${r.lagP50Ms.toFixed(0)} ms, p99 ${r.lagP99Ms.toFixed(0)} ms, backlog ${r.backlogAtEnd}; reads ${r.reads.requestsPerSec.toFixed(0)}/s p99 ${r.reads.p99Ms} ms`,
    );
  }
  say(`  written ${updatesPerSecWritten.toFixed(0)} updates/s; orders CONFIRMED p99 ${ms(mixedOrders.confirmMs.p99)} ms`);
  return mixed;
}

/** 5b. Update rates stepped up (nothing else running): the highest every replica keeps up with. */
async function runCdcSteps(
  { args, snap, phase }: Bench,
  writer: pg.Pool,
  probes: ReplicaProbe[],
  updateIds: string[],
): Promise<Array<Record<string, unknown>>> {
  const steps: Array<Record<string, unknown>> = [];
  const cpuGroups = ['projector', 'postgres-primary', 'postgres-read', ...replicaGroupNames(probes.length).filter((g) => !g.startsWith('api-'))];
  for (const rate of args.cdcRates) {
    say(`CDC: ${rate} updates/s for ${args.cdcStepSeconds} s`);
    const b = await Promise.all(probes.map((p) => p.counters()));
    const s0 = snap();
    const st = Date.now();
    const w = await offerUpdates(writer, updateIds, rate, args.cdcStepSeconds, 64);
    const en = Date.now();
    const atEnd = await Promise.all(probes.map(async (p) => (await p.counters()).applied));
    const drained = await Promise.all(probes.map((p, i) => p.waitApplied(b[i]!.applied + w.written, 60_000)));
    const s1 = snap();
    const a = await Promise.all(probes.map((p) => p.counters()));
    phase(`CDC ${rate}/s`, st, Date.now());
    const writtenPerSec = w.written / ((en - st) / 1000);
    const byReplica = probes.map((p, i) => {
      const lag = lagFigures(b[i]!.lag, a[i]!.lag);
      const backlogAtEnd = Math.max(0, b[i]!.applied + w.written - atEnd[i]!);
      const keptUp = lag.lagP99Ms < 1000 && backlogAtEnd < Math.max(50, writtenPerSec / 2) && drained[i]! >= b[i]!.applied + w.written;
      return { replica: p.replica, backlogAtEnd, ...lag, keptUp };
    });
    const { replica: _first, ...first } = byReplica[0]!;
    const keptUp = byReplica.every((r) => r.keptUp);
    const sourceLimited = w.written < 0.95 * rate * args.cdcStepSeconds;
    steps.push({
      offeredPerSec: rate,
      writtenPerSec,
      failed: w.failed,
      ...first,
      keptUp,
      byReplica,
      sourceLimited,
      cpu: cpuFigures(s0, s1, cpuGroups),
      loadavg: loadavg(),
    });
    for (const r of byReplica) {
      say(
        `  ${r.replica}: written ${writtenPerSec.toFixed(0)}/s, lag p50 ${r.lagP50Ms.toFixed(0)} p99 ${r.lagP99Ms.toFixed(0)} ms, backlog at end ${r.backlogAtEnd}${r.keptUp ? '' : ' — NOT kept up'}${sourceLimited ? ' (source-limited)' : ''}`,
      );
    }
    if (!keptUp) break;
  }
  return steps;
}

// ---- 6. spike ---------------------------------------------------------------------------------

/** The spike at half / five times / half the sustained rate (bench/lib/spike-phase.ts). */
async function runSpike({ args, access, driver, phase }: Bench, orderSteps: OrderStep[]): Promise<SpikeResult | undefined> {
  const base = spikeBase(args.spike, orderSteps);
  if (!base) {
    say('spike: skipped, no rate to scale from (no good orders step; give --spike-base RATE)');
    return undefined;
  }
  const cfg = access.stack ? undefined : loadConfig();
  return runSpikePhase({
    driver,
    base,
    settings: args.spike,
    say,
    phase,
    audit: {
      urls: access.urls,
      pspUrl: access.stack?.pspUrl ?? cfg!.PSP_URL,
      temporalUiUrl: access.stack?.temporalUiUrl ?? cfg!.TEMPORAL_UI_URL,
      namespace: cfg?.TEMPORAL_NAMESPACE ?? 'default',
    },
  });
}

/** Environment that preloads bench/lib/cpu-profile-hook.mjs into every Node process of the stack. */
function profileEnv(dir: string | undefined): Record<string, string> {
  if (!dir) return {};
  fs.mkdirSync(dir, { recursive: true });
  fs.rmSync(path.join(dir, '.recording'), { force: true });
  return { NODE_OPTIONS: `--import ${path.join(__dirname, 'lib', 'cpu-profile-hook.mjs')}`, CPU_PROFILE_DIR: dir };
}

function temporalVersion(cluster: boolean): string | undefined {
  try {
    const binary = cluster ? clusterToolPath('temporal-server') : temporalCliPath();
    return `${cluster ? 'cluster: ' : ''}${execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim()}`;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Report: stdout table and the summary kept in the JSON.

const TARGET_ORDERS_PER_DAY = 9_200_000;
const AVG_RATE = TARGET_ORDERS_PER_DAY / 86_400;

/** The report as it is built, section by section: its lines, and the figures kept in the JSON. */
interface ReportParts {
  out: string[];
  summary: Record<string, unknown>;
}

function buildReport(r: Record<string, any>, args: Args): { text: string; summary: Record<string, unknown> } {
  const rep: ReportParts = { out: [], summary: {} };
  reportHeader(rep, r, args);
  reportDiskSize(rep, r);
  reportIdle(rep, r);
  const sagaBest = reportOrders(rep, r, args);
  reportMemory(rep, r);
  reportBaseline(rep, r, args, sagaBest);
  reportMenuReads(rep, r, args);
  if (r.menuPopularity) {
    rep.out.push('', ...popularityReport(r.menuPopularity as PopularityResult, args.env.MENU_CACHE_ENTRIES ?? '20000 (default)'));
    rep.summary.menuPopularity = (r.menuPopularity as PopularityResult).targets;
  }
  if (r.search) {
    rep.out.push('', ...searchReport(r.search as SearchResult));
    rep.summary.search = (r.search as SearchResult).targets;
  }
  reportCdc(rep, r, args);
  reportSpike(rep, r.spike);
  reportTargets(rep, r);
  return { text: rep.out.join('\n') + '\n', summary: rep.summary };
}

function reportHeader({ out }: ReportParts, r: Record<string, any>, args: Args): void {
  const m = r.machine ?? {};
  out.push('');
  out.push(`LUNCH-RUSH BENCHMARK  ${r.startedAt}  label: ${args.label}${args.quick ? ' (--quick)' : ''}`);
  out.push(
    `machine: ${m.nproc} CPUs (${m.cpuModel}), ${m.memoryGB} GB, Node ${m.node}, Postgres ${m.postgres}${m.temporal ? `, ${m.temporal.split('\n')[0]}` : ''}`,
  );
  out.push(
    `stack: ${args.api ? `external at ${args.api}` : 'embedded (harness/local-stack.ts)'}, workers order/payment/restaurant ${args.workers.order}/${args.workers.payment}/${args.workers.restaurant}${args.apiOrderWorker ? ' + the order worker inside the API (API_ORDER_WORKER, eager saga starts)' : ''}${args.apiNice === undefined ? '' : `, API processes at nice ${args.apiNice} (--api-nice)`}${args.primaryNice === undefined ? '' : `, primary Postgres at nice ${args.primaryNice} (--primary-nice)`}, ${r.stack?.menuItems} menu items, ${r.stack?.restaurants} restaurants (${r.stack?.autoAcceptRestaurants} auto-accept)`,
  );
  if (Object.keys(args.env).length > 0 || args.temporalArgs.length > 0)
    out.push(`settings: env ${JSON.stringify(args.env)} temporal ${JSON.stringify(args.temporalArgs)}`);
  out.push(`load average (1/5/15 min): at start ${r.machine?.loadavgAtStart}, at end ${r.loadavgAtEnd}; run took ${r.durationSeconds} s`);
  out.push(`"other cores" = CPU used on this machine by processes outside the benchmark (other people's work), in cores.`);
}

function reportDiskSize({ out, summary }: ReportParts, r: Record<string, any>): void {
  const sizes = (r.diskSize ?? []) as DiskSize[];
  if (sizes.length === 0) return;
  out.push('');
  out.push(`ON DISK once the read models were ready (MB; each table with its indexes and TOAST, pg_total_relation_size; pg_database_size):`);
  out.push(...diskSizeLines(sizes));
  summary.diskSizeMB = diskSizeSummary(sizes);
}

function reportIdle({ out, summary }: ReportParts, r: Record<string, any>): void {
  if (!r.idle) return;
  out.push('');
  out.push(
    `NO LOAD (${r.idle.orders} orders one at a time, load ${r.idle.loadavg}): POST /orders p50 ${ms(r.idle.postMs.p50)} ms p99 ${ms(r.idle.postMs.p99)} ms; order-to-CONFIRMED p50 ${ms(r.idle.confirmMs.p50)} ms p99 ${ms(r.idle.confirmMs.p99)} ms`,
  );
  summary.idleConfirmP50Ms = ms(r.idle.confirmMs.p50);
}

/** The saga's steps; returns the step its cost per order is taken from (the busiest that kept up). */
function reportOrders(rep: ReportParts, r: Record<string, any>, args: Args): OrderStep | undefined {
  const { out, summary } = rep;
  const steps: OrderStep[] = r.orderSteps ?? [];
  if (steps.length === 0) return undefined;
  out.push('');
  out.push(`ORDERS: saga, open loop, ${args.stepSeconds} s per step, auto-accepting restaurants (ms; CPU = all processes of the stack per confirmed order)`);
  out.push(
    table(
      [
        'offered/s',
        'completed/s',
        'POST p50',
        'POST p99',
        'CONF p50',
        'CONF p99',
        'errors',
        'unfinished',
        'CPU ms/order',
        'cores used',
        'Temporal writes/order',
        'other cores',
        'load 1m',
        'verdict',
      ],
      steps.map((s) => [
        s.rate,
        round(s.completedPerSec, 1),
        ms(s.postMs.p50),
        ms(s.postMs.p99),
        ms(s.confirmMs.p50),
        ms(s.confirmMs.p99),
        s.httpErrors + s.rejected + s.dropped,
        s.unfinished,
        s.cpuMsPerOrder !== undefined ? round(s.cpuMsPerOrder, 1) : '-',
        s.cpu ? round(s.cpu.total / s.cpu.wallSeconds, 2) : '-',
        s.temporalWritesPerOrder !== undefined ? round(s.temporalWritesPerOrder, 1) : '-',
        s.cpu ? round(s.cpu.otherCores, 2) : '-',
        s.loadavg.split(' ')[0]!,
        s.withinSlo ? 'p99<1s' : s.ok ? 'slow' : 'SATURATED',
      ]),
    ),
  );
  const sustained = steps.filter((s) => s.withinSlo).reduce<OrderStep | undefined>((b, s) => (!b || s.rate > b.rate ? s : b), undefined);
  // Cost per order: at the busiest step that still kept up (or the busiest step at all).
  const busiest = (list: OrderStep[]) => list.reduce<OrderStep | undefined>((b, s) => (!b || s.completedPerSec > b.completedPerSec ? s : b), undefined);
  const sagaBest = busiest(steps.filter((s) => s.ok)) ?? busiest(steps);
  const peak = steps.reduce((mx, s) => Math.max(mx, s.completedPerSec), 0);
  out.push(
    `highest rate sustained with p99 order-to-CONFIRMED < 1 s: ${sustained ? `${sustained.rate} orders/s` : 'none'}; highest completed: ${peak.toFixed(1)} orders/s`,
  );
  summary.sagaSustainedRate = sustained?.rate ?? 0;
  summary.sagaPeakCompletedPerSec = round(peak, 1);
  if (r.temporal) {
    out.push(
      `Temporal per order (${r.temporal.sampledWorkflows} sagas described): ${round(r.temporal.stateTransitionsPerOrder, 1)} state transitions, ${round(r.temporal.historyEventsPerOrder, 1)} history events, ${round(r.temporal.historyBytesPerOrder / 1024, 1)} KB of history` +
        (sagaBest?.temporalRequestsPerOrder !== undefined
          ? `; ${round(sagaBest.temporalWritesPerOrder!, 1)} workflow writes and ${round(sagaBest.temporalRequestsPerOrder, 1)} persistence requests (${args.cluster ? 'Postgres, every cluster process' : 'SQLite'})`
          : ''),
    );
    const db = sagaBest?.temporalDbPerOrder;
    if (db) {
      out.push(
        `Temporal's Postgres per order at ${sagaBest.rate}/s: ${round(db.writingTransactions, 1)} writing transactions, ${round(db.rows, 1)} rows written, ${round(db.walBytes / 1024, 1)} KB of WAL`,
      );
      summary.temporalDbPerOrder = { writingTransactions: round(db.writingTransactions, 1), rows: round(db.rows, 1), walKB: round(db.walBytes / 1024, 1) };
    }
    summary.stateTransitionsPerOrder = round(r.temporal.stateTransitionsPerOrder, 1);
  }
  const manual = manualAcceptLine(r.manualAccept);
  if (manual) out.push(manual);
  if (r.manualAccept) summary.manualAcceptTransitionsAfterAccept = round(r.manualAccept.transitionsAcceptToConfirmed, 1);
  if (sagaBest?.cpu && sagaBest.cpuMsPerOrder !== undefined) reportSagaCost(rep, sagaBest, r.machine?.nproc);
  return sagaBest;
}

/** CPU per order at the cost step, and what 9.2 M orders a day would take at that cost. */
function reportSagaCost({ out, summary }: ReportParts, costStep: OrderStep, nproc: unknown): void {
  const per = (g: string) => ((costStep.cpu!.byGroup[g] ?? 0) / costStep.confirmed) * 1000;
  out.push(
    `CPU per order at ${costStep.rate}/s, by process (ms): ` +
      Object.keys(costStep.cpu!.byGroup)
        .filter((g) => (costStep.cpu!.byGroup[g] ?? 0) > 0)
        .map((g) => `${g} ${per(g).toFixed(1)}`)
        .join(', ') +
      ` = ${costStep.cpuMsPerOrder!.toFixed(1)}`,
  );
  const cpuS = costStep.cpuMsPerOrder! / 1000;
  const cores = (rate: number) => rate * cpuS;
  out.push(
    `ON PAPER: 9.2 M orders/day = ${AVG_RATE.toFixed(1)}/s average needs ${cores(AVG_RATE).toFixed(1)} cores; a 5x peak (${(AVG_RATE * 5).toFixed(0)}/s) needs ${cores(AVG_RATE * 5).toFixed(1)} cores ` +
      `(at 100% busy; ${(cores(AVG_RATE * 5) / 0.6).toFixed(0)} at 60%). ` +
      (Number(summary.sagaSustainedRate) > 0
        ? `This ${nproc}-core machine sustains ${summary.sagaSustainedRate}/s: ${Math.ceil(AVG_RATE / Number(summary.sagaSustainedRate))} such machines for the average, ${Math.ceil((AVG_RATE * 5) / Number(summary.sagaSustainedRate))} for the peak.`
        : `This ${nproc}-core machine sustained no tested rate within the objective.`),
  );
  summary.sagaCpuMsPerOrder = round(costStep.cpuMsPerOrder!, 1);
  summary.coresForAverage = round(cores(AVG_RATE), 1);
  summary.coresForPeak5x = round(cores(AVG_RATE * 5), 1);
}

function reportMemory({ out }: ReportParts, r: Record<string, any>): void {
  if (r.peakMemoryMB && Object.keys(r.peakMemoryMB).length > 0) {
    out.push(
      `peak memory (MB; RSS, Postgres = sum of PSS over its processes): ` +
        Object.entries(r.peakMemoryMB)
          .map(([k, v]) => `${k} ${v}`)
          .join(', '),
    );
  }
}

function reportBaseline({ out, summary }: ReportParts, r: Record<string, any>, args: Args, sagaBest: OrderStep | undefined): void {
  const bsteps: BaselineStep[] = r.baselineSteps ?? [];
  if (bsteps.length === 0) return;
  out.push('');
  out.push(
    `BASELINE: the same writes (order, PSP authorize, ticket, PSP capture, accept, confirm) by one Node process, no Temporal, no HTTP API; ${args.baselineStepSeconds} s per step`,
  );
  out.push(
    table(
      ['offered/s', 'completed/s', 'p50 ms', 'p99 ms', 'failed', 'CPU ms/order', 'cores used', 'other cores', 'load 1m', 'verdict'],
      bsteps.map((s) => [
        s.rate,
        round(s.completedPerSecInWindow, 1),
        ms(s.latencyMs.p50),
        ms(s.latencyMs.p99),
        s.failed + s.unfinished + s.dropped,
        s.cpuMsPerOrder !== undefined ? round(s.cpuMsPerOrder, 1) : '-',
        s.cpu ? round(s.cpu.total / s.cpu.wallSeconds, 2) : '-',
        s.cpu ? round(s.cpu.otherCores, 2) : '-',
        s.loadavg.split(' ')[0]!,
        s.ok ? 'ok' : 'SATURATED',
      ]),
    ),
  );
  const busiest = (list: typeof bsteps) =>
    list.reduce<(typeof bsteps)[number] | undefined>((b, s) => (!b || s.completedPerSecInWindow > b.completedPerSecInWindow ? s : b), undefined);
  const best = busiest(bsteps.filter((s) => s.ok)) ?? busiest(bsteps);
  const peak = bsteps.reduce((mx, s) => Math.max(mx, s.completedPerSecInWindow), 0);
  summary.baselinePeakCompletedPerSec = round(peak, 1);
  if (best?.cpuMsPerOrder !== undefined) {
    summary.baselineCpuMsPerOrder = round(best.cpuMsPerOrder, 1);
    out.push(
      `CPU per order at ${best.rate}/s, by process (ms): ` +
        BASELINE_GROUPS.map((g) => `${g} ${(((best.cpu!.byGroup[g] ?? 0) / best.completed) * 1000).toFixed(1)}`).join(', '),
    );
  }
  if (summary.sagaPeakCompletedPerSec === undefined) return;
  summary.ratioOrdersPerSec = round(Number(summary.sagaPeakCompletedPerSec) / peak, 3);
  out.push(`saga / baseline, orders/s at each one's saturation: ${summary.ratioOrdersPerSec} (${summary.sagaPeakCompletedPerSec} / ${round(peak, 1)})`);
  // CPU per order at the same offered rate (fixed costs spread over the same number of orders).
  const same = sagaBest ? bsteps.find((b) => b.rate === sagaBest.rate && b.cpuMsPerOrder !== undefined) : undefined;
  if (same && sagaBest?.cpuMsPerOrder !== undefined) {
    summary.ratioCpuPerOrder = round(sagaBest.cpuMsPerOrder / same.cpuMsPerOrder!, 1);
    summary.ratioCpuBasis = `same rate, ${sagaBest.rate}/s`;
    out.push(
      `saga / baseline, CPU per order at the same rate (${sagaBest.rate}/s): ${summary.ratioCpuPerOrder}x (${round(sagaBest.cpuMsPerOrder, 1)} / ${round(same.cpuMsPerOrder!, 1)} ms): what durability costs`,
    );
  } else if (summary.sagaCpuMsPerOrder !== undefined && summary.baselineCpuMsPerOrder !== undefined) {
    summary.ratioCpuPerOrder = round(Number(summary.sagaCpuMsPerOrder) / Number(summary.baselineCpuMsPerOrder), 1);
    summary.ratioCpuBasis = 'each at its busiest good step';
  }
  if (summary.sagaCpuMsPerOrder !== undefined && summary.baselineCpuMsPerOrder !== undefined) {
    out.push(
      `saga / baseline, CPU per order each at its busiest good step: ${round(Number(summary.sagaCpuMsPerOrder) / Number(summary.baselineCpuMsPerOrder), 1)}x (${summary.sagaCpuMsPerOrder} / ${summary.baselineCpuMsPerOrder} ms)`,
    );
  }
}

function reportMenuReads({ out, summary }: ReportParts, r: Record<string, any>, args: Args): void {
  const runs: MenuRun[] = r.menuRuns ?? [];
  if (runs.length === 0) return;
  out.push('');
  out.push(
    `MENU READS: GET /restaurants/:id/menu (${r.stack?.menuItems} items in the read model, random restaurants) against GET /healthz, autocannon, ${args.menuSeconds} s per run`,
  );
  const conns = [...new Set(runs.map((x) => x.connections))];
  const rows = conns.map((c) => {
    const h = runs.find((x) => x.connections === c && x.label === 'healthz');
    const mm = runs.find((x) => x.connections === c && x.label === 'menu');
    const apiMs = (x?: HttpRun & { cpu?: CpuFigures }) =>
      x?.cpu ? round(((x.cpu.byGroup.api || x.cpu.byGroup['api+order-worker'] || 0) / (x.requestsPerSec * x.seconds)) * 1000, 2) : '-';
    return [
      c,
      round(h?.requestsPerSec ?? NaN),
      h?.p50Ms ?? '-',
      h?.p99Ms ?? '-',
      apiMs(h),
      round(mm?.requestsPerSec ?? NaN),
      mm?.p50Ms ?? '-',
      mm?.p99Ms ?? '-',
      apiMs(mm),
      (mm?.non2xx ?? 0) + (mm?.errors ?? 0),
      round((mm?.requestsPerSec ?? NaN) / (h?.requestsPerSec ?? NaN), 2),
      mm?.loadavg.split(' ')[0] ?? '-',
    ];
  });
  out.push(
    table(
      ['connections', 'healthz req/s', 'p50', 'p99', 'API ms/req', 'menu req/s', 'p50', 'p99', 'API ms/req', 'menu errors', 'menu/healthz', 'load 1m'],
      rows,
    ),
  );
  const bestUnder = (label: string) =>
    runs.filter((x) => x.label === label && x.p99Ms < 20 && x.non2xx + x.errors === 0).reduce((mx, x) => Math.max(mx, x.requestsPerSec), 0);
  const h = bestUnder('healthz');
  const mm = bestUnder('menu');
  summary.menuReqPerSecP99Under20 = round(mm);
  summary.healthzReqPerSecP99Under20 = round(h);
  summary.ratioMenuHealthz = round(mm / h, 2);
  out.push(`highest req/s with p99 < 20 ms: menu ${round(mm)}, healthz ${round(h)}: ratio ${summary.ratioMenuHealthz}`);
  const mc = r.menuCache as { hit: number; miss: number; bypass: number } | undefined;
  if (mc && mc.hit + mc.miss + mc.bypass > 0) {
    summary.menuCacheHitRatio = round(mc.hit / (mc.hit + mc.miss + mc.bypass), 3);
    out.push(
      `menu cache (API): ${mc.hit} hits, ${mc.miss} misses, ${mc.bypass} bypassed (not listening) = hit ratio ${summary.menuCacheHitRatio}; MENU_CACHE_ENTRIES=0 measures the database path alone`,
    );
  }
}

function reportCdc({ out, summary }: ReportParts, r: Record<string, any>, args: Args): void {
  if (!r.cdc) return;
  out.push('');
  const mx = r.cdc.mixed;
  if (mx) {
    const byReplica: Array<Record<string, any>> = mx.byReplica ?? [{ replica: 'read-1', ...mx }];
    const reads = byReplica.reduce((n, x) => n + x.reads.requestsPerSec, 0);
    out.push(
      `CDC WITH LOAD: ${round(mx.updatesPerSecWritten)} of ${mx.updatesPerSecOffered} menu updates/s offered were written${mx.sourceLimited ? ' (source-limited)' : ''}, ` +
        `over ${mx.updateTargets ?? '?'} items of the restaurants that do not auto-accept, while ${mx.orders.rate} orders/s and ${round(reads)} menu reads/s ran ` +
        `(${args.mixedSeconds} s, load ${mx.loadavg.split(' ')[0]}); orders CONFIRMED p99 ${ms(mx.orders.confirmMs.p99)} ms`,
    );
    for (const x of byReplica) {
      out.push(
        `  ${x.replica}: commit-to-visible lag p50 ${round(x.lagP50Ms)} ms, p99 ${round(x.lagP99Ms)} ms (${round(x.within100Ms * 100, 1)}% within 100 ms, ` +
          `${round(x.within250Ms * 100, 1)}% within 250 ms), backlog after the phase ${x.backlogAtEnd}; its API's menu reads p99 ${x.reads.p99Ms} ms`,
      );
    }
    // Each target row is judged only at the rate it names.
    if (mx.updatesPerSecOffered === 500) {
      summary.cdcLagP99MsAt500 = round(mx.lagP99Ms);
      summary.cdcWithin250MsAt500 = mx.within250Ms;
      summary.cdcWithin100MsAt500 = mx.within100Ms;
    }
    if (mx.updatesPerSecOffered >= CDC_RATE_REPLICATED) {
      summary.cdcLagP99MsEachReplicaAt3000 = round(Math.max(...byReplica.map((x) => x.lagP99Ms)));
      summary.cdcLagByReplica = Object.fromEntries(byReplica.map((x) => [x.replica, { p50Ms: round(x.lagP50Ms), p99Ms: round(x.lagP99Ms) }]));
      summary.cdcSourceLimitedAt3000 = mx.sourceLimited;
    }
  }
  const cs: Array<Record<string, any>> = r.cdc.steps ?? [];
  if (cs.length > 0) {
    out.push(`CDC RATE STEPS (updates only, ${args.cdcStepSeconds} s each; lag from each projector's apply-delay histogram, interpolated in its buckets)`);
    out.push(
      table(
        ['offered/s', 'replica', 'written/s', 'lag p50 ms', 'lag p99 ms', 'backlog@end', 'kept up', 'load 1m'],
        cs.flatMap((s) =>
          (s.byReplica ?? [{ replica: 'read-1', ...s }]).map((x: Record<string, any>) => [
            s.offeredPerSec,
            x.replica,
            round(s.writtenPerSec),
            round(x.lagP50Ms),
            round(x.lagP99Ms),
            x.backlogAtEnd,
            x.keptUp ? (s.sourceLimited ? 'yes (source-limited)' : 'yes') : 'NO',
            String(s.loadavg).split(' ')[0]!,
          ]),
        ),
      ),
    );
    summary.cdcHighestKeptUp = round(r.cdc.highestKeptUpWrittenPerSec);
    out.push(
      `highest update rate the projector kept up with (p99 < 1 s, no growing backlog): ${summary.cdcHighestKeptUp} updates/s written${cs.every((s) => s.keptUp) ? ' (it kept up with every step: the limit is higher)' : ''}`,
    );
  }
}

function reportTargets({ out, summary }: ReportParts, r: Record<string, any>): void {
  const t = (name: string, atLeast: number, aim: number, value: unknown, unit: string, lowerIsBetter = false) => {
    const v = Number(value);
    const known = value !== undefined && Number.isFinite(v);
    const met = !known
      ? 'not measured'
      : lowerIsBetter
        ? v <= aim
          ? 'aim met'
          : v <= atLeast
            ? 'met'
            : 'MISSED'
        : v >= aim
          ? 'aim met'
          : v >= atLeast
            ? 'met'
            : 'MISSED';
    return [name, `${atLeast}${unit}`, `${aim}${unit}`, known ? `${v}${unit}` : '-', met];
  };
  out.push('');
  out.push('TARGETS');
  out.push(
    table(
      ['figure', 'at least', 'aim', 'measured', 'verdict'],
      [
        t('saga orders/s sustained, p99 order-to-CONFIRMED < 1 s', 50, 106, summary.sagaSustainedRate, ''),
        t('saga p50 order-to-CONFIRMED, no load', 150, 100, summary.idleConfirmP50Ms, ' ms', true),
        t('saga / baseline, orders/s', 0.1, 0.2, summary.ratioOrdersPerSec, ''),
        t('saga / baseline, CPU seconds per order', 10, 5, summary.ratioCpuPerOrder, 'x', true),
        t('menu reads / healthz, req/s with p99 < 20 ms', 0.4, 0.5, summary.ratioMenuHealthz, ''),
        t('CDC lag p99 at 500 updates/s with orders', 250, 100, summary.cdcLagP99MsAt500, ' ms', true),
        t(
          `CDC lag p99 <= ${CDC_REPLICA_LAG_P99_MS} ms on each replica (${CDC_RATE_REPLICATED} updates/s with orders; worst replica)`,
          CDC_REPLICA_LAG_P99_MS,
          CDC_REPLICA_LAG_P99_MS,
          summary.cdcLagP99MsEachReplicaAt3000,
          ' ms',
          true,
        ),
        t('highest menu update rate kept up with', 1000, 2000, summary.cdcHighestKeptUp, '/s'),
        ...popularityTargetRows(summary.menuPopularity as PopularityResult['targets'] | undefined, t),
        ...searchTargetRows(summary.search as SearchTargets | undefined),
        ...orderCostTargets(summary).map((row) => t(...row)),
        ...spikeTargetRows(summary),
      ],
    ),
  );
  if (summary.cdcSourceLimitedAt3000)
    out.push(`!! the source wrote less than 95 % of the ${CDC_RATE_REPLICATED} updates/s offered with orders: the replica lag above is that of a lower rate`);
  if (r.unexpectedExits?.length) out.push(`!! processes that exited on their own: ${r.unexpectedExits.join(', ')}`);
}

// ---------------------------------------------------------------------------------------------
// Timeline and chart

function perSecond(records: OrderRecord[], t0: number) {
  const sec = (msAt: number) => Math.floor((msAt - t0) / 1000);
  const offered = new Map<number, number>();
  const completed = new Map<number, number>();
  const lat = new Map<number, number[]>();
  const post = new Map<number, number[]>();
  for (const r of records) {
    if (r.phase === 'warmup') continue;
    offered.set(sec(r.sentMs), (offered.get(sec(r.sentMs)) ?? 0) + 1);
    if (r.postMs !== undefined) post.set(sec(r.sentMs), [...(post.get(sec(r.sentMs)) ?? []), r.postMs]);
    if (r.finalStatus === 'CONFIRMED') {
      completed.set(sec(r.doneAtMs!), (completed.get(sec(r.doneAtMs!)) ?? 0) + 1);
      lat.set(sec(r.doneAtMs!), [...(lat.get(sec(r.doneAtMs!)) ?? []), r.doneAtMs! - r.sentMs]);
    }
  }
  const last = Math.max(0, ...offered.keys(), ...completed.keys());
  return Array.from({ length: last + 1 }, (_, s) => {
    const l = summarize(lat.get(s) ?? []);
    const p = summarize(post.get(s) ?? []);
    return { t: s, offered: offered.get(s) ?? 0, confirmed: completed.get(s) ?? 0, confirmP50: l.p50, confirmP99: l.p99, postP99: p.p99 };
  });
}

function timeline(records: OrderRecord[], baseline: BaselineStepResult[], t0: number) {
  return {
    orders: perSecond(records, t0),
    baseline: baseline.flatMap((b) => b.perSecond.map((n, i) => ({ t: Math.floor((b.windowStartMs - t0) / 1000) + i, completed: n }))),
  };
}

function chart(
  records: OrderRecord[],
  baseline: BaselineStepResult[],
  menuRuns: HttpRun[],
  phases: Phase[],
  t0: number,
  args: Args,
  r: Record<string, any>,
): string {
  const ps = perSecond(records, t0);
  const active = ps.filter((p) => p.offered > 0 || p.confirmed > 0);
  const series = (f: (p: (typeof ps)[number]) => number): Array<[number, number]> => ps.map((p) => [p.t, p.offered > 0 || p.confirmed > 0 ? f(p) : NaN]);
  const base: Array<[number, number]> = baseline.flatMap((b) => b.perSecond.map((n, i): [number, number] => [(b.windowStartMs - t0) / 1000 + i, n]));
  const runSeries = (label: string, color: string, dashed: boolean): Series => ({
    name: `${label} req/s`,
    color,
    dashed,
    points: menuRuns
      .filter((m) => m.label === label)
      .flatMap((m) => {
        const ph = phases.find((p) => p.label === `${label} c${m.connections}`);
        return ph
          ? ([
              [ph.start, m.requestsPerSec],
              [ph.end, m.requestsPerSec],
              [ph.end, NaN],
            ] as Array<[number, number]>)
          : [];
      }),
  });
  const cdcSteps: Array<Record<string, any>> = (r.cdc?.steps ?? []) as Array<Record<string, any>>;
  const cdcSeries: Series = {
    name: 'menu updates/s (CDC steps)',
    color: '#17becf',
    points: cdcSteps.flatMap((c) => {
      const ph = phases.find((p) => p.label === `CDC ${c.offeredPerSec}/s`);
      return ph
        ? ([
            [ph.start, c.writtenPerSec],
            [ph.end, c.writtenPerSec],
            [ph.end, NaN],
          ] as Array<[number, number]>)
        : [];
    }),
  };
  return renderChart({
    title: `Lunch-rush benchmark (${args.label}) — ${r.startedAt}`,
    subtitle: `${r.machine?.nproc} CPUs ${r.machine?.cpuModel}, load average ${r.machine?.loadavgAtStart} → ${r.loadavgAtEnd}; ${r.stack?.menuItems} menu items; orders: open loop, stepped; shaded bands = phases`,
    phases,
    panels: [
      {
        title: 'Orders per second',
        unit: 'orders/s',
        series: [
          { name: 'saga offered/s', color: '#1f77b4', dashed: true, points: series((p) => p.offered) },
          { name: 'saga CONFIRMED/s', color: '#2ca02c', points: series((p) => p.confirmed) },
          { name: 'baseline completed/s', color: '#ff7f0e', points: base },
        ],
      },
      {
        title: 'Order latency (log scale)',
        unit: 'ms',
        log: true,
        marks: [{ value: 1000, label: '1 s objective (p99)' }],
        series: [
          { name: 'order-to-CONFIRMED p50', color: '#2ca02c', points: series((p) => p.confirmP50) },
          { name: 'order-to-CONFIRMED p99', color: '#d62728', points: series((p) => p.confirmP99) },
          { name: 'POST /orders p99', color: '#1f77b4', dashed: true, points: series((p) => p.postP99) },
        ],
      },
      {
        title: 'Reads and CDC',
        unit: 'per second',
        series: [runSeries('healthz', '#999', true), runSeries('menu', '#8e44ad', false), cdcSeries],
      },
      ...(r.spike ? [spikeBacklogPanel(r.spike as SpikeResult, ((r.spike as SpikeResult).marks.startMs - t0) / 1000)] : []),
    ],
  }).replace('</svg>', active.length === 0 ? '<text x="100" y="120">no orders in this run</text></svg>' : '</svg>');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
