import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { createDb, type Db } from '../../db/knex';
import { isAutoAccept, restaurantIdFor } from '../../db/seed';
import { mintToken } from '../../lib/node/auth';
import { dataConverterFor } from '../../lib/node/payload-codec';
import { seededRandom } from '../../lib/workflow-safe/random';
import { violationCount } from '../../ops/audit';
import { ApiClient } from '../api-client';
import { startHarnessRun, startStackOnFreePorts, type HarnessRun } from '../bootstrap';
import { LOAD_HARNESS_LIMITS, type LocalStack } from '../local-stack';
import {
  auditWithPsp,
  capturedOrders,
  comparePspBooks,
  duplicateOrders,
  nodeLossPauses,
  openOrders,
  runReconcilerPass,
  waitForAllOrdersToSettle,
  waitForSettle,
} from './checks';
import { Customers } from './customers';
import { FaultInjector } from './faults';
import { Operator } from './operator';
import { CHAOS_CUSTOMERS, CHAOS_ITEMS_PER_RESTAURANT, CHAOS_RESTAURANTS, faultKindsFor, faultSchedule, planOrders, type FaultKind } from './plan';
import { PspFaults } from './psp-faults';
import { Restaurants } from './restaurants';
import type { ChaosSummary } from './summary';

// The fault-injection harness: a seeded stream of orders through the real stack (processes, not
// mocks) while workers, the API, Temporal, Postgres, the PSP and the CDC projector are crashed,
// stopped, paused or made to misbehave, and an operator cancels and terminates sagas. Then it waits
// for every accepted order to settle, runs one reconciler pass and audits the result.

/** The reconciler repairs a terminated saga only this long after it closed: longer than any attempt of it (2 min). */
const CHAOS_RECONCILE_GRACE_SECONDS = 130;

export interface ChaosOptions {
  orders: number;
  /** Orders per second offered (open loop). */
  rate: number;
  seed: number;
  /** Mean seconds between faults; 0 disables faults. */
  faultEverySeconds: number;
  acceptanceWindowSeconds: number;
  /** How long to wait, once traffic and faults stop, for every order to settle. */
  recoveryTimeoutSeconds: number;
  workersPerService: number;
  /** Temporal's engine (default the dev server); the cluster adds the node-loss faults. */
  engine?: 'dev-server' | 'cluster';
  /** Only these fault kinds (default: every kind of the engine, faultKindsFor). */
  kinds?: FaultKind[];
  /**
   * API_ORDER_WORKER: the API runs an order worker too and starts sagas eagerly; the
   * workersPerService order worker processes still run beside it (so kill-order-worker still has
   * targets, and kill-api now also takes an order worker down).
   */
  apiOrderWorker?: boolean;
  /** Length of each psp-slower-than-timeout window (default 60). */
  slowPspSeconds?: number;
  /** Longest wait for the reconciler pass at the end (default 120). */
  reconcileTimeoutSeconds?: number;
  dataDir?: string;
  keepData?: boolean;
  log?: (msg: string) => void;
}

/** Everything a run drives and reads, once the stack is up. */
interface Chaos {
  stack: LocalStack;
  api: ApiClient;
  temporal: Client;
  dbs: { orders: Db; payments: Db; restaurants: Db };
  customers: Customers;
  restaurants: Restaurants;
  operator: Operator;
  psp: PspFaults;
  faults: FaultInjector;
  unexpectedExits: string[];
}

