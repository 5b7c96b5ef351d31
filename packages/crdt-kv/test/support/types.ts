/**
 * Test specs for every lattice: its operations, the delta mutator under
 * test, and an independent full-state mutator written from the papers'
 * state-based definitions (not derived from the delta code), so
 * "x ⊔ mδ(x) = m(x)" compares two separate implementations.
 */
import fc from "fast-check";
import { CausalContext } from "../../src/core/causality/causal-context.ts";
import { dotKey, parseDotKey } from "../../src/core/causality/dot.ts";
import { AworSet, type AworSetState } from "../../src/core/crdt/awor-set.ts";
import { DotSetKind, dotFunKind, dotMapKind, type Causal, type DotMap, type DotSet, type DotFun } from "../../src/core/crdt/dot-store.ts";
import { GCounter, type GCounterState } from "../../src/core/crdt/gcounter.ts";
import { gmapLattice, type GMapState } from "../../src/core/crdt/gmap.ts";
import { GSet, type GSetState } from "../../src/core/crdt/gset.ts";
import type { Lattice } from "../../src/core/crdt/lattice.ts";
import { compareLww, LwwRegister, type LwwState } from "../../src/core/crdt/lww-register.ts";
import { LwwSet, type LwwSetState } from "../../src/core/crdt/lww-set.ts";
import { MvRegister, type MvRegisterState } from "../../src/core/crdt/mv-register.ts";
import { orMapLattice } from "../../src/core/crdt/or-map.ts";
import { PNCounter, type PNCounterState } from "../../src/core/crdt/pncounter.ts";
import type { Json } from "../../src/core/json.ts";

export const REPLICAS = ["a", "b", "c"] as const;

/** One lattice under test. */
export interface TypeSpec<S, Op> {
  lattice: Lattice<S>;
  op: fc.Arbitrary<Op>;
  /** The delta mutator under test. */
  delta(s: S, node: string, op: Op): S;
  /** The reference full-state mutator. */
  full(s: S, node: string, op: Op): S;
}

const small = fc.integer({ min: 0, max: 4 });
const elem = fc.constantFrom("x", "y", "z");
const key = fc.constantFrom("k1", "k2", "k3");

// --- grow-only counter ------------------------------------------------------
export const gcounterSpec: TypeSpec<GCounterState, number> = {
  lattice: GCounter,
  op: fc.integer({ min: 1, max: 3 }),
  delta: (s, node, by) => GCounter.increment(s, node, by),
  full: (s, node, by) => new Map(s).set(node, (s.get(node) ?? 0) + by),
};

// --- PN counter --------------------------------------------------------------
export const pncounterSpec: TypeSpec<PNCounterState, number> = {
  lattice: PNCounter,
  op: fc.integer({ min: -3, max: 3 }).filter((n) => n !== 0),
  delta: (s, node, by) => PNCounter.add(s, node, by),
  full: (s, node, by) =>
    by > 0 ? { p: new Map(s.p).set(node, (s.p.get(node) ?? 0) + by), n: s.n } : { p: s.p, n: new Map(s.n).set(node, (s.n.get(node) ?? 0) - by) },
};

// --- grow-only set -----------------------------------------------------------
export const gsetSpec: TypeSpec<GSetState, string> = {
  lattice: GSet,
  op: fc.constantFrom("x", "y", "z", "w"),
  delta: (s, _node, e) => GSet.add(s, e),
  full: (s, _node, e) => new Set(s).add(e),
};

// --- LWW register ------------------------------------------------------------
type LwwOp = { ts: number; del: boolean; value: number };
const lwwOp: fc.Arbitrary<LwwOp> = fc.record({ ts: small, del: fc.boolean(), value: fc.integer({ min: 0, max: 2 }) });
function lwwFull(s: LwwState<Json>, node: string, op: LwwOp): LwwState<Json> {
  const w = op.del ? ({ ts: op.ts, node, deleted: true } as const) : ({ ts: op.ts, node, deleted: false, value: op.value } as const);
  return s === null || compareLww(w, s) > 0 ? w : s;
}
export const lwwSpec: TypeSpec<LwwState<Json>, LwwOp> = {
  lattice: LwwRegister,
  op: lwwOp,
  delta: (s, node, op) => (op.del ? LwwRegister.remove(s, op.ts, node) : LwwRegister.write(s, op.value, op.ts, node)),
  full: lwwFull,
};

