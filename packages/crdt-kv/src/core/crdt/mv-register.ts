/**
 * Multi-value register (Dynamo's siblings; Almeida et al. §7.2 MVRegister),
 * with siblings identified by dots as in dotted version vectors (Preguiça et
 * al.). A write replaces the siblings its writer has seen, which is exactly
 * the set of dots in the context the writer read, and keeps every sibling it
 * has not seen. So siblings exist only for truly concurrent writes: never
 * more than the number of writers racing, however many writes they make.
 */
import { CausalContext } from "../causality/causal-context.ts";
import { compareDots, dotKey, parseDotKey, type Dot } from "../causality/dot.ts";
import type { Dvv } from "../causality/dvv.ts";
import type { Json } from "../json.ts";
import { causalLattice, dotFunKind, nextDot, storeContext, type Causal, type DotFun } from "./dot-store.ts";

/** dot -> sibling value. */
export type MvRegisterState = Causal<DotFun<Json>>;

const kind = dotFunKind<Json>();
const lattice = causalLattice(kind, "mv-register");

/** The MV-register lattice and its delta mutators. */
export const MvRegister = {
  ...lattice,
  /**
   * Delta mutator: `node` writes `value`, replacing the siblings whose dots are
   * in `context` (a read's context). No context means the writer saw nothing
   * (a blind write): it replaces nothing and becomes one more sibling, since it
   * really is concurrent with everything. Returns the delta and the new
   * sibling's DVV: its dot and the history its writer saw.
   */
  write(s: MvRegisterState, value: Json, node: string, context?: CausalContext): { delta: MvRegisterState; dvv: Dvv } {
    const dot = nextDot(s.cc, node);
    const replaced = new CausalContext();
    for (const d of s.store.keys()) {
      const sib = parseDotKey(d);
      if (context !== undefined && context.contains(sib)) replaced.add(sib);
    }
    const seen = context === undefined ? new Map<string, number>() : context.vector();
    replaced.add(dot);
    return { delta: { store: new Map([[dotKey(dot), value]]), cc: replaced }, dvv: { dot, past: seen } };
  },
  /** The siblings, ordered by dot, each with the dot a client passes back to overwrite it. */
  siblings: (s: MvRegisterState): Array<{ dot: Dot; value: Json }> =>
    [...s.store].map(([d, value]) => ({ dot: parseDotKey(d), value })).sort((a, b) => compareDots(a.dot, b.dot)),
  /** The context a reader must send back to overwrite exactly the siblings it saw. */
  readContext: (s: MvRegisterState): CausalContext => storeContext(kind, s.store),
};
