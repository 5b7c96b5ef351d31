/**
 * Every rung of the ownership ladder (`heck-ownership ladder`) opens in the
 * view: the command the ladder prints names an ownership scenario the view
 * takes, and once SWIM has told every survivor that the drawn member left,
 * each survivor's table is the ladder's own: the origins that moved and
 * those that moved between survivors are the table's "leave: moved" and
 * collateral. Modulo n shows what broke; rendezvous moves only the leaver's.
 */
import { describe, expect, it } from "vitest";
import { OWNERSHIP_RUNG_KEYS, runLadder, rungWatchCommand } from "@heck/ownership/ladder";
import { isScenario, runScope } from "../src/index.ts";

const SEED = 1;
const UNTIL_MS = 8_000;

describe("the ownership ladder's rungs open in the view", () => {
  const ladder = runLadder({ seed: SEED });

  it.each(["modulo", "jump", "rendezvous"] as const)("%s: the rung's command opens the ladder's draw, and the leave moves what the table says", (key) => {
    const [pnpm, bin, stage, ...args] = rungWatchCommand(key, SEED).split(/\s+/);
    expect([pnpm, bin, stage]).toEqual(["pnpm", "heck-scope", "ownership"]);
    const scenario = args[args.indexOf("--scenario") + 1]!;
    expect(isScenario("ownership", scenario)).toBe(true);
    for (const k of OWNERSHIP_RUNG_KEYS) expect(isScenario("ownership", `ladder-${k}`), k).toBe(true);
    const run = runScope("ownership", Number(args[args.indexOf("--seed") + 1]), UNTIL_MS, [], { scenario });
    expect(run.failure).toBeNull();
    const snap = run.snapshot();
    const row = ladder.rungs[OWNERSHIP_RUNG_KEYS.indexOf(key)]!;
    expect(snap.nodes).toHaveLength(ladder.members);
    expect(snap.nodes.filter((n) => !n.up).map((n) => n.id)).toEqual([ladder.leaver]);
    for (const n of snap.nodes.filter((x) => x.up)) {
      expect(n.liveView, n.id).not.toContain(ladder.leaver);
      expect([n.movedSinceStart, n.betweenSurvivors], n.id).toEqual([row.leave.moved, row.leave.collateral]);
    }
    const onlyForced = snap.invariants.find((i) => i.name === "only a departed member's origins move")!;
    expect(onlyForced.ok).toBe(row.leave.collateral === 0);
    if (key === "modulo") expect(onlyForced.detail).toMatch(new RegExp(`${row.leave.moved.toLocaleString("en")} of 10,000 origins moved \\(\\d+%\\), ${row.leave.collateral.toLocaleString("en")} of them between members still there`));
    expect(runScope("ownership", SEED, UNTIL_MS, [], { scenario }).traceHash()).toBe(run.traceHash());
  });
});
