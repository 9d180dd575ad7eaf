/**
 * CDC projector benchmark: how many menu updates per second the read model keeps up with.
 *
 *   npm run bench:cdc -- [--rates 500,1000,2000,4000] [--step-seconds 20] [--restaurants 1000] [--items 100] [--replicas 2]
 *
 * Starts its own Postgres pair (embedded, wal_level=logical) in a temp dir, seeds the menu, lets the
 * projector build the read model from a snapshot, then offers single-row updates (one transaction
 * each) at a steady rate per step. Commit-to-visible lag is measured per source transaction: the
 * source commit timestamp (from pgoutput) to the moment the read-model transaction holding it
 * committed (the projector's onApplied hook), on the same host clock.
 * The projector kept up with a step when p99 lag < 1 s and the backlog at the end of the step is under
 * half a second of the written rate. A step is "source-limited" when the source database itself
 * accepted < 95 % of the offered updates (then the step says nothing about the projector's limit).
 * With --replicas N, N read models (databases side by side on the read instance), each fed by its own
 * projector on its own slot, the later ones joining after the first streams; every step reports each.
 * Last, a catch-up phase stops the (first) projector, writes a backlog as fast as the source takes it, and
 * times the projector draining it: its apply ceiling, independent of how fast the source can write.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { Registry } from 'prom-client';
import { createDb, type Db } from '../db/knex';
import { migrateLatest } from '../db/migrations';
import { createMenuProjector, type AppliedBatch, type MenuProjector } from '../db/projector/projector';
import { bulkSeedRestaurants } from '../db/bulk-seed';
import { menuIdFor, seedRestaurants } from '../db/seed';
import { startPostgres } from '../lib/node/embedded-postgres';
import { createLogger, type Logger } from '../lib/node/logger';
import { freePort, startHarnessRun, type HarnessRun } from '../harness/bootstrap';

interface Args {
  rates: number[];
  stepSeconds: number;
  restaurants: number;
  items: number;
  writerConnections: number;
  catchup: number;
  replicas: number;
}

const HELP = `npm run bench:cdc -- [flags]
  --rates LIST              update rates stepped through, per second (default 500,1000,2000,4000)
  --step-seconds N          seconds per step (default 20)
  --restaurants N           restaurants to seed (default 1000)
  --items N                 menu items per restaurant (default 100)
  --writer-connections N    connections writing updates (default 16)
  --catchup N               updates written while the projector is stopped, then drained (default 50000)
  --replicas N              read replicas, each with its own projector and slot (default 1)
  --help                    this text
`;

function parseArgs(argv: string[]): Args {
  if (argv.includes('--help')) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    rates: (get('rates') ?? '500,1000,2000,4000').split(',').map(Number),
    stepSeconds: Number(get('step-seconds') ?? 20),
    restaurants: Number(get('restaurants') ?? 1000),
    items: Number(get('items') ?? 100),
    writerConnections: Number(get('writer-connections') ?? 16),
    catchup: Number(get('catchup') ?? 50_000),
    replicas: Number(get('replicas') ?? 1),
  };
}

interface StepResult {
  replica: string;
  offeredPerSec: number;
  writtenPerSec: number;
  appliedPerSec: number;
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  backlogAtEnd: number;
  lagBytesAtEnd: number;
  drainMs: number;
  keptUp: boolean;
  sourceLimited: boolean;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * Offers `rate` single-row updates per second for `seconds`, never more than `maxInFlight` at once.
 * Also used by bench/lunch-rush.ts against the running stack's restaurants database.
 */
export async function offerUpdates(pool: pg.Pool, ids: string[], rate: number, seconds: number, maxInFlight: number) {
  let issued = 0;
  let written = 0;
  let inFlight = 0;
  let failed = 0;
  const start = Date.now();
  const end = start + seconds * 1000;
  const pending = new Set<Promise<void>>();
  while (Date.now() < end) {
    const due = Math.floor(((Date.now() - start) / 1000) * rate);
    while (issued < due && inFlight < maxInFlight) {
      issued += 1;
      inFlight += 1;
      const id = ids[Math.floor(Math.random() * ids.length)]!;
      const p: Promise<void> = pool
        .query('UPDATE menu_items SET price = price + 10, version = version + 1, updated_at = now() WHERE menu_id = $1', [id])
        .then(
          (r) => void (written += r.rowCount ?? 0),
          () => void (failed += 1),
        )
        .finally(() => {
          inFlight -= 1;
          pending.delete(p);
        });
      pending.add(p);
    }
    // Updates the source could not take in time are dropped, not queued: the offered rate stays honest.
    if (issued < due) issued = due;
    await sleep(2);
  }
  await Promise.all(pending);
  return { written, failed };
}

