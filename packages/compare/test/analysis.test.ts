/**
 * The analysis pieces on their own: the USL fit recovers known coefficients,
 * quantiles agree with a naive model, staleness follows its definition.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CompletedWrites } from "../src/analysis/metrics.ts";
import { cdfPoints, quantileSorted, summarize } from "../src/analysis/stats.ts";
import { fitUsl, uslThroughput } from "../src/analysis/usl.ts";
import type { WriteRecord } from "../src/sim/workload.ts";

describe("USL fit", () => {
  it("recovers sigma and kappa from exact throughputs", () => {
    for (const truth of [
      { lambda: 1000, sigma: 0.05, kappa: 0.001 },
      { lambda: 250, sigma: 0.5, kappa: 0 },
      { lambda: 30_000, sigma: 0.9, kappa: 0.2 },
      { lambda: 5_000, sigma: 0, kappa: 0.01 },
    ]) {
      const pts = [3, 5, 9, 17, 33, 65].map((n) => ({ n, x: uslThroughput(n, truth) }));
      const f = fitUsl(pts);
      expect(f.sigma).toBeCloseTo(truth.sigma, 3);
      expect(f.kappa).toBeCloseTo(truth.kappa, 4);
      expect(f.lambda / truth.lambda).toBeCloseTo(1, 3);
      expect(f.r2).toBeGreaterThan(0.9999);
    }
  });

  it("fits noisy data within a few percent and reports the peak", () => {
    const truth = { lambda: 1000, sigma: 0.1, kappa: 0.002 };
    const noise = [1.02, 0.98, 1.01, 0.99, 1.02, 0.98, 1.0];
    const pts = [1, 2, 4, 8, 16, 32, 64].map((n, i) => ({ n, x: uslThroughput(n, truth) * noise[i]! }));
    const f = fitUsl(pts);
    expect(Math.abs(f.sigma - truth.sigma)).toBeLessThan(0.03);
    expect(Math.abs(f.kappa - truth.kappa)).toBeLessThan(0.001);
    expect(f.peakN).not.toBeNull();
    expect(Math.abs(f.peakN! - Math.sqrt((1 - truth.sigma) / truth.kappa))).toBeLessThan(5);
  });

  it("refuses fewer than three usable points, naming why", () => {
    expect(() => fitUsl([{ n: 1, x: 1 }, { n: 2, x: 0 }, { n: 3, x: -1 }])).toThrow(/at least 3 points/);
  });
});

describe("stats", () => {
  it("quantiles match a naive sort-and-interpolate model; summaries are ordered", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 200 }), fc.double({ min: 0, max: 1, noNaN: true }), (xs, q) => {
        const s = [...xs].sort((a, b) => a - b);
        const pos = (s.length - 1) * q;
        const naive = s[Math.floor(pos)]! + (s[Math.ceil(pos)]! - s[Math.floor(pos)]!) * (pos - Math.floor(pos));
        expect(quantileSorted(s, q)).toBeCloseTo(naive, 6);
        const sum = summarize(xs);
        expect(sum.p50!).toBeLessThanOrEqual(sum.p90! + 1e-3);
        expect(sum.p90!).toBeLessThanOrEqual(sum.p99! + 1e-3);
        expect(sum.p99!).toBeLessThanOrEqual(sum.max! + 1e-3);
      }),
    );
  });

  it("an empty sample has no figures, and a CDF rises from 0 to 1", () => {
    expect(summarize([])).toEqual({ count: 0, mean: null, p50: null, p90: null, p99: null, max: null });
    const c = cdfPoints([5, 1, 3, 2, 4], 5);
    expect(c[0]).toEqual([1, 0]);
    expect(c[c.length - 1]).toEqual([5, 1]);
  });
});

describe("staleness", () => {
  const w = (key: string, hlcMs: number, observer: string, doneMs: number, ok: boolean | null = true): WriteRecord => ({
    node: observer,
    key,
    version: { hlcMs, observer },
    value: "",
    status: "healthy",
    invokeMs: doneMs,
    resolvedMs: ok === null ? null : doneMs,
    ok,
    applied: ok,
    probe: false,
  });
  const writes = [w("k", 10, "a", 10), w("k", 20, "a", 25), w("k", 30, "b", 40), w("k", 35, "a", 50, false), w("k", 36, "a", 60, null)];
  const c = new CompletedWrites(writes);

  it("a read returning the newest completed version is fresh", () => {
    expect(c.staleness("k", 30, { hlcMs: 20, observer: "a" })).toBeNull();
    expect(c.staleness("k", 45, { hlcMs: 30, observer: "b" })).toBeNull();
  });

  it("a read missing a completed write is stale by the time since that write completed", () => {
    expect(c.staleness("k", 45, { hlcMs: 10, observer: "a" })).toBe(20);
    expect(c.staleness("k", 45, null)).toBe(35);
  });

  it("failed and unknown writes never make a read stale, and writes completing later do not count", () => {
    expect(c.staleness("k", 100, { hlcMs: 30, observer: "b" })).toBeNull();
    expect(c.staleness("k", 25, { hlcMs: 10, observer: "a" })).toBeNull();
    expect(c.staleness("other", 100, null)).toBeNull();
  });
});
