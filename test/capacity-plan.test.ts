import { coresFor, fitComponentCosts, type MeasuredStep } from '../bench/lib/capacity';

// The capacity plan's fit (bench/lib/capacity.ts): marginal CPU per order and idle cost per component.
describe('capacity plan from measured steps', () => {
  const step = (rate: number, api: number, temporal: number): MeasuredStep => ({
    completedPerSec: rate,
    wallSeconds: 20,
    cpuSecondsByGroup: { api: api * 20, temporal: temporal * 20, idle: 0 },
  });

  it('finds each component’s cost per order and its cost with no orders', () => {
    // api: 0.05 cores idle + 10 ms per order; temporal: 0.2 cores idle + 40 ms per order.
    const costs = fitComponentCosts([step(2, 0.07, 0.28), step(4, 0.09, 0.36), step(8, 0.13, 0.52)]);
    const byGroup = Object.fromEntries(costs.map((c) => [c.group, c]));
    expect(Object.keys(byGroup).sort()).toEqual(['api', 'temporal']);
    expect(byGroup.api!.msPerOrder).toBeCloseTo(10, 6);
    expect(byGroup.api!.fixedCores).toBeCloseTo(0.05, 6);
    expect(byGroup.temporal!.msPerOrder).toBeCloseTo(40, 6);
    expect(byGroup.temporal!.fixedCores).toBeCloseTo(0.2, 6);
    // 100 orders/s at 50 % busy: (0.2 + 0.04 x 100) / 0.5 = 8.4 cores.
    expect(coresFor(byGroup.temporal!, 100, 0.5)).toBeCloseTo(8.4, 6);
  });

  it('refuses a fit it cannot make', () => {
    expect(() => fitComponentCosts([step(2, 0.1, 0.1)])).toThrow('at least two steps');
    expect(() => fitComponentCosts([step(2, 0.1, 0.1), step(2, 0.2, 0.2)])).toThrow('different rates');
  });
});
