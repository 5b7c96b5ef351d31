/**
 * `heck compare --quick --mode sim` end to end: the report is produced, every
 * chart it references exists, and it is internally consistent:
 * - raft never serves a stale linearizable read (checkKvHistory on every
 *   raft run, and no linearizable read older than an acknowledged write);
 * - crdt always converges after a heal (and after every run);
 * - every number in the markdown tables equals the JSON it came from.
 */
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCompare } from "../src/run-compare.ts";
import { fmtCoef, fmtCount, fmtMs, fmtShare, NONE, parseMarkdownTables } from "../src/report/format.ts";
import type { CompareResults } from "../src/types.ts";
import type { AggregatedRun } from "../src/experiment.ts";

let dir: string;
let results: CompareResults;
let md: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "heck-compare-"));
  const chapter = join(dir, "chapter.md");
  const fs = await import("node:fs");
  fs.writeFileSync(chapter, "# chapter\n\n<!-- heck compare: key figures (generated; do not edit) -->\nold\n<!-- /heck compare -->\n\nafter\n");
  const out = await runCompare({
    quick: true,
    mode: "sim",
    seed: 1,
    seedCount: 2,
    outDir: join(dir, "out"),
    chapter,
    simStores: ["raft", "crdt"],
    realStores: [],
    command: "heck compare --quick --mode sim",
    log: () => {},
  });
  results = out.results;
  md = readFileSync(join(dir, "out", "report.md"), "utf8");
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function runs(): AggregatedRun[] {
  return results.sim!.runs;
}

function tableWith(firstHeaders: string[]): { header: string[]; rows: string[][] } {
  const t = parseMarkdownTables(md).find((x) => firstHeaders.every((h, i) => x.header[i] === h));
  if (t === undefined) throw new Error(`no table with headers ${firstHeaders.join(", ")}`);
  return t;
}

