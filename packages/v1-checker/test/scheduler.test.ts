import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { createPrng } from "@heck/sim";
import { CheckScheduler, type DueCheck } from "../src/index.ts";

/** Largest gap between neighbouring phases on the circle [0, interval). */
function maxCircularGap(times: number[], interval: number): number {
  const phases = times.map((t) => t % interval).sort((a, b) => a - b);
  let gap = phases[0]! + interval - phases[phases.length - 1]!;
  for (let k = 1; k < phases.length; k++) gap = Math.max(gap, phases[k]! - phases[k - 1]!);
  return gap;
}

describe("CheckScheduler", () => {
  it("schedules from deadlines, so a target does not drift however long checks take", () => {
    const s = new CheckScheduler(10, createPrng(1));
    const first = s.add("a", 1000, 0)!;
    const starts: number[] = [];
    for (let k = 0; k < 20; k++) {
      let now = s.nextDeadlineMs();
      const [check] = s.takeDue(now);
      starts.push(check!.dueMs);
      now += 37 + (k % 5) * 100; // checks of varying length, all under the interval
      s.complete(check!, now);
    }
    starts.forEach((t, k) => expect(t).toBeCloseTo(first + k * 1000, 6));
  });

  it("spreads first checks evenly over the interval (no thundering herd)", () => {
    const interval = 1000;
    for (const seed of [1, 2, 3]) {
      const s = new CheckScheduler(10, createPrng(seed));
      const firsts: number[] = [];
      for (let k = 0; k < 2000; k++) {
        firsts.push(s.add(`t${k}`, interval, 0)!);
        const n = firsts.length;
        // Golden-ratio phases: at every n the largest gap stays within 3/n of
        // the interval (uniform random jitter gives about ln(n)/n).
        if (n >= 2 && (n <= 300 || n % 250 === 0)) expect(maxCircularGap(firsts, interval)).toBeLessThanOrEqual((3 * interval) / n);
      }
      for (const t of firsts) {
        expect(t).toBeGreaterThanOrEqual(0);
        expect(t).toBeLessThan(interval);
      }
    }
  });

  it("spreads better than uniform random jitter would", () => {
    const n = 1000;
    const s = new CheckScheduler(10, createPrng(9));
    const ours = Array.from({ length: n }, (_, k) => s.add(`t${k}`, 1000, 0)!);
    const rnd = createPrng(9);
    const uniform = Array.from({ length: n }, () => rnd.nextFloat() * 1000);
    expect(maxCircularGap(ours, 1000)).toBeLessThan(maxCircularGap(uniform, 1000) / 2);
  });

  it("never releases more than maxConcurrent checks; due ones wait and show lag", () => {
    const s = new CheckScheduler(2, createPrng(1));
    for (let k = 0; k < 5; k++) s.add(`t${k}`, 1000, 0);
    const batch = s.takeDue(1000);
    expect(batch).toHaveLength(2);
    expect(s.nextDeadlineMs()).toBe(Infinity);
    s.complete(batch[0]!, 1010);
    const more = s.takeDue(1010);
    expect(more).toHaveLength(1);
    expect(1010 - more[0]!.dueMs).toBeGreaterThan(0); // lag: started after it was due
  });

  it("starts the next check at once when a check outlives its interval, keeping one in flight", () => {
    const s = new CheckScheduler(10, createPrng(1));
    s.add("a", 100, 0);
    const [c] = s.takeDue(s.nextDeadlineMs());
    s.complete(c!, c!.dueMs + 250);
    expect(s.nextDeadlineMs()).toBe(c!.dueMs + 250);
    expect(s.overruns).toBe(1);
  });

  it("drops the result of a removed target, and parks a re-added one until the old check ends", () => {
    const s = new CheckScheduler(10, createPrng(1));
    s.add("a", 100, 0);
    const [old] = s.takeDue(100);
    expect(s.remove("a")).toBe(true);
    s.add("a", 100, 100);
    expect(s.takeDue(1000)).toEqual([]); // the old check still runs: no second one
    expect(s.complete(old!, 1000)).toBe(false);
    const [fresh] = s.takeDue(1000);
    expect(fresh?.id).toBe("a");
    expect(fresh!.generation).not.toBe(old!.generation);
    expect(s.complete(fresh!, 1001)).toBe(true);
  });

  it("property: at most one check per target and at most maxConcurrent in flight, whatever the timings", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.integer({ min: 1, max: 6 }),
        fc.array(
          fc.oneof(
            fc.record({ type: fc.constant("add" as const), id: fc.integer({ min: 0, max: 7 }), interval: fc.integer({ min: 10, max: 200 }) }),
            fc.record({ type: fc.constant("remove" as const), id: fc.integer({ min: 0, max: 7 }) }),
            fc.record({ type: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 150 }), latency: fc.integer({ min: 0, max: 400 }) }),
          ),
          { maxLength: 120 },
        ),
        (seed, max, ops) => {
          const s = new CheckScheduler(max, createPrng(seed));
          let now = 0;
          const running: Array<{ check: DueCheck; endMs: number }> = [];
          const lastDue = new Map<string, number>();
          for (const op of ops) {
            if (op.type === "add") s.add(`t${op.id}`, op.interval, now);
            else if (op.type === "remove") s.remove(`t${op.id}`);
            else {
              const until = now + op.ms;
              for (;;) {
                running.sort((a, b) => a.endMs - b.endMs);
                const nextEnd = running[0]?.endMs ?? Infinity;
                const nextDue = s.nextDeadlineMs();
                const t = Math.min(nextEnd, nextDue);
                if (t > until) break;
                now = Math.max(now, t);
                if (nextEnd <= nextDue) s.complete(running.shift()!.check, now);
                for (const c of s.takeDue(now)) {
                  expect(running.some((r) => r.check.id === c.id)).toBe(false);
                  expect(c.dueMs).toBeLessThanOrEqual(now);
                  const prev = lastDue.get(`${c.id}/${c.generation}`);
                  if (prev !== undefined) expect(c.dueMs).toBeGreaterThan(prev);
                  lastDue.set(`${c.id}/${c.generation}`, c.dueMs);
                  running.push({ check: c, endMs: now + op.latency });
                }
                expect(running.length).toBeLessThanOrEqual(max);
                expect(s.inFlight).toBe(running.length);
              }
              now = until;
            }
          }
        },
      ),
    );
  });
});
