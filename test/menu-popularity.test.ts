import { judge, popularMenuPaths, seededRandom, zipfSampler, type PopularityRun } from '../bench/menu-popularity';
import type { HttpRun } from '../bench/lib/http-load';

// The benchmark's draws of which restaurant a menu read asks for (bench/menu-popularity.ts).

describe('menu popularity draws', () => {
  it('zipf (s = 1) gives rank k a share of about 1/(k H_n)', () => {
    const n = 1000;
    const draws = 200_000;
    const pick = zipfSampler(n, 1, seededRandom(1));
    const counts = new Array<number>(n).fill(0);
    for (let i = 0; i < draws; i++) counts[pick()]! += 1;
    let harmonic = 0;
    for (let k = 1; k <= n; k++) harmonic += 1 / k;
    for (const k of [1, 2, 10, 100]) {
      const expected = draws / (k * harmonic);
      expect(Math.abs(counts[k - 1]! - expected) / expected).toBeLessThan(k === 100 ? 0.25 : 0.05);
    }
    // Every rank is a valid index; the tail is drawn too.
    expect(counts.reduce((a, b) => a + b, 0)).toBe(draws);
    expect(counts.slice(n / 2).reduce((a, b) => a + b, 0)).toBeGreaterThan(0.05 * draws);
  });

  it('is the same for the same seed, popular restaurants are not the first ids, uniform reaches every restaurant', () => {
    const restaurants = Array.from({ length: 500 }, (_, i) => `rst_${String(i + 1).padStart(4, '0')}`);
    const take = (next: () => string, n: number) => Array.from({ length: n }, next);
    expect(take(popularMenuPaths(restaurants, 'zipf'), 50)).toEqual(take(popularMenuPaths(restaurants, 'zipf'), 50));
    const zipf = take(popularMenuPaths(restaurants, 'zipf'), 20_000);
    const top = [...zipf.reduce((m, p) => m.set(p, (m.get(p) ?? 0) + 1), new Map<string, number>())].sort((a, b) => b[1] - a[1])[0]![0];
    expect(top).not.toBe('/restaurants/rst_0001/menu');
    const uniform = new Set(take(popularMenuPaths(restaurants, 'uniform'), 20_000));
    expect(uniform.size).toBe(500);
  });

  describe('the Zipf target', () => {
    const http = (requestsPerSec: number, p99Ms: number): HttpRun => ({
      label: 'x',
      connections: 4,
      seconds: 10,
      requestsPerSec,
      p50Ms: 1,
      p90Ms: 1,
      p99Ms,
      maxMs: p99Ms,
      non2xx: 0,
      errors: 0,
      timeouts: 0,
    });
    const run = (connections: number, zipfCold: number, zipfWarm?: number, warmP99 = 10): PopularityRun => ({
      connections,
      healthz: http(4000, 5),
      zipf: http(zipfCold * 4000, 10),
      ...(zipfWarm === undefined ? {} : { zipfWarm: http(zipfWarm * 4000, warmP99), zipfWarmRatio: zipfWarm }),
      uniform: http(1600, 10),
      zipfRatio: zipfCold,
      uniformRatio: 0.4,
      cacheHitRatio: { zipf: 0.5, uniform: 0.03 },
    });

    it('is judged on the warm window when there is one, and keeps the cold figure beside it', () => {
      const t = judge([run(4, 0.47, 0.62), run(16, 0.44, 0.7, 25)], 400);
      // The 16-connection warm run has the better ratio but misses the p99: the 4-connection one counts.
      expect(t.zipf).toEqual({ ratio: 0.62, connections: 4, met: true, basis: 'warm' });
      expect(t.zipfCold).toEqual({ ratio: 0.47, connections: 4 });
    });

    it('is judged cold without a warm-up', () => {
      const t = judge([run(4, 0.47), run(16, 0.44)], 400);
      expect(t.zipf).toEqual({ ratio: 0.47, connections: 4, met: false, basis: 'cold' });
    });
  });
});
