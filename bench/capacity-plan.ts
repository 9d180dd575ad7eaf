/**
 * `npm run bench:capacity -- <bench-results/lunch-rush-*.json> [--busy 0.6]`: the capacity plan for the
 * design target (9.2 M orders a day: 106.5/s on average, 532/s at a 5x peak) from one benchmark run's
 * orders phase (bench/lib/capacity.ts fits each component's CPU over the good steps).
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { coresFor, fitComponentCosts, type MeasuredStep } from './lib/capacity';

const AVERAGE = 9_200_000 / 86_400;
const PEAK = AVERAGE * 5;

interface RunFile {
  label: string;
  orderSteps: Array<{ ok: boolean; saturated: boolean; completedPerSec: number; cpu?: { byGroup: Record<string, number>; wallSeconds: number } }>;
  temporal?: { stateTransitionsPerOrder: number };
}

function main() {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { busy: { type: 'string', default: '0.6' } } });
  const file = positionals[0];
  if (!file) throw new Error('usage: npm run bench:capacity -- <bench-results/lunch-rush-*.json> [--busy 0.6]');
  const busy = Number(values.busy);
  const run = JSON.parse(fs.readFileSync(file, 'utf8')) as RunFile;
  const steps: MeasuredStep[] = run.orderSteps
    .filter((s) => s.ok && !s.saturated && s.cpu)
    .map((s) => ({ completedPerSec: s.completedPerSec, wallSeconds: s.cpu!.wallSeconds, cpuSecondsByGroup: s.cpu!.byGroup }));
  const costs = fitComponentCosts(steps).sort((a, b) => b.msPerOrder - a.msPerOrder);
  const row = (cells: Array<string | number>) => cells.map((c, i) => (i === 0 ? String(c).padEnd(20) : String(c).padStart(13))).join(' ');
  console.log(
    `${run.label}: ${steps.length} good steps (${steps.map((s) => s.completedPerSec.toFixed(1)).join(', ')} orders/s), cores kept ${busy * 100} % busy`,
  );
  console.log(row(['component', 'ms/order', 'idle cores', `cores ${AVERAGE.toFixed(1)}/s`, `cores ${PEAK.toFixed(0)}/s`]));
  let [perOrder, avg, peak] = [0, 0, 0];
  for (const c of costs) {
    const [a, p] = [coresFor(c, AVERAGE, busy), coresFor(c, PEAK, busy)];
    [perOrder, avg, peak] = [perOrder + c.msPerOrder, avg + a, peak + p];
    console.log(row([c.group, c.msPerOrder.toFixed(1), c.fixedCores.toFixed(2), a.toFixed(1), p.toFixed(1)]));
  }
  console.log(row(['total', perOrder.toFixed(1), '', avg.toFixed(1), peak.toFixed(1)]));
  if (run.temporal) console.log(`Temporal state transitions at the peak: ${Math.round(run.temporal.stateTransitionsPerOrder * PEAK)}/s`);
}

main();
