/**
 * Every rung of the failure-detection ladder (`heck-swim ladder`) opens in
 * the view: the command the ladder prints names a swim scenario the view
 * takes, and the view's run of it is the ladder's own scale run at n = 10
 * (the same detectors' verdicts at the same instant, its crash included);
 * the same command gives the same trace. At 10% loss the rung without
 * suspicion shows the failure it exists to show, and SWIM does not.
 */
import { describe, expect, it } from "vitest";
import { openScale, rungOf, rungWatchCommand, RUNG_KEYS } from "@heck/swim/ladder";
import { isScenario, parseActions, runScope } from "../src/index.ts";

const SEED = 2;
const UNTIL_MS = 8_000;

describe("the failure-detection ladder's rungs open in the view", () => {
  it.each(RUNG_KEYS)("%s: the rung's command opens the ladder's n = 10 run", (key) => {
    const [pnpm, bin, stage, ...args] = rungWatchCommand(key, SEED).split(/\s+/);
    expect([pnpm, bin, stage]).toEqual(["pnpm", "heck-scope", "swim"]);
    const scenario = args[args.indexOf("--scenario") + 1]!;
    const seed = Number(args[args.indexOf("--seed") + 1]);
    expect(isScenario("swim", scenario)).toBe(true);
    const run = runScope("swim", seed, UNTIL_MS, [], { scenario });
    expect(run.failure).toBeNull();
    const snap = run.snapshot();
    expect(snap.nodes).toHaveLength(10);
    // The ladder's crash (3 s in): one member down.
    expect(snap.nodes.filter((n) => !n.up)).toHaveLength(1);
    // The ladder's run stepped without the view holds the same verdicts.
    const { cluster } = openScale(rungOf(key), 10, SEED);
    cluster.runFor(UNTIL_MS);
    for (const n of snap.nodes.filter((x) => x.up)) {
      const beliefs = cluster.beliefs(n.id);
      expect(n.members, n.id).toEqual(cluster.ids.filter((m) => m !== n.id).map((m) => ({ name: m, state: beliefs.get(m) ?? "alive" })));
    }
    expect(runScope("swim", seed, UNTIL_MS, [], { scenario }).traceHash()).toBe(run.traceHash());
  });

  it("at 10% loss, SWIM without suspicion declares live members dead and SWIM does not", () => {
    const lossy = parseActions("3500 loss 0.1");
    if (!lossy.ok) throw new Error(lossy.error);
    const falseDeaths = (scenario: string): boolean | undefined =>
      runScope("swim", SEED, 40_000, lossy.actions, { scenario })
        .snapshot()
        .invariants.find((i) => i.name === "no live member declared dead")?.ok;
    expect(falseDeaths("ladder-swim-without-suspicion")).toBe(false);
    expect(falseDeaths("ladder-swim")).toBe(true);
  });
});
