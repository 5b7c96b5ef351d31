/**
 * The causal context of a delta-state causal CRDT (Almeida, Shoker, Baquero,
 * "Delta state replicated data types", JPDC 2018, §5 and §7.1): the set of
 * every dot a replica has seen, whether its value is still alive or was
 * overwritten or removed. Keeping the context is what lets removals leave no
 * tombstones: a dot in the context but not in the store *is* the removal.
 *
 * Representation: per replica an {@link IntervalSet}. Its first run, when it
 * starts at 1, is the compact version-vector entry; the later runs are the
 * dot cloud (dots seen out of order, e.g. through a digest sync or a delta
 * that skipped ahead). Adding a dot that closes a gap merges runs, which is
 * the paper's compaction; it happens on every insert, so the context never
 * needs a separate compaction pass.
 */
import { IntervalSet } from "./interval-set.ts";
import { isValidNodeId, type Dot } from "./dot.ts";
import { fail, isInt, isObject, ok, type Decoded } from "../result.ts";
import type { VersionVector } from "./version-vector.ts";

/** JSON form: replica -> [vectorEntry, lo1, hi1, lo2, hi2, ...] (cloud runs after the vector entry). */
export type EncodedContext = Record<string, number[]>;

/** A causal context: the set of dots seen, as compact vector + dot cloud. Mutable; clone before sharing. */
export class CausalContext {
  private readonly byNode: Map<string, IntervalSet>;

  constructor(byNode: Map<string, IntervalSet> = new Map()) {
    this.byNode = byNode;
  }

  /** A context containing exactly these dots. */
  static fromDots(dots: Iterable<Dot>): CausalContext {
    const cc = new CausalContext();
    for (const d of dots) cc.add(d);
    return cc;
  }

  /** A context equal to a version vector (no cloud). */
  static fromVector(vv: VersionVector): CausalContext {
    const cc = new CausalContext();
    for (const [node, n] of vv) if (n > 0) cc.byNode.set(node, IntervalSet.prefix(n));
    return cc;
  }

  /** True when the dot has been seen. */
  contains(dot: Dot): boolean {
    const s = this.byNode.get(dot.node);
    return s !== undefined && s.has(dot.counter);
  }

  /** Same as `contains`, without building a Dot. */
  has(node: string, counter: number): boolean {
    const s = this.byNode.get(node);
    return s !== undefined && s.has(counter);
  }

  /** Adds a dot (mutates); closing a gap compacts the cloud into the vector. */
  add(dot: Dot): void {
    let s = this.byNode.get(dot.node);
    if (s === undefined) {
      s = new IntervalSet();
      this.byNode.set(dot.node, s);
    }
    s.add(dot.counter);
  }

  /** Adds a whole run of dots of one replica (mutates). */
  addRange(node: string, lo: number, hi: number): void {
    let s = this.byNode.get(node);
    if (s === undefined) {
      s = new IntervalSet();
      this.byNode.set(node, s);
    }
    s.addRange(lo, hi);
  }

  /**
   * The next dot for `node` (its highest counter seen plus one), added to the
   * context. Only the replica `node` itself may call this for its own id, so
   * its own dots are always gap-free and unique (Almeida et al. §7.1 `next`).
   */
  nextDot(node: string): Dot {
    const counter = this.max(node) + 1;
    const dot = { node, counter };
    this.add(dot);
    return dot;
  }

  /** The highest counter seen from `node` (0 if none). */
  max(node: string): number {
    return this.byNode.get(node)?.max() ?? 0;
  }

