/**
 * The coordination-cost ladder on small clusters: coordinating every record
 * costs capacity as N grows, coordinating only the origin list does not, and
 * only the list's changes wait. `HECK_SEED=<n>` replays one seed.
 */
import { seedsFromEnv } from "@heck/sim/io";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { uslThroughput } from "../src/analysis/usl.ts";
import { formatCoordinationLadder, runCoordinationLadder, rungWatchCommand, type CoordinationRung } from "../src/ladder.ts";
import { heckBin } from "./support/heck-bin.ts";

const BIN = heckBin();

function rung(rungs: readonly CoordinationRung[], store: CoordinationRung["store"]): CoordinationRung {
  return rungs.find((r) => r.store === store)!;
}

describe("the coordination-cost ladder", () => {
  it.each(seedsFromEnv({ fixed: [1], random: 0 }))("raft loses capacity as N grows; raft for the list only keeps the CRDT's; only list changes wait (HECK_SEED=%i)", { timeout: 120_000 }, (seed) => {
    const l = runCoordinationLadder({ seed, sizes: [3, 5, 9] });
    const raft = rung(l.rungs, "raft");
    const hybrid = rung(l.rungs, "hybrid");
    const crdt = rung(l.rungs, "crdt");
    for (const r of l.rungs) expect(r.points.map((p) => p.n), r.store).toEqual([3, 5, 9]);
    const cap = (r: CoordinationRung, i: number): number => r.points[i]!.capacityUpdatesPerSec;
    // Every coordinated record goes through one leader that reaches every follower: each size costs more.
    expect(cap(raft, 1)).toBeLessThan(cap(raft, 0));
    expect(cap(raft, 2)).toBeLessThan(cap(raft, 1));
    expect(cap(raft, 2)).toBeLessThan(0.75 * cap(raft, 0));
    expect(raft.usl!.kappa).toBeGreaterThan(0.01);
    // Each rung's fitted law is its curve: within 10% of every measured capacity, falling for raft only.
    for (const r of l.rungs) {
      r.points.forEach((p, i) => {
        const ratio = uslThroughput(p.n, r.usl!) / cap(r, i);
        expect(Math.abs(ratio - 1), `${r.store} at N = ${p.n}: fitted / measured = ${ratio}`).toBeLessThan(0.1);
      });
    }
    expect(raft.usl!.r2).toBeGreaterThan(0.9);
    expect(uslThroughput(9, raft.usl!)).toBeLessThan(0.75 * uslThroughput(3, raft.usl!));
    for (const r of [hybrid, crdt]) {
      expect(r.usl!.kappa, r.store).toBeLessThan(raft.usl!.kappa / 10);
      expect(uslThroughput(9, r.usl!), r.store).toBeGreaterThan(0.85 * uslThroughput(3, r.usl!));
    }
    // Records in the CRDT: capacity flat in N, with or without the list in Raft.
    expect(cap(crdt, 2)).toBeGreaterThan(0.85 * cap(crdt, 0));
    expect(cap(hybrid, 2)).toBeGreaterThan(0.85 * cap(crdt, 2));
    expect(cap(hybrid, 2)).toBeGreaterThan(1.5 * cap(raft, 2));
    // Only what is coordinated waits: records are acknowledged at once outside raft, list changes wait for a majority in the hybrid.
    expect(raft.recordWriteMs.p99!).toBeGreaterThan(1);
    expect(hybrid.recordWriteMs.p99).toBe(0);
    expect(hybrid.listChangeMs.p99!).toBeGreaterThan(1);
    expect(crdt.listChangeMs.p99).toBe(0);
    // What coordination buys: raft's writes are visible everywhere sooner than gossip spreads them.
    expect(raft.visibleP99Ms!).toBeLessThan(crdt.visibleP99Ms!);
    expect(l.calm).toMatch(/CALM/);
    // Each rung names the command that opens its run in the browser view, at the smallest N.
    for (const r of l.rungs) {
      expect(r.watch).toBe(rungWatchCommand(r.store, 3, seed));
      expect(formatCoordinationLadder(l)).toContain(`  ${r.name}: ${r.watch}`);
    }
  });

  it("`heck ladder` refuses sizes it cannot fit a law to, naming the flag", { timeout: 60_000 }, () => {
    const r = spawnSync(process.execPath, [BIN, "ladder", "--sizes", "3,5"], { encoding: "utf8" });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/--sizes: at least three integers/);
  });

  it("`heck ladder --json` prints one line with every rung's name, what broke and figures", { timeout: 120_000 }, () => {
    const r = spawnSync(process.execPath, [BIN, "ladder", "--sizes", "3,4,5", "--json"], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const parsed = JSON.parse(lines[0]!) as { rungs: Array<{ name: string; broke: string; store: string; points: unknown[] }>; calm: string };
    expect(parsed.rungs.map((x) => x.store)).toEqual(["raft", "hybrid", "crdt"]);
    for (const x of parsed.rungs) {
      expect(x.broke.length, x.name).toBeGreaterThan(0);
      expect(x.points).toHaveLength(3);
    }
  });
});
