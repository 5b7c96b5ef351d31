import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { BucketHistogram, CheckStats, LogHistogram, OUTCOMES } from "../src/index.ts";

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

describe("LogHistogram", () => {
  it("property: quantiles are within the precision of the exact nearest-rank quantile", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0.01, max: 50_000, noNaN: true }), { minLength: 1, maxLength: 300 }), fc.double({ min: 0.01, max: 1, noNaN: true }), (values, q) => {
        const h = new LogHistogram(1e-3, 1e6, 0.01);
        for (const v of values) h.observe(v);
        const sorted = [...values].sort((a, b) => a - b);
        const exact = sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
        const got = h.quantile(q);
        // The bucket's upper edge: never below the value, at most 1% above it.
        expect(got).toBeGreaterThanOrEqual(exact * (1 - 1e-9));
        expect(got).toBeLessThanOrEqual(exact * 1.01 * (1 + 1e-9));
      }),
    );
  });

  it("gives the observations between two moments", () => {
    const h = new LogHistogram();
    h.observe(1);
    const before = h.copy();
    h.observe(100);
    h.observe(100);
    const d = h.since(before);
    expect(d.count).toBe(2);
    expect(d.quantile(0.5)).toBeCloseTo(100, -1);
  });
});
