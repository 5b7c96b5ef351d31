import { describe, expect, it } from "vitest";
import {
  ConfigError,
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
