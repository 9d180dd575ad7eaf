import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { createDb } from '../../db/knex';
import { startHarnessRun, startStackOnFreePorts, freePort } from '../../harness/bootstrap';
import type { LocalStack } from '../../harness/local-stack';
import { runAudit, violationCount } from '../../ops/audit';
import { PROJECT_ROOT } from '../../lib/node/temporal-tools';
import { findPostmaster, ProcessAccounting, cpuBetween, type ProcessGroup } from '../lib/proc';
import { OrderDriver, type OrderRecord } from '../lib/orders';
import { round, summarize } from '../lib/stats';
import { postgresWritingTransactions } from '../lib/postgres-writes';
import { dbosEngine, restateEngine, temporalEngine, type PeerEngine, type PeerEnvironment } from './engines';
import { autoAcceptMenus, orderInput, type MenuItem } from './orders';

// `npm run bench -- --peers`: the order saga on Temporal, DBOS and Restate, on one stack (the same
// Postgres, service databases, PSP sandbox), measured the same way: no-load latency, then an
// open-loop ladder of rates per engine, engines interleaved step by step and the whole repeated;
// then a crash test per engine. Prints one table (and writes JSON to bench-results/).

const USAGE = `npm run bench -- --peers [flags]
  --engines LIST        temporal,dbos,restate (default all three)
  --rounds N            times the ladder is repeated, engines interleaved (default 2)
  --rates LIST          explicit rates, orders/s (default 2,3,5,8,12,18,27,40)
  --step-seconds N      seconds per rate (default 10)
  --drain-seconds N     longest wait for a step's orders (default 15)
  --idle-orders N       orders one at a time for the no-load latency (default 10)
  --no-crash            skip the crash tests
  --crash-seconds N     length of each crash test's load (default 20)
  --restaurants N       restaurants to seed (default 200)
  --keep-data           keep the temporary data folder
  --label NAME          a name for this run, kept in the JSON and its file name (default "peers")`;