  /** The compact version vector: for each replica, n such that dots 1..n are all seen. */
  vector(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [node, s] of this.byNode) {
      const n = s.prefixEnd();
      if (n > 0) out.set(node, n);
    }
    return out;
  }

  /** The dot cloud: dots seen beyond the compact vector, as runs per replica. */
  cloud(): Map<string, Array<[number, number]>> {
    const out = new Map<string, Array<[number, number]>>();
    for (const [node, s] of this.byNode) {
      const runs = s.runs().filter(([lo]) => lo !== 1);
      if (runs.length > 0) out.set(node, runs);
    }
    return out;
  }

  /** The replicas with at least one dot. */
  nodes(): IterableIterator<string> {
    return this.byNode.keys();
  }

  /** The dots of one replica as an interval set (shared; do not mutate). */
  dotsOf(node: string): IntervalSet | undefined {
    return this.byNode.get(node);
  }

  /** Every dot, in replica then counter order. Beware of large contexts. */
  *dots(): IterableIterator<Dot> {
    for (const node of [...this.byNode.keys()].sort()) {
      for (const counter of this.byNode.get(node)!.values()) yield { node, counter };
    }
  }

  /** How many dots the context holds. */
  dotCount(): number {
    let n = 0;
    for (const s of this.byNode.values()) n += s.size();
    return n;
  }

  /** True when the context holds no dot (the bottom). */
  isEmpty(): boolean {
    for (const s of this.byNode.values()) if (!s.isEmpty()) return false;
    return true;
  }

  /** A deep copy. */
  clone(): CausalContext {
    const m = new Map<string, IntervalSet>();
    for (const [node, s] of this.byNode) m.set(node, s.clone());
    return new CausalContext(m);
  }

  /** Union into this context (mutates): the join of causal contexts. */
  joinInto(other: CausalContext): void {
    for (const [node, s] of other.byNode) {
      const mine = this.byNode.get(node);
      if (mine === undefined) this.byNode.set(node, s.clone());
      else mine.unionInto(s);
    }
  }

  /** A new context, the union of both. */
  join(other: CausalContext): CausalContext {
    const out = this.clone();
    out.joinInto(other);
    return out;
  }

  /** A new context: the dots of this one that `other` has not seen. */
  difference(other: CausalContext): CausalContext {
    const m = new Map<string, IntervalSet>();
    for (const [node, s] of this.byNode) {
      const o = other.byNode.get(node);
      const d = o === undefined ? s.clone() : s.difference(o);
      if (!d.isEmpty()) m.set(node, d);
    }
    return new CausalContext(m);
  }

  /** True when every dot of this context is in `other`. */
  isSubsetOf(other: CausalContext): boolean {
    for (const [node, s] of this.byNode) {
      if (s.isEmpty()) continue;
      const o = other.byNode.get(node);
      if (o === undefined || !s.isSubsetOf(o)) return false;
    }
    return true;
  }

  /** Same set of dots. */
  equals(other: CausalContext): boolean {
    return this.isSubsetOf(other) && other.isSubsetOf(this);
  }

  /** JSON form, replicas sorted: {a: [5, 7, 9]} is vector entry 5 plus the cloud run 7..9. */
  encode(): EncodedContext {
    const out: EncodedContext = {};
    for (const node of [...this.byNode.keys()].sort()) {
      const s = this.byNode.get(node)!;
      if (s.isEmpty()) continue;
      const arr: number[] = [s.prefixEnd()];
      for (const [lo, hi] of s.runs()) if (lo !== 1) arr.push(lo, hi);
      out[node] = arr;
    }
    return out;
  }

  /** Validates and decodes {@link encode}'s output; `field` prefixes error messages. */
  static decode(json: unknown, field = "cc"): Decoded<CausalContext> {
    if (!isObject(json)) return fail(`${field}: expected an object of replica -> [vector, lo, hi, ...]`);
    const m = new Map<string, IntervalSet>();
    for (const [node, arr] of Object.entries(json)) {
      if (!isValidNodeId(node)) return fail(`${field}: bad replica id ${JSON.stringify(node)}`);
      if (!Array.isArray(arr) || arr.length % 2 !== 1) return fail(`${field}.${node}: expected [vector, lo, hi, ...] (odd length)`);
      if (!isInt(arr[0])) return fail(`${field}.${node}[0]: vector entry must be an integer >= 0`);
      const s = IntervalSet.prefix(arr[0]);
      let prevHi = arr[0];
      for (let i = 1; i < arr.length; i += 2) {
        const lo = arr[i];
        const hi = arr[i + 1];
        if (!isInt(lo, 1) || !isInt(hi, 1) || hi < lo) return fail(`${field}.${node}: run [${String(lo)}, ${String(hi)}] is not an ascending pair of integers >= 1`);
        if (lo <= prevHi + 1) return fail(`${field}.${node}: runs must be ascending with gaps (run starting ${lo} after ${prevHi})`);
        s.addRange(lo, hi);
        prevHi = hi;
      }
      if (!s.isEmpty()) m.set(node, s);
    }
    return ok(new CausalContext(m));
  }
}
