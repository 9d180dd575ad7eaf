import { reportSpike, spikeBase, spikeFigures, spikeSettings, spikeTargetRows, type SpikeMarks, type SpikeResult } from '../bench/lib/spike-phase';
import type { OrderRecord } from '../bench/lib/orders';
import { runToExit } from './support/processes';

// The spike phase of `npm run bench` (bench/lib/spike-phase.ts): its flags, the rate it scales
// from, and the figures it derives from the orders' records (backlog per second, drain, errors).
// The load itself runs in `npm run bench`; here the arithmetic is checked on records whose
// answers are known.

const T0 = 1_700_000_000_000;
const at = (s: number) => T0 + s * 1000;

function marks(over: Partial<SpikeMarks> = {}): SpikeMarks {
  return {
    startMs: T0,
    burstStartMs: at(2),
    burstEndMs: at(4),
    offerEndMs: at(6),
    endMs: at(8),
    rates: { steady: 1, burst: 10, recovery: 1 },
    drops: [],
    ...over,
  };
}

let seq = 0;
/** An order sent at `sentS`, answered after `postMs`, final at `doneS` (undefined: never). */
function order(phase: string, sentS: number, postMs: number, doneS?: number, status = 'CONFIRMED'): OrderRecord {
  return {
    phase: `spike-${phase}`,
    sentMs: at(sentS),
    postMs,
    httpStatus: 202,
    orderId: `ord_${++seq}`,
    ...(doneS === undefined ? {} : { finalStatus: status, doneAtMs: at(doneS) }),
  };
}

