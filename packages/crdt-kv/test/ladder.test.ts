/**
 * crdt-kv's two ladders: each rung's failure asserted on the seeds the CLI
 * uses (small clusters keep CI cheap; the table's n = 1,024 runs in
 * `pnpm heck-crdt ladder`). `HECK_SEED=<n>` replays one seed.
 */
import { seedsFromEnv } from "@heck/sim/io";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CAUSALITY_RUNGS, openStory, runCausalityLadder, runStory, type CausalityRungKey, type CausalityRungResult } from "../src/ladder/causality-ladder.ts";
import { GOSSIP_RUNGS, runGossipLadder, type GossipRungKey } from "../src/ladder/gossip-ladder.ts";
import { crdtLaddersJson, runCrdtLadders } from "../src/ladder/ladders.ts";

const seeds = seedsFromEnv({ fixed: [1, 2], random: 1 });
const BIN = fileURLToPath(new URL("../bin/heck-crdt.js", import.meta.url));

function rungOf(rungs: readonly CausalityRungResult[], key: CausalityRungKey): CausalityRungResult {
  return rungs.find((r) => r.key === key)!;
}

describe("the causality ladder", () => {
  it.each(seeds)("Lamport clocks lose a concurrent write; per-replica vectors keep superseded siblings where dotted version vectors do not (HECK_SEED=%i)", (seed) => {
    const l = runCausalityLadder({ seed });
    expect(l.exact).toMatchObject({ concurrent: 3, siblingsAtEnd: 2 });
    const lamport = rungOf(l.rungs, "lamport");
    expect(lamport.concurrentKept).toBeLessThan(3);
    expect(lamport.lostWrites).toBeGreaterThan(0);
    const replica = rungOf(l.rungs, "replica-vv");
    expect(replica.lostWrites).toBe(0);
    expect(replica.staleSiblings).toBeGreaterThan(0);
    expect(replica.siblingsAtEnd).toBeGreaterThan(2);
    const dvv = rungOf(l.rungs, "dvv");
    expect(dvv).toMatchObject({ concurrentKept: 3, siblingsAtEnd: 2, lostWrites: 0, staleSiblings: 0 });
    // Per-client vectors are exact too, but their context names every client that wrote.
    const client = rungOf(l.rungs, "client-vv");
    expect(client).toMatchObject({ lostWrites: 0, staleSiblings: 0, siblingsAtEnd: 2 });
    expect(client.contextBytes).toBeGreaterThan(5 * dvv.contextBytes);
  });
});

describe("the gossip ladder", () => {
  it.each(seeds)("anti-entropy reaches everyone, push-pull in the fewest rounds; rumor mongering leaves a residue; delta sync misses none (HECK_SEED=%i)", (seed) => {
    const epidemics = runGossipLadder({ seed, sizes: [256], trials: 3, rungs: ["push", "pull", "push-pull", "rumor"] });
    const delta = runGossipLadder({ seed, sizes: [64], trials: 1, rungs: ["delta-sync"] });
    const at = (key: GossipRungKey, n: number, lossy = false) => {
      const r = [...epidemics.rungs, ...delta.rungs].find((x) => x.key === key)!;
      return (lossy ? r.lossy : r.clean).find((f) => f.nodes === n)!;
    };
    for (const key of ["push", "pull", "push-pull"] as const) {
      for (const lossy of [false, true]) expect(at(key, 256, lossy).missed, `${key} lossy=${lossy}`).toBe(0);
    }
    for (const lossy of [false, true]) expect(at("delta-sync", 64, lossy).missed, `delta sync lossy=${lossy}`).toBe(0);
    expect(at("push-pull", 256).rounds!).toBeLessThan(at("pull", 256).rounds!);
    expect(at("push-pull", 256).rounds!).toBeLessThan(at("push", 256).rounds!);
    // The stop rule ends the rumor before everyone has it (about 3.7% of 256 with k = 2).
    expect(at("rumor", 256).missed).toBeGreaterThan(0);
    // It stops by itself, where push anti-entropy is still sending a message per replica every round.
    expect(at("rumor", 256).messages).toBeLessThan(at("push", 256).messages);
  });

  it("a seed replays both tables exactly", () => {
    const run = (seed: number) => crdtLaddersJson(runCrdtLadders({ seed, sizes: [8, 24], trials: 1 }));
    const a = run(7);
    expect(run(7)).toBe(a);
    expect(run(8)).not.toBe(a);
  });

  it("every rung of both ladders can be driven one event at a time, and stepping changes nothing", () => {
    for (const rung of GOSSIP_RUNGS) {
      const open = rung.open(8, 1, 0.1, 50);
      let steps = 0;
      while (open.simulation.nowMs < 3500 && open.simulation.step()) steps++;
      expect(steps, rung.key).toBeGreaterThan(10);
      const f = open.finish();
      expect(f.messages, rung.key).toBeGreaterThan(0);
      expect(f, rung.key).toEqual(rung.spread(8, 1, 0.1));
    }
    for (const rung of CAUSALITY_RUNGS) {
      const open = openStory(rung.store(1));
      for (let i = 0; i < 40 && open.simulation.step(); i++);
      expect(open.finish(), rung.key).toEqual(runStory(rung.store(1)));
    }
  });

  it("`heck-crdt ladder --json` prints one line with every rung's name, what broke, its ladder and figures", { timeout: 60_000 }, () => {
    const r = spawnSync(process.execPath, [BIN, "ladder", "--sizes", "8,16", "--trials", "1", "--seed", "3", "--json"], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const parsed = JSON.parse(lines[0]!) as { rungs: Array<{ name: string; broke: string; ladder: string }> };
    expect(parsed.rungs.filter((x) => x.ladder === "gossip")).toHaveLength(5);
    expect(parsed.rungs.filter((x) => x.ladder === "causality")).toHaveLength(4);
    for (const x of parsed.rungs) expect(x.broke.length, x.name).toBeGreaterThan(0);
    // Each rung names the command that opens it in the browser view (gossip: its first run at the smallest size).
    expect(parsed.rungs.map((x) => (x as { watch?: string }).watch)).toEqual([
      ...["push", "pull", "push-pull", "rumor", "delta-sync"].map((k) => `pnpm heck-scope crdt --scenario ladder-${k}-n8 --seed 3`),
      ...["lamport", "client-vv", "replica-vv", "dvv"].map((k) => `pnpm heck-scope crdt --scenario ladder-${k} --seed 3`),
    ]);
    const text = spawnSync(process.execPath, [BIN, "ladder", "causality"], { encoding: "utf8" });
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/Lamport clock/);
    expect(text.stdout).not.toMatch(/push-pull/);
    const bad = spawnSync(process.execPath, [BIN, "ladder", "nonsense"], { encoding: "utf8" });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/which must be gossip, causality or both/);
  });
});
