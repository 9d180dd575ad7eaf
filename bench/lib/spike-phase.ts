import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDb } from '../../db/knex';
import { runAudit, violationCount, type AuditReport } from '../../ops/audit';
import { renderChart, type Panel, type Series } from './chart';
import type { OrderDriver, OrderRecord } from './orders';
import { round, summarize } from './stats';

// The spike phase of the lunch-rush benchmark: half the sustained rate, then a burst at five times
// it, then half again until every order placed before the burst's end has settled. What it shows is
// whether a spike beyond capacity becomes a durable backlog that drains (the API keeps accepting,
// the sagas catch up later) rather than errors. Figures per second and per stage, the drain time,
// and the consistency audit (with the PSP's books) once everything settled.

export interface SpikeSettings {
  /** --spike-base: the sustained rate to scale from (otherwise the orders phase's). */
  base?: number;
  steadySeconds: number;
  burstSeconds: number;
  /** Burst rate = factor x base; steady and recovery run at half the base. */
  factor: number;
  /** Longest recovery stage: the burst's backlog must be gone by then. */
  drainMaxSeconds: number;
}

export const SPIKE_FLAGS = ['spike-base', 'spike-seconds', 'spike-steady-seconds', 'spike-factor', 'spike-drain-max-seconds'];

export const SPIKE_HELP = `  --spike-base RATE            sustained rate the spike scales from (default: the orders phase's highest rate
                               with p99 order-to-CONFIRMED < 1 s; required with --phases spike without orders)
  --spike-steady-seconds N     half the base rate before the burst (default 60; quick 20)
  --spike-seconds N            burst length at --spike-factor x the base rate (default 60; quick 20)
  --spike-factor N             burst rate / base rate (default 5)
  --spike-drain-max-seconds N  longest recovery at half the base rate, waiting for the backlog to drain
                               (default 600; quick 300)
`;

/** The spike's settings from the bench's flags (`one` = the flag's last value). */
export function spikeSettings(one: (flag: string) => string | undefined, quick: boolean): SpikeSettings {
  const num = (flag: string, full: number, q: number) => {
    const v = Number(one(flag) ?? (quick ? q : full));
    if (!(v > 0)) throw new Error(`--${flag} takes a positive number`);
    return v;
  };
  return {
    base: one('spike-base') === undefined ? undefined : num('spike-base', 0, 0),
    steadySeconds: num('spike-steady-seconds', 60, 20),
    burstSeconds: num('spike-seconds', 60, 20),
    factor: num('spike-factor', 5, 5),
    drainMaxSeconds: num('spike-drain-max-seconds', 600, 300),
  };
}

/**
 * The rate the spike scales from: --spike-base when given; else the orders phase's highest rate
 * within the objective; else its busiest good step (said in `source`). Undefined when none.
 */
export function spikeBase(
  settings: SpikeSettings,
  steps: Array<{ rate: number; ok: boolean; withinSlo: boolean }>,
): { rate: number; source: string } | undefined {
  if (settings.base !== undefined) return { rate: settings.base, source: '--spike-base' };
  const best = (list: typeof steps) => list.reduce((m, s) => Math.max(m, s.rate), 0);
  const sustained = best(steps.filter((s) => s.withinSlo));
  if (sustained > 0) return { rate: sustained, source: 'orders phase, highest rate with p99 order-to-CONFIRMED < 1 s' };
  const good = best(steps.filter((s) => s.ok));
  if (good > 0) return { rate: good, source: 'orders phase, busiest good step (none met p99 < 1 s)' };
  return undefined;
}

export const SPIKE_STAGES = ['steady', 'burst', 'recovery'] as const;
export type SpikeStage = (typeof SPIKE_STAGES)[number];
const label = (stage: SpikeStage) => `spike-${stage}`;

/** When each stage started and ended (ms since the epoch), and the orders it could not send. */
export interface SpikeMarks {
  startMs: number;
  burstStartMs: number;
  burstEndMs: number;
  /** When the recovery stage stopped offering. */
  offerEndMs: number;
  /** When the last recovery order settled (or the wait for it gave up). */
  endMs: number;
  rates: Record<SpikeStage, number>;
  /** Orders not sent because too many POSTs were already waiting (counted as errors). */
  drops: Array<{ stage: SpikeStage; atMs: number }>;
}

