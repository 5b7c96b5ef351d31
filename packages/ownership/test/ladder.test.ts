/**
 * The ownership ladder: each rung's failure asserted on the seeded draw the
 * CLI prints, and modulo-n's movement checked exactly over a whole period of
 * hash residues. `HECK_SEED=<n>` replays one draw.
 */
import { seedsFromEnv } from "@heck/sim/testing";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { normalizeMembers } from "../src/core/members.ts";
import type { PreparedOrigins } from "../src/core/origins.ts";
import { diff } from "../src/core/table.ts";
import { formatLadder, ladderJson, OWNERSHIP_RUNG_KEYS, runLadder, rungWatchCommand, type OwnershipRung } from "../src/ladder/ladder.ts";
import { hashModulo, moduloTable } from "../src/ladder/modulo.ts";

const seeds = seedsFromEnv({ fixed: [1, 2, 3], random: 1 });
const BIN = fileURLToPath(new URL("../bin/heck-ownership.js", import.meta.url));

function rung(rungs: readonly OwnershipRung[], name: string): OwnershipRung {
  const r = rungs.find((x) => x.name.startsWith(name));
  if (r === undefined) throw new Error(`no rung ${name}`);
  return r;
}

/** Synthetic origins whose 64-bit hashes are 0 .. count-1: one of each residue. */
function residues(count: number): PreparedOrigins {
  return { ids: Array.from({ length: count }, (_, i) => `h${i}`), hi: new Uint32Array(count), lo: Uint32Array.from({ length: count }, (_, i) => i) };
}

describe("modulo n", () => {
  it("computes the 64-bit hash modulo m exactly", () => {
    const cases: Array<[number, number, number]> = [
      [0, 7, 5],
      [1, 0, 10],
      [0xffffffff, 0xffffffff, 9],
      [0x12345678, 0x9abcdef0, 1000003],
    ];
    for (const [hi, lo, m] of cases) expect(hashModulo(hi, lo, m)).toBe(Number(((BigInt(hi) << 32n) + BigInt(lo)) % BigInt(m)));
  });

  it("moves exactly (m - 1)/m of the origins when any one member leaves, and m/(m + 1) when one joins, over a whole period of residues", () => {
    for (let m = 2; m <= 12; m++) {
      const members = normalizeMembers(Array.from({ length: m }, (_, i) => `n${i + 1}`));
      // H mod m and H mod (m - 1) repeat together every m(m - 1): one period holds every pair once.
      const leavePeriod = residues(m * (m - 1));
      for (const leaver of members) {
        const moved = diff(moduloTable(members, leavePeriod), moduloTable(members.filter((x) => x !== leaver), leavePeriod)).moved.length;
        expect(moved, `m=${m}, ${leaver.id} leaves`).toBe((m - 1) * (m - 1));
      }
      const joinPeriod = residues(m * (m + 1));
      const joined = diff(moduloTable(members, joinPeriod), moduloTable([...members, { id: "new", weight: 1 }], joinPeriod)).moved.length;
      expect(joined, `m=${m}, one joins`).toBe(m * m);
    }
  });
});

describe("the ownership ladder", () => {
  it.each(seeds)("each rung breaks where it should, and rendezvous does not (HECK_SEED=%i)", (seed) => {
    const l = runLadder({ seed });
    const n = l.origins;
    const m = l.members;
    // Modulo n: (m - 1)/m of the origins move on a leave; the draw is binomial, so allow five standard deviations.
    const modulo = rung(l.rungs, "modulo n");
    const p = (m - 1) / m;
    expect(modulo.leave.moved, `HECK_SEED=${seed}`).toBeGreaterThanOrEqual(n * p - 5 * Math.sqrt(n * p * (1 - p)));
    expect(modulo.leave.movedOverOptimal).toBeGreaterThan(8);
    // A ring with one point per member moves only what it must but is badly unbalanced; vnodes fix most of it.
    const ring1 = rung(l.rungs, "hash ring, 1 point");
    const ring160 = rung(l.rungs, "hash ring, 160");
    expect(ring1.leave.collateral + ring1.join.collateral).toBe(0);
    expect(ring1.maxOverMean).toBeGreaterThan(1.5);
    expect(ring160.maxOverMean).toBeLessThan(ring1.maxOverMean);
    expect(ring160.leave.collateral + ring160.join.collateral).toBe(0);
    // Jump hash renumbers every bucket after the leaver (unless it was the last one).
    const jump = rung(l.rungs, "jump");
    if (l.leaver !== `n${m}`) expect(jump.leave.collateral).toBeGreaterThan(0);
    // Rendezvous: nothing moves between members that stayed, and the balance beats the ring's.
    const rv = rung(l.rungs, "rendezvous");
    expect(rv.leave.collateral + rv.join.collateral).toBe(0);
    expect(rv.leave.movedOverOptimal).toBeGreaterThan(0.9);
    expect(rv.leave.movedOverOptimal).toBeLessThan(1.1);
    expect(rv.maxOverMean).toBeLessThan(ring160.maxOverMean);
  });

  it("the default draw names the command that opens each rung in the browser view; another draw, which the view does not open, names none", () => {
    const l = runLadder({ seed: 3 });
    const json = JSON.parse(ladderJson(l)) as { rungs: Array<{ watch?: string }> };
    expect(json.rungs.map((r) => r.watch)).toEqual(OWNERSHIP_RUNG_KEYS.map((k) => rungWatchCommand(k, 3)));
    expect(formatLadder(l)).toContain(`watch it: pnpm heck-scope ownership --scenario ladder-modulo --seed 3 (or ladder-ring-1,`);
    const other = runLadder({ seed: 3, origins: 500 });
    expect((JSON.parse(ladderJson(other)) as { rungs: Array<{ watch?: string }> }).rungs.every((r) => r.watch === undefined)).toBe(true);
    expect(formatLadder(other)).not.toContain("heck-scope");
  });

  it("a seed replays the same table, and another seed draws another", () => {
    const a = ladderJson(runLadder({ seed: 9, origins: 2000 }));
    expect(ladderJson(runLadder({ seed: 9, origins: 2000 }))).toBe(a);
    expect(ladderJson(runLadder({ seed: 10, origins: 2000 }))).not.toBe(a);
  });

  it("`heck-ownership ladder --json` prints one line with every rung's name, what broke and its figures", { timeout: 60_000 }, () => {
    const r = spawnSync(process.execPath, [BIN, "ladder", "--seed", "4", "--origins", "3000", "--json"], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const parsed = JSON.parse(lines[0]!) as { rungs: Array<{ name: string; broke: string; maxOverMean: number }> };
    expect(parsed.rungs.map((x) => x.name)).toEqual([
      "modulo n",
      "hash ring, 1 point per member",
      "hash ring, 160 vnodes per member",
      "jump",
      "maglev (M=65537)",
      "rendezvous",
      "rendezvous + bounded loads (eps=0.05)",
    ]);
    for (const x of parsed.rungs) {
      expect(x.broke.length).toBeGreaterThan(0);
      expect(x.maxOverMean).toBeGreaterThan(0.99);
    }
    const bad = spawnSync(process.execPath, [BIN, "ladder", "--members", "1"], { encoding: "utf8" });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--members: must be an integer >= 2/);
  });
});
