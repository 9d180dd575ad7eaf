// A capacity plan from measured order steps: for each process group, the CPU it used in each good
// step of the orders phase, fitted as `cores = fixed + perOrder x rate` (least squares). The slope is
// what one more order per second costs that component, whatever its idle cost on this machine (timers,
// polls, a cluster's membership and queue scans); the plan scales the slope, and counts the fixed part
// once per instance.

/** One step of the orders phase: its completed rate and the CPU seconds each group used over its wall time. */
export interface MeasuredStep {
  completedPerSec: number;
  wallSeconds: number;
  cpuSecondsByGroup: Record<string, number>;
}

export interface ComponentCost {
  group: string;
  /** Marginal CPU per order, ms. */
  msPerOrder: number;
  /** Cores the component uses with no orders (the fit's intercept, at least 0). */
  fixedCores: number;
}

/** Least-squares line through (rate, cores) of every step; groups that used no CPU are left out. */
export function fitComponentCosts(steps: MeasuredStep[]): ComponentCost[] {
  if (steps.length < 2) throw new Error('a fit needs at least two steps at different rates');
  const groups = [...new Set(steps.flatMap((s) => Object.keys(s.cpuSecondsByGroup)))];
  const xs = steps.map((s) => s.completedPerSec);
  const meanX = xs.reduce((a, x) => a + x, 0) / xs.length;
  const varX = xs.reduce((a, x) => a + (x - meanX) ** 2, 0);
  if (varX === 0) throw new Error('a fit needs steps at different rates');
  const costs: ComponentCost[] = [];
  for (const group of groups) {
    const ys = steps.map((s) => (s.cpuSecondsByGroup[group] ?? 0) / s.wallSeconds);
    if (ys.every((y) => y === 0)) continue;
    const meanY = ys.reduce((a, y) => a + y, 0) / ys.length;
    const slope = xs.reduce((a, x, i) => a + (x - meanX) * (ys[i]! - meanY), 0) / varX;
    costs.push({ group, msPerOrder: Math.max(0, slope * 1000), fixedCores: Math.max(0, meanY - slope * meanX) });
  }
  return costs;
}

/** Cores a component needs for `ordersPerSec`, kept at most `busy` (0-1) busy, fixed part included once. */
export function coresFor(cost: ComponentCost, ordersPerSec: number, busy: number): number {
  return (cost.fixedCores + (cost.msPerOrder / 1000) * ordersPerSec) / busy;
}