// ---------------------------------------------------------------------------------------------
// Load

/** POSTs waiting beyond which an order is dropped (and counted): the client's own limit. */
const MAX_POSTS_WAITING = 10_000;

/**
 * Offers `rate` orders/s from `startMs` (order k at startMs + k / rate) until `endMs` or `stop()`,
 * without waiting for answers (they go to `pending`), so the next stage starts on time.
 */
async function offerStage(
  driver: OrderDriver,
  stage: SpikeStage,
  rate: number,
  window: { startMs: number; endMs: number },
  pending: Array<Promise<unknown>>,
  drops: SpikeMarks['drops'],
  stop: () => boolean = () => false,
): Promise<number> {
  let k = 0;
  let checkedAt = 0;
  for (;;) {
    const now = Date.now();
    if (now >= window.endMs) break;
    if (now - checkedAt >= 250) {
      checkedAt = now;
      if (stop()) break;
    }
    const due = Math.floor(((now - window.startMs) / 1000) * rate) + 1;
    for (; k < due && window.startMs + (k / rate) * 1000 < window.endMs; k++) {
      if (driver.inFlight >= MAX_POSTS_WAITING) drops.push({ stage, atMs: Date.now() });
      else pending.push(driver.place(label(stage)));
    }
    await sleep(Math.max(1, Math.min(20, window.startMs + (k / rate) * 1000 - Date.now())));
  }
  return Math.min(Date.now(), window.endMs);
}

/** An order is settled once its POST was answered and it failed there or reached a final state. */
const settled = (r: OrderRecord) => r.postMs !== undefined && (!r.orderId || r.finalStatus !== undefined);

export interface SpikeRunOptions {
  driver: OrderDriver;
  base: { rate: number; source: string };
  settings: SpikeSettings;
  say: (msg: string) => void;
  /** Marks a stage on the run's chart. */
  phase: (label: string, startMs: number, endMs: number) => void;
  audit: SpikeAuditTarget;
}

/** Runs the three stages; the figures come from the driver's records (see spikeFigures). */
export async function runSpikePhase(o: SpikeRunOptions): Promise<SpikeResult> {
  const { driver, settings, say } = o;
  const rates: Record<SpikeStage, number> = { steady: o.base.rate / 2, burst: o.base.rate * settings.factor, recovery: o.base.rate / 2 };
  say(
    `spike (base ${o.base.rate}/s from ${o.base.source}): ${rates.steady}/s for ${settings.steadySeconds} s, ${rates.burst}/s for ${settings.burstSeconds} s, ` +
      `then ${rates.recovery}/s until the backlog has drained (at most ${settings.drainMaxSeconds} s)`,
  );
  const startMs = Date.now();
  const progress = setInterval(
    () => say(`spike: ${Math.round((Date.now() - startMs) / 1000)} s, ${driver.openCount()} orders not final, ${driver.inFlight} POSTs waiting`),
    15_000,
  );
  let marks: SpikeMarks;
  try {
    marks = await offerSpike(driver, rates, settings, startMs, say);
  } finally {
    clearInterval(progress);
  }
  for (const stage of SPIKE_STAGES) o.phase(`spike ${stage}`, ...stageWindow(marks, stage));
  const figures = spikeFigures(driver.records, marks);
  say(
    `spike: burst ${figures.stages.burst.accepted}/${figures.stages.burst.offered} accepted, POST p99 ${ms(figures.stages.burst.postMs.p99)} ms; ` +
      `peak backlog ${figures.peakBacklog.orders}; ${figures.drainSeconds === undefined ? 'NOT drained' : `drained ${figures.drainSeconds} s after the burst`}`,
  );
  say('spike: audit (with the PSP books)');
  const spikeOrders = new Set(driver.records.filter((r) => stageOf(r.phase) && r.orderId).map((r) => r.orderId!));
  const audit = await auditAfterSpike(o.audit, spikeOrders);
  return { base: o.base, settings, marks, ...figures, audit, loadavgAtEnd: os.loadavg()[0]! };
}