describe("heck compare --quick (simulation)", () => {
  it("writes report.md, results.json and every chart the report references", () => {
    const out = join(dir, "out");
    expect(JSON.parse(readFileSync(join(out, "results.json"), "utf8"))).toEqual(JSON.parse(JSON.stringify(results)));
    const referenced = [...md.matchAll(/!\[[^\]]*\]\(([^)]+\.svg)\)/g)].map((m) => m[1]!);
    expect(referenced.length).toBeGreaterThanOrEqual(15);
    for (const f of referenced) {
      const svg = readFileSync(join(out, f), "utf8");
      expect(svg.startsWith("<svg"), f).toBe(true);
      expect(svg.trimEnd().endsWith("</svg>"), f).toBe(true);
      // Stores are the series: both appear in every chart's legend or series names.
      expect(svg.includes(">raft") && svg.includes(">crdt"), `${f} names both stores`).toBe(true);
    }
    expect(md).toContain("heck compare --quick --mode sim");
  });

  it("refreshes the key-figures block of the chapter and leaves the rest alone", () => {
    const chapter = readFileSync(join(dir, "chapter.md"), "utf8");
    expect(chapter.startsWith("# chapter\n")).toBe(true);
    expect(chapter.endsWith("\nafter\n")).toBe(true);
    expect(chapter).not.toContain("\nold\n");
    expect(chapter).toContain("| figure (simulation, medians over seeds 1-2, quick) | raft | crdt |");
  });

  it("runs every scenario of the comparison on both stores", () => {
    const families = new Set(runs().map((r) => r.family));
    for (const f of ["steady", "crash", "partition", "loss", "churn", "scale"]) expect(families.has(f), f).toBe(true);
    for (const s of results.sim!.scenarios) {
      expect(runs().filter((r) => r.scenario === s.id).map((r) => r.store).sort()).toEqual(["crdt", "raft"]);
    }
    expect(runs().some((r) => r.scenario === "bridge")).toBe(true);
  });

  it("raft never serves a stale linearizable read", () => {
    const raft = runs().filter((r) => r.store === "raft" && r.family !== "scale");
    expect(raft.length).toBeGreaterThan(5);
    for (const r of raft) {
      expect(r.checks.length, r.scenario).toBe(2);
      for (const c of r.checks) {
        expect(c.linearizable, `${r.scenario} seed ${c.seed}: ${r.linearizability?.report}`).toBe(true);
        expect(c.staleLinearizableReads, `${r.scenario} seed ${c.seed}`).toBe(0);
      }
      expect(r.linearizability!.operations).toBeGreaterThan(50);
      expect(r.linearizableReads!.ok, r.scenario).toBeGreaterThan(0);
      expect(r.linearizableReads!.staleShare, r.scenario).toBe(0);
      for (const side of Object.values(r.sides ?? {})) expect(side.linearizableReads?.staleShare ?? 0).toBe(0);
    }
  });

  it("crdt always converges after a heal, and every run of both stores ends converged", () => {
    const healed = runs().filter((r) => r.store === "crdt" && r.heal !== null);
    expect(healed.length).toBe(3);
    for (const r of healed) {
      for (const c of r.checks) expect(c.reconverged, `${r.scenario} seed ${c.seed}`).toBe(true);
      expect(r.heal!.reconvergeMs, r.scenario).not.toBeNull();
      if (r.scenario !== "bridge") expect(r.heal!.bytes).toBeGreaterThan(0);
    }
    // A bridge partition never splits the gossip graph (the bridge node relays), so at the heal there is
    // far less left to repair than after a real split, which first waits for failure detection to rejoin the views.
    const reconverge = (id: string) => healed.find((r) => r.scenario === id)!.heal!.reconvergeMs!;
    expect(reconverge("bridge")).toBeLessThan(reconverge("partition-leader-minority"));
    for (const r of runs()) {
      for (const c of r.checks) {
        expect(c.converged, `${r.store} ${r.scenario} seed ${c.seed}`).toBe(true);
        expect(c.divergentKeys, `${r.store} ${r.scenario} seed ${c.seed}`).toBe(0);
        expect(c.invisibleWrites, `${r.store} ${r.scenario} seed ${c.seed}`).toBe(0);
      }
    }
  });

  it("shows the trade-off the chapter explains: crdt writes on both sides of a partition, raft only where the leader can be reached", () => {
    const side = (store: string, scenario: string, name: string) => runs().find((r) => r.store === store && r.scenario === scenario)!.sides![name]!;
    expect(side("crdt", "partition-leader-minority", "minority").writes.okShare).toBe(1);
    expect(side("crdt", "partition-leader-minority", "majority").writes.okShare).toBe(1);
    expect(side("raft", "partition-leader-minority", "minority").writes.okShare).toBe(0);
    expect(side("raft", "partition-leader-minority", "majority").writes.okShare!).toBeGreaterThan(0.8);
    expect(side("raft", "partition-leader-minority", "minority").linearizableReads!.okShare).toBe(0);
    // crdt local reads are not linearizable even in steady state: the checker finds a small witness.
    const crdtSteady = runs().find((r) => r.store === "crdt" && r.scenario === "steady")!;
    expect(crdtSteady.linearizability!.linearizable).toBe(false);
    expect(crdtSteady.linearizability!.witness!).toBeLessThanOrEqual(5);
    // A leader crash costs raft an election; crdt writes never stop.
    const crash = (store: string) => runs().find((r) => r.store === store && r.scenario === "crash-leader")!.crash!;
    expect(crash("raft").downtimeMs).toBeGreaterThan(0);
    expect(crash("raft").leaderlessMs!).toBeGreaterThan(0);
    expect(crash("crdt").downtimeMs).toBe(0);
  });

  it("puts the JSON's numbers in the markdown tables", () => {
    const find = (store: string, scenario: string) => runs().find((r) => r.store === store && r.scenario === scenario)!;
    let checked = 0;
    for (const row of tableWith(["scenario", "store", "writes", "succeeded"]).rows) {
      const r = find(row[1]!, row[0]!);
      expect(row.slice(2)).toEqual([fmtCount(r.writes.attempts), fmtShare(r.writes.okShare), fmtMs(r.writes.latencyMs.p50), fmtMs(r.writes.latencyMs.p99), fmtMs(r.writes.latencyMs.max)]);
      checked++;
    }
    for (const row of tableWith(["scenario", "store", "writes", "p50 ms", "p90 ms"]).rows) {
      const v = find(row[1]!, row[0]!).visibilityMs;
      expect(row.slice(2)).toEqual([fmtCount(v.count), fmtMs(v.p50), fmtMs(v.p90), fmtMs(v.p99), fmtMs(v.max), fmtCount(v.invisible)]);
      checked++;
    }
    for (const row of tableWith(["scenario", "side", "store", "writes ok"]).rows) {
      const s = find(row[2]!, row[0]!).sides![row[1]!]!;
      expect(row.slice(3, 9)).toEqual([fmtShare(s.writes.okShare), fmtShare(s.localReads.okShare), fmtShare(s.localReads.staleShare), fmtShare(s.localReads.wrongStatusShare), fmtMs(s.localReads.ageMs.p50), fmtMs(s.localReads.ageMs.max)]);
      expect(row[9]).toBe(s.linearizableReads ? fmtShare(s.linearizableReads.okShare) : NONE);
      checked++;
    }
    for (const row of tableWith(["scenario", "store", "crashed", "downtime ms"]).rows) {
      const c = find(row[1]!, row[0]!).crash!;
      expect(row.slice(2, 5)).toEqual([c.node, fmtMs(c.downtimeMs), `${c.failedProbes} / ${c.probes}`]);
      checked++;
    }
    for (const row of tableWith(["scenario", "store", "updates", "messages/update"]).rows) {
      const t = find(row[1]!, row[0]!).traffic;
      expect(row.slice(2)).toEqual([fmtCount(t.updates), fmtCount(t.perUpdate.messages), fmtCount(t.perUpdate.bytes), fmtCount(t.perUpdate.payloadBytes), fmtCount(t.perUpdate.metadataBytes)]);
      checked++;
    }
    for (const row of tableWith(["scenario", "store", "re-converged after ms"]).rows) {
      const h = find(row[1]!, row[0]!).heal!;
      expect(row.slice(2)).toEqual([fmtMs(h.reconvergeMs), fmtCount(h.bytes), fmtCount(h.messages)]);
      checked++;
    }
    for (const row of tableWith(["N", "store", "offered updates/s"]).rows) {
      const p = results.sim!.scale[row[1]!]!.points.find((x) => String(x.n) === row[0])!;
      expect(row.slice(2)).toEqual([fmtCount(p.offeredUpdatesPerSec), fmtCount(p.capacityUpdatesPerSec), fmtCount(p.busiestCpuUsPerUpdate), fmtCount(p.busiestIdleCpuUsPerSec), fmtCount(p.messagesPerUpdate), fmtCount(p.bytesPerUpdate), fmtMs(p.visibilityP99Ms)]);
      checked++;
    }
    for (const row of tableWith(["store", "λ (updates/s)", "σ contention"]).rows) {
      const u = results.sim!.scale[row[0]!]!.usl!;
      expect(row.slice(1, 5)).toEqual([fmtCoef(u.lambda), fmtCoef(u.sigma), fmtCoef(u.kappa), fmtCoef(u.r2)]);
      expect(u.sigma).toBeGreaterThanOrEqual(0);
      expect(u.kappa).toBeGreaterThanOrEqual(0);
      checked++;
    }
    for (const row of tableWith(["scenario", "store", "seeds", "linearizable (seeds)"]).rows) {
      const c = find(row[1]!, row[0]!).checks;
      const lin = c.filter((x) => x.linearizable !== null);
      expect(row[2]).toBe(String(c.length));
      expect(row[3]).toBe(lin.length === 0 ? NONE : `${lin.filter((x) => x.linearizable).length} / ${lin.length}`);
      expect(row[5]).toBe(`${c.filter((x) => x.converged).length} / ${c.length}`);
      checked++;
    }
    expect(checked).toBeGreaterThan(80);
  });

  it("is deterministic: the same seed gives the same figures, a different seed different ones", async () => {
    const { runScenario, DEFAULT_SIM_SETTINGS } = await import("../src/sim/run.ts");
    const { buildScenarios, QUICK_SCALE } = await import("../src/sim/scenarios.ts");
    const { figuresOf, DEFAULT_COST_MODEL } = await import("../src/analysis/metrics.ts");
    const sc = buildScenarios(QUICK_SCALE).find((s) => s.id === "partition-leader-minority")!;
    const fig = (store: "raft" | "crdt", seed: number) =>
      figuresOf(runScenario(store, sc, seed), { timeoutMs: DEFAULT_SIM_SETTINGS.workload.timeoutMs, probeEveryMs: 25, cost: DEFAULT_COST_MODEL, checkLinearizability: false });
    for (const store of ["raft", "crdt"] as const) {
      expect(fig(store, 9)).toEqual(fig(store, 9));
      expect(fig(store, 9).traffic.bytes).not.toBe(fig(store, 10).traffic.bytes);
    }
  });

  it("reports real mode as not run when only simulation was asked for", () => {
    expect(results.real).toBeNull();
    expect(md).toContain("Real-process mode was not run");
    expect(existsSync(join(dir, "out", "report.md"))).toBe(true);
  });
});
