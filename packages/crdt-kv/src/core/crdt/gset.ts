/**
 * Grow-only set: the join is set union, and each element is its own
 * join-irreducible (Enes et al. §III, the running example). The workload of
 * the transmission experiment (bench/run.ts): each update adds one unique
 * element.
 */
import type { Lattice } from "./lattice.ts";

/** The elements added so far. */
export type GSetState = ReadonlySet<string>;

/** The grow-only set lattice and its delta mutator. */
export const GSet = {
  name: "gset",
  bottom: (): GSetState => new Set(),
  isBottom: (s: GSetState): boolean => s.size === 0,
  join(a: GSetState, b: GSetState): GSetState {
    if (b.size === 0) return a;
    if (a.size === 0) return b;
    const out = new Set(a);
    for (const e of b) out.add(e);
    return out;
  },
  leq(a: GSetState, b: GSetState): boolean {
    if (a.size > b.size) return false;
    for (const e of a) if (!b.has(e)) return false;
    return true;
  },
  equals: (a: GSetState, b: GSetState): boolean => a.size === b.size && GSet.leq(a, b),
  decompose: (s: GSetState): GSetState[] => [...s].map((e) => new Set([e])),
  delta(a: GSetState, b: GSetState): GSetState {
    const out = new Set<string>();
    for (const e of a) if (!b.has(e)) out.add(e);
    return out;
  },
  encode: (s: GSetState): unknown => [...s].sort(),
  /** Delta mutator: the delta of adding `e` is {e}. */
  add: (_s: GSetState, e: string): GSetState => new Set([e]),
} satisfies Lattice<GSetState> & Record<string, unknown>;
