/**
 * The lattice laws, for every type (fast-check): the join is commutative,
 * associative and idempotent with bottom as identity; mutators inflate;
 * x ⊔ mδ(x) equals the full mutation m(x); the decomposition rebuilds the
 * state and is irredundant; Δ brings a receiver up to the join and equals
 * the definition (join of the irreducibles not below the receiver).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { naiveDelta } from "../src/core/crdt/lattice.ts";
import { ALL_SPECS, REPLICAS, systemStates, type TypeSpec } from "./support/types.ts";

const RUNS = 60;

function pick3<S>(states: S[]): fc.Arbitrary<[S, S, S]> {
  const i = fc.integer({ min: 0, max: states.length - 1 });
  return fc.tuple(i, i, i).map(([a, b, c]) => [states[a]!, states[b]!, states[c]!]);
}

function laws<S, Op>(name: string, spec: TypeSpec<S, Op>): void {
  const L = spec.lattice;
  const triple = systemStates(spec).chain(pick3);
  const eq = (a: S, b: S): boolean => L.equals(a, b);

  describe(name, () => {
    it("join is commutative, associative and idempotent; bottom is the identity", () => {
      fc.assert(
        fc.property(triple, ([a, b, c]) => {
          expect(eq(L.join(a, b), L.join(b, a))).toBe(true);
          expect(eq(L.join(L.join(a, b), c), L.join(a, L.join(b, c)))).toBe(true);
          expect(eq(L.join(a, a), a)).toBe(true);
          expect(eq(L.join(a, L.bottom()), a)).toBe(true);
          expect(eq(L.join(L.bottom(), a), a)).toBe(true);
          expect(L.isBottom(L.bottom())).toBe(true);
        }),
        { numRuns: RUNS },
      );
    });

    it("leq agrees with the join: a <= a ⊔ b, and a <= b iff a ⊔ b = b", () => {
      fc.assert(
        fc.property(triple, ([a, b]) => {
          const j = L.join(a, b);
          expect(L.leq(a, j)).toBe(true);
          expect(L.leq(b, j)).toBe(true);
          expect(L.leq(a, b)).toBe(eq(j, b));
          expect(L.leq(L.bottom(), a)).toBe(true);
        }),
        { numRuns: RUNS },
      );
    });

    it("delta mutators inflate and x ⊔ mδ(x) equals the full mutation m(x)", () => {
      fc.assert(
        fc.property(triple, fc.constantFrom(...REPLICAS), spec.op, ([a], node, op) => {
          const d = spec.delta(a, node, op);
          const viaDelta = L.join(a, d);
          expect(L.leq(a, viaDelta)).toBe(true);
          expect(eq(viaDelta, spec.full(a, node, op))).toBe(true);
        }),
        { numRuns: RUNS },
      );
    });

    it("the decomposition rebuilds the state and is irredundant", () => {
      fc.assert(
        fc.property(triple, ([a]) => {
          const parts = L.decompose(a);
          const rebuilt = parts.reduce((acc, p) => L.join(acc, p), L.bottom());
          expect(eq(rebuilt, a)).toBe(true);
          for (let i = 0; i < parts.length; i++) {
            expect(L.isBottom(parts[i]!)).toBe(false);
            const others = parts.reduce((acc, p, j) => (j === i ? acc : L.join(acc, p)), L.bottom());
            // Minimal: no irreducible is implied by the others.
            expect(L.leq(parts[i]!, others)).toBe(false);
          }
        }),
        { numRuns: RUNS },
      );
    });

    it("Δ(a, b) brings b to a ⊔ b, is below a, and equals the join of a's irreducibles not below b", () => {
      fc.assert(
        fc.property(triple, ([a, b]) => {
          const d = L.delta(a, b);
          expect(eq(L.join(b, d), L.join(a, b))).toBe(true);
          expect(L.leq(d, a)).toBe(true);
          expect(eq(d, naiveDelta(L, a, b))).toBe(true);
          expect(L.isBottom(L.delta(a, L.join(a, b)))).toBe(true);
        }),
        { numRuns: RUNS },
      );
    });
  });
}

for (const [name, spec] of ALL_SPECS) laws(name, spec);
