/**
 * Grow-only counter (Shapiro et al. 2011; delta version: Almeida et al.
 * §4.1). One entry per replica, each replica only increments its own; the
 * value is the sum and the join is the pointwise maximum. The delta of an
 * increment is the single updated entry, so shipping it costs one pair no
 * matter how many replicas exist.
 */
import type { Lattice } from "./lattice.ts";

/** replica -> how many increments it made. */
export type GCounterState = ReadonlyMap<string, number>;

function sorted(s: GCounterState): Array<[string, number]> {
  return [...s].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** The grow-only counter lattice and its delta mutator. */
export const GCounter = {
  name: "gcounter",
  bottom: (): GCounterState => new Map(),
  isBottom: (s: GCounterState): boolean => s.size === 0,
  join(a: GCounterState, b: GCounterState): GCounterState {
    const out = new Map(a);
    for (const [k, v] of b) if (v > (out.get(k) ?? 0)) out.set(k, v);
    return out;
  },
  leq(a: GCounterState, b: GCounterState): boolean {
    for (const [k, v] of a) if (v > (b.get(k) ?? 0)) return false;
    return true;
  },
  equals(a: GCounterState, b: GCounterState): boolean {
    return a.size === b.size && GCounter.leq(a, b);
  },
  decompose: (s: GCounterState): GCounterState[] => [...s].map(([k, v]) => new Map([[k, v]])),
  delta(a: GCounterState, b: GCounterState): GCounterState {
    const out = new Map<string, number>();
    for (const [k, v] of a) if (v > (b.get(k) ?? 0)) out.set(k, v);
    return out;
  },
  encode: (s: GCounterState): unknown => sorted(s),
  /** Delta mutator: `node` adds `by` (> 0); the delta is its new entry alone. */
  increment(s: GCounterState, node: string, by = 1): GCounterState {
    if (!(Number.isSafeInteger(by) && by > 0)) throw new RangeError(`GCounter.increment: by must be a positive integer, got ${by}`);
    return new Map([[node, (s.get(node) ?? 0) + by]]);
  },
  /** The counter's value: the sum of all entries. */
  value(s: GCounterState): number {
    let n = 0;
    for (const v of s.values()) n += v;
    return n;
  },
} satisfies Lattice<GCounterState> & Record<string, unknown>;
