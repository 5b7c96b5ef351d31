/**
 * What every state-based CRDT in this package provides: a join
 * semilattice with a bottom, plus a join decomposition (Enes et al.,
 * "Efficient Synchronization of State-based CRDTs", ICDE 2019, §III).
 *
 * The synchronisation algorithms (src/core/sync) and the property tests are
 * written once against this interface, so every type is checked by the same
 * laws and measured by the same bench.
 */
import { utf8Length } from "@heck/sim";

/** A join semilattice with bottom and join decomposition: the contract every state-based CRDT here meets. */
export interface Lattice<S> {
  /** Short name for tests and bench output ("gset", "awor-set"). */
  readonly name: string;
  /** The bottom: the state of a replica that has seen nothing. */
  bottom(): S;
  /** True when `s` equals the bottom. */
  isBottom(s: S): boolean;
  /** The least upper bound. Commutative, associative, idempotent; never mutates its inputs. */
  join(a: S, b: S): S;
  /** The lattice order: a <= b iff join(a, b) equals b. */
  leq(a: S, b: S): boolean;
  /** Structural equality of states. */
  equals(a: S, b: S): boolean;
  /**
   * An irredundant join decomposition (Enes et al. Definition 2): join-
   * irreducible states whose join is `s`, none of them below the join of the
   * others. Bottom decomposes into the empty list.
   */
  decompose(s: S): S[];
  /**
   * Δ(a, b): the smallest state that brings `b` up to `a ⊔ b`, i.e. the join
   * of the irreducibles of `a` that are not below `b` (Enes et al. §IV-B). RR
   * uses it to strip what a receiver already has from a received delta.
   */
  delta(a: S, b: S): S;
  /** A canonical JSON-ready form; its JSON length is what the bench counts as bytes. */
  encode(s: S): unknown;
}

/** Generic Δ from decompose + leq: correct for any lattice, used to check the fast versions. */
export function naiveDelta<S>(lattice: Lattice<S>, a: S, b: S): S {
  let out = lattice.bottom();
  for (const irreducible of lattice.decompose(a)) {
    if (!lattice.leq(irreducible, b)) out = lattice.join(out, irreducible);
  }
  return out;
}

/** Bytes of the canonical JSON encoding of a state. */
export function encodedBytes<S>(lattice: Lattice<S>, s: S): number {
  return utf8Length(JSON.stringify(lattice.encode(s)));
}