// --- GMap of LWW registers -----------------------------------------------------
const gmapLww = gmapLattice(LwwRegister);
type GMapOp = { key: string } & LwwOp;
export const gmapSpec: TypeSpec<GMapState<LwwState<Json>>, GMapOp> = {
  lattice: gmapLww,
  op: fc.record({ key, ts: small, del: fc.boolean(), value: fc.integer({ min: 0, max: 2 }) }),
  delta: (s, node, op) => gmapLww.apply(s, op.key, (r) => lwwSpec.delta(r, node, op)),
  full: (s, node, op) => {
    const next = lwwFull(s.get(op.key) ?? null, node, op);
    return next === null ? s : new Map(s).set(op.key, next);
  },
};

// --- LWW element set (roshi) ----------------------------------------------------
type LwwSetOp = { element: string; ts: number; add: boolean };
export const lwwSetSpec: TypeSpec<LwwSetState, LwwSetOp> = {
  lattice: LwwSet,
  op: fc.record({ element: elem, ts: small, add: fc.boolean() }),
  delta: (s, node, op) => (op.add ? LwwSet.add(s, op.element, op.ts, node) : LwwSet.remove(s, op.element, op.ts, node)),
  full: (s, node, op) => {
    const next = lwwFull(s.get(op.element) ?? null, node, { ts: op.ts, del: !op.add, value: 0 });
    const fixed = next !== null && !next.deleted ? { ...next, value: true } : next;
    return fixed === null ? s : new Map(s).set(op.element, fixed);
  },
};

// --- AWOR set --------------------------------------------------------------------
type SetOp = { element: string; add: boolean };
function aworFull(s: AworSetState, node: string, op: SetOp): AworSetState {
  // State-based definitions (Almeida et al. §7.2): add replaces the element's
  // dots with one new dot; remove drops the element's entry; the context only grows.
  const store = new Map(s.store);
  const cc = s.cc.clone();
  if (op.add) {
    const dot = { node, counter: s.cc.max(node) + 1 };
    cc.add(dot);
    store.set(op.element, new Set([dotKey(dot)]));
  } else store.delete(op.element);
  return { store, cc };
}
export const aworSpec: TypeSpec<AworSetState, SetOp> = {
  lattice: AworSet,
  op: fc.record({ element: elem, add: fc.boolean() }),
  delta: (s, node, op) => (op.add ? AworSet.add(s, op.element, node) : AworSet.remove(s, op.element)),
  full: aworFull,
};

// --- MV register -------------------------------------------------------------------
type MvOp = { value: number; mask: number };
/** The context a client read: the siblings selected by the bitmask (all, none, or some). */
function readContext(store: ReadonlyMap<string, unknown>, mask: number): CausalContext {
  const dots = [...store.keys()].sort();
  return CausalContext.fromDots(dots.filter((_, i) => (mask >> i) & 1).map(parseDotKey));
}
function mvFull(s: Causal<DotFun<Json>>, node: string, op: MvOp): Causal<DotFun<Json>> {
  const ctx = readContext(s.store, op.mask);
  const store = new Map<string, Json>();
  for (const [d, v] of s.store) if (!ctx.contains(parseDotKey(d))) store.set(d, v);
  const dot = { node, counter: s.cc.max(node) + 1 };
  store.set(dotKey(dot), op.value);
  const cc = s.cc.clone();
  cc.add(dot);
  return { store, cc };
}
export const mvSpec: TypeSpec<MvRegisterState, MvOp> = {
  lattice: MvRegister,
  op: fc.record({ value: fc.integer({ min: 0, max: 3 }), mask: fc.integer({ min: 0, max: 7 }) }),
  delta: (s, node, op) => MvRegister.write(s, op.value, node, readContext(s.store, op.mask)).delta,
  full: mvFull,
};

