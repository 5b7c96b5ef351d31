/**
 * Dot stores and causal CRDTs (Almeida, Shoker, Baquero, "Delta state
 * replicated data types", JPDC 2018, §7). A causal CRDT is a pair
 * (store, context): the store maps dots to what they wrote, the context is
 * every dot the replica has seen. Three store shapes compose into all the
 * causal types here:
 *
 *   DotSet          a set of dots                      (flags, set members)
 *   DotFun<V>       dot -> immutable value            (MV register siblings)
 *   DotMap<S>       key -> another dot store          (AWOR set, OR-map)
 *
 * and one join rule covers them all: a dot survives the join if both sides
 * still have it, or if one side has it and the other has never seen it. A dot
 * that one side has seen (in its context) but no longer stores was removed
 * there, and removal wins over the stale copy. That is why no tombstone is
 * needed beyond the context. In a DotMap, a key whose embedded store becomes
 * empty is dropped: removed keys leave nothing but dots in the context.
 */
import { CausalContext } from "../causality/causal-context.ts";
import { dotKey, parseDotKey, type Dot } from "../causality/dot.ts";
import { canonicalJson } from "../json.ts";
import type { Lattice } from "./lattice.ts";

/** A set of dots, by dot key ("node:counter"). */
export type DotSet = ReadonlySet<string>;
/** dot key -> the value written with that dot. */
export type DotFun<V> = ReadonlyMap<string, V>;
/** key -> embedded dot store; never holds an empty store. */
export type DotMap<S> = ReadonlyMap<string, S>;

/** The operations the generic causal join needs from a dot-store shape. */
export interface DotStoreKind<S> {
  readonly name: string;
  bottom(): S;
  isBottom(s: S): boolean;
  /** Every dot in the store (dot keys). */
  dots(s: S): Iterable<string>;
  /** The causal join of the stores of (a, ca) and (b, cb) (Almeida et al. §7.1). */
  join(a: S, ca: CausalContext, b: S, cb: CausalContext): S;
  /** The store keeping only the dots for which `keep` is true (empty parts pruned). */
  restrict(s: S, keep: (dot: string) => boolean): S;
  equals(a: S, b: S): boolean;
  encode(s: S): unknown;
}

/** The DotSet shape. */
export const DotSetKind: DotStoreKind<DotSet> = {
  name: "dotset",
  bottom: () => new Set(),
  isBottom: (s) => s.size === 0,
  dots: (s) => s,
  join(a, ca, b, cb) {
    const out = new Set<string>();
    for (const d of a) if (b.has(d) || !cb.contains(parseDotKey(d))) out.add(d);
    for (const d of b) if (!a.has(d) && !ca.contains(parseDotKey(d))) out.add(d);
    return out;
  },
  restrict(s, keep) {
    const out = new Set<string>();
    for (const d of s) if (keep(d)) out.add(d);
    return out;
  },
  equals: (a, b) => a.size === b.size && [...a].every((d) => b.has(d)),
  encode: (s) => [...s].sort(),
};

/** The DotFun shape over immutable values (a dot's value never changes, so either copy will do). */
export function dotFunKind<V>(): DotStoreKind<DotFun<V>> {
  return {
    name: "dotfun",
    bottom: () => new Map(),
    isBottom: (s) => s.size === 0,
    dots: (s) => s.keys(),
    join(a, ca, b, cb) {
      const out = new Map<string, V>();
      for (const [d, v] of a) if (b.has(d) || !cb.contains(parseDotKey(d))) out.set(d, v);
      for (const [d, v] of b) if (!a.has(d) && !ca.contains(parseDotKey(d))) out.set(d, v);
      return out;
    },
    restrict(s, keep) {
      const out = new Map<string, V>();
      for (const [d, v] of s) if (keep(d)) out.set(d, v);
      return out;
    },
    equals: (a, b) => a.size === b.size && [...a].every(([d, v]) => b.has(d) && canonicalJson(b.get(d)) === canonicalJson(v)),
    encode: (s) => [...s.keys()].sort().map((d) => [d, s.get(d)]),
  };
}