/**
 * One arrival schedule across the stages (each starts when the last one was due to end, whatever
 * the answers), then a wait of at most a minute for the recovery's own orders to settle.
 */
async function offerSpike(
  driver: OrderDriver,
  rates: Record<SpikeStage, number>,
  settings: SpikeSettings,
  startMs: number,
  say: (msg: string) => void,
): Promise<SpikeMarks> {
  const pending: Array<Promise<unknown>> = [];
  const drops: SpikeMarks['drops'] = [];
  const burstStartMs = startMs + settings.steadySeconds * 1000;
  const burstEndMs = burstStartMs + settings.burstSeconds * 1000;
  await offerStage(driver, 'steady', rates.steady, { startMs, endMs: burstStartMs }, pending, drops);
  await offerStage(driver, 'burst', rates.burst, { startMs: burstStartMs, endMs: burstEndMs }, pending, drops);
  say(`spike: burst over; ${driver.openCount()} orders not final, ${driver.inFlight} POSTs waiting`);
  const before = driver.records.filter((r) => r.phase === label('steady') || r.phase === label('burst'));
  const recovery = { startMs: burstEndMs, endMs: burstEndMs + settings.drainMaxSeconds * 1000 };
  const offerEndMs = await offerStage(driver, 'recovery', rates.recovery, recovery, pending, drops, () => before.every(settled));
  await Promise.all(pending);
  await driver.settle(label('recovery'), 60_000);
  return { startMs, burstStartMs, burstEndMs, offerEndMs, endMs: Date.now(), rates, drops };
}

function stageWindow(m: SpikeMarks, stage: SpikeStage): [number, number] {
  if (stage === 'steady') return [m.startMs, m.burstStartMs];
  if (stage === 'burst') return [m.burstStartMs, m.burstEndMs];
  return [m.burstEndMs, m.endMs];
}

// ---------------------------------------------------------------------------------------------
// Figures

export interface SpikeSecond {
  /** Seconds since the spike started. */
  t: number;
  stage: SpikeStage;
  offered: number;
  accepted: number;
  /** POST failures, dropped orders, and orders sent this second that ended REJECTED or CANCELLED (not final is backlog, not an error). */
  errors: number;
  postP99: number;
  confirmed: number;
  /** Order-to-CONFIRMED p99 of the orders confirmed this second. */
  confirmP99: number;
  /** Accepted orders not final at the end of this second. */
  backlog: number;
  /** POSTs sent and not answered at the end of this second. */
  postsWaiting: number;
}

export interface SpikeStageFigures {
  rate: number;
  offered: number;
  accepted: number;
  acceptedPct: number;
  httpErrors: number;
  dropped: number;
  rejected: number;
  unfinished: number;
  errors: number;
  postMs: ReturnType<typeof summarize>;
  /** Order-to-CONFIRMED of the stage's orders; rejected and unfinished ones count as infinitely slow. */
  confirmMs: ReturnType<typeof summarize>;
  errorsSample: string[];
}

export interface SpikeFigures {
  perSecond: SpikeSecond[];
  stages: Record<SpikeStage, SpikeStageFigures>;
  peakBacklog: { orders: number; t: number };
  backlogAtBurstEnd: number;
  /** From the burst's end until the last order placed before it settled; undefined if some never did. */
  drainSeconds?: number;
  /** Orders placed before the burst's end that had not settled when the spike stopped. */
  unsettledBeforeBurstEnd: number;
  errors: number;
}

const stageOf = (phase: string): SpikeStage | undefined => SPIKE_STAGES.find((s) => phase === label(s));

