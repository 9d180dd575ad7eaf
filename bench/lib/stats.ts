// Small statistics helpers shared by the benchmarks.

/** Nearest-rank percentile of an ascending array (NaN when empty). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function summarize(values: number[]): { n: number; p50: number; p90: number; p99: number; max: number; mean: number } {
  const s = [...values].sort((a, b) => a - b);
  const mean = s.length === 0 ? NaN : s.reduce((a, b) => a + b, 0) / s.length;
  return { n: s.length, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s[s.length - 1] ?? NaN, mean };
}

export const round = (v: number, digits = 0): number => (Number.isFinite(v) ? Number(v.toFixed(digits)) : v);

/** One sample of a Prometheus text exposition: name, labels, value. */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parsePrometheus(text: string): PromSample[] {
  const out: PromSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[3]) for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[4]) });
  }
  return out;
}

export async function scrape(url: string): Promise<PromSample[]> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return parsePrometheus(await res.text());
}

/** Sum of the samples named `name` whose labels include `match`. */
export function sumOf(samples: PromSample[], name: string, match: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}

/** Cumulative histogram buckets (le → count) of `name`, summed over label sets that include `match`. */
export function histogramBuckets(samples: PromSample[], name: string, match: Record<string, string> = {}): Map<number, number> {
  const buckets = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket` || !Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + s.value);
  }
  return buckets;
}

/** The observations between two scrapes of one histogram: after − before, per bucket. */
export function bucketDelta(before: Map<number, number>, after: Map<number, number>): Map<number, number> {
  const d = new Map<number, number>();
  for (const [le, v] of after) d.set(le, v - (before.get(le) ?? 0));
  return d;
}

/**
 * Quantile of a cumulative histogram, interpolating linearly inside the bucket (as Prometheus'
 * histogram_quantile does). Returns the bucket's upper bound when it is open-ended.
 */
export function histogramQuantile(cumulative: Map<number, number>, q: number): number {
  const les = [...cumulative.keys()].sort((a, b) => a - b);
  const total = cumulative.get(Infinity) ?? cumulative.get(les[les.length - 1]!) ?? 0;
  if (total <= 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const le of les) {
    const count = cumulative.get(le)!;
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + (le - prevLe) * ((rank - prevCount) / Math.max(1e-9, count - prevCount));
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

/** Fraction of observations at or below `le` (an exact bucket bound). */
export function fractionAtOrBelow(cumulative: Map<number, number>, le: number): number {
  const total = cumulative.get(Infinity) ?? 0;
  return total > 0 ? (cumulative.get(le) ?? NaN) / total : NaN;
}