/** The DotMap shape embedding `inner` under string keys. */
export function dotMapKind<S>(inner: DotStoreKind<S>): DotStoreKind<DotMap<S>> {
  return {
    name: `dotmap<${inner.name}>`,
    bottom: () => new Map(),
    isBottom: (s) => s.size === 0,
    *dots(s) {
      for (const v of s.values()) yield* inner.dots(v);
    },
    join(a, ca, b, cb) {
      const out = new Map<string, S>();
      const bottom = inner.bottom();
      for (const k of new Set([...a.keys(), ...b.keys()])) {
        const v = inner.join(a.get(k) ?? bottom, ca, b.get(k) ?? bottom, cb);
        if (!inner.isBottom(v)) out.set(k, v); // empty keys are pruned
      }
      return out;
    },
    restrict(s, keep) {
      const out = new Map<string, S>();
      for (const [k, v] of s) {
        const r = inner.restrict(v, keep);
        if (!inner.isBottom(r)) out.set(k, r);
      }
      return out;
    },
    equals: (a, b) => a.size === b.size && [...a].every(([k, v]) => b.has(k) && inner.equals(v, b.get(k)!)),
    encode: (s) => [...s.keys()].sort().map((k) => [k, inner.encode(s.get(k)!)]),
  };
}

/** A causal CRDT state: a dot store and the context of every dot seen. */
export interface Causal<S> {
  readonly store: S;
  readonly cc: CausalContext;
}

/** The set of dots in a store, as a context (for "remove what I have seen" deltas). */
export function storeContext<S>(kind: DotStoreKind<S>, s: S): CausalContext {
  const cc = new CausalContext();
  for (const d of kind.dots(s)) cc.add(parseDotKey(d));
  return cc;
}

/** The next dot `node` would write given context `cc` (does not mutate `cc`). */
export function nextDot(cc: CausalContext, node: string): Dot {
  return { node, counter: cc.max(node) + 1 };
}

/**
 * The lattice of causal CRDTs over a store shape: the generic join, order,
 * decomposition and Δ that AWOR-set, MV-register and OR-map share.
 */
export function causalLattice<S>(kind: DotStoreKind<S>, name: string): Lattice<Causal<S>> {
  const lattice: Lattice<Causal<S>> = {
    name,
    bottom: () => ({ store: kind.bottom(), cc: new CausalContext() }),
    isBottom: (s) => kind.isBottom(s.store) && s.cc.isEmpty(),
    join: (a, b) => ({ store: kind.join(a.store, a.cc, b.store, b.cc), cc: a.cc.join(b.cc) }),
    // a <= b iff b has seen every dot of a, and every dot b still stores that a has seen, a stores too.
    leq(a, b) {
      if (!a.cc.isSubsetOf(b.cc)) return false;
      const aDots = new Set(kind.dots(a.store));
      for (const d of kind.dots(b.store)) if (!aDots.has(d) && a.cc.contains(parseDotKey(d))) return false;
      return true;
    },
    equals: (a, b) => a.cc.equals(b.cc) && kind.equals(a.store, b.store),
    // Irreducibles: one per stored dot ({d -> v}, {d}) and one per removed dot (bottom, {d}).
    decompose(s) {
      const out: Array<Causal<S>> = [];
      const live = new Set(kind.dots(s.store));
      for (const d of live) out.push({ store: kind.restrict(s.store, (x) => x === d), cc: CausalContext.fromDots([parseDotKey(d)]) });
      for (const dot of s.cc.dots()) {
        if (!live.has(dotKey(dot))) out.push({ store: kind.bottom(), cc: CausalContext.fromDots([dot]) });
      }
      return out;
    },
    // Δ(a, b): the dots b has never seen (live ones with their values), plus the
    // removals a knows of for dots b still stores (Enes et al. §IV-B, applied to dots).
    delta(a, b) {
      const unseen = a.cc.difference(b.cc);
      const store = kind.restrict(a.store, (d) => unseen.contains(parseDotKey(d)));
      const cc = unseen;
      const aLive = new Set(kind.dots(a.store));
      for (const d of kind.dots(b.store)) {
        const dot = parseDotKey(d);
        if (!aLive.has(d) && a.cc.contains(dot)) cc.add(dot);
      }
      return { store, cc };
    },
    encode: (s) => ({ store: kind.encode(s.store), cc: s.cc.encode() }),
  };
  return lattice;
}
