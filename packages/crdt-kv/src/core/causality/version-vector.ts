/**
 * Version vectors (Parker et al. 1983; the survey in Preguiça et al.
 * "Dotted Version Vectors", §2): one counter per replica, summarising a
 * causal history that has no gaps. Immutable values: every operation returns
 * a new vector.
 */
import type { Dot } from "./dot.ts";

/** replica id -> highest counter seen; absent means 0. */
export type VersionVector = ReadonlyMap<string, number>;

/** How two causal histories relate. */
export type Ordering = "equal" | "before" | "after" | "concurrent";

/** The empty vector (the bottom: no events seen). */
export function emptyVector(): VersionVector {
  return new Map();
}

/** The entry for `node`, 0 when absent. */
export function vvGet(vv: VersionVector, node: string): number {
  return vv.get(node) ?? 0;
}

/** A copy with `node`'s entry incremented; returns the new vector and the dot it names. */
export function vvIncrement(vv: VersionVector, node: string): { vv: VersionVector; dot: Dot } {
  const counter = vvGet(vv, node) + 1;
  const next = new Map(vv);
  next.set(node, counter);
  return { vv: next, dot: { node, counter } };
}

/** Pointwise maximum: the join of the two histories. */
export function vvJoin(a: VersionVector, b: VersionVector): VersionVector {
  const out = new Map(a);
  for (const [node, n] of b) if (n > (out.get(node) ?? 0)) out.set(node, n);
  return out;
}

/** True when every entry of `a` is <= the one in `b` (a's history is contained in b's). */
export function vvLeq(a: VersionVector, b: VersionVector): boolean {
  for (const [node, n] of a) if (n > (b.get(node) ?? 0)) return false;
  return true;
}

/** Compares two histories: equal, a before b, a after b, or concurrent. */
export function vvCompare(a: VersionVector, b: VersionVector): Ordering {
  const le = vvLeq(a, b);
  const ge = vvLeq(b, a);
  if (le && ge) return "equal";
  if (le) return "before";
  if (ge) return "after";
  return "concurrent";
}

/** True when the history summarised by `vv` contains the event `dot`. */
export function vvCovers(vv: VersionVector, dot: Dot): boolean {
  return (vv.get(dot.node) ?? 0) >= dot.counter;
}

/** Entries sorted by replica id, for encodings and printing. */
export function vvEntries(vv: VersionVector): Array<[string, number]> {
  return [...vv].filter(([, n]) => n > 0).sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
}

/** A plain object {replica: counter}, for JSON output (status endpoints). */
export function vvToObject(vv: VersionVector): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [node, n] of vvEntries(vv)) out[node] = n;
  return out;
}