function kindsOf(opts: ChaosOptions): FaultKind[] {
  return opts.kinds ?? faultKindsFor(opts.engine ?? 'dev-server');
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosSummary> {
  const log = opts.log ?? ((m: string) => process.stdout.write(`[chaos] ${m}\n`));
  const started = Date.now();
  const run = startHarnessRun({ prefix: `chaos-${opts.seed}-`, dataDir: opts.dataDir, keepData: opts.keepData, log });
  try {
    const chaos = await startChaos(opts, run, log);
    log(`stack up in ${((Date.now() - started) / 1000).toFixed(1)} s (data in ${run.dataDir})`);
    const traffic = await driveTrafficAndFaults(chaos, opts, log, () => run.closing);
    const summary = await checkAfterRecovery(chaos, opts, traffic, log);
    return { ...summary, totalSeconds: (Date.now() - started) / 1000 };
  } finally {
    await run.close();
  }
}

async function startChaos(opts: ChaosOptions, run: HarnessRun, log: (m: string) => void): Promise<Chaos> {
  const n = opts.workersPerService;
  const unexpectedExits: string[] = [];
  const stack = await startStackOnFreePorts((ports) => ({
    dataDir: run.dataDir,
    ports,
    workers: { order: n, payment: n, restaurant: n },
    apiOrderWorker: opts.apiOrderWorker ?? false,
    engine: opts.engine ?? 'dev-server',
    env: {
      AUTH_SECRET: run.secret,
      ACCEPTANCE_WINDOW_SECONDS: String(opts.acceptanceWindowSeconds),
      // Retries are part of the test: keep the PSP timeout short so lost answers are retried quickly.
      PSP_TIMEOUT_MS: '3000',
      // The sandbox keeps its books in a file, so a kill-psp does not forget what it holds.
      PSP_DATA_FILE: path.join(run.dataDir, 'psp-books.jsonl'),
      // The reconciler's schedule repairs terminated sagas within the recovery window, once no
      // attempt of the terminated run can still act (a payment step's attempt lasts at most 2 min).
      // Not more often than every minute: each pass describes every open order's saga, and under a
      // backlog passes every 10 s were themselves a load the dev server could not carry.
      RECONCILE_INTERVAL_SECONDS: '60',
      RECONCILE_GRACE_SECONDS: String(CHAOS_RECONCILE_GRACE_SECONDS),
      LOG_LEVEL: 'warn',
      // 20 customers with ~15 orders in flight each, far beyond one person's limits.
      ...LOAD_HARNESS_LIMITS,
    },
    seed: { restaurants: CHAOS_RESTAURANTS, itemsPerRestaurant: CHAOS_ITEMS_PER_RESTAURANT },
    log,
    onUnexpectedExit: (name, code, signal) => {
      if (!run.closing) unexpectedExits.push(`${name} exited (${signal ?? code})`);
    },
  }));
  run.onClose(() => stack.stop());
  // A start that failed and was tried again on other ports is not a fault of the run.
  if (unexpectedExits.length > 0) log(`before the stack was up: ${unexpectedExits.splice(0).join(', ')}`);
  const temporal = new Client({
    connection: await Connection.connect({ address: stack.temporalAddress }),
    dataConverter: dataConverterFor(stack.payloadCodec),
  });
  run.onClose(() => temporal.connection.close());
  const dbs = { orders: createDb(stack.urls.orders, 4), payments: createDb(stack.urls.payments, 2), restaurants: createDb(stack.urls.restaurants, 2) };
  run.onClose(() => Promise.all(Object.values(dbs).map((db) => db.destroy())));

  const api = new ApiClient(stack.apiUrl, { timeoutMs: 20_000 });
  const customerTokens = await Promise.all(
    Array.from({ length: CHAOS_CUSTOMERS }, (_, i) => mintToken({ role: 'customer', sub: `chaos-cust-${i + 1}` }, run.secret, 86400)),
  );
  const restaurantTokens = new Map<string, string>();
  for (let r = 1; r <= CHAOS_RESTAURANTS; r++) {
    if (!isAutoAccept(r))
      restaurantTokens.set(
        restaurantIdFor(r),
        await mintToken({ role: 'restaurant', sub: `chaos-owner-${r}`, restaurantId: restaurantIdFor(r) }, run.secret, 86400),
      );
  }
  const restaurants = new Restaurants(api, restaurantTokens);
  const customers = new Customers(api, customerTokens, (order) => restaurants.expect(order));
  // Fault parameters (victims, down times, stages) have their own stream: the order mix and the
  // sequence of fault kinds stay the same for a seed whatever the faults find.
  const random = seededRandom(opts.seed + 7919);
  const operator = new Operator(temporal, dbs.orders, restaurants, random, () => customers.recent);
  const psp = new PspFaults(stack.pspUrl, opts.seed);
  const faults = new FaultInjector({
    stack,
    api,
    psp,
    operator,
    random,
    slowPspSeconds: opts.slowPspSeconds ?? 60,
    kinds: kindsOf(opts),
    log,
  });
  // A run that ends early (an error, Ctrl-C) still resumes a paused worker before the stack stops.
  run.onClose(() => faults.closeWindows(true).catch(() => undefined));
  return { stack, api, temporal, dbs, customers, restaurants, operator, psp, faults, unexpectedExits };
}

interface TrafficOutcome {
  trafficSeconds: number;
  recoverySeconds: number;
  placedIds: string[];
}

/** `closing`: the run is being torn down (Ctrl-C): no fault may restart what the teardown stopped. */
async function driveTrafficAndFaults(c: Chaos, opts: ChaosOptions, log: (m: string) => void, closing: () => boolean): Promise<TrafficOutcome> {
  const state = { trafficDone: false, settled: false, giveUpAt: Infinity };
  const restaurantLoop = c.restaurants.run(
    () => state.trafficDone,
    () => state.settled || Date.now() > state.giveUpAt,
  );
  log(`offering ${opts.orders} orders at ${opts.rate}/s (seed ${opts.seed})`);
  const trafficStart = Date.now();
  c.faults.epochMs = trafficStart;
  const faultLoop = runFaultSchedule(c.faults, opts, trafficStart, () => state.trafficDone || closing(), log);
  await c.customers.offer(planOrders(opts.seed, opts.orders), opts.rate, log);
  state.trafficDone = true;
  // The seeded schedule stops first: faults never overlap. Then every kind at least once (short
  // runs), then the open windows end (a paused worker is resumed, the PSP answers again).
  await faultLoop;
  const kinds = kindsOf(opts);
  while (opts.faultEverySeconds > 0 && !closing() && kinds.some((k) => c.faults.counts[k] === 0)) {
    const missing = kinds.find((k) => c.faults.counts[k] === 0)!;
    await c.faults.inject(missing).catch((err: unknown) => log(`fault injection failed: ${(err as Error).message}`));
  }
  await c.faults.closeWindows();
  const trafficEndedAt = Date.now();
  const trafficSeconds = (trafficEndedAt - trafficStart) / 1000;
  const placedIds = [...c.customers.placed.keys()];
  log(`traffic and faults done in ${trafficSeconds.toFixed(1)} s: ${placedIds.length} orders accepted; waiting for every order to settle`);

  state.giveUpAt = trafficEndedAt + opts.recoveryTimeoutSeconds * 1000;
  const open = await waitForSettle(c.dbs.orders, placedIds, state.giveUpAt);
  // Then the orders whose clients gave up before an answer: recorded, so the system finishes them too.
  const unacknowledgedOpen = await waitForAllOrdersToSettle(c.dbs.orders, state.giveUpAt);
  state.settled = true;
  const recoverySeconds = (Date.now() - trafficEndedAt) / 1000;
  await restaurantLoop;
  log(`settled in ${recoverySeconds.toFixed(1)} s (${open} acknowledged and ${unacknowledgedOpen === Infinity ? '?' : unacknowledgedOpen} in all still open)`);
  return { trafficSeconds, recoverySeconds, placedIds };
}

/** Fault k at its seeded time after the traffic starts, one at a time, until the traffic ends. */
async function runFaultSchedule(
  faults: FaultInjector,
  opts: ChaosOptions,
  trafficStart: number,
  trafficDone: () => boolean,
  log: (m: string) => void,
): Promise<void> {
  if (opts.faultEverySeconds <= 0) return;
  for (const next of faultSchedule(opts.seed, opts.faultEverySeconds, kindsOf(opts))) {
    // A fault that ran past the next one's time is followed at once, so the rate holds.
    for (let wait = trafficStart + next.atMs - Date.now(); wait > 0 && !trafficDone(); wait = trafficStart + next.atMs - Date.now())
      await sleep(Math.min(wait, 250));
    if (trafficDone()) return;
    await faults.inject(next.kind).catch((err: unknown) => log(`fault injection failed (${next.kind}): ${(err as Error).message}`));
  }
}

async function checkAfterRecovery(c: Chaos, opts: ChaosOptions, t: TrafficOutcome, log: (m: string) => void): Promise<Omit<ChaosSummary, 'totalSeconds'>> {
  const lost = await openOrders(c.dbs.orders, t.placedIds);
  log(`${lost.length} order(s) still open after the recovery window; one reconciler pass`);
  const reconciler = await runReconcilerPass(c.temporal, opts.reconcileTimeoutSeconds ?? 120, CHAOS_RECONCILE_GRACE_SECONDS);
  log(reconciler.ok ? `reconciler: ${JSON.stringify(reconciler.result)}` : `reconciler failed: ${reconciler.error}`);
  const openAfterReconciler = (await openOrders(c.dbs.orders, t.placedIds)).length;

  log('auditing');
  const { stack, dbs } = c;
  const report = await auditWithPsp({
    orders: dbs.orders,
    payments: dbs.payments,
    restaurants: dbs.restaurants,
    stuckAfterSeconds: 0,
    temporalUiUrl: stack.temporalUiUrl,
    namespace: 'default',
    psp: { url: stack.pspUrl },
  });
  const books = await comparePspBooks(stack.pspUrl, dbs.payments, c.psp.forgottenBooks);
  const pspCaptures = await c.psp.totalCaptures();
  const doubleCharges = report.doubleCharges + Math.max(0, pspCaptures - (await capturedOrders(dbs.payments)));
  if (c.unexpectedExits.length > 0) log(`processes that exited on their own: ${c.unexpectedExits.join(', ')}`);
  const autoAccepting = Array.from({ length: CHAOS_RESTAURANTS }, (_, i) => i + 1)
    .filter(isAutoAccept)
    .map(restaurantIdFor);
  const nodeLoss = stack.temporal.cluster ? await nodeLossPauses(dbs.orders, c.faults.spans, autoAccepting, c.faults.epochMs) : undefined;
  const lostOrdersByStatus: Record<string, number> = {};
  for (const o of lost) lostOrdersByStatus[o.status] = (lostOrdersByStatus[o.status] ?? 0) + 1;

  return {
    seed: opts.seed,
    engine: stack.temporal.kind,
    ...(stack.apiOrderWorker ? { apiOrderWorker: true } : {}),
    ...(nodeLoss ? { nodeLoss } : {}),
    ordersOffered: opts.orders,
    ordersPlaced: t.placedIds.length,
    ordersNeverAccepted: c.customers.neverAccepted,
    duplicatePosts: c.customers.duplicatePosts,
    duplicateMismatches: c.customers.duplicateMismatches,
    duplicateOrders: await duplicateOrders(dbs.orders),
    raceActions: c.restaurants.raceActions,
    finalStates: report.byStatus,
    failureReasons: report.byFailureReason,
    faultsInjected: c.faults.counts,
    faultTimeline: c.faults.timeline,
    operator: c.operator.report,
    violations: violationCount(report),
    violationsByKind: report.violationsByKind,
    lostOrders: lost.length,
    lostOrdersByStatus,
    reconciler,
    openAfterReconciler,
    doubleCharges,
    pspCapturedNotRecorded: books.capturedNotRecorded.slice(0, 50),
    pspMismatches: books.mismatches,
    pspMismatchExamples: books.examples,
    pspCaptures,
    unexpectedExits: c.unexpectedExits,
    recoverySeconds: t.recoverySeconds,
    trafficSeconds: t.trafficSeconds,
    listedViolations: report.violations.slice(0, 50),
    lostOrderIds: lost.slice(0, 50).map((o) => o.orderId),
  };
}