function stageFigures(recs: OrderRecord[], dropped: number, rate: number): SpikeStageFigures {
  const accepted = recs.filter((r) => r.orderId);
  const rejected = accepted.filter((r) => r.finalStatus && r.finalStatus !== 'CONFIRMED');
  const unfinished = accepted.filter((r) => !r.finalStatus);
  const confirmed = accepted.filter((r) => r.finalStatus === 'CONFIRMED');
  const httpErrors = recs.length - accepted.length;
  const offered = recs.length + dropped;
  return {
    rate,
    offered,
    accepted: accepted.length,
    acceptedPct: offered > 0 ? round((accepted.length / offered) * 100, 2) : NaN,
    httpErrors,
    dropped,
    rejected: rejected.length,
    unfinished: unfinished.length,
    // An accepted order not final yet is backlog (see `unfinished` and the drain), not an error.
    errors: httpErrors + dropped + rejected.length,
    postMs: summarize(recs.filter((r) => r.postMs !== undefined).map((r) => r.postMs!)),
    confirmMs: summarize(confirmed.map((r) => r.doneAtMs! - r.sentMs).concat([...rejected, ...unfinished].map(() => Infinity))),
    errorsSample: [...new Set(recs.filter((r) => r.error).map((r) => r.error!))]
      .slice(0, 3)
      .concat(rejected.slice(0, 2).map((r) => `${r.finalStatus} ${r.failureReason}`)),
  };
}

/** Per-second and per-stage figures of the spike's orders (records of other phases are ignored). */
export function spikeFigures(records: OrderRecord[], marks: SpikeMarks): SpikeFigures {
  const recs = records.filter((r) => stageOf(r.phase));
  const stages = Object.fromEntries(
    SPIKE_STAGES.map((s) => [
      s,
      stageFigures(
        recs.filter((r) => r.phase === label(s)),
        marks.drops.filter((d) => d.stage === s).length,
        marks.rates[s],
      ),
    ]),
  ) as Record<SpikeStage, SpikeStageFigures>;
  const perSecond = secondsOf(recs, marks);
  const peak = perSecond.reduce((m, p) => (p.backlog > m.orders ? { orders: p.backlog, t: p.t } : m), { orders: 0, t: 0 });
  const burstEndSecond = Math.ceil((marks.burstEndMs - marks.startMs) / 1000) - 1;
  const before = recs.filter((r) => r.orderId && r.phase !== label('recovery'));
  const unsettled = before.filter((r) => !r.finalStatus).length;
  const lastDone = before.reduce((m, r) => Math.max(m, r.doneAtMs ?? 0), marks.burstEndMs);
  return {
    perSecond,
    stages,
    peakBacklog: peak,
    backlogAtBurstEnd: perSecond[burstEndSecond]?.backlog ?? 0,
    drainSeconds: unsettled === 0 ? round((lastDone - marks.burstEndMs) / 1000, 1) : undefined,
    unsettledBeforeBurstEnd: unsettled,
    errors: SPIKE_STAGES.reduce((a, s) => a + stages[s].errors, 0),
  };
}

function secondsOf(recs: OrderRecord[], marks: SpikeMarks): SpikeSecond[] {
  const n = Math.max(1, Math.ceil((marks.endMs - marks.startMs) / 1000));
  const at = (msAt: number) => Math.floor((msAt - marks.startMs) / 1000);
  const rows = Array.from({ length: n }, (_, t) => ({
    t,
    offered: 0,
    accepted: 0,
    errors: 0,
    post: [] as number[],
    conf: [] as number[],
    backlog: 0,
    waiting: 0,
  }));
  const row = (msAt: number) => rows[Math.min(n - 1, Math.max(0, at(msAt)))]!;
  for (const d of marks.drops) {
    row(d.atMs).offered += 1;
    row(d.atMs).errors += 1;
  }
  for (const r of recs) {
    const sent = row(r.sentMs);
    sent.offered += 1;
    if (r.postMs !== undefined) sent.post.push(r.postMs);
    if (r.orderId) sent.accepted += 1;
    if (!r.orderId || (r.finalStatus !== undefined && r.finalStatus !== 'CONFIRMED')) sent.errors += 1;
    if (r.finalStatus === 'CONFIRMED') row(r.doneAtMs!).conf.push(r.doneAtMs! - r.sentMs);
    // Counted at the end of every second it spans: waiting for its answer, then not yet final.
    const answeredAt = r.postMs === undefined ? Infinity : r.sentMs + r.postMs;
    const doneAt = r.orderId ? (r.doneAtMs ?? Infinity) : answeredAt;
    for (let t = Math.max(0, at(r.sentMs)); t < n; t++) {
      const end = marks.startMs + (t + 1) * 1000;
      if (end >= doneAt) break;
      if (end < answeredAt) rows[t]!.waiting += 1;
      else rows[t]!.backlog += 1;
    }
  }
  return rows.map((x) => ({
    t: x.t,
    stage: stageAt(marks, marks.startMs + x.t * 1000),
    offered: x.offered,
    accepted: x.accepted,
    errors: x.errors,
    postP99: summarize(x.post).p99,
    confirmed: x.conf.length,
    confirmP99: summarize(x.conf).p99,
    backlog: x.backlog,
    postsWaiting: x.waiting,
  }));
}

