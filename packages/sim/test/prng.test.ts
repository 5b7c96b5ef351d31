import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { createPrng } from "../src/index.ts";

describe("Prng", () => {
  it("replays the same stream for the same seed", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (seed) => {
        const a = createPrng(seed);
        const b = createPrng(seed);
        for (let i = 0; i < 20; i++) expect(a.nextUint32()).toBe(b.nextUint32());
      }),
    );
  });

  it("forks named streams independent of how much the parent was consumed", () => {
    const a = createPrng(7);
    const b = createPrng(7);
    for (let i = 0; i < 100; i++) b.nextFloat();
    const fa = a.fork("n1");
    const fb = b.fork("n1");
    for (let i = 0; i < 20; i++) expect(fa.nextUint32()).toBe(fb.nextUint32());
    expect(a.fork("n1").nextUint32()).not.toBe(a.fork("n2").nextUint32());
  });

  it("keeps nextInt within its bounds and nextFloat in [0, 1)", () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: 0, max: 1000 }), (seed, lo, span) => {
        const p = createPrng(seed);
        const v = p.nextInt(lo, lo + span);
        expect(v).toBeGreaterThanOrEqual(lo);
        expect(v).toBeLessThanOrEqual(lo + span);
        const f = p.nextFloat();
        expect(f >= 0 && f < 1).toBe(true);
      }),
    );
  });
});

describe("Prng forks in a simulation", () => {
  it("gives each node the same stream whatever other nodes exist", async () => {
    const { Simulation } = await import("../src/index.ts");
    const draws = (nodeIds: string[]) => {
      const seen = new Map<string, number[]>();
      new Simulation({
        seed: 11,
        nodeIds,
        factory: ({ id, prng }) => {
          seen.set(id, [prng.nextUint32(), prng.nextUint32()]);
          return { id, tick() {}, receive() {}, hasReady: () => false, ready: () => ({ snapshot: null, records: [], mustSync: false, messages: [] }), advance() {}, nextDeadlineMs: () => Infinity };
        },
      });
      return seen;
    };
    const small = draws(["a", "b"]);
    const big = draws(["z", "a", "c", "b"]);
    expect(big.get("a")).toEqual(small.get("a"));
    expect(big.get("b")).toEqual(small.get("b"));
    expect(big.get("a")).not.toEqual(big.get("b"));
  });

  it("spreads forks: distinct names give distinct, uncorrelated-looking streams", () => {
    fc.assert(
      fc.property(fc.integer(), fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 2, maxLength: 10 }), (seed, names) => {
        const root = createPrng(seed);
        const firsts = names.map((n) => root.fork(n).nextUint32());
        expect(new Set(firsts).size).toBe(names.length);
      }),
    );
    // Bits of a fork are balanced: the mean of 10,000 floats is near 1/2.
    const f = createPrng(3).fork("net");
    let sum = 0;
    for (let i = 0; i < 10_000; i++) sum += f.nextFloat();
    expect(Math.abs(sum / 10_000 - 0.5)).toBeLessThan(0.02);
  });
});
