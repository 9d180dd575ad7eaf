import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDb, type Db } from '../../db/knex';
import { isAutoAccept, menuIdFor, restaurantIdFor } from '../../db/seed';
import { mintToken } from '../../lib/auth';
import { TERMINAL_ORDER_STATUSES } from '../../lib/domain';
import { seededRandom } from '../../lib/random';
import { runAudit, violationCount, type AuditReport } from '../../ops/audit';
import { ApiClient } from '../api-client';
import { freeStackPorts } from '../bootstrap';
import { startLocalStack, type LocalStack } from '../local-stack';
import type { ManagedProcess } from '../managed-process';

// The fault-injection harness: a seeded stream of orders through the real stack (processes, not
// mocks) while workers, Temporal, Postgres, the PSP and the CDC projector are crashed, stopped or
// made to misbehave. Then it waits for every accepted order to settle and audits the result.

export const FAULT_KINDS = [
  'kill-order-worker',
  'kill-payment-worker',
  'kill-restaurant-worker',
  'restart-temporal',
  'restart-postgres-primary',
  'restart-postgres-read',
  'psp-slow',
  'psp-transient-errors',
  'psp-timeout-after-processing',
  'kill-projector',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

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
  dataDir?: string;
  keepData?: boolean;
  log?: (msg: string) => void;
}

export interface ChaosSummary {
  seed: number;
  ordersOffered: number;
  ordersPlaced: number;
  ordersNeverAccepted: number;
  duplicatePosts: number;
  duplicateMismatches: number;
  raceActions: number;
  finalStates: Record<string, number>;
  failureReasons: Record<string, number>;
  faultsInjected: Record<string, number>;
  violations: number;
  violationsByKind: AuditReport['violationsByKind'];
  lostOrders: number;
  doubleCharges: number;
  pspMismatches: number;
  pspCaptures: number;
  recoverySeconds: number;
  trafficSeconds: number;
  totalSeconds: number;
  listedViolations: AuditReport['violations'];
  lostOrderIds: string[];
}

type Plan =
  | { kind: 'auto'; card: string }
  | { kind: 'manual'; action: 'accept' | 'reject' | 'cancel' | 'ignore' | 'race-accept-cancel' | 'race-reject-accept' };

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

