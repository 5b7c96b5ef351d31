import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ManualClock } from "../src/index.ts";

describe("ManualClock", () => {
  it("fires timers in due order, ties in creation order, including timers set by timers", () => {
    const c = new ManualClock(100);
    const fired: string[] = [];
    c.setTimer(10, () => fired.push("a"));
    c.setTimer(5, () => {
      fired.push("b");
      c.setTimer(0, () => fired.push("b-child"));
    });
    c.setTimer(10, () => fired.push("c"));
    const cancelled = c.setTimer(7, () => fired.push("cancelled"));
    c.clearTimer(cancelled);
    c.clearTimer(cancelled); // no-op
    expect(c.pendingTimers()).toBe(3);
    expect(c.nextDueMs()).toBe(105);
    c.advance(9);
    expect(fired).toEqual(["b", "b-child"]);
    expect(c.nowMs()).toBe(109);
    c.advanceTo(110);
    expect(fired).toEqual(["b", "b-child", "a", "c"]);
    expect(c.nextDueMs()).toBe(Infinity);
    expect(() => c.advanceTo(50)).toThrow(/before now/);
  });

  it("fires every timer at its due time, in the order a sorted model gives", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 60 }), fc.array(fc.integer({ min: 1, max: 20 })), (delays, steps) => {
        const c = new ManualClock();
        const fired: Array<[number, number]> = [];
        delays.forEach((d, i) => c.setTimer(d, () => fired.push([i, c.nowMs()])));
        for (const s of steps) c.advance(s);
        c.advance(100);
        const expected = delays.map((d, i) => [i, d] as [number, number]).sort((x, y) => x[1] - y[1] || x[0] - y[0]);
        expect(fired).toEqual(expected);
      }),
    );
  });
});