/** `total` single-row updates from `connections` connections, as fast as the source takes them. */
async function writeBacklog(pool: pg.Pool, ids: string[], total: number, connections: number): Promise<number> {
  let issued = 0;
  let written = 0;
  const worker = async () => {
    while (issued < total) {
      issued += 1;
      const id = ids[Math.floor(Math.random() * ids.length)]!;
      const r = await pool.query('UPDATE menu_items SET price = price + 10, version = version + 1 WHERE menu_id = $1', [id]);
      written += r.rowCount ?? 0;
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  return written;
}

/** The source (restaurants) and the read models (menu_read, menu_read_2, ...), in two Postgres instances, migrated. */
async function startDatabases(run: HarnessRun, replicas: number) {
  const root = run.dataDir;
  const [primaryPort, readPort] = [await freePort(), await freePort()];
  const [primary, read] = await Promise.all([
    startPostgres({ dataDir: path.join(root, 'primary'), port: primaryPort }),
    startPostgres({ dataDir: path.join(root, 'read'), port: readPort }),
  ]);
  run.onClose(() => Promise.all([primary, read].map((i) => i.stop().catch(() => undefined))));
  const readNames = Array.from({ length: replicas }, (_, i) => (i === 0 ? 'menu_read' : `menu_read_${i + 1}`));
  await Promise.all([primary.createDatabase('restaurants'), ...readNames.map((n) => read.createDatabase(n))]);
  const source = createDb(primary.url('restaurants'), 4);
  const readDbs = readNames.map((n) => createDb(read.url(n), 4));
  run.onClose(() => Promise.all([source, ...readDbs].map((d) => d.destroy().catch(() => undefined))));
  await Promise.all([migrateLatest(source, 'restaurants'), ...readDbs.map((d) => migrateLatest(d, 'menu_read'))]);
  const pgVersion = (await source.raw('SHOW server_version')).rows[0].server_version as string;
  return { sourceUrl: primary.url('restaurants'), source, readDbs, pgVersion };
}

/** The projector under test, and every source transaction it applied, as it applies them. */
interface Feed {
  replica: string;
  projector: MenuProjector;
  /** Every applied source transaction: commit time and the moment it became visible. */
  applied: Array<{ commitMs: number; visibleMs: number }>;
  /** The projector's replication lag in bytes, from its metrics. */
  lagBytes: () => Promise<number>;
}

const seedProgress = (p: { restaurants: number; items: number; elapsedMs: number }) =>
  console.error(`seeding: ${p.restaurants} restaurants, ${p.items} items, ${(p.elapsedMs / 1000).toFixed(0)} s`);

/** Starts the projector of replica `index` (0-based; it builds its read model from a snapshot first). */
async function startFeed(run: HarnessRun, sourceUrl: string, readDb: Db, logger: Logger, index = 0): Promise<Feed & { snapshotMs: number }> {
  const applied: Feed['applied'] = [];
  const registry = new Registry();
  const replica = `read-${index + 1}`;
  const projector = createMenuProjector({
    sourceUrl,
    readDb,
    slotName: index === 0 ? 'menu_read_bench' : `menu_read_bench_${index + 1}`,
    publicationName: 'menu_cdc',
    replica,
    logger,
    registry,
    onApplied: (b: AppliedBatch) => {
      for (const tx of b.transactions) applied.push({ commitMs: tx.commitTimeMs, visibleMs: b.committedAtMs });
    },
  });
  run.onClose(() => projector.stop().catch(() => undefined));
  const t = Date.now();
  await projector.start();
  const snapshotMs = Date.now() - t;
  console.log(`${replica}: read model built from a snapshot in ${(snapshotMs / 1000).toFixed(1)} s; streaming`);
  const lagBytes = async () => ((await registry.getSingleMetric('cdc_projector_lag_bytes')?.get())?.values[0]?.value as number | undefined) ?? NaN;
  return { replica, projector, applied, lagBytes, snapshotMs };
}

/** The pool that writes the updates. */
function openWriterPool(run: HarnessRun, sourceUrl: string, connections: number): pg.Pool {
  const writerPool = new pg.Pool({ connectionString: sourceUrl, max: connections });
  run.onClose(() => writerPool.end().catch(() => undefined));
  // An idle client can lose its server (pool.end() resolves before its clients have closed, so
  // stopping Postgres right after can hit them): log it instead of dying of an unhandled 'error'.
  writerPool.on('error', (e) => {
    if (!run.closing) console.error(`writer connection error: ${e.message}`);
  });
  return writerPool;
}

/**
 * One step: `rate` updates/s for the step's seconds, then a drain so that the next step starts from
 * zero backlog, on every replica. `writtenBefore` is every update written before this step.
 */
async function runStep(
  feeds: Feed[],
  writerPool: pg.Pool,
  ids: string[],
  rate: number,
  args: Args,
  writtenBefore: number,
): Promise<{ results: StepResult[]; written: number }> {
  const appliedBefore = feeds.map((f) => f.applied.length);
  const stepStart = Date.now();
  const { written } = await offerUpdates(writerPool, ids, rate, args.stepSeconds, args.writerConnections * 4);
  const stepEnd = Date.now();
  const writtenTotal = writtenBefore + written;
  const atEnd = await Promise.all(feeds.map(async (f) => ({ backlog: Math.max(0, writtenTotal - f.applied.length), lagBytes: await f.lagBytes() })));
  const results: StepResult[] = [];
  for (const [i, feed] of feeds.entries()) {
    const { applied } = feed;
    // Drain before the next step so that every step starts from zero backlog.
    const drainStart = Date.now();
    while (applied.length < writtenTotal && Date.now() - drainStart < 120_000) await sleep(20);
    const drainMs = Date.now() - drainStart;
    const inStep = applied.slice(appliedBefore[i]).filter((a) => a.commitMs >= stepStart && a.commitMs <= stepEnd);
    const lags = inStep.map((a) => Math.max(0, a.visibleMs - a.commitMs)).sort((a, b) => a - b);
    const seconds = (stepEnd - stepStart) / 1000;
    const appliedInWindow = applied.slice(appliedBefore[i]).filter((a) => a.visibleMs <= stepEnd).length;
    const { backlog: backlogAtEnd, lagBytes: lagBytesAtEnd } = atEnd[i]!;
    const result: StepResult = {
      replica: feed.replica,
      offeredPerSec: rate,
      writtenPerSec: Math.round(written / seconds),
      appliedPerSec: Math.round(appliedInWindow / seconds),
      lagP50Ms: percentile(lags, 50),
      lagP99Ms: percentile(lags, 99),
      lagMaxMs: lags[lags.length - 1] ?? NaN,
      backlogAtEnd,
      lagBytesAtEnd,
      drainMs,
      keptUp: false,
      sourceLimited: written < 0.95 * rate * seconds,
    };
    result.keptUp = result.lagP99Ms < 1000 && backlogAtEnd < Math.max(50, result.writtenPerSec / 2);
    console.log(
      `  ${rate}/s ${feed.replica}: written ${result.writtenPerSec}/s, applied ${result.appliedPerSec}/s, ` +
        `lag p50 ${result.lagP50Ms} ms p99 ${result.lagP99Ms} ms, backlog ${backlogAtEnd}, drained in ${drainMs} ms`,
    );
    results.push(result);
  }
  return { results, written };
}

interface CatchUp {
  updates: number;
  sourceWritePerSec: number;
  drainMs: number;
  appliedPerSec: number;
  caughtUp: boolean;
}

/** Catch-up: a backlog written while the projector is stopped, then drained at full speed. */
async function catchUp(feed: Feed, writerPool: pg.Pool, ids: string[], args: Args, writtenBefore: number): Promise<CatchUp> {
  await feed.projector.stop();
  const t = Date.now();
  const backlog = await writeBacklog(writerPool, ids, args.catchup, args.writerConnections);
  const backlogWriteMs = Date.now() - t;
  const writtenTotal = writtenBefore + backlog;
  const catchupStart = Date.now();
  await feed.projector.start();
  while (feed.applied.length < writtenTotal && Date.now() - catchupStart < 300_000) await sleep(10);
  const catchupMs = Date.now() - catchupStart;
  return {
    updates: backlog,
    sourceWritePerSec: Math.round(backlog / (backlogWriteMs / 1000)),
    drainMs: catchupMs,
    appliedPerSec: Math.round(backlog / (catchupMs / 1000)),
    caughtUp: feed.applied.length >= writtenTotal,
  };
}

/** The table and the limits on stdout; returns the highest offered and written rates kept up with. */
function printSummary(steps: StepResult[], catchup: CatchUp, args: Args, menuItems: number, pgVersion: string): { best: number; maxKept: number } {
  // A rate counts as kept up with when every replica kept up with it.
  const missed = new Set(steps.filter((s) => !s.keptUp).map((s) => s.offeredPerSec));
  const best = steps.filter((s) => s.keptUp && !s.sourceLimited && !missed.has(s.offeredPerSec)).reduce((m, s) => Math.max(m, s.offeredPerSec), 0);
  const header = [
    'replica',
    'offered/s',
    'written/s',
    'applied/s',
    'lag p50 ms',
    'lag p99 ms',
    'lag max ms',
    'backlog@end',
    'lag bytes@end',
    'kept up',
    'note',
  ];
  const rows = steps.map((s) =>
    [
      s.replica,
      s.offeredPerSec,
      s.writtenPerSec,
      s.appliedPerSec,
      s.lagP50Ms,
      s.lagP99Ms,
      s.lagMaxMs,
      s.backlogAtEnd,
      s.lagBytesAtEnd,
      s.keptUp ? 'yes' : 'no',
      s.sourceLimited ? 'source-limited' : '',
    ].map(String),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  // Everything (both Postgres servers, writer, projector) shares this host: note how busy it was.
  const load = os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
  console.log(
    `\nCDC projector, ${menuItems} menu items, ${args.stepSeconds} s per step, ${os.cpus().length} CPUs, ` + `Postgres ${pgVersion}, load average ${load}`,
  );
  console.log(line(header));
  for (const r of rows) console.log(line(r));
  console.log(`highest offered rate kept up with (p99 < 1 s, no growing backlog): ${best > 0 ? `${best} updates/s` : 'none'}`);
  const maxKept = steps.filter((s) => s.keptUp && !missed.has(s.offeredPerSec)).reduce((m, s) => Math.max(m, s.writtenPerSec), 0);
  console.log(`highest written rate kept up with: ${maxKept} updates/s`);
  console.log(
    `catch-up: ${catchup.updates} updates written while stopped (${catchup.sourceWritePerSec}/s), drained in ` +
      `${(catchup.drainMs / 1000).toFixed(1)} s = ${catchup.appliedPerSec} applied/s (the projector's ceiling here)`,
  );
  return { best, maxKept };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const logger = createLogger('cdc-bench', process.env.LOG_LEVEL ?? 'warn');
  // The same bootstrap as the chaos harness and the lunch-rush benchmark: a temporary folder
  // Postgres can use, and a teardown on Ctrl-C or SIGTERM (last started, first stopped).
  const run = startHarnessRun({ prefix: 'cdc-bench-', log: (m) => console.error(m) });

  try {
    const { sourceUrl, source, readDbs, pgVersion } = await startDatabases(run, args.replicas);
    const t = Date.now();
    // Up to 99 items a restaurant (menu ids have two digits) the bulk seed generates the menu inside
    // Postgres (the full 5,725,500 items in minutes); the default 100 items take the row seed.
    const seeded =
      args.items <= 99
        ? await bulkSeedRestaurants(source, { restaurants: args.restaurants, itemsPerRestaurant: args.items, onProgress: seedProgress })
        : await seedRestaurants(source, { restaurants: args.restaurants, itemsPerRestaurant: args.items });
    const seedMs = Date.now() - t;
    console.log(`seeded ${seeded.restaurants} restaurants, ${seeded.items} menu items in ${(seedMs / 1000).toFixed(1)} s`);
    // The first replica builds its read model, then each further one joins (its own slot and snapshot).
    const feeds: Array<Feed & { snapshotMs: number }> = [];
    for (const [i, readDb] of readDbs.entries()) feeds.push(await startFeed(run, sourceUrl, readDb, logger, i));
    const feed = feeds[0]!;

    const ids: string[] = [];
    for (let r = 1; r <= args.restaurants; r++) for (let i = 1; i <= args.items; i++) ids.push(menuIdFor(r, i));
    const writerPool = openWriterPool(run, sourceUrl, args.writerConnections);

    const steps: StepResult[] = [];
    let writtenTotal = 0;
    for (const rate of args.rates) {
      const { results, written } = await runStep(feeds, writerPool, ids, rate, args, writtenTotal);
      writtenTotal += written;
      steps.push(...results);
    }
    const catchup = await catchUp(feed, writerPool, ids, args, writtenTotal);
    const { best, maxKept } = printSummary(steps, catchup, args, seeded.items, pgVersion);

    const outDir = path.resolve(__dirname, '..', 'bench-results');
    fs.mkdirSync(outDir, { recursive: true });
    const file = path.join(outDir, `cdc-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    fs.writeFileSync(
      file,
      JSON.stringify(
        {
          benchmark: 'cdc-projector',
          at: new Date().toISOString(),
          host: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, postgres: pgVersion, loadavg: os.loadavg() },
          config: args,
          seed: { ...seeded, ms: seedMs },
          snapshotMs: feed.snapshotMs,
          snapshotMsByReplica: Object.fromEntries(feeds.map((f) => [f.replica, f.snapshotMs])),
          steps,
          highestKeptUpRate: best,
          highestKeptUpWrittenRate: maxKept,
          catchup,
        },
        null,
        2,
      ),
    );
    console.log(`results: ${path.relative(process.cwd(), file)}`);
  } finally {
    await run.close();
  }
}

// Run directly (npm run bench:cdc); bench/lunch-rush.ts imports offerUpdates only.
if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
