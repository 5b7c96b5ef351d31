/**
 * Combining the figures of one scenario run with several seeds: every number
 * becomes the median over the seeds (the house rule: quote medians), arrays
 * of numbers element by element, a boolean holds only if it held for every
 * seed. Safety results are not medians: they are kept per seed (see
 * {@link SeedCheck}) so one bad seed cannot hide behind the others.
 */
import { median } from "./stats.ts";

/** The median, element-wise and field-wise, of values of the same shape. */
export function deepMedian<T>(values: readonly T[]): T {
  if (values.length === 0) throw new RangeError("deepMedian: no values");
  if (values.length === 1) return values[0]!;
  return combine(values as unknown[]) as T;
}

function combine(vs: unknown[]): unknown {
  const present = vs.filter((v) => v !== null && v !== undefined);
  if (present.length === 0) return vs[0];
  const first = present[0];
  if (typeof first === "number") {
    const m = median(present.filter((v): v is number => typeof v === "number" && Number.isFinite(v)));
    return Number.isFinite(m) ? Number(m.toFixed(4)) : first;
  }
  if (typeof first === "boolean") {
    // A property holds for the scenario only if it held for every seed that measured it.
    return present.every((v) => v === true);
  }
  if (typeof first === "string") return first;
  if (Array.isArray(first)) {
    const len = Math.min(...present.map((v) => (v as unknown[]).length));
    return Array.from({ length: len }, (_, i) => combine(present.map((v) => (v as unknown[])[i])));
  }
  if (typeof first === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(first as object)) out[k] = combine(present.map((v) => (v as Record<string, unknown>)[k]));
    return out;
  }
  return first;
}
