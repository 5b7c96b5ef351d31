import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createScheme, fmix64, hashId, jumpConsistentHash, ownersOf, pairScore, toHex, unitInterval } from "../src/index.ts";
import { check } from "./support/check.ts";
import * as naive from "./support/naive.ts";

const big = (h: { hi: number; lo: number }) => (BigInt(h.hi) << 32n) | BigInt(h.lo);
const halves = (v: bigint) => ({ hi: Number(v >> 32n), lo: Number(v & 0xffffffffn) });

describe("the hash", () => {
  // Test vectors a second implementation can check itself against (README "The hash").
  it("matches the published test vectors", () => {
    expect(toHex(hashId("a"))).toBe("ca978112ca1bbdca"); // SHA-256("a") = ca978112ca1bbdca...
    expect(toHex(hashId(""))).toBe("e3b0c44298fc1c14"); // SHA-256("") = e3b0c44298fc1c14...
    expect(toHex(fmix64({ hi: 0, lo: 1 }))).toBe("b456bcfc34c2cb2c"); // fmix64(1), MurmurHash3
    expect(toHex(fmix64({ hi: 0, lo: 0 }))).toBe("0000000000000000");
    expect(toHex(pairScore(hashId("origin-1"), hashId("a")))).toBe(naive.score("origin-1", "a").toString(16).padStart(16, "0"));
  });

  it("reproduces the README's test vectors for every scheme", () => {
    expect(toHex(hashId("origin-1"))).toBe("f906f54c27cf2d41");
    expect(toHex(hashId("n1"))).toBe("676b8bb84ce7267d");
    expect(toHex(pairScore(hashId("origin-1"), hashId("n1")))).toBe("9851678ea9b8ac4a");
    expect(toHex(pairScore(hashId("origin-1"), hashId("n2")))).toBe("cfacd7d6f3e1e479");
    expect(toHex(pairScore(hashId("origin-1"), hashId("n3")))).toBe("18787869fc16bef3");
    expect(ownersOf("origin-1", ["n1", "n2", "n3"], 3)).toEqual(["n2", "n1", "n3"]);
    expect(ownersOf("origin-1", ["n1", "n2", { id: "n3", weight: 5 }], 3)).toEqual(["n2", "n3", "n1"]);
    expect(createScheme("ring", ["n1", "n2", "n3"]).ownersOf("origin-1", 3)).toEqual(["n2", "n3", "n1"]);
    expect(createScheme("jump", ["n1", "n2", "n3"]).ownersOf("origin-1", 3)).toEqual(["n2", "n3", "n1"]);
    expect(createScheme("maglev", ["n1", "n2", "n3"]).ownersOf("origin-1", 3)).toEqual(["n1", "n3", "n2"]);
    const h = hashId("origin-1");
    expect(jumpConsistentHash(h.hi, h.lo, 5)).toBe(4);
  });

  it("H is SHA-256 truncated to 64 bits, equal to node:crypto's for any string", () => {
    check(
      fc.property(fc.string({ unit: "binary", maxLength: 80 }), (s) => {
        expect(big(hashId(s))).toBe(naive.H(s));
      }),
      300,
    );
    // 300 pure-JS SHA-256s and their BigInt check take well under a second alone; the bound is for a busy machine.
  }, 30_000);

  it("fmix64 in 32-bit halves equals the BigInt definition", () => {
    check(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (k) => {
        expect(big(fmix64(halves(k)))).toBe(naive.fmix64(k));
      }),
      2000,
    );
  });

  it("scores origin-member pairs as fmix64(H(o) xor H(m))", () => {
    check(
      fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (o, m) => {
        expect(big(pairScore(hashId(o), hashId(m)))).toBe(naive.score(o, m));
      }),
      300,
    );
  });

  it("maps scores strictly inside (0, 1), monotonically", () => {
    expect(unitInterval(0, 0)).toBeGreaterThan(0);
    expect(unitInterval(0xffffffff, 0xffffffff)).toBeLessThan(1);
    check(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 2n }), (k) => {
        const a = halves(k);
        const b = halves(k + 1n);
        expect(unitInterval(a.hi, a.lo)).toBeLessThanOrEqual(unitInterval(b.hi, b.lo));
      }),
    );
  });
});
