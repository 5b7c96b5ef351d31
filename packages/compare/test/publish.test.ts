/**
 * Where `heck compare` writes and what it refuses: only a run that measured
 * everything replaces the committed report (docs/compare/ and the chapter's
 * figures); a quick or partial run goes to the scratch folder; unknown
 * scenario names and malformed results files are refused with a clear
 * message and no stack trace; a report of a partial run says why its empty
 * tables and n/a bars are empty; and the chapter's prose quotes measured
 * figures only through the spans every run rewrites.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerCompareCommand } from "../src/command.ts";
import { FIGURE_SPAN, refreshFigures } from "../src/report/files.ts";
import { chapterFigures } from "../src/report/markdown.ts";
import { NO_DATA } from "../src/report/svg.ts";
import { isCompleteResults, isCompleteRun, resultsProblem, runCompare } from "../src/run-compare.ts";
import type { CompareResults } from "../src/types.ts";
import { heckBin, ROOT } from "./support/heck-bin.ts";

const HECK = heckBin();
let dir: string;
let partial: CompareResults;
let partialMd: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "heck-compare-publish-"));
  // A partial run: the quick size, the steady scenario only, one seed.
  const out = await runCompare({ quick: true, mode: "sim", seed: 1, seedCount: 1, outDir: join(dir, "partial"), simStores: ["raft", "crdt"], realStores: [], only: ["steady"], command: "heck compare --quick --mode sim --only steady", log: () => {} });
  partial = out.results;
  partialMd = readFileSync(join(dir, "partial", "report.md"), "utf8");
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs `heck compare ...` in `cwd` (a folder without pnpm-workspace.yaml is its own root). */
function heck(cwd: string, ...args: string[]) {
  return spawnSync(process.execPath, [HECK, "compare", ...args], { cwd, encoding: "utf8", timeout: 60_000 });
}

describe("which runs may replace the committed report", () => {
  it("only a full run of every mode, scenario and store is complete", () => {
    const full = { quick: false, mode: "all" as const, simStores: ["raft", "crdt"], realStores: ["crdt", "raft", "etcd"] };
    expect(isCompleteRun(full)).toBe(true);
    expect(isCompleteRun({ ...full, quick: true })).toBe(false);
    expect(isCompleteRun({ ...full, mode: "sim" })).toBe(false);
    expect(isCompleteRun({ ...full, only: ["steady"] })).toBe(false);
    expect(isCompleteRun({ ...full, simStores: ["raft"] })).toBe(false);
    expect(isCompleteRun({ ...full, realStores: ["crdt", "raft"] })).toBe(false);
    expect(isCompleteResults(partial)).toBe(false);
    expect(isCompleteResults(JSON.parse(readFileSync(join(ROOT, "docs/compare/results.json"), "utf8")) as CompareResults)).toBe(true);
  });

  it("re-rendering a partial run's results writes .heck/compare/ and leaves docs/ alone", { timeout: 90_000 }, () => {
    const cwd = join(dir, "repo");
    mkdirSync(join(cwd, "docs"), { recursive: true });
    const chapter = "# chapter\n\n<!-- heck compare: key figures (generated; do not edit) -->\nold\n<!-- /heck compare -->\n";
    writeFileSync(join(cwd, "docs", "compare.md"), chapter);
    const r = heck(cwd, "--render", join(dir, "partial", "results.json"));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain("results of a partial run: writing .heck/compare (git-ignored); the committed report in docs/compare changes only on a full run");
    expect(existsSync(join(cwd, ".heck", "compare", "report.md"))).toBe(true);
    expect(existsSync(join(cwd, "docs", "compare"))).toBe(false);
    expect(readFileSync(join(cwd, "docs", "compare.md"), "utf8")).toBe(chapter);
  });
});

describe("what heck compare refuses", () => {
  function parse(args: string[]): string {
    const program = new Command("heck").exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    registerCompareCommand(program);
    program.commands.forEach((c) => c.exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} }));
    try {
      program.parse(["node", "heck", "compare", ...args]);
      return "ok";
    } catch (e) {
      return (e as Error).message;
    }
  }

  it("an unknown scenario name in --only, listing the scenarios there are", () => {
    expect(parse(["--only", "nonsense", "--mode", "sim", "--render", "x"])).toMatch(/--only: no scenario is called "nonsense"; the scenarios are steady, crash-leader, .*partition-leader-minority/);
    expect(parse(["--only", "steady,partitoin", "--render", "x"])).toMatch(/no scenario is called "partitoin"/);
    expect(parse(["--only", ",", "--render", "x"])).toMatch(/--only needs at least one scenario/);
  });

  it("a malformed results file for --render: a clear message naming the problem, exit 2, no stack trace", { timeout: 90_000 }, () => {
    const cases: Array<[string, string, RegExp]> = [
      ["missing.json", "", /error: --render: cannot read .*missing\.json: ENOENT/],
      ["garbage.json", "{not json", /error: --render: .*garbage\.json is not JSON \(/],
      ["other.json", '{"hello":1}', /error: --render: .*other\.json cannot be rendered: not a heck compare results\.json/],
      ["cut.json", JSON.stringify({ ...partial, sim: { ...partial.sim, runs: [{ store: "raft" }] } }), /cannot be rendered: sim\.runs\[0\]: not a run/],
    ];
    for (const [name, text, message] of cases) {
      if (text !== "") writeFileSync(join(dir, name), text);
      const r = heck(dir, "--render", join(dir, name));
      expect(r.status, name).toBe(2);
      expect(r.stderr, name).toMatch(message);
      expect(r.stderr, name).not.toMatch(/^\s+at /m);
    }
    expect(resultsProblem(JSON.parse(JSON.stringify(partial)))).toBeUndefined();
  });
});

