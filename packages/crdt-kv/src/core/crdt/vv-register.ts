/**
 * The foil: a multi-value register clocked by ONE plain version vector per
 * object, as Dynamo-style stores did before dotted version vectors (Riak's
 * vnode vclocks; Preguiça et al. §3). Siblings carry no clock of their own,
 * so the server can only drop the siblings when a write's context covers the
 * *whole* object vector. Two clients that keep writing with the context of
 * their own last write never cover it, and every write adds a sibling:
 * "sibling explosion". Kept here to be measured against {@link MvRegister};
 * never used by the store.
 */
import type { Json } from "../json.ts";
import { vvIncrement, vvJoin, vvLeq, type VersionVector } from "../causality/version-vector.ts";

/** One object: its vector and its sibling values. */
export interface VvRegisterState {
  readonly vv: VersionVector;
  readonly siblings: readonly Json[];
}

/** Server-side operations of the plain-version-vector register. */
export const VvRegister = {
  empty: (): VvRegisterState => ({ vv: new Map(), siblings: [] }),
  /**
   * The server `node` accepts a write with the client's context: if the
   * context covers the object vector the write supersedes everything, else
   * the server cannot tell which siblings the client saw and must keep all.
   * Returns the new state; the client's next context is `state.vv`.
   */
  write(s: VvRegisterState, value: Json, context: VersionVector, node: string): VvRegisterState {
    const covers = vvLeq(s.vv, context);
    const { vv } = vvIncrement(vvJoin(s.vv, context), node);
    return { vv, siblings: covers ? [value] : [...s.siblings, value] };
  },
};
