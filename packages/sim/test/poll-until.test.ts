import { describe, expect, it } from "vitest";
import { pollUntil } from "../src/index.ts";

/** A clock that only moves when run, like a simulation. */
function runner(): { nowMs: number; runFor(ms: number): void; slices: number[] } {
  return {
    nowMs: 0,
    slices: [],
    runFor(ms: number) {
      this.slices.push(ms);
      this.nowMs += ms;
    },
  };
}

describe("pollUntil", () => {
  it("checks before each slice and returns the time the predicate first held", () => {
    const r = runner();
    expect(pollUntil(r, () => r.nowMs >= 120, 1000, 50)).toBe(150);
    expect(r.slices).toEqual([50, 50, 50]);
  });

  it("holds at once: no time passes", () => {
    const r = runner();
    expect(pollUntil(r, () => true, 1000, 50)).toBe(0);
    expect(r.slices).toEqual([]);
  });

  it("stops at the budget, the last slice cut short, and says it never held", () => {
    const r = runner();
    expect(pollUntil(r, () => false, 120, 50)).toBeUndefined();
    expect(r.slices).toEqual([50, 50, 20]);
  });

  it("refuses a slice that would never move time", () => {
    expect(() => pollUntil(runner(), () => false, 100, 0)).toThrow(RangeError);
  });
});