const stageAt = (m: SpikeMarks, msAt: number): SpikeStage => (msAt < m.burstStartMs ? 'steady' : msAt < m.burstEndMs ? 'burst' : 'recovery');

// ---------------------------------------------------------------------------------------------
// Audit

export interface SpikeAuditTarget {
  urls: { orders: string; payments: string; restaurants: string };
  pspUrl: string;
  temporalUiUrl: string;
  namespace: string;
}

export type SpikeAudit = Pick<AuditReport, 'orders' | 'byStatus' | 'violationsByKind' | 'doubleCharges' | 'psp'> & {
  violations: number;
  /** Of them, violations about the spike's own orders (the rest come from earlier phases). */
  spikeViolations: number;
  examples: AuditReport['violations'];
};

/** scripts/audit.ts's check over every order of the run, with the PSP's books. */
async function auditAfterSpike(t: SpikeAuditTarget, spikeOrders: Set<string>): Promise<SpikeAudit> {
  const dbs = { orders: createDb(t.urls.orders, 2), payments: createDb(t.urls.payments, 2), restaurants: createDb(t.urls.restaurants, 2) };
  try {
    const report = await runAudit({
      ...dbs,
      stuckAfterSeconds: 900,
      temporalUiUrl: t.temporalUiUrl,
      namespace: t.namespace,
      psp: { url: t.pspUrl },
      // Every violation listed, so that the spike's own can be counted.
      maxListed: Number.MAX_SAFE_INTEGER,
    });
    return {
      orders: report.orders,
      byStatus: report.byStatus,
      violationsByKind: report.violationsByKind,
      doubleCharges: report.doubleCharges,
      psp: report.psp,
      violations: violationCount(report),
      spikeViolations: report.violations.filter((v) => spikeOrders.has(v.orderId)).length,
      examples: report.violations.slice(0, 10),
    };
  } finally {
    await Promise.all(Object.values(dbs).map((d) => d.destroy()));
  }
}

export type SpikeResult = SpikeFigures & {
  base: { rate: number; source: string };
  settings: SpikeSettings;
  marks: SpikeMarks;
  audit: SpikeAudit;
  loadavgAtEnd: number;
};

// ---------------------------------------------------------------------------------------------
// Report

const ms = (v: number) => (Number.isFinite(v) ? Math.round(v) : v > 0 ? Infinity : NaN);
const cell = (v: number) => (Number.isFinite(v) ? String(Math.round(v)) : v === Infinity ? '∞' : '-');

function textTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => '  ' + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The per-second timeline in windows of at most `every` seconds within a stage (the JSON keeps every second). */
function timelineRows(s: SpikeResult, every: number): string[][] {
  const windows: SpikeSecond[][] = [];
  for (const p of s.perSecond) {
    const w = windows[windows.length - 1];
    if (w && w.length < every && w[0]!.stage === p.stage) w.push(p);
    else windows.push([p]);
  }
  return windows.map((w) => {
    const sum = (f: (p: SpikeSecond) => number) => w.reduce((a, p) => a + f(p), 0);
    const worst = (f: (p: SpikeSecond) => number) => Math.max(...w.map(f).filter((v) => typeof v === 'number' && !Number.isNaN(v)));
    const last = w[w.length - 1]!;
    return [
      `${w[0]!.t}-${last.t + 1}`,
      w[0]!.stage,
      (sum((p) => p.offered) / w.length).toFixed(1),
      (sum((p) => p.accepted) / w.length).toFixed(1),
      cell(worst((p) => p.postP99)),
      String(sum((p) => p.errors)),
      String(last.backlog),
      String(last.postsWaiting),
      (sum((p) => p.confirmed) / w.length).toFixed(1),
      cell(worst((p) => p.confirmP99)),
    ];
  });
}

