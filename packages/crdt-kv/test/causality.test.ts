/**
 * The causality building blocks against naive models: interval sets against
 * a plain Set of integers, causal contexts against a Set of dots, and the
 * context's wire form (round trip, and refusal of malformed input).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CausalContext } from "../src/core/causality/causal-context.ts";
import { IntervalSet } from "../src/core/causality/interval-set.ts";

const runArb = fc.tuple(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 6 })).map(([lo, len]) => [lo, lo + len] as [number, number]);
const setArb = fc.array(runArb, { maxLength: 6 }).map((runs) => {
  const s = new IntervalSet();
  const model = new Set<number>();
  for (const [lo, hi] of runs) {
    s.addRange(lo, hi);
    for (let n = lo; n <= hi; n++) model.add(n);
  }
  return { s, model };
});
const sorted = (xs: Iterable<number>) => [...xs].sort((a, b) => a - b);

describe("IntervalSet against a Set<number>", () => {
  it("holds the same members, keeps runs canonical, and agrees on union, difference, intersection, subset", () => {
    fc.assert(
      fc.property(setArb, setArb, ({ s: a, model: ma }, { s: b, model: mb }) => {
        expect(sorted(a.values())).toEqual(sorted(ma));
        expect(a.size()).toBe(ma.size);
        const runs = a.runs();
        for (let i = 1; i < runs.length; i++) expect(runs[i]![0]).toBeGreaterThan(runs[i - 1]![1] + 1);
        const u = a.clone();
        u.unionInto(b);
        expect(sorted(u.values())).toEqual(sorted(new Set([...ma, ...mb])));
        expect(sorted(a.difference(b).values())).toEqual(sorted([...ma].filter((n) => !mb.has(n))));
        expect(sorted(a.intersection(b).values())).toEqual(sorted([...ma].filter((n) => mb.has(n))));
        expect(a.isSubsetOf(b)).toBe([...ma].every((n) => mb.has(n)));
        let p = 0;
        while (ma.has(p + 1)) p++;
        expect(a.prefixEnd()).toBe(p);
        for (let n = 0; n <= 50; n++) expect(a.has(n)).toBe(ma.has(n));
      }),
      { numRuns: 200 },
    );
  });
  it("delete splits and trims runs like removing from a Set", () => {
    fc.assert(
      fc.property(setArb, fc.integer({ min: 1, max: 50 }), ({ s, model }, n) => {
        s.delete(n);
        model.delete(n);
        expect(sorted(s.values())).toEqual(sorted(model));
      }),
    );
  });
});

describe("CausalContext", () => {
  it("compacts the dot cloud into the vector as gaps close", () => {
    const cc = new CausalContext();
    cc.add({ node: "a", counter: 3 });
    cc.add({ node: "a", counter: 1 });
    expect(Object.fromEntries(cc.vector())).toEqual({ a: 1 });
    expect(cc.cloud().get("a")).toEqual([[3, 3]]);
    cc.add({ node: "a", counter: 2 });
    expect(Object.fromEntries(cc.vector())).toEqual({ a: 3 });
    expect(cc.cloud().size).toBe(0);
    expect(cc.nextDot("a")).toEqual({ node: "a", counter: 4 });
  });

  it("round-trips its wire form and refuses malformed ones with the field named", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom("a", "b", "n-1"), fc.integer({ min: 1, max: 30 }))), (dots) => {
        const cc = CausalContext.fromDots(dots.map(([node, counter]) => ({ node, counter })));
        const back = CausalContext.decode(JSON.parse(JSON.stringify(cc.encode())));
        expect(back.ok && back.value.equals(cc)).toBe(true);
      }),
    );
    const bad: Array<[unknown, RegExp]> = [
      [[1, 2], /expected an object/],
      [{ "a:b": [1] }, /bad replica id/],
      [{ a: [1, 2] }, /odd length/],
      [{ a: [-1] }, /vector entry/],
      [{ a: [0, 5, 3] }, /ascending pair/],
      [{ a: [4, 5, 6] }, /ascending with gaps/],
      [{ a: [0, 3, 4, 2, 2] }, /ascending with gaps/],
      [{ a: ["1"] }, /vector entry/],
    ];
    for (const [input, re] of bad) {
      const r = CausalContext.decode(input, "msg.cc");
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error).toMatch(/^msg\.cc/);
        expect(r.error).toMatch(re);
      }
    }
  });
});
