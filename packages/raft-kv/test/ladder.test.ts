/**
 * The agreement ladder: primary-backup fails @heck/sim's linearizability
 * checker on the story (a stale read and a lost write, two primaries), and
 * Raft passes it on the same seed. `HECK_SEED=<n>` replays one seed.
 */
import { seedsFromEnv } from "@heck/sim/io";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { AGREEMENT_RUNGS, agreementLadderJson, openStory, runAgreementLadder, runStory } from "../src/ladder/ladder.ts";
import { PrimaryBackupNode } from "../src/ladder/primary-backup.ts";

const seeds = seedsFromEnv({ fixed: [1, 2, 3], random: 2 });
const BIN = fileURLToPath(new URL("../bin/heck-raft.js", import.meta.url));

describe("the agreement ladder", () => {
  it.each(seeds)("primary-backup fails the linearizability check (stale read, lost write, two primaries) where Raft passes (HECK_SEED=%i)", (seed) => {
    const [pb, raft] = AGREEMENT_RUNGS.map((r) => runStory(r, seed));
    expect(pb!.linearizable).toBe(false);
    expect(pb!.staleReadCaught).toBe(true);
    expect(pb!.readAtIsolated).toBe("x0");
    expect(pb!.lostWriteCaught).toBe(true);
    expect(pb!.readAfterHeal).toBe("y0");
    expect(pb!.leadersAcknowledging).toHaveLength(2);
    expect(pb!.report).toMatch(/Not linearizable/);

    expect(raft!.linearizable, raft!.report).toBe(true);
    expect(raft!.staleReadCaught).toBe(false);
    expect(raft!.lostWriteCaught).toBe(false);
    // One side only could commit, the old leader's read never answered, and y1 survived.
    expect(raft!.leadersAcknowledging).toHaveLength(1);
    expect(raft!.leadersAcknowledging).not.toContain(raft!.isolated);
    expect(raft!.readAtIsolated).toBe("no answer");
    expect(raft!.readAfterHeal).toBe("y1");
    expect(raft!.completed).toBeGreaterThan(50);
  });

  it("a seed replays the same story", () => {
    const a = agreementLadderJson(runAgreementLadder({ seed: 11 }));
    expect(agreementLadderJson(runAgreementLadder({ seed: 11 }))).toBe(a);
  });

  it("each rung's story can be driven one event at a time, and stepping changes nothing", () => {
    for (const rung of AGREEMENT_RUNGS) {
      const open = openStory(rung, 3, 100);
      let steps = 0;
      // Through the partition and into the heal, one event at a time.
      while (open.simulation.nowMs < 2100 && open.simulation.step()) steps++;
      expect(steps, rung.key).toBeGreaterThan(100);
      expect(open.finish(), rung.key).toEqual(runStory(rung, 3));
    }
  });

  it("primary-backup is correct while its failure detector is: with no partition, writes reach every backup before they are acknowledged", () => {
    const order = ["a", "b", "c"];
    const nodes = order.map((id) => new PrimaryBackupNode(id, order, 0));
    const [a, b, c] = nodes as [PrimaryBackupNode, PrimaryBackupNode, PrimaryBackupNode];
    const deliver = (): void => {
      for (let moved = true; moved; ) {
        moved = false;
        for (const n of nodes) {
          const out = [...n.ready().messages];
          n.advance();
          for (const m of out) {
            moved = true;
            nodes.find((x) => x.id === m.to)!.receive(n.id, m.message, "packet", 1);
          }
        }
      }
    };
    let acked = false;
    expect(b.put("k", "v", () => undefined)).toBe(false); // only the primary takes writes
    expect(a.put("k", "v", () => (acked = true))).toBe(true);
    expect(acked).toBe(false);
    deliver();
    expect(acked).toBe(true);
    expect(b.data.get("k")).toBe("v");
    expect(c.data.get("k")).toBe("v");
    expect(a.get("k")).toEqual({ value: "v" });
  });

  it("`heck-raft ladder --json` prints one line with both rungs' name, what broke and figures", { timeout: 60_000 }, () => {
    const r = spawnSync(process.execPath, [BIN, "ladder", "--seed", "4", "--json"], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const parsed = JSON.parse(lines[0]!) as { rungs: Array<{ name: string; broke: string; linearizable: boolean }> };
    expect(parsed.rungs.map((x) => x.linearizable)).toEqual([false, true]);
    for (const x of parsed.rungs) expect(x.broke.length).toBeGreaterThan(0);
    // Each rung names the command that opens its story in the browser view.
    expect(parsed.rungs.map((x) => (x as { watch?: string }).watch)).toEqual(["primary-backup", "raft"].map((k) => `pnpm heck-scope raft --scenario ladder-${k} --seed 4`));
    const bad = spawnSync(process.execPath, [BIN, "ladder", "--seed", "x"], { encoding: "utf8" });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/--seed must be an integer/);
  });
});