const say = (msg: string) => process.stderr.write(`[peers ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

interface Args {
  engines: Array<PeerEngine['name']>;
  rounds: number;
  rates: number[];
  stepSeconds: number;
  drainSeconds: number;
  idleOrders: number;
  crash: boolean;
  crashSeconds: number;
  restaurants: number;
  keepData: boolean;
  label: string;
}

export function readArgs(argv: string[]): Args | undefined {
  const { values } = parseArgs({
    args: argv.filter((a) => a !== '--peers'),
    options: {
      engines: { type: 'string', default: 'temporal,dbos,restate' },
      rounds: { type: 'string', default: '2' },
      rates: { type: 'string', default: '2,3,5,8,12,18,27,40' },
      'step-seconds': { type: 'string', default: '10' },
      'drain-seconds': { type: 'string', default: '15' },
      'idle-orders': { type: 'string', default: '10' },
      'no-crash': { type: 'boolean', default: false },
      'crash-seconds': { type: 'string', default: '20' },
      restaurants: { type: 'string', default: '200' },
      'keep-data': { type: 'boolean', default: false },
      label: { type: 'string', default: 'peers' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return undefined;
  const engines = values.engines.split(',') as Args['engines'];
  for (const e of engines) if (!['temporal', 'dbos', 'restate'].includes(e)) throw new Error(`unknown engine ${e}`);
  return {
    engines,
    rounds: Number(values.rounds),
    rates: values.rates.split(',').map(Number),
    stepSeconds: Number(values['step-seconds']),
    drainSeconds: Number(values['drain-seconds']),
    idleOrders: Number(values['idle-orders']),
    crash: !values['no-crash'],
    crashSeconds: Number(values['crash-seconds']),
    restaurants: Number(values.restaurants),
    keepData: values['keep-data'],
    label: values.label,
  };
}

/** One engine's figures at one rate (one round). */
interface PeerStep {
  engine: string;
  round: number;
  rate: number;
  offered: number;
  confirmed: number;
  failed: number;
  completedPerSec: number;
  p50: number;
  p99: number;
  ok: boolean;
  cpuMsPerOrder: Record<string, number>;
  writesPerOrder: number;
  /** Writing transactions in Postgres per order (every database: the services' and DBOS's system database). */
  pgWritesPerOrder: number;
  otherCores: number;
}

interface EngineRun {
  engine: PeerEngine;
  driver: OrderDriver;
  steps: PeerStep[];
  idle: OrderRecord[];
  peakMemBytes: number;
  /** The ladder stopped for this engine (a step failed its SLO in this round). */
  done: boolean;
  crash?: Record<string, unknown>;
}

const SHARED_GROUPS = ['postgres-primary', 'psp', 'bench'];

function figures(
  run: EngineRun,
  roundNo: number,
  rate: number,
  recs: OrderRecord[],
  dropped: number,
  cpu: ReturnType<typeof cpuBetween>,
  writes: { engine: number; postgres: number },
): PeerStep {
  const confirmed = recs.filter((r) => r.finalStatus === 'CONFIRMED');
  const failed = recs.length - confirmed.length + dropped;
  const first = Math.min(...recs.map((r) => r.sentMs));
  const last = Math.max(first, ...confirmed.map((r) => r.doneAtMs!));
  const lat = confirmed.map((r) => r.doneAtMs! - r.sentMs).concat(recs.filter((r) => r.finalStatus !== 'CONFIRMED').map(() => Infinity));
  const s = summarize(lat);
  const completedPerSec = confirmed.length / Math.max(1, (last - first) / 1000);
  const groups = [...run.engine.groups.map((g) => g.name), ...SHARED_GROUPS];
  const cpuMsPerOrder = Object.fromEntries(groups.map((g) => [g, confirmed.length > 0 ? round(((cpu.groups[g] ?? 0) / confirmed.length) * 1000, 1) : NaN]));
  const counted = Object.values(cpu.groups).reduce((a, b) => a + b, 0);
  return {
    engine: run.engine.name,
    round: roundNo,
    rate,
    offered: recs.length + dropped,
    confirmed: confirmed.length,
    failed,
    completedPerSec: round(completedPerSec, 1),
    p50: round(s.p50),
    p99: round(s.p99),
    ok: failed <= 0.01 * (recs.length + dropped) && completedPerSec >= 0.9 * rate && s.p99 < 1000,
    cpuMsPerOrder,
    writesPerOrder: round(writes.engine / Math.max(1, confirmed.length), 1),
    pgWritesPerOrder: round(writes.postgres / Math.max(1, confirmed.length), 1),
    otherCores: round(Math.max(0, cpu.machineBusy - counted) / cpu.wallSeconds, 2),
  };
}

async function runStep(run: EngineRun, round: number, rate: number, args: Args, acct: ProcessAccounting, adminUrl: string): Promise<PeerStep> {
  const label = `${run.engine.name}#${round}@${rate}`;
  const [c0, w0, x0] = [acct.snapshot(), await run.engine.durableWrites(), await postgresWritingTransactions(adminUrl)];
  const loop = await run.driver.openLoop(label, rate, args.stepSeconds);
  await run.driver.settle(label, args.drainSeconds * 1000);
  const c1 = acct.snapshot(true);
  const [w1, x1] = [await run.engine.durableWrites(), await postgresWritingTransactions(adminUrl)];
  const mem = run.engine.groups.reduce((a, g) => a + (c1.groups[g.name]?.memBytes ?? 0), 0);
  run.peakMemBytes = Math.max(run.peakMemBytes, mem);
  const step = figures(
    run,
    round,
    rate,
    run.driver.records.filter((r) => r.phase === label),
    loop.dropped,
    cpuBetween(c0, c1),
    { engine: w1 - w0, postgres: x1 - x0 },
  );
  say(
    `${label}: confirmed ${step.confirmed}/${step.offered} (${step.completedPerSec}/s), p50 ${step.p50} p99 ${step.p99} ms, ${step.writesPerOrder} engine writes, ${step.pgWritesPerOrder} Postgres write txns/order${step.ok ? '' : ' -- over the SLO'}`,
  );
  // Leftovers of an overloaded step would load the next engine's step: let them finish.
  await run.driver.settle(null, 60_000);
  return step;
}