describe('bench spike phase', () => {
  it('takes its lengths from the flags, shorter with --quick, and refuses a rate that is not positive', () => {
    const none = () => undefined;
    expect(spikeSettings(none, false)).toEqual({ base: undefined, steadySeconds: 60, burstSeconds: 60, factor: 5, drainMaxSeconds: 600 });
    expect(spikeSettings(none, true)).toMatchObject({ steadySeconds: 20, burstSeconds: 20, drainMaxSeconds: 300 });
    const given: Record<string, string> = { 'spike-base': '8', 'spike-seconds': '30', 'spike-factor': '3' };
    expect(spikeSettings((f) => given[f], true)).toMatchObject({ base: 8, burstSeconds: 30, factor: 3, steadySeconds: 20 });
    expect(() => spikeSettings((f) => (f === 'spike-base' ? '0' : undefined), false)).toThrow('--spike-base takes a positive number');
    expect(() => spikeSettings((f) => (f === 'spike-seconds' ? 'soon' : undefined), false)).toThrow('--spike-seconds');
  });

  it('scales from --spike-base, else the highest rate within the objective, else the busiest good step', () => {
    const settings = spikeSettings(() => undefined, false);
    const steps = [
      { rate: 4, ok: true, withinSlo: true },
      { rate: 6, ok: true, withinSlo: true },
      { rate: 9, ok: true, withinSlo: false },
      { rate: 13, ok: false, withinSlo: false },
    ];
    expect(spikeBase({ ...settings, base: 5 }, steps)).toEqual({ rate: 5, source: '--spike-base' });
    expect(spikeBase(settings, steps)?.rate).toBe(6);
    expect(spikeBase(settings, steps.slice(2))?.rate).toBe(9);
    expect(spikeBase(settings, steps.slice(3))).toBeUndefined();
    expect(spikeBase(settings, [])).toBeUndefined();
  });

  it('counts the backlog at the end of every second, the drain from the burst end, and every kind of error', () => {
    const records: OrderRecord[] = [
      { phase: 'orders', sentMs: at(0), postMs: 5, orderId: 'not-the-spike' },
      order('steady', 0.1, 20, 0.5),
      order('steady', 1.1, 20, 1.6),
      order('burst', 2.0, 100, 3.5),
      order('burst', 2.1, 1500, 6.2), // answered in second 3, final in second 6: the last of the burst
      order('burst', 3.0, 50, 5.0, 'REJECTED'),
      { phase: 'spike-burst', sentMs: at(3.2), postMs: 30, httpStatus: 503, error: 'HTTP 503: busy' },
      order('recovery', 4.5, 40, 5.0),
      order('recovery', 5.5, 40), // never final
    ];
    const f = spikeFigures(records, marks({ drops: [{ stage: 'burst', atMs: at(3.9) }] }));

    expect(f.perSecond.map((p) => p.offered)).toEqual([1, 1, 2, 3, 1, 1, 0, 0]);
    expect(f.perSecond.map((p) => p.accepted)).toEqual([1, 1, 2, 1, 1, 1, 0, 0]);
    expect(f.perSecond.map((p) => p.postsWaiting)).toEqual([0, 0, 1, 0, 0, 0, 0, 0]);
    expect(f.perSecond.map((p) => p.backlog)).toEqual([0, 0, 1, 2, 1, 2, 1, 1]);
    expect(f.perSecond.map((p) => p.confirmed)).toEqual([1, 1, 0, 1, 0, 1, 1, 0]);
    expect(f.perSecond[3]!.confirmP99).toBe(1500);
    expect(f.perSecond.map((p) => p.stage)).toEqual(['steady', 'steady', 'burst', 'burst', 'recovery', 'recovery', 'recovery', 'recovery']);

    expect(f.stages.burst).toMatchObject({ offered: 5, accepted: 3, acceptedPct: 60, httpErrors: 1, dropped: 1, rejected: 1, unfinished: 0, errors: 3 });
    expect(f.stages.burst.postMs.max).toBe(1500);
    expect(f.stages.burst.confirmMs.p99).toBe(Infinity);
    // Not final is backlog, not an error.
    expect(f.stages.recovery).toMatchObject({ accepted: 2, unfinished: 1, errors: 0 });
    expect(f.errors).toBe(3);
    expect(f.perSecond.map((p) => p.errors)).toEqual([0, 0, 0, 3, 0, 0, 0, 0]);
    expect(f.backlogAtBurstEnd).toBe(2);
    expect(f.peakBacklog).toEqual({ orders: 2, t: 3 });
    expect(f.drainSeconds).toBe(2.2);
    expect(f.unsettledBeforeBurstEnd).toBe(0);
  });

  it('does not report a drain while an order placed before the burst end is not final', () => {
    const f = spikeFigures([order('steady', 0, 10, 0.2), order('burst', 2.5, 10)], marks());
    expect(f.drainSeconds).toBeUndefined();
    expect(f.unsettledBeforeBurstEnd).toBe(1);
    expect(f.perSecond.at(-1)!.backlog).toBe(1);
  });

  it('reports per stage, in windows that never straddle two stages, and keeps the target figures in the summary', () => {
    const m = marks({ endMs: at(90) });
    const recs = [order('steady', 0.5, 20, 0.9), order('burst', 2.2, 300, 3.1), order('burst', 2.4, 450, 5.3), order('recovery', 4.2, 10, 4.6)];
    const result: SpikeResult = {
      ...spikeFigures(recs, m),
      base: { rate: 2, source: '--spike-base' },
      settings: spikeSettings(() => undefined, true),
      marks: m,
      audit: { orders: 4, byStatus: { CONFIRMED: 4 }, violationsByKind: {}, doubleCharges: 0, violations: 0, spikeViolations: 0, examples: [] },
      loadavgAtEnd: 1,
    };
    const rep = { out: [] as string[], summary: {} as Record<string, unknown> };
    reportSpike(rep, result);
    const text = rep.out.join('\n');
    // 90 s in at most 40 rows: windows of 3 s, cut short where a stage ends.
    expect(text).toContain('per 3 s');
    expect(text).toMatch(/\n {2}0-2 +steady +0\.5 +0\.5 +20 +0 +0 +0 +0\.5 +400\n/);
    expect(text).toMatch(/\n {2}2-4 +burst +1\.0 +1\.0 +450 +0 +1 +0 +0\.5 +900\n/);
    expect(text).toMatch(/\n {2}4-7 +recovery /);
    expect(text).toContain('drained 1.3 s after the burst');
    expect(text).toContain('4 orders (CONFIRMED 4); 0 violations');
    expect(rep.summary).toMatchObject({
      spikeBurstRate: 10,
      spikeBurstAcceptedPct: 100,
      spikeBurstPostP99Ms: 450,
      spikeErrors: 0,
      spikeDrainSeconds: 1.3,
      spikeAuditViolations: 0,
    });
    reportSpike(rep, undefined);
    expect(rep.out.join('\n')).toBe(text);
  });

  it('judges the targets: every burst order accepted, POST p99 under 500 ms, no error or violation, drained within 5 minutes', () => {
    const good = {
      spikeBurstRate: 40,
      spikeBurstAcceptedPct: 100,
      spikeBurstPostP99Ms: 120,
      spikeErrors: 0,
      spikeAuditViolations: 0,
      spikeDrainSeconds: 90,
    };
    expect(spikeTargetRows(good).map((r) => r[4])).toEqual(['aim met', 'aim met', 'aim met', 'aim met', 'aim met']);
    const bad = { ...good, spikeBurstAcceptedPct: 99.5, spikeBurstPostP99Ms: 500, spikeErrors: 2, spikeAuditViolations: 1, spikeDrainSeconds: null };
    expect(spikeTargetRows(bad).map((r) => r[4])).toEqual(['MISSED', 'MISSED', 'MISSED', 'MISSED', 'MISSED']);
    expect(spikeTargetRows(bad)[4]![3]).toBe('not drained');
    expect(spikeTargetRows({}).every((r) => r[4] === 'not measured')).toBe(true);
  });

  it('the bench refuses a spike without a rate to scale from, and lists the spike flags', async () => {
    const noBase = await runToExit('bench/lunch-rush.ts', process.env, ['--phases', 'spike']);
    expect(noBase.code).toBe(1);
    expect(noBase.output).toContain('--phases spike without orders needs --spike-base RATE');
    const help = await runToExit('bench/lunch-rush.ts', process.env, ['--help']);
    expect(help.code).toBe(0);
    for (const flag of ['--spike-base', '--spike-seconds', '--spike-steady-seconds', '--spike-factor', '--spike-drain-max-seconds'])
      expect(help.output).toContain(flag);
    expect(help.output).toContain('idle,orders,baseline,menu,popularity,search,cdc,spike');
  });
});
