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
