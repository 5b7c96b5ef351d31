/**
 * Every rung of crdt-kv's two ladders (`heck-crdt ladder`) opens in the
 * view: the command each ladder prints names a crdt scenario the view takes,
 * and the view's run of it is the ladder's own (a gossip rung: its first run
 * of the cell, reaching every replica after the ladder's rounds, or leaving
 * the ladder's count of replicas unreached; a causality rung: its story, the
 * same values on both replicas and the same writes lost or stale siblings
 * as the ladder's table). The same command gives the same trace.
 */
import { describe, expect, it } from "vitest";
import { CAUSALITY_RUNG_KEYS, CAUSALITY_RUNGS, causalityWatchCommand, GOSSIP_RUNG_KEYS, gossipWatchCommand, openGossipCell, openStory, runCrdtLadders, STORY_REPLICAS } from "@heck/crdt-kv/ladder";
import { isScenario, runScope } from "../src/index.ts";

const SEED = 1;
const GOSSIP_UNTIL_MS = 12_000;

/** The scenario and seed of a printed `pnpm heck-scope crdt ...` command. */
function opened(command: string): { scenario: string; seed: number } {
  const [pnpm, bin, stage, ...args] = command.split(/\s+/);
  expect([pnpm, bin, stage]).toEqual(["pnpm", "heck-scope", "crdt"]);
  const scenario = args[args.indexOf("--scenario") + 1]!;
  expect(isScenario("crdt", scenario)).toBe(true);
  return { scenario, seed: Number(args[args.indexOf("--seed") + 1]) };
}

const everyone = (invariants: ReadonlyArray<{ name: string; ok: boolean; detail?: string }>) => invariants.find((i) => i.name === "every replica has the update")!;

describe("the gossip ladder's rungs open in the view", () => {
  it.each(GOSSIP_RUNG_KEYS)("%s: the rung's command opens the ladder's first run at n = 16, done when the ladder says", (key) => {
    const { scenario, seed } = opened(gossipWatchCommand(key, 16, SEED));
    const figures = openGossipCell(key, 16, SEED, false).finish();
    // The write lands 3 s in; every rung is done (or quiet) within nine rounds of it on this seed.
    const run = runScope("crdt", seed, GOSSIP_UNTIL_MS, [], { scenario });
    expect(run.failure).toBeNull();
    const snap = run.snapshot();
    if (figures.rounds !== null) expect(everyone(snap.invariants)).toMatchObject({ ok: true, detail: `all 16, ${figures.rounds.toFixed(1)} rounds after the write` });
    // Only a rumor stops by itself: the replicas the ladder counts as missed are those the view shows without it.
    else expect([key, snap.nodes.filter((n) => n.has === false).length]).toEqual(["rumor", figures.missed]);
    if (key === "push") expect(runScope("crdt", seed, GOSSIP_UNTIL_MS, [], { scenario }).traceHash()).toBe(run.traceHash());
  });

  it("rumor mongering at n = 64 goes quiet with the ladder's count of replicas that never heard", () => {
    const figures = openGossipCell("rumor", 64, SEED, false).finish();
    expect(figures.missed).toBeGreaterThan(0);
    // By 20 s the rumor is over: nobody finds it hot, nothing in flight.
    const snap = runScope("crdt", SEED, 20_000, [], { scenario: "ladder-rumor-n64" }).snapshot();
    expect(snap.nodes.filter((n) => n.has === false)).toHaveLength(figures.missed);
    expect(everyone(snap.invariants).ok).toBe(false);
    expect(everyone(snap.invariants).detail).toMatch(new RegExp(`^${64 - figures.missed} of 64, and nobody spreads it any more`));
  });
});

describe("the causality ladder's rungs open in the view", () => {
  it.each(CAUSALITY_RUNG_KEYS)("%s: the rung's command opens the ladder's story, with the table's lost writes and stale siblings", (key) => {
    const { scenario, seed } = opened(causalityWatchCommand(key, SEED));
    const run = runScope("crdt", seed, 10_500, [], { scenario });
    expect(run.failure).toBeNull();
    const snap = run.snapshot();
    // The story run without the view shows the same values on both replicas.
    const store = CAUSALITY_RUNGS.find((r) => r.key === key)!.store(SEED);
    openStory(store).finish();
    for (const r of STORY_REPLICAS) expect((snap.nodes.find((n) => n.id === r)!.cart as { values: string[] }).values, r).toEqual(store.read(r).values);
    const row = runCrdtLadders({ seed: SEED, gossip: false }).causality!.rungs.find((r) => r.key === key)!;
    const [lost, stale] = snap.invariants;
    expect(lost!.ok).toBe(row.lostWrites === 0);
    expect(stale!.ok).toBe(row.staleSiblings === 0);
    if (key === "lamport") {
      // The concurrent writes a Lamport clock silently dropped at the first check.
      expect(lost!.detail).toMatch(/^lost: .*bob: milk, eggs.*carol: tea/);
      expect(lost!.detail!.split("; ")).toHaveLength(row.lostWrites);
    }
    if (key === "replica-vv") expect(stale!.detail!.split("; ")).toHaveLength(row.staleSiblings);
    expect(runScope("crdt", seed, 10_500, [], { scenario }).traceHash()).toBe(run.traceHash());
  });
});
