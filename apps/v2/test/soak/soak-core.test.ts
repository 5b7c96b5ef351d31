import { createPrng } from "@heck/sim";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SoakMeter } from "../../src/soak/metrics.ts";
import { CPU_SHARES_PCT, describeSoakFault, soakSchedule, type SoakStep } from "../../src/soak/schedule.ts";
import { scheduleTiming } from "../../src/soak/run.ts";
import { parseDuration } from "../../src/soak/command.ts";

const agents = ["n1", "n2", "n3", "n4", "n5", "n6", "n7"];
const schedule = (seed: number, durationMs = 900_000): SoakStep[] => soakSchedule({ prng: createPrng(seed), agents, origins: 2000, durationMs, ...scheduleTiming(durationMs) });

describe("soak schedule", () => {
  it("is a function of the seed", () => {
    expect(schedule(42)).toEqual(schedule(42));
    expect(schedule(42)).not.toEqual(schedule(43));
  });

  it("keeps faults out of the warm-up and cool-down, pairs every fault with its end, one process fault, one network fault and one CPU fault at a time", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.constantFrom(90_000, 900_000), (seed, durationMs) => {
        const t = scheduleTiming(durationMs);
        const steps = schedule(seed, durationMs);
        let victim: string | null = null;
        let net: string | null = null;
        let starved: { agent: string; atMs: number } | null = null;
        for (const s of steps) {
          const f = s.fault;
          if (f.kind !== "flip") {
            expect(s.atMs).toBeGreaterThanOrEqual(t.warmupMs);
            expect(s.atMs).toBeLessThanOrEqual(durationMs - t.cooldownMs);
          }
          if (f.kind === "kill" || f.kind === "stop") {
            expect(victim).toBeNull();
            victim = f.agent;
          } else if (f.kind === "restart" || f.kind === "cont") {
            expect(f.agent).toBe(victim);
            victim = null;
          } else if (f.kind === "partition" || f.kind === "loss" || f.kind === "delay") {
            expect(net).toBeNull();
            net = f.kind === "partition" ? "partition" : "impairment";
          } else if (f.kind === "heal") {
            expect(net).toBe("partition");
            net = null;
          } else if (f.kind === "clear") {
            expect(net).toBe("impairment");
            net = null;
          } else if (f.kind === "cpu") {
            expect(starved).toBeNull();
            expect(agents).toContain(f.agent);
            expect(CPU_SHARES_PCT).toContain(f.pct);
            starved = { agent: f.agent, atMs: s.atMs };
          } else if (f.kind === "uncpu") {
            // Released by the same agent, after a hold within the schedule's bounds.
            expect(f.agent).toBe(starved?.agent);
            expect(s.atMs - starved!.atMs).toBeGreaterThanOrEqual(t.minHoldMs - 1);
            expect(s.atMs - starved!.atMs).toBeLessThanOrEqual(t.maxHoldMs + 1);
            starved = null;
          }
        }
        expect(victim).toBeNull();
        expect(net).toBeNull();
        expect(starved).toBeNull();
      }),
      { numRuns: 50 },
    );
  });

  it("a 15-minute schedule has every kind of fault and partitions of several shapes", () => {
    const steps = schedule(1);
    const kinds = new Set(steps.map((s) => s.fault.kind));
    for (const k of ["kill", "restart", "stop", "cont", "partition", "heal", "flip", "cpu", "uncpu"]) expect(kinds).toContain(k);
    expect(kinds.has("loss") || kinds.has("delay")).toBe(true);
    const shapes = new Set(steps.flatMap((s) => (s.fault.kind === "partition" ? [s.fault.spec.kind] : [])));
    expect(shapes.size).toBeGreaterThanOrEqual(2);
  });

  it("confines agents to several shares of a core, and prints each CPU fault with the agent and the share", () => {
    const cpu = schedule(1).flatMap((s) => (s.fault.kind === "cpu" ? [s.fault] : []));
    expect(new Set(cpu.map((f) => f.pct)).size).toBeGreaterThanOrEqual(2);
    expect(new Set(cpu.map((f) => f.agent)).size).toBeGreaterThanOrEqual(2);
    expect(describeSoakFault({ kind: "cpu", agent: "n3", pct: 20 })).toBe("cpu n3 to 20% of one core");
    expect(describeSoakFault({ kind: "uncpu", agent: "n3" })).toBe("release cpu n3");
  });

  it("a 10-second schedule (CI's form) still starts and ends faults", () => {
    const steps = schedule(7, 10_000);
    expect(steps.some((s) => s.fault.kind !== "flip")).toBe(true);
  });

  it("parses durations as people write them", () => {
    expect(parseDuration("15m")).toBe(900_000);
    expect(parseDuration("90s")).toBe(90_000);
    expect(parseDuration("60000")).toBe(60_000);
    expect(() => parseDuration("5s")).toThrow(/10s\.\.24h/);
    expect(() => parseDuration("soon")).toThrow(/--duration/);
  });
});

describe("soak meter", () => {
  const meter = () => new SoakMeter({ origins: 3, intervalMs: 1000, allowedGapMs: 3000, pollMs: 250 });

  it("counts an origin covered while its last check is within the allowed gap, and finds the longest gap", () => {
    const m = meter();
    m.observeCounts(0, [0, 0, 0]);
    // Origins 0 and 1 are checked every second; origin 2 stops after t = 1 s.
    for (let t = 1000; t <= 10_000; t += 1000) m.observeCounts(t, [t / 1000, t / 1000, Math.min(1, t / 1000)]);
    m.closeOpenGaps(10_000);
    const f = m.figures();
    expect(f.longestGapOrigin).toBe(2);
    expect(f.longestGapMs).toBe(9000);
    // Origin 2 is uncovered from t = 1000 + 3250 on: samples 5..10 s, 6 of the 30.
    expect(f.coverageSamples).toBe(30);
    expect(f.coveragePct).toBeCloseTo((100 * 24) / 30, 5);
  });

  it("does not count coverage in the allowed gap after a fault starts", () => {
    const m = meter();
    m.observeCounts(0, [0, 0, 0]);
    m.faultStarted(500);
    for (let t = 1000; t <= 3000; t += 1000) m.observeCounts(t, [0, 0, 0]);
    expect(m.figures().coverageSamples).toBe(0);
  });

  it("attributes checks per origin per interval to healed and partitioned time", () => {
    const m = meter();
    m.observeCounts(0, [0, 0, 0]);
    m.observeCounts(2000, [2, 2, 2]);
    m.setMode("partitioned");
    m.observeCounts(4000, [6, 6, 6]);
    const f = m.figures();
    expect(f.checksPerOriginPerInterval.healed).toBe(1);
    expect(f.checksPerOriginPerInterval.partitioned).toBe(2);
    expect(f.checksPerOriginPerInterval.other).toBeNull();
  });

  it("tells full, empty and partial answers from no answer, and keeps the worst", () => {
    const m = meter();
    m.observeAnswer("n1", 1, 3);
    m.observeAnswer("n2", 2, 0);
    m.observeAnswer("n3", 3, 2);
    m.observeAnswer("n4", 4, null);
    const f = m.figures();
    expect(f.answers).toEqual({ full: 1, empty: 1, partial: 1, none: 1 });
    expect(f.worstAnswer).toEqual({ agent: "n2", atMs: 2, origins: 0 });
  });
});
