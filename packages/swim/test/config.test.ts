import { describe, expect, it } from "vitest";
import {
  ConfigError,
  deadlineAfterAccusationsMs,
  detectionBoundMs,
  detectionBoundNoLossMs,
  disseminationBoundMs,
  expectedConfirmations,
  probeMissProbability,
  probePeriodsForAccusers,
  suspicionTimeoutAfterMs,
  lanConfig,
  localConfig,
  pushPullIntervalFor,
  resolveConfig,
  retransmitLimit,
  suspicionTimeoutMs,
  wanConfig,
  withoutLifeguard,
} from "../src/core/config.ts";

describe("config presets carry memberlist 0.2.2's defaults", () => {
  it("lan: probe 1 s, timeout 500 ms, 3 indirect, suspicion x4 (max x6), gossip 200 ms to 3, push-pull 30 s", () => {
    expect(lanConfig()).toMatchObject({
      probeIntervalMs: 1000,
      probeTimeoutMs: 500,
      indirectChecks: 3,
      suspicionMult: 4,
      suspicionMaxTimeoutMult: 6,
      retransmitMult: 4,
      gossipIntervalMs: 200,
      gossipNodes: 3,
      gossipToTheDeadMs: 30_000,
      pushPullIntervalMs: 30_000,
      awarenessMaxMultiplier: 8,
      streamTimeoutMs: 10_000,
      maxPacketBytes: 1400,
    });
  });

  it("wan and local change what memberlist changes", () => {
    expect(wanConfig()).toMatchObject({ probeIntervalMs: 5000, probeTimeoutMs: 3000, suspicionMult: 6, gossipNodes: 4, gossipIntervalMs: 500, pushPullIntervalMs: 60_000 });
    expect(localConfig()).toMatchObject({ probeIntervalMs: 1000, probeTimeoutMs: 200, indirectChecks: 1, retransmitMult: 2, suspicionMult: 3, gossipIntervalMs: 100, pushPullIntervalMs: 15_000 });
  });

  it("withoutLifeguard turns off the multiplier, dynamic suspicion and buddy system", () => {
    expect(withoutLifeguard(lanConfig())).toMatchObject({ awarenessMaxMultiplier: 1, suspicionMaxTimeoutMult: 1, buddySystem: false });
  });
});

describe("config formulas", () => {
  it("suspicion timeout = mult * max(1, log10 n) * probe interval", () => {
    const c = lanConfig();
    expect(suspicionTimeoutMs(c, 1)).toBe(4000);
    expect(suspicionTimeoutMs(c, 10)).toBe(4000);
    expect(suspicionTimeoutMs(c, 100)).toBe(8000);
    expect(suspicionTimeoutMs(c, 1000)).toBe(12_000);
  });

  it("retransmit limit = mult * ceil(log10(n + 1))", () => {
    const c = lanConfig();
    expect(retransmitLimit(c, 1)).toBe(4);
    expect(retransmitLimit(c, 9)).toBe(4);
    expect(retransmitLimit(c, 10)).toBe(8);
    expect(retransmitLimit(c, 100)).toBe(12);
  });

  it("push-pull interval grows with log2(n) past 32 members", () => {
    const c = lanConfig();
    expect(pushPullIntervalFor(c, 32)).toBe(30_000);
    expect(pushPullIntervalFor(c, 33)).toBe(60_000);
    expect(pushPullIntervalFor(c, 64)).toBe(60_000);
    expect(pushPullIntervalFor(c, 1000)).toBe(6 * 30_000);
  });
});

