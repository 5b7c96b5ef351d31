import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OwnershipInputError, RendezvousScheme, assign, diff, ownersOf } from "../src/index.ts";
import { check, memberIds, originId, originIds } from "./support/check.ts";
import * as naive from "./support/naive.ts";

const shuffled = <T>(xs: readonly T[], seed: number): T[] => {
  const a = [...xs];
  let s = seed >>> 0;
  for (let i = a.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
};

describe("ownersOf (rendezvous)", () => {
  it("returns the owner first, then the failover order, at most the member count", () => {
    const list = ownersOf("https://example.com/health", ["n1", "n2", "n3"], 5);
    expect([...list].sort()).toEqual(["n1", "n2", "n3"]);
    expect(ownersOf("https://example.com/health", ["n1", "n2", "n3"])).toEqual([list[0]]);
    expect(ownersOf("x", [], 3)).toEqual([]);
  });

  it("rejects bad input with an error naming the field", () => {
    expect(() => ownersOf("o", ["a", "a"], 1)).toThrow(/members\[1\]: duplicate member id "a"/);
    expect(() => ownersOf("o", ["a", ""], 1)).toThrow(/members\[1\]: must be a non-empty string/);
    expect(() => ownersOf("o", [{ id: "a", weight: -1 }], 1)).toThrow(/members\[0\].weight: must be a finite number > 0/);
    expect(() => ownersOf("o", ["a"], 0)).toThrow(/k: must be an integer >= 1/);
    expect(() => ownersOf("", ["a"], 1)).toThrow(OwnershipInputError);
    expect(() => ownersOf("o", [null as unknown as string], 1)).toThrow(/members\[0\]/);
  });

  it("equals the naive reference (sort every member by BigInt score)", () => {
    check(
      fc.property(originId, memberIds(1, 12), (o, ms) => {
        const expected = naive.rendezvousList(o, ms.map((id) => ({ id, weight: 1 })));
        expect(ownersOf(o, ms, ms.length)).toEqual(expected);
      }),
      300,
    );
  });

  it("equals the naive reference with weights (w / -ln u)", () => {
    check(
      fc.property(originId, memberIds(2, 10), fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 10, maxLength: 10 }), (o, ids, ws) => {
        const ms = ids.map((id, i) => ({ id, weight: ws[i]! }));
        expect(new RendezvousScheme(ms).ownersOf(o, ms.length)).toEqual(naive.rendezvousList(o, ms));
      }),
      300,
    );
  });

  it("is deterministic: the order of the member list does not matter", () => {
    check(
      fc.property(originId, memberIds(1, 15), fc.integer(), fc.integer({ min: 1, max: 15 }), (o, ms, seed, k) => {
        expect(ownersOf(o, shuffled(ms, seed), k)).toEqual(ownersOf(o, ms, k));
      }),
    );
  });

  it("top-k lists are prefixes of each other as k grows", () => {
    check(
      fc.property(originId, memberIds(1, 12), fc.integer({ min: 1, max: 12 }), (o, ms, k) => {
        const longer = ownersOf(o, ms, k + 1);
        expect(ownersOf(o, ms, k)).toEqual(longer.slice(0, k));
      }),
    );
  });

  it("removing a member moves only its origins, each to the second in its own list", () => {
    check(
      fc.property(originIds(1, 60), memberIds(2, 10), fc.nat(), (origins, ms, pick) => {
        const dead = ms[pick % ms.length]!;
        const survivors = ms.filter((m) => m !== dead);
        for (const o of origins) {
          const [first, second] = ownersOf(o, ms, 2);
          const now = ownersOf(o, survivors, 1)[0];
          if (first === dead) expect(now).toBe(second);
          else expect(now).toBe(first);
        }
      }),
    );
  });

  it("adding a member moves only the origins the newcomer now wins", () => {
    check(
      fc.property(originIds(1, 60), memberIds(2, 10), (origins, all) => {
        const [newcomer, ...ms] = all;
        const before = assign(origins, ms);
        const after = assign(origins, [...ms, newcomer!]);
        const d = diff(before, after);
        expect(d.collateral).toBe(0);
        for (const mv of d.moved) expect(mv.to).toBe(newcomer);
      }),
    );
  });

  it("weighted: removing a member still moves only its origins", () => {
    check(
      fc.property(originIds(1, 40), memberIds(3, 8), fc.nat(), (origins, ids, pick) => {
        const ms = ids.map((id, i) => ({ id, weight: 1 + (i % 3) }));
        const dead = ms[pick % ms.length]!.id;
        const d = diff(assign(origins, ms), assign(origins, ms.filter((m) => m.id !== dead)));
        expect(d.collateral).toBe(0);
        for (const mv of d.moved) expect(mv.from).toBe(dead);
      }),
    );
  });

  it("gives members load in proportion to weight", () => {
    const origins = Array.from({ length: 30000 }, (_, i) => `o${i}`);
    const t = assign(origins, [
      { id: "small", weight: 1 },
      { id: "medium", weight: 2 },
      { id: "large", weight: 3 },
    ]);
    // Fair shares 5000 / 10000 / 15000; binomial sd < 90, so 3% is > 15 sd.
    expect(t.loads.get("small")! / 5000).toBeCloseTo(1, 1);
    expect(t.loads.get("medium")! / 10000).toBeCloseTo(1, 1);
    expect(t.loads.get("large")! / 15000).toBeCloseTo(1, 1);
  });

  it("uniform weights other than 1 rank exactly like no weights", () => {
    check(
      fc.property(originId, memberIds(1, 10), (o, ids) => {
        expect(new RendezvousScheme(ids.map((id) => ({ id, weight: 7 }))).ownersOf(o, ids.length)).toEqual(ownersOf(o, ids, ids.length));
      }),
    );
  });
});
