/**
 * Both rungs of the agreement ladder (`heck-raft ladder`) open in the view:
 * the command the ladder prints names a raft scenario the view takes, and
 * the view's run of it is the ladder's own story (the same copies on every
 * node, the same checker verdicts as the ladder's table); the same command
 * gives the same trace. Primary-backup shows what broke: two primaries, the
 * stale read and the lost write the linearizability checker caught.
 */
import { describe, expect, it } from "vitest";
import { AGREEMENT_RUNG_KEYS, agreementRungOf, openStory, rungWatchCommand, STORY } from "@heck/raft-kv/ladder";
import { isScenario, runScope } from "../src/index.ts";

const SEED = 1;

describe("the agreement ladder's rungs open in the view", () => {
  it.each(AGREEMENT_RUNG_KEYS)("%s: the rung's command opens the ladder's story, and the checker's verdicts show", (key) => {
    const [pnpm, bin, stage, ...args] = rungWatchCommand(key, SEED).split(/\s+/);
    expect([pnpm, bin, stage]).toEqual(["pnpm", "heck-scope", "raft"]);
    const scenario = args[args.indexOf("--scenario") + 1]!;
    const seed = Number(args[args.indexOf("--seed") + 1]);
    expect(isScenario("raft", scenario)).toBe(true);
    const run = runScope("raft", seed, STORY.endAtMs, [], { scenario });
    expect(run.failure).toBeNull();
    const snap = run.snapshot();
    // The ladder's story stepped without the view: the same verdicts and the same copies on every node.
    const story = openStory(agreementRungOf(key), SEED);
    const result = story.finish();
    const runner = story.runner as { tryNode(id: string): { copyOf(k: string): string | null } | undefined };
    for (const n of snap.nodes) expect(n.copy, n.id).toEqual(Object.fromEntries(["x", "y", "z"].map((k) => [k, runner.tryNode(n.id)!.copyOf(k)])));
    const verdict = (name: RegExp) => snap.invariants.find((i) => name.test(i.name))!;
    expect(verdict(/one primary/)).toMatchObject({ ok: result.leadersAcknowledging.length === 1, detail: `acknowledged by ${result.leadersAcknowledging.join(" and ")}` });
    expect(verdict(/stale read/).ok).toBe(!result.staleReadCaught);
    expect(verdict(/lost write/).ok).toBe(!result.lostWriteCaught);
    expect(verdict(/linearizable/).ok).toBe(result.linearizable);
    if (key === "primary-backup") {
      expect(result.leadersAcknowledging).toHaveLength(2);
      expect(verdict(/stale read/).detail).toBe(`${result.isolated}, cut off, answered x = x0 after x1 was acknowledged`);
      expect(verdict(/lost write/).detail).toBe("y = y0 read after the heal: the acknowledged y1 is gone");
    } else {
      expect(result.linearizable).toBe(true);
    }
    expect(runScope("raft", seed, STORY.endAtMs, [], { scenario }).traceHash()).toBe(run.traceHash());
  });
});
