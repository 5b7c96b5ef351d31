/**
 * Every rung of the coordination ladder (`heck ladder`) opens in the view:
 * the command the ladder prints for a rung names a v2 scenario the view
 * takes, and the view's run of it is the ladder's own run (its seed, its N,
 * its store; raft's leadership already handed to n1, as the ladder's runs
 * start), the same trace for the same command and another for another rung.
 */
import { describe, expect, it } from "vitest";
import { LADDER_STORES, rungWatchCommand, startRung } from "@heck/compare/ladder";
import { isScenario, runScope } from "../src/index.ts";

const SEED = 3;
const NODES = 3;

/** Splits a command line into words as a shell does for the plain words these commands use. */
function words(command: string): string[] {
  return command.split(/\s+/);
}

describe("the coordination ladder's rungs open in the view", () => {
  it.each(LADDER_STORES)("%s: the rung's command opens the ladder's run", (store) => {
    const [pnpm, bin, stage, ...args] = words(rungWatchCommand(store, NODES, SEED));
    expect([pnpm, bin, stage]).toEqual(["pnpm", "heck-scope", "v2"]);
    const scenario = args[args.indexOf("--scenario") + 1]!;
    const seed = Number(args[args.indexOf("--seed") + 1]);
    expect(isScenario("v2", scenario)).toBe(true);
    const rung = startRung(store, NODES, SEED);
    const untilMs = rung.startMs + 500;
    const run = runScope("v2", seed, untilMs, [], { scenario });
    expect(run.failure).toBeNull();
    expect(run.eventCount).toBeGreaterThan(0);
    const snap = run.snapshot();
    expect(snap.nodes.map((n) => n.id)).toEqual(rung.nodeIds);
    expect(snap.nodes.every((n) => n.up)).toBe(true);
    // The ladder's run, stepped without the view, reaches the same state.
    rung.sim.runFor(untilMs - rung.sim.nowMs);
    if (store === "crdt") {
      for (const n of snap.nodes) expect(n.vector).toEqual(Object.fromEntries([...(rung.sim.node(n.id) as unknown as { inner: { vector(): Map<string, number> } }).inner.vector()].sort()));
    } else {
      expect(snap.nodes[0]).toMatchObject({ role: "leader" });
      for (const n of snap.nodes) expect(n.commitIndex).toBe((rung.sim.node(n.id) as unknown as { raft: { commitIndex: number } }).raft.commitIndex);
    }
    expect(runScope("v2", seed, untilMs, [], { scenario }).traceHash()).toBe(run.traceHash());
  });

  it("another rung, another run; a rung the ladder does not have is refused", () => {
    expect(runScope("v2", SEED, 3_000, [], { scenario: "ladder-raft-n3" }).traceHash()).not.toBe(runScope("v2", SEED, 3_000, [], { scenario: "ladder-crdt-n3" }).traceHash());
    expect(isScenario("v2", "ladder-paxos-n3")).toBe(false);
    expect(isScenario("v2", "ladder-raft-n1")).toBe(false);
  });
});