/** The spike's section of the bench's stdout report; its figures go into `summary` (kept in the JSON). */
export function reportSpike({ out, summary }: { out: string[]; summary: Record<string, unknown> }, s: SpikeResult | undefined): void {
  if (!s) return;
  const st = s.stages;
  out.push('');
  out.push(
    `SPIKE: base ${s.base.rate}/s (${s.base.source}): ${st.steady.rate}/s for ${s.settings.steadySeconds} s, ${st.burst.rate}/s for ${s.settings.burstSeconds} s, ` +
      `then ${st.recovery.rate}/s until drained (at most ${s.settings.drainMaxSeconds} s); load 1m at end ${s.loadavgAtEnd.toFixed(2)}`,
  );
  const every = Math.max(1, Math.ceil(s.perSecond.length / 40));
  out.push(`per ${every} s (rates averaged, p99 = worst second, backlog = at the window's end; every second in the JSON):`);
  out.push(
    textTable(['t s', 'stage', 'offered/s', 'accepted/s', 'POST p99', 'errors', 'backlog', 'POSTs waiting', 'CONFIRMED/s', 'CONF p99'], timelineRows(s, every)),
  );
  out.push(
    textTable(
      ['stage', 'rate/s', 'offered', 'accepted', 'accepted %', 'POST p50', 'POST p99', 'POST max', 'CONF p50', 'CONF p99', 'errors', 'not final'],
      SPIKE_STAGES.map((k) => [
        k,
        String(st[k].rate),
        String(st[k].offered),
        String(st[k].accepted),
        String(st[k].acceptedPct),
        cell(st[k].postMs.p50),
        cell(st[k].postMs.p99),
        cell(st[k].postMs.max),
        cell(st[k].confirmMs.p50),
        cell(st[k].confirmMs.p99),
        String(st[k].errors),
        String(st[k].unfinished),
      ]),
    ),
  );
  out.push(
    `backlog (accepted, not final): ${s.backlogAtBurstEnd} at the burst's end, peak ${s.peakBacklog.orders} at ${s.peakBacklog.t} s; ` +
      (s.drainSeconds !== undefined
        ? `drained ${s.drainSeconds} s after the burst's end${s.drainSeconds > s.settings.drainMaxSeconds ? ` (after the recovery's arrivals stopped at ${s.settings.drainMaxSeconds} s)` : ''}`
        : `NOT drained: ${s.unsettledBeforeBurstEnd} orders placed before the burst's end not final after ${s.settings.drainMaxSeconds} s`),
  );
  const samples = SPIKE_STAGES.flatMap((k) => st[k].errorsSample);
  if (samples.length > 0) out.push(`errors: ${[...new Set(samples)].join(' | ')}`);
  const a = s.audit;
  out.push(
    `audit (every order of the run, with the PSP's books): ${a.orders} orders (${Object.entries(a.byStatus)
      .map(([k, v]) => `${k} ${v}`)
      .join(
        ', ',
      )}); ${a.violations} violations${a.violations > 0 ? ` (${JSON.stringify(a.violationsByKind)}; ${a.spikeViolations} about the spike's orders)` : ''}, ${a.doubleCharges} double charges` +
      (a.psp ? `; PSP: ${a.psp.capturesStanding} captures standing, ${a.psp.holdsOpen} holds open` : ''),
  );
  Object.assign(summary, {
    spikeBaseRate: s.base.rate,
    spikeBurstRate: st.burst.rate,
    spikeBurstAcceptedPct: st.burst.acceptedPct,
    spikeBurstPostP99Ms: ms(st.burst.postMs.p99),
    spikeBurstConfirmP99Ms: ms(st.burst.confirmMs.p99),
    spikeRecoveryConfirmP99Ms: ms(st.recovery.confirmMs.p99),
    spikePeakBacklog: s.peakBacklog.orders,
    spikeDrainSeconds: s.drainSeconds ?? null,
    spikeErrors: s.errors,
    spikeNotFinal: SPIKE_STAGES.reduce((n, k) => n + st[k].unfinished, 0),
    spikeAuditViolations: a.violations,
    spikeAuditViolationsOfSpikeOrders: a.spikeViolations,
    spikeDoubleCharges: a.doubleCharges,
  });
}

/** Rows of the bench's target table (figure, at least, aim, measured, verdict) for the spike. */
export function spikeTargetRows(summary: Record<string, unknown>): string[][] {
  const ran = summary.spikeBurstRate !== undefined;
  const row = (name: string, target: string, measured: string, met: boolean) => [
    name,
    target,
    target,
    ran ? measured : '-',
    ran ? (met ? 'aim met' : 'MISSED') : 'not measured',
  ];
  const n = (k: string) => Number(summary[k]);
  const drain = summary.spikeDrainSeconds;
  return [
    row('spike: burst orders accepted by the API', '100%', `${n('spikeBurstAcceptedPct')}%`, n('spikeBurstAcceptedPct') >= 100),
    row('spike: burst POST /orders p99', '500 ms', `${n('spikeBurstPostP99Ms')} ms`, n('spikeBurstPostP99Ms') < 500),
    row('spike: errors', '0', String(n('spikeErrors')), n('spikeErrors') === 0),
    row('spike: audit violations', '0', String(n('spikeAuditViolations')), n('spikeAuditViolations') === 0),
    row('spike: backlog drained after the burst', '300 s', drain === null ? 'not drained' : `${String(drain)} s`, typeof drain === 'number' && drain <= 300),
  ];
}

// ---------------------------------------------------------------------------------------------
// Charts

const points = (s: SpikeResult, offset: number, f: (p: SpikeSecond) => number): Array<[number, number]> => s.perSecond.map((p) => [offset + p.t, f(p)]);

/** The backlog panel of the run's chart (`offset` = seconds from the run's start to the spike's). */
export function spikeBacklogPanel(s: SpikeResult, offset: number): Panel {
  return {
    title: 'Spike: orders not final',
    unit: 'orders',
    series: [
      { name: 'accepted, not final', color: '#d62728', points: points(s, offset, (p) => p.backlog) },
      { name: 'POSTs waiting', color: '#1f77b4', dashed: true, points: points(s, offset, (p) => p.postsWaiting) },
    ],
  };
}

/** A chart of the spike alone: rates, backlog, latency, on the spike's own time axis. */
export function spikeChart(s: SpikeResult, title: string, subtitle: string): string {
  const rel = (msAt: number) => (msAt - s.marks.startMs) / 1000;
  const series = (name: string, color: string, f: (p: SpikeSecond) => number, dashed = false): Series => ({ name, color, dashed, points: points(s, 0, f) });
  return renderChart({
    title,
    subtitle,
    phases: SPIKE_STAGES.map((k) => {
      const [a, b] = stageWindow(s.marks, k);
      return { label: `${k} ${s.stages[k].rate}/s`, start: rel(a), end: rel(b) };
    }),
    panels: [
      {
        title: 'Orders per second',
        unit: 'orders/s',
        series: [
          series('offered/s', '#1f77b4', (p) => p.offered, true),
          series('accepted/s (202)', '#9467bd', (p) => p.accepted),
          series('CONFIRMED/s', '#2ca02c', (p) => p.confirmed),
          series('errors/s', '#d62728', (p) => p.errors),
        ],
      },
      spikeBacklogPanel(s, 0),
      {
        title: 'Latency (log scale)',
        unit: 'ms',
        log: true,
        marks: [{ value: 500, label: 'POST p99 target 500 ms' }],
        series: [series('POST /orders p99', '#1f77b4', (p) => p.postP99, true), series('order-to-CONFIRMED p99', '#d62728', (p) => p.confirmP99)],
      },
    ],
  });
}
