import { describe, expect, it } from "vitest";
import { Awareness } from "../src/core/awareness.ts";
import { remainingTimeoutMs, Suspicion } from "../src/core/suspicion.ts";

describe("Suspicion (Lifeguard §IV-B)", () => {
  it("starts at the max timeout when confirmations are expected", () => {
    const s = new Suspicion("a", 3, 2000, 30_000, 1000);
    expect(s.deadlineMs).toBe(31_000);
  });

  it("uses the min timeout when no confirmations are expected (k < 1)", () => {
    const s = new Suspicion("a", 0, 2000, 30_000, 1000);
    expect(s.deadlineMs).toBe(3000);
    expect(s.confirm("b")).toBe(false);
  });

  it("shrinks logarithmically with each independent confirmation down to min", () => {
    // k = 3, min 2 s, max 30 s: after c confirmations, 30 - 28 * log(c+1)/log(4).
    const s = new Suspicion("a", 3, 2000, 30_000, 0);
    expect(s.confirm("b")).toBe(true);
    expect(s.deadlineMs).toBe(16_000); // log 2 / log 4 = 1/2
    expect(s.confirm("c")).toBe(true);
    expect(s.deadlineMs).toBe(Math.floor(30_000 - 28_000 * (Math.log(3) / Math.log(4))));
    expect(s.confirm("d")).toBe(true);
    expect(s.deadlineMs).toBe(2000);
    expect(s.confirmationCount).toBe(3);
  });

  it("ignores the original accuser, repeated accusers and confirmations beyond k", () => {
    const s = new Suspicion("a", 2, 1000, 6000, 0);
    expect(s.confirm("a")).toBe(false);
    expect(s.confirm("b")).toBe(true);
    expect(s.confirm("b")).toBe(false);
    expect(s.confirm("c")).toBe(true);
    expect(s.confirm("d")).toBe(false);
    expect(s.deadlineMs).toBe(1000);
  });

  it("never returns less than min", () => {
    for (let c = 0; c <= 10; c++) expect(remainingTimeoutMs(c, 3, 5000, 6000)).toBeGreaterThanOrEqual(5000);
  });
});

describe("Awareness (Lifeguard §IV-A)", () => {
  it("scales the probe period by score + 1 and clamps the score to [0, max - 1]", () => {
    const a = new Awareness(8);
    expect(a.scale(1000)).toBe(1000);
    a.applyDelta(3);
    expect(a.scale(1000)).toBe(4000);
    a.applyDelta(100);
    expect(a.score).toBe(7);
    expect(a.scale(1000)).toBe(8000);
    a.applyDelta(-100);
    expect(a.score).toBe(0);
  });

  it("is inert with max 1 (Lifeguard off)", () => {
    const a = new Awareness(1);
    a.applyDelta(5);
    expect(a.scale(1000)).toBe(1000);
  });
});
