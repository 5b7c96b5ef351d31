/**
 * Last-writer-wins register (Shapiro et al. 2011 §3.2.1; Johnson & Thomas
 * 1976). Each write carries a timestamp chosen by the writer; the join keeps
 * the write with the greatest timestamp. Ties must still be broken the same
 * way on every replica or the join would not commute, so the full order is:
 *
 *   1. the timestamp (larger wins);
 *   2. a delete beats a write with the same timestamp (Cassandra's rule: a
 *      remove and an add at the same instant resolve to "gone" everywhere);
 *   3. the writer's replica id (larger wins);
 *   4. the canonical JSON of the value (larger wins), so even one replica
 *      writing twice at the same timestamp resolves identically everywhere.
 *
 * Timestamps come from the caller (a wall clock, or a check time in v2), so
 * a stale writer can never overwrite a newer observation: its write simply
 * loses the join. The delta of a write is the write itself.
 */
import { canonicalJson, type Json } from "../json.ts";
import type { Lattice } from "./lattice.ts";

/** One write: a value, or a delete marker (a timestamped tombstone, as in roshi's remove set). */
export type LwwWrite<V> =
  | { readonly ts: number; readonly node: string; readonly deleted: false; readonly value: V }
  | { readonly ts: number; readonly node: string; readonly deleted: true };

/** A register: the winning write, or null (bottom: never written). */
export type LwwState<V> = LwwWrite<V> | null;

/** Total order on writes; > 0 when `a` wins over `b`. See the file comment for the four keys. */
export function compareLww<V>(a: LwwWrite<V>, b: LwwWrite<V>): number {
  if (a.ts !== b.ts) return a.ts > b.ts ? 1 : -1;
  if (a.deleted !== b.deleted) return a.deleted ? 1 : -1;
  if (a.node !== b.node) return a.node > b.node ? 1 : -1;
  if (a.deleted || b.deleted) return 0;
  const x = canonicalJson(a.value);
  const y = canonicalJson(b.value);
  return x === y ? 0 : x > y ? 1 : -1;
}

function checkTs(ts: number): void {
  if (!Number.isFinite(ts)) throw new RangeError(`LWW timestamp must be a finite number, got ${ts}`);
}

/** The LWW register lattice over JSON values, with its delta mutators. */
export const LwwRegister = {
  name: "lww-register",
  bottom: (): LwwState<Json> => null,
  isBottom: (s: LwwState<Json>): boolean => s === null,
  join(a: LwwState<Json>, b: LwwState<Json>): LwwState<Json> {
    if (a === null) return b;
    if (b === null) return a;
    return compareLww(a, b) >= 0 ? a : b;
  },
  leq(a: LwwState<Json>, b: LwwState<Json>): boolean {
    if (a === null) return true;
    if (b === null) return false;
    return compareLww(a, b) <= 0;
  },
  equals: (a: LwwState<Json>, b: LwwState<Json>): boolean => (a === null || b === null ? a === b : compareLww(a, b) === 0),
  // A total order is a chain: every non-bottom element is join-irreducible.
  decompose: (s: LwwState<Json>): Array<LwwState<Json>> => (s === null ? [] : [s]),
  delta: (a: LwwState<Json>, b: LwwState<Json>): LwwState<Json> => (LwwRegister.leq(a, b) ? null : a),
  encode: (s: LwwState<Json>): unknown => s,
  /** Delta mutator: write `value` at time `ts` from `node`. Returns bottom when the write already lost. */
  write(s: LwwState<Json>, value: Json, ts: number, node: string): LwwState<Json> {
    checkTs(ts);
    const w: LwwWrite<Json> = { ts, node, deleted: false, value };
    return s !== null && compareLww(s, w) >= 0 ? null : w;
  },
  /** Delta mutator: delete at time `ts` (a timestamped tombstone). Bottom when it already lost. */
  remove(s: LwwState<Json>, ts: number, node: string): LwwState<Json> {
    checkTs(ts);
    const w: LwwWrite<Json> = { ts, node, deleted: true };
    return s !== null && compareLww(s, w) >= 0 ? null : w;
  },
  /** The current value, undefined when never written or deleted. */
  value: (s: LwwState<Json>): Json | undefined => (s === null || s.deleted ? undefined : s.value),
} satisfies Lattice<LwwState<Json>> & Record<string, unknown>;