async function idleLatency(run: EngineRun, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    run.idle.push(await run.driver.place(`${run.engine.name}-idle`));
    await run.driver.settle(`${run.engine.name}-idle`, 10_000);
    await sleep(200);
  }
}

/** kill -9 of the engine's worker or server at a third of a load at half its sustained rate; then the audit. */
async function crashTest(run: EngineRun, rate: number, args: Args, stack: LocalStack, adminUrls: LocalStack['urls']): Promise<Record<string, unknown>> {
  const label = `${run.engine.name}-crash`;
  say(`crash test ${run.engine.name}: ${rate}/s for ${args.crashSeconds} s, kill -9 after ${Math.round(args.crashSeconds / 3)} s`);
  const killed = sleep((args.crashSeconds * 1000) / 3).then(() => run.engine.crash(2000));
  const loop = await run.driver.openLoop(label, rate, args.crashSeconds);
  await killed;
  const settled = await run.driver.settle(label, 180_000);
  const recs = run.driver.records.filter((r) => r.phase === label);
  const dbs = { orders: createDb(adminUrls.orders, 2), payments: createDb(adminUrls.payments, 2), restaurants: createDb(adminUrls.restaurants, 2) };
  try {
    const report = await runAudit({ ...dbs, stuckAfterSeconds: 0, temporalUiUrl: '', namespace: 'default', psp: { url: stack.pspUrl } });
    const result = {
      rate,
      offered: loop.offered,
      refusedWhileDown: recs.filter((r) => !r.orderId).length,
      accepted: recs.filter((r) => r.orderId).length,
      confirmed: recs.filter((r) => r.finalStatus === 'CONFIRMED').length,
      otherwiseSettled: recs.filter((r) => r.finalStatus && r.finalStatus !== 'CONFIRMED').length,
      unsettled: recs.filter((r) => r.orderId && !r.finalStatus).length,
      settled,
      auditOrders: report.orders,
      violations: violationCount(report),
      violationsByKind: report.violationsByKind,
    };
    say(`crash test ${run.engine.name}: ${JSON.stringify(result)}`);
    return result;
  } finally {
    await Promise.all(Object.values(dbs).map((d) => d.destroy()));
  }
}

