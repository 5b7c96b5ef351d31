/**
 * Grow-only map from string keys to any lattice (Almeida et al. §4.3 "map
 * embedding"): the join is per key, keys never leave. A key's
 * irreducibles are the embedded value's irreducibles placed under that key,
 * so Δ works key by key. The bench's "GMap K%" workload is a GMap of LWW
 * registers; the LWW-element-set below is a GMap as well.
 */
import type { Lattice } from "./lattice.ts";

/** key -> embedded state; a key present always holds a non-bottom value. */
export type GMapState<V> = ReadonlyMap<string, V>;

/** Builds the GMap lattice over an embedded lattice. */
export function gmapLattice<V>(inner: Lattice<V>): Lattice<GMapState<V>> & {
  /** Delta mutator: apply `mutator` (an embedded delta mutator) to `key`'s value. */
  apply(s: GMapState<V>, key: string, mutator: (value: V) => V): GMapState<V>;
  /** The embedded value at `key` (bottom when absent). */
  get(s: GMapState<V>, key: string): V;
} {
  const lattice = {
    name: `gmap<${inner.name}>`,
    bottom: (): GMapState<V> => new Map(),
    isBottom: (s: GMapState<V>): boolean => s.size === 0,
    join(a: GMapState<V>, b: GMapState<V>): GMapState<V> {
      if (b.size === 0) return a;
      if (a.size === 0) return b;
      const out = new Map(a);
      for (const [k, v] of b) {
        const mine = out.get(k);
        out.set(k, mine === undefined ? v : inner.join(mine, v));
      }
      return out;
    },
    leq(a: GMapState<V>, b: GMapState<V>): boolean {
      for (const [k, v] of a) {
        const theirs = b.get(k);
        if (theirs === undefined ? !inner.isBottom(v) : !inner.leq(v, theirs)) return false;
      }
      return true;
    },
    equals: (a: GMapState<V>, b: GMapState<V>): boolean => a.size === b.size && lattice.leq(a, b) && lattice.leq(b, a),
    decompose(s: GMapState<V>): Array<GMapState<V>> {
      const out: Array<GMapState<V>> = [];
      for (const [k, v] of s) for (const irr of inner.decompose(v)) out.push(new Map([[k, irr]]));
      return out;
    },
    delta(a: GMapState<V>, b: GMapState<V>): GMapState<V> {
      const out = new Map<string, V>();
      for (const [k, v] of a) {
        const theirs = b.get(k);
        const d = theirs === undefined ? v : inner.delta(v, theirs);
        if (!inner.isBottom(d)) out.set(k, d);
      }
      return out;
    },
    encode: (s: GMapState<V>): unknown =>
      [...s.keys()].sort().map((k) => [k, inner.encode(s.get(k)!)]),
    apply(s: GMapState<V>, key: string, mutator: (value: V) => V): GMapState<V> {
      const d = mutator(s.get(key) ?? inner.bottom());
      return inner.isBottom(d) ? new Map() : new Map([[key, d]]);
    },
    get: (s: GMapState<V>, key: string): V => s.get(key) ?? inner.bottom(),
  };
  return lattice;
}