// --- OR-map of MV registers (the store's shape) -----------------------------------------
const orMapMv = orMapLattice(dotFunKind<Json>());
type MapOp = { key: string; remove: boolean } & MvOp;
export const orMapMvSpec: TypeSpec<Causal<DotMap<DotFun<Json>>>, MapOp> = {
  lattice: orMapMv,
  op: fc.record({ key, remove: fc.boolean(), value: fc.integer({ min: 0, max: 3 }), mask: fc.integer({ min: 0, max: 7 }) }),
  delta: (s, node, op) =>
    op.remove ? orMapMv.remove(s, op.key) : orMapMv.apply(s, op.key, (reg) => mvSpec.delta(reg, node, op)),
  full: (s, node, op) => {
    const store = new Map(s.store);
    if (op.remove) {
      store.delete(op.key);
      return { store, cc: s.cc };
    }
    const next = mvFull({ store: s.store.get(op.key) ?? new Map(), cc: s.cc }, node, op);
    store.set(op.key, next.store);
    return { store, cc: next.cc };
  },
};

// --- OR-map of AWOR sets (nested embedding sharing one context) ----------------------------
const orMapSet = orMapLattice(dotMapKind(DotSetKind));
type NestedOp = { key: string; element: string; kind: "add" | "rem" | "drop" };
export const orMapSetSpec: TypeSpec<Causal<DotMap<DotMap<DotSet>>>, NestedOp> = {
  lattice: orMapSet,
  op: fc.record({ key, element: elem, kind: fc.constantFrom("add" as const, "rem" as const, "drop" as const) }),
  delta: (s, node, op) =>
    op.kind === "drop"
      ? orMapSet.remove(s, op.key)
      : orMapSet.apply(s, op.key, (set) => (op.kind === "add" ? AworSet.add(set, op.element, node) : AworSet.remove(set, op.element))),
  full: (s, node, op) => {
    const store = new Map(s.store);
    if (op.kind === "drop") {
      store.delete(op.key);
      return { store, cc: s.cc };
    }
    const next = aworFull({ store: s.store.get(op.key) ?? new Map(), cc: s.cc }, node, { element: op.element, add: op.kind === "add" });
    if (next.store.size === 0) store.delete(op.key);
    else store.set(op.key, next.store);
    return { store, cc: next.cc };
  },
};

/**
 * States reachable in one system: replicas apply random operations (through
 * the delta mutator, joined locally) and random pairwise merges. Every
 * intermediate state is kept, so laws are checked across replicas and time.
 */
export function systemStates<S, Op>(spec: TypeSpec<S, Op>, maxSteps = 14): fc.Arbitrary<S[]> {
  const step = fc.oneof(
    fc.record({ t: fc.constant("op" as const), r: fc.integer({ min: 0, max: 2 }), op: spec.op }),
    fc.record({ t: fc.constant("merge" as const), r: fc.integer({ min: 0, max: 2 }), from: fc.integer({ min: 0, max: 2 }) }),
  );
  return fc.array(step, { maxLength: maxSteps }).map((steps) => {
    const L = spec.lattice;
    const states: S[] = REPLICAS.map(() => L.bottom());
    const seen: S[] = [L.bottom()];
    for (const s of steps) {
      if (s.t === "op") states[s.r] = L.join(states[s.r]!, spec.delta(states[s.r]!, REPLICAS[s.r]!, s.op));
      else states[s.r] = L.join(states[s.r]!, states[s.from]!);
      seen.push(states[s.r]!);
    }
    return [...seen.slice(-6), ...states];
  });
}

/** Every spec, for the law suite. */
export const ALL_SPECS: Array<[string, TypeSpec<unknown, unknown>]> = [
  ["gcounter", gcounterSpec],
  ["pncounter", pncounterSpec],
  ["gset", gsetSpec],
  ["lww-register", lwwSpec],
  ["gmap<lww>", gmapSpec],
  ["lww-set", lwwSetSpec],
  ["awor-set", aworSpec],
  ["mv-register", mvSpec],
  ["or-map<mv-register>", orMapMvSpec],
  ["or-map<awor-set>", orMapSetSpec],
] as unknown as Array<[string, TypeSpec<unknown, unknown>]>;