describe("detection bounds", () => {
  const c = lanConfig();

  it("Lifeguard expects suspicionMult - 2 confirmations, none in a cluster too small to give them", () => {
    expect(expectedConfirmations(c, 10)).toBe(2);
    expect(expectedConfirmations(c, 4)).toBe(2);
    expect(expectedConfirmations(c, 3)).toBe(0);
    expect(suspicionTimeoutAfterMs(c, 10, 0)).toBe(24_000);
    expect(suspicionTimeoutAfterMs(c, 10, 1)).toBe(11_381); // 24 s - 20 s * log 2 / log 3
    expect(suspicionTimeoutAfterMs(c, 10, 2)).toBe(4000);
    expect(suspicionTimeoutAfterMs(c, 3, 0)).toBe(4000);
  });

  it("dissemination: a round to start, ceil(log4 n) to spread, ceil(L / 3) while the last holders send", () => {
    expect(disseminationBoundMs(c, 10)).toBe((1 + 2 + 3) * 200); // L = 8
    expect(disseminationBoundMs(c, 100)).toBe((1 + 4 + 4) * 200); // L = 12
    expect(disseminationBoundMs({ ...c, gossipIntervalMs: 0 }, 10)).toBe((1 + 4 + 8) * 1000); // on pings only
  });

  it("round robin: a member probes a given peer within 2n - 3 periods for sure, and within m with probability >= 1 - (1 - m/2(n-1))^2", () => {
    expect(probeMissProbability(10, 17)).toBe(0);
    expect(probeMissProbability(10, 9)).toBeCloseTo(0.25);
    expect(probeMissProbability(10, 1)).toBeCloseTo((17 / 18) ** 2);
    // The miss bound is exact for a window split evenly between two rounds: check by enumeration.
    const n = 7;
    for (let m = 1; m < 2 * n - 3; m++) {
      let worst = 0;
      for (let a = 0; a <= Math.min(m, n - 1); a++) {
        const b = m - a;
        if (b > n - 1) continue;
        worst = Math.max(worst, (1 - a / (n - 1)) * (1 - b / (n - 1)));
      }
      expect(probeMissProbability(n, m)).toBeGreaterThanOrEqual(worst - 1e-12);
    }
  });

  it("the j-th accuser's quantile grows with j and shrinks with epsilon, and never exceeds the round-robin certainty", () => {
    expect(probePeriodsForAccusers(10, 1, 1e-6)).toBeLessThanOrEqual(probePeriodsForAccusers(10, 3, 1e-6));
    expect(probePeriodsForAccusers(10, 1, 1e-3)).toBeLessThan(probePeriodsForAccusers(10, 1, 1e-9));
    expect(probePeriodsForAccusers(5, 3, 1e-12)).toBe(7); // 2n - 3
    expect(probePeriodsForAccusers(3, 3, 1e-6)).toBe(Infinity); // only 2 members can probe
  });

  it("given accusation times, the bound is the first declarer's timer plus dissemination, or a stalled member's query", () => {
    // n = 10: min 4 s, D = 1.2 s. Accusations at 1 s, 2 s, 3 s: the first accuser has both
    // confirmations by 3 s + D < 1 s + 4 s, so it declares at 5 s; everyone knows by 6.2 s; a
    // member that missed it is stalled by 2 s + D + 4 s = 7.2 s and asks within a period: 8.2 s.
    expect(deadlineAfterAccusationsMs(c, 10, [1000, 2000, 3000])).toBe(8200);
    // Slow confirmations: the second arrives at 20 s (+ D); the one-confirmation timeout (11.4 s) fires first.
    expect(deadlineAfterAccusationsMs(c, 10, [1000, 20_000, 30_000])).toBe(Math.max(1000 + 11_381 + 1200, 20_000 + 1200 + 4000) + 1000);
    expect(deadlineAfterAccusationsMs(c, 10, [])).toBe(Infinity);
  });

  it("the no-loss bound is far tighter than the timers-only worst case, and grows slowly with n", () => {
    const b10 = detectionBoundNoLossMs(c, 10);
    const b100 = detectionBoundNoLossMs(c, 100);
    expect(b10).toBeLessThan(20_000);
    expect(b100).toBeLessThan(31_000);
    expect(b100).toBeGreaterThan(b10);
    expect(detectionBoundMs(c, 10)).toBe(18 * 8000 + 24_000);
    expect(detectionBoundNoLossMs(c, 10, 1e-3)).toBeLessThan(b10);
  });
});

describe("resolveConfig", () => {
  it("fills from the base preset", () => {
    expect(resolveConfig({ probeIntervalMs: 200, probeTimeoutMs: 100 }, localConfig())).toMatchObject({ probeIntervalMs: 200, suspicionMult: 3 });
  });

  it("names the bad field", () => {
    expect(() => resolveConfig({ probeIntervalMs: -1 })).toThrow(/probeIntervalMs: must be an integer >= 1/);
    expect(() => resolveConfig({ probeTimeoutMs: 5000 })).toThrow(/probeTimeoutMs: must not exceed probeIntervalMs/);
    expect(() => resolveConfig({ buddySystem: "yes" as unknown as boolean })).toThrow(ConfigError);
    expect(() => resolveConfig({ probeInterval: 5 } as never)).toThrow(/probeInterval: unknown config field/);
  });
});
