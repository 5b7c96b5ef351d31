/**
 * Add-wins observed-remove set (Almeida et al. §7.2, AWORSet; the ORSWOT of
 * Riak without tombstones). Each add tags the element with a fresh dot; a
 * remove deletes the dots it has observed. A concurrent add carries a dot the
 * remover never saw, so it survives: add wins. A remove of an element the
 * replica never saw has no dots to delete, so it does nothing.
 */
import { CausalContext } from "../causality/causal-context.ts";
import { dotKey } from "../causality/dot.ts";
import { causalLattice, DotSetKind, dotMapKind, nextDot, storeContext, type Causal, type DotMap, type DotSet } from "./dot-store.ts";

/** element -> the dots of its live adds. */
export type AworSetState = Causal<DotMap<DotSet>>;

const kind = dotMapKind(DotSetKind);
const lattice = causalLattice(kind, "awor-set");

/** The AWOR-set lattice and its delta mutators. */
export const AworSet = {
  ...lattice,
  /** Delta mutator: `node` adds `element`, replacing the dots it has seen for it with one new dot. */
  add(s: AworSetState, element: string, node: string): AworSetState {
    const dot = nextDot(s.cc, node);
    const old = s.store.get(element) ?? new Set<string>();
    const cc = storeContext(DotSetKind, old);
    cc.add(dot);
    return { store: new Map([[element, new Set([dotKey(dot)])]]), cc };
  },
  /** Delta mutator: remove the observed dots of `element` (bottom store, context = those dots). */
  remove(s: AworSetState, element: string): AworSetState {
    const old = s.store.get(element);
    return { store: new Map(), cc: old === undefined ? new CausalContext() : storeContext(DotSetKind, old) };
  },
  /** True when `element` has a live add. */
  has: (s: AworSetState, element: string): boolean => s.store.has(element),
  /** The elements, sorted. */
  elements: (s: AworSetState): string[] => [...s.store.keys()].sort(),
};
