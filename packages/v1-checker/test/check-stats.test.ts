import { describe, expect, it } from "vitest";
import { BucketHistogram, CheckStats, OUTCOMES } from "../src/index.ts";

describe("CheckStats", () => {
  it("counts observations into Prometheus-style buckets (upper bound inclusive, +Inf last)", () => {
    const h = new BucketHistogram([0.001, 0.01, 0.1]);
    for (const v of [0.0005, 0.001, 0.002, 0.1, 0.5]) h.observe(v);
    expect(Array.from(h.counts)).toEqual([2, 1, 1, 1]);
    expect(h.cumulative(1)).toBe(3);
    expect(h.cumulative(3)).toBe(5);
    expect(h.count).toBe(5);
    expect(h.sum).toBeCloseTo(0.6035, 9);
  });

  it("keeps latency per outcome in seconds and lag with negative lags as zero", () => {
    const s = new CheckStats();
    s.record({ ok: true, latencyMs: 2 }, 3);
    s.record({ ok: false, latencyMs: 1000, error: { kind: "timeout", message: "x" } }, -1);
    expect(s.latency[OUTCOMES.indexOf("ok")]!.sum).toBeCloseTo(0.002, 9);
    expect(s.latency[OUTCOMES.indexOf("timeout")]!.count).toBe(1);
    expect(s.lag.count).toBe(2);
    expect(s.lag.sum).toBeCloseTo(0.003, 9);
  });
});
