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

  it("firstCheckWithinMs: targets added together are checked first within the window, evenly spread, then settle at their even phases of the interval", () => {
    const interval = 1000;
    const window = 250;
    const n = 400;
    const t0 = 5000;
    const early = new CheckScheduler(1000, createPrng(4));
    const plain = new CheckScheduler(1000, createPrng(4));
    const firsts: number[] = [];
    const homes: number[] = [];
    for (let k = 0; k < n; k++) {
      firsts.push(early.add(`t${k}`, interval, t0, undefined, window)!);
      homes.push(plain.add(`t${k}`, interval, t0)!);
    }
    for (const t of firsts) {
      expect(t).toBeGreaterThanOrEqual(t0);
      expect(t).toBeLessThan(t0 + window);
    }
    // evenly spread over the window: the same golden-ratio phases, scaled
    expect(maxCircularGap(firsts.map((t) => t - t0), window)).toBeLessThanOrEqual((3 * window) / n);
    // run every check for 3 intervals, each taking 5 ms
    const dues = new Map<string, number[]>();
    let now = t0;
    const running: Array<{ c: DueCheck; end: number }> = [];
    while (now < t0 + 3 * interval) {
      const nextEnd = running.reduce((m, r) => Math.min(m, r.end), Infinity);
      now = Math.min(nextEnd, early.nextDeadlineMs());
      for (let i = running.length - 1; i >= 0; i--) {
        if (running[i]!.end <= now) {
          early.complete(running[i]!.c, now);
          running.splice(i, 1);
        }
      }
      for (const c of early.takeDue(now)) {
        dues.set(c.id, [...(dues.get(c.id) ?? []), c.dueMs]);
        running.push({ c, end: now + 5 });
      }
    }
    for (let k = 0; k < n; k++) {
      const d = dues.get(`t${k}`)!;
      expect(d[0]).toBe(firsts[k]);
      // the second check is at the target's home slot (one interval later if
      // that was the first check's own slot), or as soon as the first check
      // ended if that slot passed meanwhile (then the phase shifts by < 5 ms)
      const home = homes[k]! > firsts[k]! ? homes[k]! : firsts[k]! + interval;
      expect(d[1]).toBe(Math.max(home, firsts[k]! + 5));
      for (let j = 1; j < d.length; j++) expect(d[j]! - d[j - 1]!).toBeLessThanOrEqual(interval);
      expect(d[2]).toBe(d[1]! + interval); // then every interval, from the home slot
    }
    // in steady state the checks are spread over the whole interval as without the option
    const steady = [...dues.values()].map((d) => d[2]!);
    expect(maxCircularGap(steady, interval)).toBeLessThanOrEqual((3 * interval) / n);
    expect(early.overruns).toBe(0);
  });

  it("firstCheckWithinMs: keeps the concurrency bound and one check per target; 0 means now; a window of an interval or more changes nothing", () => {
    const s = new CheckScheduler(3, createPrng(2));
    for (let k = 0; k < 10; k++) expect(s.add(`t${k}`, 1000, 100, undefined, 0)).toBe(100);
    const batch = s.takeDue(100);
    expect(batch).toHaveLength(3);
    expect(s.nextDeadlineMs()).toBe(Infinity);
    const a = new CheckScheduler(3, createPrng(7));
    const b = new CheckScheduler(3, createPrng(7));
    for (let k = 0; k < 20; k++) expect(a.add(`t${k}`, 500, 0, undefined, 500)).toBe(b.add(`t${k}`, 500, 0));
    expect(a.add("t0", 500, 0, undefined, 10)).toBeUndefined(); // taken id: nothing changes
  });

  it("firstCheckWithinMs: the second check is never more than an interval after the first, even if the interval shrank meanwhile", () => {
    const s = new CheckScheduler(100, createPrng(5));
    for (let k = 0; k < 20; k++) s.add(`t${k}`, 1000, 0, undefined, 100);
    for (let k = 0; k < 20; k++) s.changeInterval(`t${k}`, 150, 0);
    const firsts = s.takeDue(100);
    expect(firsts).toHaveLength(20);
    for (const c of firsts) s.complete(c, 100);
    for (const c of firsts) expect(s.nextDueOf(c.id)).toBeLessThanOrEqual(Math.max(c.dueMs + 150, 100));
  });

  it("firstCheckWithinMs: rejects a negative or non-numeric window, naming it", () => {
    const s = new CheckScheduler(3, createPrng(2));
    expect(() => s.add("a", 1000, 0, undefined, -1)).toThrow(/firstCheckWithinMs/);
    expect(() => s.add("a", 1000, 0, undefined, NaN)).toThrow(/firstCheckWithinMs/);
    expect(() => s.add("a", 1000, 0, undefined, Infinity)).toThrow(/firstCheckWithinMs/);
    expect(s.size).toBe(0);
  });

  it("property: at most one check per target and at most maxConcurrent in flight, whatever the timings (with and without firstCheckWithinMs)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.integer({ min: 1, max: 6 }),
        fc.array(
          fc.oneof(
            fc.record({
              type: fc.constant("add" as const),
              id: fc.integer({ min: 0, max: 7 }),
              interval: fc.integer({ min: 10, max: 200 }),
              within: fc.option(fc.integer({ min: 0, max: 250 }), { nil: undefined }),
            }),
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
          // per id/generation: interval, end of its previous check, and the latest first due (Infinity while an old check of the id runs)
          const info = new Map<string, { interval: number; lastEnd: number; firstBy: number }>();
          for (const op of ops) {
            if (op.type === "add") {
              const parked = s.isRunning(`t${op.id}`);
              if (s.add(`t${op.id}`, op.interval, now, undefined, op.within) !== undefined) {
                const gen = s.entry(`t${op.id}`)!.generation;
                const window = Math.min(op.within ?? op.interval, op.interval);
                info.set(`t${op.id}/${gen}`, { interval: op.interval, lastEnd: -Infinity, firstBy: parked ? Infinity : now + window });
              }
            } else if (op.type === "remove") s.remove(`t${op.id}`);
            else {
              const until = now + op.ms;
              for (;;) {
                running.sort((a, b) => a.endMs - b.endMs);
                const nextEnd = running[0]?.endMs ?? Infinity;
                const nextDue = s.nextDeadlineMs();
                const t = Math.min(nextEnd, nextDue);
                if (t > until) break;
                now = Math.max(now, t);
                if (nextEnd <= nextDue) {
                  const done = running.shift()!.check;
                  const i = info.get(`${done.id}/${done.generation}`);
                  if (i) i.lastEnd = now;
                  s.complete(done, now);
                }
                for (const c of s.takeDue(now)) {
                  expect(running.some((r) => r.check.id === c.id)).toBe(false);
                  expect(c.dueMs).toBeLessThanOrEqual(now);
                  const key = `${c.id}/${c.generation}`;
                  const prev = lastDue.get(key);
                  const i = info.get(key)!;
                  if (prev !== undefined) {
                    expect(c.dueMs).toBeGreaterThan(prev);
                    // never more than one interval after the previous due, unless that check ended later
                    expect(c.dueMs).toBeLessThanOrEqual(Math.max(prev + i.interval, i.lastEnd) + 1e-9);
                  } else if (i.firstBy !== Infinity) {
                    // the first check is due within the window (or the interval)
                    expect(c.dueMs).toBeLessThan(i.firstBy + 1e-9);
                  }
                  lastDue.set(key, c.dueMs);
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
