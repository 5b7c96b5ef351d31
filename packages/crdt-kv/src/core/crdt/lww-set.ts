/**
 * LWW-element-set, the data type of SoundCloud's roshi: each element holds
 * its last add or remove with a timestamp; an element is in the set when its
 * winning operation is an add. Built as a GMap of LWW registers, so a remove
 * is a timestamped tombstone that a later (larger timestamp) add overrides
 * and an older add cannot.
 *
 * One deliberate difference from roshi's table: roshi keeps whichever
 * operation arrived first when timestamps tie, which depends on arrival order.
 * A join must not, so here a remove wins a tie (see compareLww).
 */
import type { Json } from "../json.ts";
import { gmapLattice, type GMapState } from "./gmap.ts";
import { LwwRegister, type LwwState } from "./lww-register.ts";

/** element -> its winning add (value true) or remove (tombstone). */
export type LwwSetState = GMapState<LwwState<Json>>;

const base = gmapLattice(LwwRegister);

/** The LWW-element-set lattice and its delta mutators. */
export const LwwSet = {
  ...base,
  name: "lww-set",
  /** Delta mutator: add `element` at `ts`; bottom when an equal-or-newer operation already won. */
  add: (s: LwwSetState, element: string, ts: number, node = ""): LwwSetState =>
    base.apply(s, element, (r) => LwwRegister.write(r, true, ts, node)),
  /** Delta mutator: remove `element` at `ts`. */
  remove: (s: LwwSetState, element: string, ts: number, node = ""): LwwSetState =>
    base.apply(s, element, (r) => LwwRegister.remove(r, ts, node)),
  /** True when the element's winning operation is an add. */
  has: (s: LwwSetState, element: string): boolean => LwwRegister.value(base.get(s, element)) !== undefined,
  /** The elements present, sorted. */
  elements: (s: LwwSetState): string[] => [...s.keys()].filter((e) => LwwRegister.value(s.get(e)!) !== undefined).sort(),
};