describe("a partial run's report says why it is empty", () => {
  it("empty tables name what the run did not include", () => {
    expect(partialMd).toContain("*No rows: this run did not include the partition scenarios (it ran steady); a run without --only runs them all.*");
    expect(partialMd).toContain("*No rows: this run did not include the crash scenarios (it ran steady)");
    expect(partialMd).toContain("*No rows: a fit needs the scale runs at two sizes at least");
    expect(partialMd).toContain('A "—" in a table is a figure that does not apply to that store');
    // No table is a header with nothing under it.
    expect(partialMd).not.toMatch(/\| --- \|[^\n]*\n(?!\|)/);
  });

  it("an empty chart says so, and every n/a bar has its reason under the chart", () => {
    expect(readFileSync(join(dir, "partial", "partition-reads.svg"), "utf8")).toContain(`>${NO_DATA}<`);
    expect(readFileSync(join(dir, "partial", "downtime.svg"), "utf8")).toContain(`>${NO_DATA}<`);
    let naCharts = 0;
    for (const folder of [join(dir, "partial"), join(ROOT, "docs", "compare")]) {
      for (const file of readdirSync(folder).filter((f) => f.endsWith(".svg"))) {
        const svg = readFileSync(join(folder, file), "utf8");
        const bars = (svg.match(/>n\/a</g) ?? []).length;
        if (bars === 0) continue;
        naCharts++;
        expect(svg, file).toMatch(/>n\/a \([^)]*\): [^<]+</);
      }
    }
    // The committed report has some: raft's linearizable reads on the minority side of a partition never succeed.
    expect(naCharts).toBeGreaterThan(0);
  });
});

describe("the chapter quotes measured figures only through spans every run rewrites", () => {
  const chapterPath = join(ROOT, "docs", "compare.md");
  const committed = JSON.parse(readFileSync(join(ROOT, "docs", "compare", "results.json"), "utf8")) as CompareResults;

  it("every figure span in docs/compare.md holds the committed results' value", () => {
    const chapter = readFileSync(chapterPath, "utf8");
    const spans = [...chapter.matchAll(FIGURE_SPAN)];
    expect(spans.length).toBeGreaterThanOrEqual(10);
    const figures = chapterFigures(committed);
    for (const [, name, value] of spans) expect(value, name).toBe(figures[name!]);
    expect(refreshFigures(chapter, figures)).toBe(chapter);
  });

  it("the prose states no other measured number: only the experiment's settings", () => {
    let prose = readFileSync(chapterPath, "utf8");
    const a = prose.indexOf("<!-- heck compare: key figures");
    const b = prose.indexOf("<!-- /heck compare -->");
    prose = prose.slice(0, a) + prose.slice(b);
    prose = prose.replace(/```[\s\S]*?```/g, "").replace(FIGURE_SPAN, "");
    // Inputs of the experiment, not results: v2's crdt round, crdt-kv's own default round,
    // raft-kv's tick, and the partition's length. A run cannot change them.
    const SETTINGS = ["200 ms", "1000 ms", "50 ms", "30 s"];
    const numbers = [...prose.matchAll(/\d[\d.,]*\s?(?:ms|s|µs|%|bytes|kB|MB)(?![\w])/g)].map((m) => m[0].replace(/\s+/, " "));
    expect(numbers.filter((n) => !SETTINGS.includes(n) && !/^\d+%$/.test(n) /* loss rates name scenarios */)).toEqual([]);
  });

  it("a span naming a figure no run produces is an error naming it", () => {
    expect(() => refreshFigures("x <!-- fig sim.steady.paxos.visible-p99 -->1<!-- /fig -->", chapterFigures(committed))).toThrow(/quotes the figure "sim\.steady\.paxos\.visible-p99", which heck compare does not produce/);
  });
});
