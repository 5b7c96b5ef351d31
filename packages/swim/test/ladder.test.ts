/**
 * The failure-detection ladder: each rung's failure is asserted, not just
 * printed, on the same seeds as the final design. Small clusters keep CI
 * cheap (the table's n = 1,000 runs in `pnpm heck-swim ladder`). A failure
 * names its seed; `HECK_SEED=<n> pnpm vitest run --project swim` replays it.
 */
import { seedsFromEnv } from "@heck/sim/testing";
import { describe, expect, it } from "vitest";
import { measureLoss, measureScale, measureSlowMember, openScale, rungOf, RUNGS, runLadder, ladderJson, scaleFigures } from "../src/ladder/ladder.ts";
import { runScenario } from "../src/sim/scenario.ts";
import { runCli } from "./support/agents.ts";

const seeds = seedsFromEnv({ fixed: [1, 2, 3], random: 1 });

/** Runs `body`, turning any failure into a report that names the seed. */
function withSeed(seed: number, body: () => void): void {
  try {
    body();
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(msg.includes("HECK_SEED") ? msg : `HECK_SEED=${seed}: ${msg}`, { cause: e });
  }
}

describe("the failure-detection ladder", () => {
  it.each(seeds)("all-to-all heartbeats send n - 1 packets per member per period: O(n²) in all (seed %i)", (seed) => {
    withSeed(seed, () => {
      const small = measureScale(rungOf("all-to-all"), 10, seed);
      const large = measureScale(rungOf("all-to-all"), 40, seed);
      expect(small.packetsPerMemberPerPeriod).toBeCloseTo(9, 5);
      expect(large.packetsPerMemberPerPeriod).toBeCloseTo(39, 5);
      // Four times the members, sixteen times the cluster's traffic.
      expect((large.packetsPerMemberPerPeriod * 40) / (small.packetsPerMemberPerPeriod * 10)).toBeGreaterThan(16);
      // And it does detect: every member decides alone, within its timeout.
      expect(large.deadEverywhereMs).not.toBeNull();
    });
  });

  it("all-to-all's figures above the simulated size are counted, and counting gives what simulating gives", () => {
    const rung = rungOf("all-to-all");
    expect(rung.counted).toBeDefined();
    const simulated = measureScale(rung, 60, 4);
    const counted = rung.counted!.scaleTo(measureScale(rung, 20, 4), 60);
    expect(counted.countedFrom).toBe(20);
    expect(counted.packetsPerMemberPerPeriod).toBeCloseTo(simulated.packetsPerMemberPerPeriod, 9);
    expect(counted.bytesPerMemberPerPeriod).toBeCloseTo(simulated.bytesPerMemberPerPeriod, 9);
    // Detection does not depend on n: both runs detect within the same timeout (5 s of silence,
    // checked every 100 ms, after a last heartbeat up to a period before the crash).
    for (const f of [counted, simulated]) {
      expect(f.deadEverywhereMs!).toBeGreaterThan(4000);
      expect(f.deadEverywhereMs!).toBeLessThanOrEqual(5100);
    }
    // The ladder counts only past the limit.
    expect(scaleFigures(rung, 12, 4)).toEqual(measureScale(rung, 12, 4));
  });

  it.each(seeds)("gossip heartbeats send one packet per member per period, but detection slows and packets grow with n (seed %i)", (seed) => {
    withSeed(seed, () => {
      const small = measureScale(rungOf("gossip-heartbeat"), 10, seed);
      const large = measureScale(rungOf("gossip-heartbeat"), 100, seed);
      expect(small.packetsPerMemberPerPeriod).toBeCloseTo(1, 5);
      expect(large.packetsPerMemberPerPeriod).toBeCloseTo(1, 5);
      expect(large.bytesPerMemberPerPeriod).toBeGreaterThan(8 * small.bytesPerMemberPerPeriod);
      expect(large.deadEverywhereMs!).toBeGreaterThan(small.deadEverywhereMs! + 5000);
      // SWIM at the same size has everyone agree sooner than gossip heartbeats even start to.
      const swim = measureScale(rungOf("swim-lifeguard"), 100, seed);
      expect(swim.deadEverywhereMs!).toBeLessThan(large.firstDetectionMs!);
    });
  });

  it.each(seeds)("SWIM without suspicion declares healthy members dead at 10% loss; suspicion (SWIM §4.2) stops it (seed %i)", (seed) => {
    withSeed(seed, () => {
      expect(measureLoss(rungOf("swim-without-suspicion"), seed)).toBeGreaterThan(0);
      expect(measureLoss(rungOf("swim"), seed)).toBe(0);
      expect(measureLoss(rungOf("swim-lifeguard"), seed)).toBe(0);
    });
  });

  it.each(seeds)("plain SWIM declares healthy members dead around a slow member; Lifeguard does not (seed %i)", (seed) => {
    withSeed(seed, () => {
      const plain = measureSlowMember(rungOf("swim"), seed);
      const lifeguard = measureSlowMember(rungOf("swim-lifeguard"), seed);
      expect(plain.healthy).toBeGreaterThan(0);
      expect(lifeguard.healthy).toBe(0);
    });
  });

  it("the top rung is the stage's own design: the same seed gives the figures of `heck-swim sim`", () => {
    const ladder = measureScale(rungOf("swim-lifeguard"), 10, 1, 1000, 2000);
    const sim = runScenario({ nodes: 10, seed: 1, warmupMs: 1000, steadyMs: 2000, codec: false });
    expect(ladder.victim).toBe(sim.killed[0]);
    expect(ladder.packetsPerMemberPerPeriod).toBe(sim.steadyPacketsPerMemberPerPeriod);
    expect(ladder.firstDetectionMs).toBe(sim.firstSuspectMs);
    expect(ladder.deadEverywhereMs).toBe(sim.deadLastMs);
  });

  it("a seed replays the whole table exactly", () => {
    const options = { seed: 5, sizes: [5, 12], loss: { nodes: 12, rate: 0.1, windowMs: 10_000 }, slow: { nodes: 8, lagMs: 10_000, windowMs: 20_000 } };
    const a = ladderJson(runLadder(options));
    expect(ladderJson(runLadder(options))).toBe(a);
    expect(ladderJson(runLadder({ ...options, seed: 6 }))).not.toBe(a);
  });

  it("every rung's experiment can be driven one event at a time, and stepping changes nothing", () => {
    for (const rung of RUNGS) {
      const stepped = openScale(rung, 6, 1, 1000, 2000, 50);
      let steps = 0;
      // Through the warm-up, the load readings and the crash, one event at a time.
      while (stepped.cluster.simulation.nowMs < 3500 && stepped.cluster.simulation.step()) steps++;
      expect(steps, rung.key).toBeGreaterThan(20);
      expect(stepped.finish(), rung.key).toEqual(measureScale(rung, 6, 1, 1000, 2000));
    }
  });

  it("`heck-swim ladder --json` prints one line with every rung's name, what broke and its figures", { timeout: 60_000 }, async () => {
    const r = await runCli(["ladder", "--sizes", "5,10", "--seed", "2", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const parsed = JSON.parse(lines[0]!) as { rungs: Array<Record<string, unknown>> };
    expect(parsed.rungs.map((x) => x.name)).toEqual(RUNGS.map((x) => x.name));
    for (const rung of parsed.rungs) {
      expect(typeof rung.broke).toBe("string");
      expect(rung.packetsPerMemberPerPeriod).toHaveProperty("10");
    }
    const bad = await runCli(["ladder", "--sizes", "1,x"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--sizes|sizes must be/);
  });
});
