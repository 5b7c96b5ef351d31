/**
 * Properties every scheme must have, and each scheme against its naive
 * reference implementation (test/support/naive.ts).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createScheme, JumpScheme, MaglevScheme, RingScheme, SCHEME_NAMES, assign, diff, hashId, jumpConsistentHash, type SchemeOptions } from "../src/index.ts";
import { check, memberIds, originId, originIds } from "./support/check.ts";
import * as naive from "./support/naive.ts";

// Small parameters keep the naive references (which list every point/slot) fast.
const options: SchemeOptions = { vnodes: 20, maglevTableSize: 251 };

describe.each(SCHEME_NAMES)("every scheme: %s", (name) => {
  it("the priority list is the failover order: entry i owns once entries 0..i-1 are gone", () => {
    check(
      fc.property(originId, memberIds(2, 8), (o, ms) => {
        const list = createScheme(name, ms, options).ownersOf(o, ms.length);
        expect([...list].sort()).toEqual([...ms].sort());
        // Jump numbers buckets by list order, so "gone" keeps the rest in order.
        const rest = ms.filter((m) => m !== list[0]);
        expect(createScheme(name, rest, options).ownerOf(o)).toBe(list[1]);
      }),
      50,
    );
  });

  it("top-k lists are prefixes of each other as k grows", () => {
    check(
      fc.property(originId, memberIds(1, 8), fc.integer({ min: 1, max: 8 }), (o, ms, k) => {
        const s = createScheme(name, ms, options);
        expect(s.ownersOf(o, k)).toEqual(s.ownersOf(o, k + 1).slice(0, k));
        expect(s.ownersOf(o, k)[0]).toBe(s.ownerOf(o));
      }),
      50,
    );
  });

  it("gives no owner with no members, and refuses a table", () => {
    const s = createScheme(name, [], options);
    expect(s.ownerOf("o")).toBeUndefined();
    expect(s.ownersOf("o", 2)).toEqual([]);
    expect(() => assign(["o"], [], { ...options, scheme: name })).toThrow(/members: at least one member/);
  });
});

describe.each(["rendezvous", "ring", "maglev"] as const)("order-independent schemes: %s", (name) => {
  it("the order of the member list does not matter", () => {
    check(
      fc.property(originIds(1, 30), memberIds(1, 8), (origins, ms) => {
        const a = assign(origins, ms, { ...options, scheme: name });
        const b = assign(origins, [...ms].reverse(), { ...options, scheme: name });
        expect(b.owners).toEqual(a.owners);
      }),
      50,
    );
  });
});

describe("ring", () => {
  it("equals the naive ring (every point listed, linear scan)", () => {
    check(
      fc.property(originId, memberIds(1, 6), fc.integer({ min: 1, max: 30 }), (o, ids, vnodes) => {
        const ms = ids.map((id, i) => ({ id, weight: 1 + (i % 2) }));
        expect(new RingScheme(ms, { vnodes }).ownersOf(o, ms.length)).toEqual(naive.ringList(o, ms, vnodes));
      }),
      200,
    );
  });

  it("moves only the dead member's origins, each to its next member clockwise", () => {
    check(
      fc.property(originIds(1, 60), memberIds(2, 8), fc.nat(), (origins, ms, pick) => {
        const dead = ms[pick % ms.length]!;
        const ring = new RingScheme(ms, options);
        const d = diff(assign(origins, ms, { ...options, scheme: "ring" }), assign(origins, ms.filter((m) => m !== dead), { ...options, scheme: "ring" }));
        expect(d.collateral).toBe(0);
        for (const mv of d.moved) expect(ring.ownersOf(mv.origin, 2)).toEqual([dead, mv.to]);
      }),
      50,
    );
  });

  it("shares of the circle sum to 1 and tighten with more virtual nodes", () => {
    const ms = Array.from({ length: 20 }, (_, i) => `n${i}`);
    const sd = (v: number) => {
      const shares = new RingScheme(ms, { vnodes: v }).arcShares();
      expect(shares.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 9);
      const mean = 1 / ms.length;
      return Math.sqrt(shares.reduce((s, x) => s + (x / mean - 1) ** 2, 0) / ms.length);
    };
    expect(sd(1000)).toBeLessThan(sd(10));
  });

  it("rejects a bad vnodes count by name", () => {
    expect(() => new RingScheme(["a"], { vnodes: 0 })).toThrow(/vnodes: must be an integer/);
  });
});

describe("jump", () => {
  it("equals the paper's code transcribed with BigInt", () => {
    check(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.integer({ min: 0, max: 100000 }), (key, n) => {
        const hi = Number(key >> 32n);
        const lo = Number(key & 0xffffffffn);
        expect(jumpConsistentHash(hi, lo, n)).toBe(n === 0 ? -1 : naive.jump(key, n));
      }),
      1000,
    );
  });

  it("growing from n to n+1 buckets moves keys only to the new bucket", () => {
    check(
      fc.property(originIds(1, 100), fc.integer({ min: 1, max: 50 }), (origins, n) => {
        for (const o of origins) {
          const h = hashId(o);
          const a = jumpConsistentHash(h.hi, h.lo, n);
          const b = jumpConsistentHash(h.hi, h.lo, n + 1);
          expect(b === a || b === n).toBe(true);
        }
      }),
      50,
    );
  });

  it("cannot remove an arbitrary member without moving others' origins", () => {
    const origins = Array.from({ length: 2000 }, (_, i) => `o${i}`);
    const ms = ["a", "b", "c", "d", "e"];
    const opt = { scheme: "jump" as const };
    const last = diff(assign(origins, ms, opt), assign(origins, ["a", "b", "c", "d"], opt));
    expect(last.collateral).toBe(0); // removing the LAST bucket is minimal
    const first = diff(assign(origins, ms, opt), assign(origins, ["b", "c", "d", "e"], opt));
    expect(first.collateral).toBeGreaterThan(origins.length / 2); // renumbering moves most origins
  });

  it("has no weights, and says so by field", () => {
    expect(() => new JumpScheme([{ id: "a" }, { id: "b", weight: 2 }])).toThrow(/members\[1\].weight: jump consistent hash has no weights/);
  });
});

describe("maglev", () => {
  it("equals the paper's Pseudocode 1 (full permutation table)", () => {
    check(
      fc.property(memberIds(1, 8), fc.constantFrom(7, 101, 251), fc.boolean(), (ids, M, weighted) => {
        fc.pre(ids.length <= M);
        const ms = ids.map((id, i) => ({ id, weight: weighted ? 1 + (i % 3) : 1 }));
        const s = new MaglevScheme(ms, { tableSize: M });
        const table = naive.maglevTable(ms, M);
        for (let slot = 0; slot < M; slot++) {
          // The origin whose hash is `slot` (hi = 0, lo = slot) lands in table slot `slot`.
          expect(ms[s.ownerIndexOf(0, slot)]!.id).toBe(table[slot]);
        }
      }),
      100,
    );
  });

  it("balances table slots to within one per member (unweighted)", () => {
    check(
      fc.property(memberIds(1, 20), fc.constantFrom(101, 1009, 65537), (ms, M) => {
        fc.pre(ms.length <= M);
        const counts = new MaglevScheme(ms, { tableSize: M }).slotCounts();
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
        expect(counts.reduce((s, c) => s + c, 0)).toBe(M);
      }),
      30,
    );
  });

  it("gives slots in proportion to weight", () => {
    const counts = new MaglevScheme([{ id: "a", weight: 1 }, { id: "b", weight: 3 }], { tableSize: 65537 }).slotCounts();
    expect(counts[1]! / counts[0]!).toBeCloseTo(3, 1);
  });

  it("rejects a table size that is not a prime, or too small, by name", () => {
    expect(() => new MaglevScheme(["a"], { tableSize: 1000 })).toThrow(/tableSize: must be a prime/);
    expect(() => new MaglevScheme(["a", "b", "c"], { tableSize: 2 })).toThrow(/tableSize: must be at least the member count/);
  });
});
