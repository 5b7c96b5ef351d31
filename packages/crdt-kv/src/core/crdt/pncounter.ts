/**
 * Positive-negative counter: two grow-only counters, increments and
 * decrements, value = P - N (Shapiro et al. 2011 §3.1.2; Almeida et al. §4.1).
 * A decrement cannot simply lower an entry: a lower entry would lose the
 * join, which is why it needs a second counter that also only grows.
 */
import { GCounter, type GCounterState } from "./gcounter.ts";
import type { Lattice } from "./lattice.ts";

/** Increments in `p`, decrements in `n`. */
export interface PNCounterState {
  readonly p: GCounterState;
  readonly n: GCounterState;
}

/** The PN-counter lattice (product of two GCounters) and its delta mutators. */
export const PNCounter = {
  name: "pncounter",
  bottom: (): PNCounterState => ({ p: new Map(), n: new Map() }),
  isBottom: (s: PNCounterState): boolean => s.p.size === 0 && s.n.size === 0,
  join: (a: PNCounterState, b: PNCounterState): PNCounterState => ({ p: GCounter.join(a.p, b.p), n: GCounter.join(a.n, b.n) }),
  leq: (a: PNCounterState, b: PNCounterState): boolean => GCounter.leq(a.p, b.p) && GCounter.leq(a.n, b.n),
  equals: (a: PNCounterState, b: PNCounterState): boolean => GCounter.equals(a.p, b.p) && GCounter.equals(a.n, b.n),
  // A product lattice decomposes into the irreducibles of each component, the other at bottom.
  decompose: (s: PNCounterState): PNCounterState[] => [
    ...GCounter.decompose(s.p).map((p) => ({ p, n: new Map() })),
    ...GCounter.decompose(s.n).map((n) => ({ p: new Map(), n })),
  ],
  delta: (a: PNCounterState, b: PNCounterState): PNCounterState => ({ p: GCounter.delta(a.p, b.p), n: GCounter.delta(a.n, b.n) }),
  encode: (s: PNCounterState): unknown => ({ p: GCounter.encode(s.p), n: GCounter.encode(s.n) }),
  /** Delta mutator: add `by` (any non-zero integer) at `node`. */
  add(s: PNCounterState, node: string, by: number): PNCounterState {
    if (!(Number.isSafeInteger(by) && by !== 0)) throw new RangeError(`PNCounter.add: by must be a non-zero integer, got ${by}`);
    return by > 0 ? { p: GCounter.increment(s.p, node, by), n: new Map() } : { p: new Map(), n: GCounter.increment(s.n, node, -by) };
  },
  /** P - N. */
  value: (s: PNCounterState): number => GCounter.value(s.p) - GCounter.value(s.n),
} satisfies Lattice<PNCounterState> & Record<string, unknown>;
