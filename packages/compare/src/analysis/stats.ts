/**
 * Small statistics helpers: quantiles, summaries and empirical CDFs. Every
 * figure in the report is computed here from raw samples, so a number in the
 * markdown can be traced back to the JSON it came from.
 */

/** The q-quantile (0..1) of sorted samples, linear interpolation between ranks (Hyndman & Fan type 7, as numpy's default). */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  if (q <= 0) return sorted[0]!;
  if (q >= 1) return sorted[sorted.length - 1]!;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (pos - lo);
}

/** Sorts a copy ascending. */
export function sortedCopy(xs: readonly number[]): number[] {
  return Float64Array.from(xs).sort() as unknown as number[];
}

/** A distribution summary; every field is null when there were no samples. */
export interface Summary {
  count: number;
  mean: number | null;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

/** Rounds to `digits` decimals (JSON stays readable; the markdown formats from these values). */
export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Count, mean, p50, p90, p99 and max of the samples. */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) return { count: 0, mean: null, p50: null, p90: null, p99: null, max: null };
  const s = Array.from(Float64Array.from(samples).sort());
  let sum = 0;
  for (const x of s) sum += x;
  return {
    count: s.length,
    mean: round(sum / s.length),
    p50: round(quantileSorted(s, 0.5)),
    p90: round(quantileSorted(s, 0.9)),
    p99: round(quantileSorted(s, 0.99)),
    max: round(s[s.length - 1]!),
  };
}

/** `points` (x = value, y = cumulative share) of the empirical CDF, at evenly spaced quantiles. */
export function cdfPoints(samples: readonly number[], points = 41): Array<[number, number]> {
  if (samples.length === 0) return [];
  const s = Array.from(Float64Array.from(samples).sort());
  const out: Array<[number, number]> = [];
  for (let i = 0; i < points; i++) {
    const q = i / (points - 1);
    out.push([round(quantileSorted(s, q)), round(q, 4)]);
  }
  return out;
}

/** A share in [0, 1] (null when the denominator is 0). */
export function share(part: number, whole: number): number | null {
  return whole === 0 ? null : round(part / whole, 4);
}

/** The median of a list of numbers (NaN when empty). */
export function median(xs: readonly number[]): number {
  return quantileSorted(Array.from(Float64Array.from(xs).sort()), 0.5);
}