export async function runPeers(argv: string[]): Promise<void> {
  const args = readArgs(argv);
  if (!args) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const harness = startHarnessRun({ prefix: 'peers-', keepData: args.keepData, log: say });
  let temporalMetricsPort = 0;
  const stack = await startStackOnFreePorts(async (ports) => ({
    dataDir: harness.dataDir,
    ports,
    env: { AUTH_SECRET: harness.secret, LOG_LEVEL: 'warn' },
    seed: { restaurants: args.restaurants, itemsPerRestaurant: 10 },
    temporalArgs: ['--metrics-port', String((temporalMetricsPort = await freePort()))],
    log: say,
  }));
  const engines: PeerEngine[] = [];
  harness.onClose(async () => {
    for (const e of engines) await e.stop().catch(() => undefined);
    await stack.stop();
  });
  const peerEnv: PeerEnvironment = {
    adminUrl: stack.urls.orders.replace(/\/orders(\?|$)/, '/postgres$1'),
    serviceUrls: {
      orders: stack.roleUrl('orders_service', 'orders'),
      payments: stack.roleUrl('payments_service', 'payments'),
      restaurants: stack.roleUrl('restaurants_service', 'restaurants'),
    },
    pspUrl: stack.pspUrl,
    dataDir: harness.dataDir,
    log: say,
    env: { LOG_LEVEL: 'warn' },
  };
  const temporalGroups: ProcessGroup[] = [
    { name: 'temporal', roots: () => stack.temporal.processes().map((p) => p.pid) },
    { name: 'order-worker', roots: () => stack.workers.order.map((w) => w.pid) },
    { name: 'payment-worker', roots: () => stack.workers.payment.map((w) => w.pid) },
    { name: 'restaurant-worker', roots: () => stack.workers.restaurant.map((w) => w.pid) },
  ];
  const make = {
    temporal: () =>
      temporalEngine({
        address: stack.temporalAddress,
        payloadCodec: stack.payloadCodec,
        metricsUrl: `http://127.0.0.1:${temporalMetricsPort}/metrics`,
        groups: temporalGroups,
        crash: (downMs) => stack.temporal.restartServer(downMs, 'kill'),
      }),
    dbos: () => dbosEngine(peerEnv),
    restate: () => restateEngine(peerEnv),
  };
  const restaurantsDb = createDb(stack.urls.restaurants, 2);
  const menus: MenuItem[][] = await autoAcceptMenus(restaurantsDb);
  await restaurantsDb.destroy();
  const runId = Date.now().toString(36);
  const runs: EngineRun[] = [];
  for (const name of args.engines) {
    const engine = make[name]();
    say(`starting ${name}`);
    await engine.start();
    engines.push(engine);
    const driver = new OrderDriver({
      apiUrl: '',
      ordersDbUrl: stack.urls.orders,
      tokens: [],
      menus: [],
      runId,
      pollMs: 50,
      submit: async (n) => {
        const orderId = `${name}-${runId}-${n}`;
        await engine.submit(orderInput(menus, n, orderId));
        return orderId;
      },
    });
    driver.startTracker();
    runs.push({ engine, driver, steps: [], idle: [], peakMemBytes: 0, done: false });
  }
  const primaryDir = path.join(harness.dataDir, 'pg-primary');
  let primaryPid: number | undefined;
  const acct = new ProcessAccounting([
    ...runs.flatMap((r) => r.engine.groups),
    { name: 'postgres-primary', roots: () => [(primaryPid ??= findPostmaster(primaryDir))], pss: true },
    { name: 'psp', roots: () => [stack.psp.pid] },
    { name: 'bench', roots: () => [process.pid] },
  ]);

  // Warm-up and no-load latency, engine by engine.
  for (const run of runs) {
    say(`${run.engine.name}: warm-up and ${args.idleOrders} orders one at a time`);
    await run.driver.openLoop(`${run.engine.name}-warmup`, 2, 5);
    await run.driver.settle(null, 30_000);
    await idleLatency(run, args.idleOrders);
  }
  // The ladder: at each rate every engine in turn (rotated each round), until each fails its SLO.
  for (let round = 1; round <= args.rounds; round++) {
    for (const run of runs) run.done = false;
    for (const rate of args.rates) {
      const order = runs.slice((round - 1) % runs.length).concat(runs.slice(0, (round - 1) % runs.length));
      for (const run of order.filter((r) => !r.done)) {
        const step = await runStep(run, round, rate, args, acct, peerEnv.adminUrl);
        run.steps.push(step);
        if (!step.ok) run.done = true;
      }
      if (runs.every((r) => r.done)) break;
    }
  }
  if (args.crash) {
    for (const run of runs) {
      const sustained = sustainedRate(run);
      run.crash = await crashTest(run, Math.max(1, Math.round(sustained / 2)), args, stack, stack.urls);
    }
  }
  const report = buildTable(runs, args);
  process.stdout.write(`${report}\n`);
  const results = path.join(PROJECT_ROOT, 'bench-results');
  fs.mkdirSync(results, { recursive: true });
  const file = path.join(results, `peers-${args.label.replace(/[^\w.-]/g, '_')}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  const json = { args, machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, loadavg: os.loadavg() } };
  const perEngine = runs.map((r) => ({
    engine: r.engine.name,
    writesCounted: r.engine.writesCounted,
    steps: r.steps,
    idle: r.idle,
    peakMemBytes: r.peakMemBytes,
    crash: r.crash,
  }));
  fs.writeFileSync(file, JSON.stringify({ ...json, engines: perEngine }, null, 2));
  say(`results in ${file}`);
  for (const r of runs) await r.driver.close();
  await harness.close();
}

/** The highest rate every round of this engine met the SLO at (p99 < 1 s, ≥ 90 % completed, ≤ 1 % failed). */
function sustainedRate(run: EngineRun): number {
  const rates = [...new Set(run.steps.map((s) => s.rate))].sort((a, b) => a - b);
  let best = 0;
  for (const rate of rates) {
    const at = run.steps.filter((s) => s.rate === rate);
    if (at.every((s) => s.ok)) best = rate;
    else break;
  }
  return best;
}

function median(values: number[]): number {
  const s = values.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)]!;
}

function buildTable(runs: EngineRun[], args: Args): string {
  const out: string[] = [];
  out.push(
    `PEERS BENCHMARK  ${new Date().toISOString()}  ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? ''}, load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  out.push(`rounds ${args.rounds}, ${args.stepSeconds} s per rate; SLO: p99 order-to-CONFIRMED < 1 s, ≥ 90 % of the rate completed, ≤ 1 % failed`);
  const rows: string[][] = [];
  for (const run of runs) {
    const sustained = sustainedRate(run);
    // Cost figures at the sustained rate; when no rate met the SLO (a machine busy with other work),
    // at the lowest rate measured, so CPU and writes per order are still compared at one rate.
    const costRate = sustained || Math.min(...run.steps.map((s) => s.rate));
    const at = run.steps.filter((s) => s.rate === costRate);
    const idle = summarize(run.idle.filter((r) => r.finalStatus === 'CONFIRMED').map((r) => r.doneAtMs! - r.sentMs));
    const groups = Object.keys(at[0]?.cpuMsPerOrder ?? {});
    const cpu = groups.map((g) => `${g} ${median(at.map((s) => s.cpuMsPerOrder[g] ?? NaN))}`).join(', ');
    const total = round(median(at.map((s) => Object.values(s.cpuMsPerOrder).reduce((a, b) => a + b, 0))), 1);
    rows.push([
      run.engine.name,
      sustained ? String(sustained) : `<${costRate}`,
      `${round(idle.p50)} / ${round(idle.p99)}`,
      String(median(at.map((s) => s.p99))),
      String(total),
      String(median(at.map((s) => s.writesPerOrder))),
      String(median(at.map((s) => s.pgWritesPerOrder))),
      `${round(run.peakMemBytes / 2 ** 20)}`,
      run.crash ? `${String(run.crash.violations)} violations, ${String(run.crash.unsettled)} unsettled` : '-',
    ]);
    out.push(`  ${run.engine.name} CPU ms/order at ${costRate}/s: ${cpu}`);
    out.push(`  ${run.engine.name} durable writes: ${run.engine.writesCounted}`);
  }
  const header = [
    'engine',
    'orders/s, every round',
    'no-load p50/p99 ms',
    'p99 ms',
    'CPU ms/order',
    'engine writes/order',
    'Postgres write txns/order',
    'peak MiB',
    'crash test',
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => '  ' + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  out.unshift(''); // spacing before the header lines below
  const perRound = runs.map((r) => {
    const rounds = [...new Set(r.steps.map((x) => x.round))];
    const best = rounds.map((n) => Math.max(0, ...r.steps.filter((x) => x.round === n && x.ok).map((x) => x.rate)));
    return `${r.engine.name} ${best.join(', ')}`;
  });
  out.push(`  highest rate within the SLO, round by round: ${perRound.join('; ')}`);
  return [...out, '', line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