export async function runChaos(opts: ChaosOptions): Promise<ChaosSummary> {
  const log = opts.log ?? ((m: string) => process.stdout.write(`[chaos] ${m}\n`));
  const random = seededRandom(opts.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const started = Date.now();
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `chaos-${opts.seed}-`));
  fs.chmodSync(dataDir, 0o755);
  const secret = randomUUID() + randomUUID();

  const ports = await freeStackPorts();
  const n = opts.workersPerService;
  const unexpected: string[] = [];
  const stack: LocalStack = await startLocalStack({
    dataDir,
    ports,
    workers: { order: n, payment: n, restaurant: n },
    // Retries are part of the test: keep the PSP timeout short so lost answers are retried quickly.
    env: { AUTH_SECRET: secret, ACCEPTANCE_WINDOW_SECONDS: String(opts.acceptanceWindowSeconds), PSP_TIMEOUT_MS: '3000', LOG_LEVEL: 'warn', RATE_LIMIT_MAX: '0' },
    seed: { restaurants: 12, itemsPerRestaurant: 5 },
    log,
    onUnexpectedExit: (name, code, signal) => unexpected.push(`${name} exited (${signal ?? code})`),
  });
  log(`stack up in ${((Date.now() - started) / 1000).toFixed(1)} s (data in ${dataDir})`);
  // Ctrl-C or a kill of the harness stops the stack it started instead of leaving it running.
  const abandon = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping the stack (the run is abandoned)`);
    void stack.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', abandon);
  process.once('SIGTERM', abandon);

  const api = stack.apiUrl;
  const ordersDb: Db = createDb(stack.urls.orders, 4);
  const customers = await Promise.all(Array.from({ length: 20 }, (_, i) => mintToken({ role: 'customer', sub: `chaos-cust-${i + 1}` }, secret, 86400)));
  const restaurantIds = Array.from({ length: 12 }, (_, i) => i + 1);
  const autoRestaurants = restaurantIds.filter(isAutoAccept);
  const manualRestaurants = restaurantIds.filter((r) => !isAutoAccept(r));
  const restaurantTokens = new Map<string, string>();
  for (const r of manualRestaurants) {
    restaurantTokens.set(restaurantIdFor(r), await mintToken({ role: 'restaurant', sub: `chaos-owner-${r}`, restaurantId: restaurantIdFor(r) }, secret, 86400));
  }

  // A real client: network errors, 5xx and 429 are retried with the same idempotency key.
  const client = new ApiClient(api, { timeoutMs: 20000, retry: { deadlineMs: 180000 } });
  const call = (method: string, urlPath: string, token: string, body?: unknown) => client.request(method, urlPath, { token, body });

  const placed = new Map<string, Plan>();
  const awaitingAction = new Map<string, { restaurantId: string; customer: string; action: Extract<Plan, { kind: 'manual' }>['action'] }>();
  let neverAccepted = 0;
  let duplicatePosts = 0;
  let duplicateMismatches = 0;
  let raceActions = 0;

  async function placeOne(i: number): Promise<void> {
    const customer = pick(customers);
    const manual = random() < 0.4;
    const r = manual ? pick(manualRestaurants) : pick(autoRestaurants);
    const restaurantId = restaurantIdFor(r);
    const roll = random();
    const plan: Plan = manual
      ? { kind: 'manual', action: roll < 0.5 ? 'accept' : roll < 0.65 ? 'reject' : roll < 0.77 ? 'cancel' : roll < 0.83 ? 'ignore' : roll < 0.93 ? 'race-accept-cancel' : 'race-reject-accept' }
      : { kind: 'auto', card: roll < 0.1 ? 'tok_decline' : roll < 0.15 ? 'tok_flaky_2' : 'tok_ok' };
    const body = {
      restaurantId,
      items: [{ menuId: menuIdFor(r, 1 + Math.floor(random() * 5)), quantity: 1 + Math.floor(random() * 3) }],
      deliveryAddress: `chaos street ${i}`,
      paymentMethod: { cardToken: plan.kind === 'auto' ? plan.card : 'tok_ok' },
    };
    const key = `chaos-${opts.seed}-${i}`;
    const duplicate = random() < 0.05;
    const post = () => client.send('POST', '/orders', { token: customer, body, idempotencyKey: key });
    const results = await Promise.all(duplicate ? [post(), post()] : [post()]);
    if (duplicate) {
      duplicatePosts++;
      const again = await post();
      const ids = new Set([...results, again].map((r) => r?.body?.orderId).filter(Boolean));
      if (ids.size > 1) duplicateMismatches++;
    }
    const first = results.find((r) => r && (r.status === 200 || r.status === 202));
    if (!first) {
      neverAccepted++;
      return;
    }
    const orderId: string = first.body.orderId;
    placed.set(orderId, plan);
    if (plan.kind === 'manual' && plan.action !== 'ignore') awaitingAction.set(orderId, { restaurantId, customer, action: plan.action });
  }

  async function act(orderId: string, a: { restaurantId: string; customer: string; action: string }) {
    const token = restaurantTokens.get(a.restaurantId)!;
    const accept = () => client.send('POST', `/restaurants/${a.restaurantId}/orders/${orderId}/accept`, { token });
    const reject = () => client.send('POST', `/restaurants/${a.restaurantId}/orders/${orderId}/reject`, { token, body: { reason: 'chaos' } });
    const cancel = () => client.send('POST', `/orders/${orderId}/cancel`, { token: a.customer });
    if (a.action === 'accept') await accept();
    else if (a.action === 'reject') await reject();
    else if (a.action === 'cancel') await cancel();
    else if (a.action === 'race-accept-cancel') {
      raceActions++;
      await Promise.all([accept(), cancel()]);
    } else if (a.action === 'race-reject-accept') {
      raceActions++;
      await Promise.all([reject(), accept()]);
    }
  }

  // The restaurants' side: poll each manual restaurant's waiting orders and act on them.
  let trafficDone = false;
  let trafficEndedAt = 0;
  const acting = new Set<string>();
  const actions: Promise<void>[] = [];
  const restaurantLoop = (async () => {
    while (!trafficDone || awaitingAction.size > acting.size) {
      await Promise.all(
        [...restaurantTokens.entries()].map(async ([restaurantId, token]) => {
          try {
            const res = await call('GET', `/restaurants/${restaurantId}/orders?status=AWAITING_RESTAURANT&limit=200`, token);
            for (const o of res.body?.orders ?? []) {
              const a = awaitingAction.get(o.orderId);
              if (a && !acting.has(o.orderId)) {
                acting.add(o.orderId);
                actions.push(act(o.orderId, a));
              }
            }
          } catch {
            // the API is briefly unavailable: poll again
          }
        }),
      );
      await sleep(300);
      if (trafficDone && Date.now() - trafficEndedAt > opts.recoveryTimeoutSeconds * 1000) break;
    }
  })();

  // Faults: a seeded schedule cycling through every kind (in a seeded order) so each one happens.
  const faults: Record<string, number> = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0]));
  let faultsDone = false;
  async function inject(kind: FaultKind): Promise<void> {
    faults[kind]!++;
    log(`fault: ${kind}`);
    const killOne = async (group: ManagedProcess[]) => {
      const victim = pick(group);
      await victim.kill();
      await sleep(500 + random() * 2000);
      victim.start();
    };
    const psp = (body: Record<string, number>) => fetch(`${stack.pspUrl}/_sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    switch (kind) {
      case 'kill-order-worker':
        return killOne(stack.workers.order);
      case 'kill-payment-worker':
        return killOne(stack.workers.payment);
      case 'kill-restaurant-worker':
        return killOne(stack.workers.restaurant);
      case 'kill-projector':
        return killOne([stack.projector]);
      case 'restart-temporal':
        return stack.temporal.restartServer(1000 + random() * 2000);
      case 'restart-postgres-primary':
        return stack.primary.restart(1000 + random() * 2000);
      case 'restart-postgres-read':
        return stack.read.restart(1000 + random() * 2000);
      case 'psp-slow':
        await psp({ delayMs: 1500, seed: opts.seed });
        await sleep(3000);
        await psp({ delayMs: 0 });
        return;
      case 'psp-transient-errors':
        await psp({ failRate: 0.5, seed: opts.seed });
        await sleep(3000);
        await psp({ failRate: 0 });
        return;
      case 'psp-timeout-after-processing':
        await psp({ timeoutAfterProcessRate: 0.3, seed: opts.seed });
        await sleep(3000);
        await psp({ timeoutAfterProcessRate: 0 });
        return;
    }
  }
  const faultLoop = (async () => {
    if (opts.faultEverySeconds <= 0) return;
    let cycle: FaultKind[] = [];
    while (!faultsDone) {
      await sleep(opts.faultEverySeconds * 1000 * (0.5 + random()));
      if (faultsDone) break;
      if (cycle.length === 0) cycle = [...FAULT_KINDS].sort(() => random() - 0.5);
      try {
        await inject(cycle.shift()!);
      } catch (err) {
        log(`fault injection failed: ${errorText(err)}`);
      }
    }
  })();

  // The open-loop order stream: order i is offered at i / rate seconds, whatever the server does.
  log(`offering ${opts.orders} orders at ${opts.rate}/s (seed ${opts.seed})`);
  const trafficStart = Date.now();
  const placing: Promise<void>[] = [];
  for (let i = 0; i < opts.orders; i++) {
    const due = trafficStart + (i / opts.rate) * 1000;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    placing.push(placeOne(i));
    if (i > 0 && i % Math.max(1, Math.round(opts.rate * 10)) === 0) log(`${i} orders offered, ${placed.size} accepted`);
  }
  await Promise.all(placing);
  trafficEndedAt = Date.now();
  trafficDone = true;
  // Stop the seeded schedule first: faults never overlap (two restarts of one Postgres at once
  // would fight over its data folder). Then make sure every kind happened at least once (short runs).
  faultsDone = true;
  await faultLoop;
  while (opts.faultEverySeconds > 0 && FAULT_KINDS.some((k) => faults[k] === 0)) {
    const missing = FAULT_KINDS.find((k) => faults[k] === 0)!;
    await inject(missing).catch((err) => log(`fault injection failed: ${errorText(err)}`));
  }
  await fetch(`${stack.pspUrl}/_sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ delayMs: 0, failRate: 0, timeoutAfterProcessRate: 0 }) });
  trafficEndedAt = Date.now();
  const trafficSeconds = (trafficEndedAt - trafficStart) / 1000;
  log(`traffic and faults done in ${trafficSeconds.toFixed(1)} s: ${placed.size} orders accepted; waiting for every order to settle`);

  // Recovery: every accepted order must reach a terminal state.
  const ids = [...placed.keys()];
  let open = ids.length;
  while (Date.now() - trafficEndedAt < opts.recoveryTimeoutSeconds * 1000) {
    try {
      const rows: Array<{ status: string; n: string }> = await ordersDb('orders').select('status').count('* as n').whereIn('order_id', ids).groupBy('status');
      const terminal = rows.filter((r) => (TERMINAL_ORDER_STATUSES as readonly string[]).includes(r.status)).reduce((a, r) => a + Number(r.n), 0);
      open = ids.length - terminal;
      if (open === 0) break;
    } catch {
      // the primary may still be coming back
    }
    await sleep(1000);
  }
  const recoverySeconds = (Date.now() - trafficEndedAt) / 1000;
  await restaurantLoop;
  await Promise.allSettled(actions);
  log(`settled in ${recoverySeconds.toFixed(1)} s (${open} still open); auditing`);

  const [paymentsDb, restaurantsDb] = [createDb(stack.urls.payments, 2), createDb(stack.urls.restaurants, 2)];
  const report = await runAudit({ orders: ordersDb, payments: paymentsDb, restaurants: restaurantsDb, stuckAfterSeconds: 0, temporalUiUrl: stack.temporalUiUrl, namespace: 'default' });

  // Lost: accepted by the API but missing, or not terminal after recovery.
  const knownRows: Array<{ order_id: string; status: string }> = [];
  for (let i = 0; i < ids.length; i += 1000) knownRows.push(...(await ordersDb('orders').select('order_id', 'status').whereIn('order_id', ids.slice(i, i + 1000))));
  const known = new Map(knownRows.map((r) => [r.order_id, r.status]));
  const lostOrderIds = ids.filter((id) => !(TERMINAL_ORDER_STATUSES as readonly string[]).includes(known.get(id) ?? ''));

  // The PSP's own books against the payments database.
  const pspAuths = (await (await fetch(`${stack.pspUrl}/_sandbox/authorizations`)).json()) as Array<{ reference: string; status: string }>;
  const pspStats = (await (await fetch(`${stack.pspUrl}/_sandbox/stats`)).json()) as { effects: Record<string, number> };
  const dbPayments: Array<{ payment_id: string; status: string }> = await paymentsDb('payments').select('payment_id', 'status');
  const dbStatus = new Map(dbPayments.map((p) => [p.payment_id, p.status]));
  let pspMismatches = 0;
  const atPsp = new Set<string>();
  for (const a of pspAuths) {
    atPsp.add(a.reference);
    // A PSP void for a payment that never reached the PSP leaves a tombstone: VOIDED on both sides.
    if (dbStatus.get(a.reference) !== a.status) pspMismatches++;
  }
  // Money the database thinks is held or taken must be at the PSP too.
  for (const p of dbPayments) if (!atPsp.has(p.payment_id) && ['AUTHORIZED', 'CAPTURED', 'REFUNDED'].includes(p.status)) pspMismatches++;
  const capturedOrders = await paymentsDb('payment_events').where({ kind: 'CAPTURE' }).countDistinct('order_id as n').first();
  const doubleCharges = report.doubleCharges + Math.max(0, (pspStats.effects.capture ?? 0) - Number(capturedOrders?.n ?? 0));

  await Promise.all([ordersDb.destroy(), paymentsDb.destroy(), restaurantsDb.destroy()]);
  await stack.stop();
  process.removeListener('SIGINT', abandon);
  process.removeListener('SIGTERM', abandon);
  if (!opts.keepData && !opts.dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  if (unexpected.length > 0) log(`processes that exited on their own: ${unexpected.join(', ')}`);

  return {
    seed: opts.seed,
    ordersOffered: opts.orders,
    ordersPlaced: placed.size,
    ordersNeverAccepted: neverAccepted,
    duplicatePosts,
    duplicateMismatches,
    raceActions,
    finalStates: report.byStatus,
    failureReasons: report.byFailureReason,
    faultsInjected: faults,
    violations: violationCount(report),
    violationsByKind: report.violationsByKind,
    lostOrders: lostOrderIds.length,
    doubleCharges,
    pspMismatches,
    pspCaptures: pspStats.effects.capture ?? 0,
    recoverySeconds,
    trafficSeconds,
    totalSeconds: (Date.now() - started) / 1000,
    listedViolations: report.violations.slice(0, 50),
    lostOrderIds: lostOrderIds.slice(0, 50),
  };
}

export function formatChaosSummary(s: ChaosSummary): string {
  const rows = (o: Record<string, unknown>) => Object.entries(o).map(([k, v]) => `    ${k.padEnd(30)} ${String(v)}`).join('\n');
  return [
    `Chaos run (seed ${s.seed}): ${s.ordersOffered} orders offered, ${s.ordersPlaced} placed, ${s.ordersNeverAccepted} never accepted by the API`,
    `  duplicate posts ${s.duplicatePosts} (answered with another order: ${s.duplicateMismatches}), accept/reject/cancel races ${s.raceActions}`,
    '  final states:',
    rows(s.finalStates),
    '  failure reasons:',
    rows(s.failureReasons),
    '  faults injected:',
    rows(s.faultsInjected),
    `  violations                     ${s.violations}${s.violations ? ` ${JSON.stringify(s.violationsByKind)}` : ''}`,
    `  orders lost                    ${s.lostOrders}`,
    `  double charges                 ${s.doubleCharges}`,
    `  PSP vs payments DB mismatches  ${s.pspMismatches} (PSP captures: ${s.pspCaptures})`,
    `  traffic ${s.trafficSeconds.toFixed(1)} s, recovery ${s.recoverySeconds.toFixed(1)} s, total ${s.totalSeconds.toFixed(1)} s`,
    ...s.listedViolations.map((v) => `  ! ${v.kind} ${v.orderId}: ${v.detail} ${v.workflowUrl}`),
    ...s.lostOrderIds.map((id) => `  ! LOST ${id}`),
  ].join('\n');
}
