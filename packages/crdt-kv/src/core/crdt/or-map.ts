/**
 * Observed-remove map of embedded causal CRDTs (Almeida et al. §7.3 ORMap).
 * Every embedded value (an MV register, an AWOR set, another map) keeps its
 * dots in the map's single shared causal context, so:
 *
 * - updating a key is the embedded type's own delta mutator run against
 *   (the key's store, the shared context), then placed under the key;
 * - removing a key is a delta with no store and, as context, the dots the
 *   key holds here: after the join those dots are seen but gone, which *is*
 *   the removal. No tombstone stays behind, and a key whose store becomes
 *   empty disappears from the map (DotMap join prunes it);
 * - a concurrent update elsewhere made new dots the remover never saw, so the
 *   key survives with just that update (observed-remove, add-wins).
 *
 * The KV store (src/core/store/kv-state.ts) is this map over MV registers,
 * specialised for in-place joins; the property tests check it against this
 * generic version.
 */
import { CausalContext } from "../causality/causal-context.ts";
import { causalLattice, dotMapKind, storeContext, type Causal, type DotMap, type DotStoreKind } from "./dot-store.ts";
import type { Lattice } from "./lattice.ts";

/** Builds the OR-map lattice embedding the causal type whose store shape is `inner`. */
export function orMapLattice<S>(inner: DotStoreKind<S>, name = `or-map<${inner.name}>`): Lattice<Causal<DotMap<S>>> & {
  /** Delta mutator: run an embedded delta mutator on `key` (it sees the key's store and the shared context). */
  apply(s: Causal<DotMap<S>>, key: string, mutator: (value: Causal<S>) => Causal<S>): Causal<DotMap<S>>;
  /** Delta mutator: remove `key` (its observed dots go into the context, nothing into the store). */
  remove(s: Causal<DotMap<S>>, key: string): Causal<DotMap<S>>;
  /** The embedded state at `key`, with the shared context. */
  get(s: Causal<DotMap<S>>, key: string): Causal<S>;
  /** The keys present, sorted. */
  keys(s: Causal<DotMap<S>>): string[];
} {
  const kind = dotMapKind(inner);
  const lattice = causalLattice(kind, name);
  return {
    ...lattice,
    apply(s, key, mutator) {
      const d = mutator({ store: s.store.get(key) ?? inner.bottom(), cc: s.cc });
      const store = inner.isBottom(d.store) ? new Map<string, S>() : new Map([[key, d.store]]);
      return { store, cc: d.cc };
    },
    remove(s, key) {
      const old = s.store.get(key);
      return { store: new Map(), cc: old === undefined ? new CausalContext() : storeContext(inner, old) };
    },
    get: (s, key) => ({ store: s.store.get(key) ?? inner.bottom(), cc: s.cc }),
    keys: (s) => [...s.store.keys()].sort(),
  };
}
