import { afterEach, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { formatTrace } from "../src/index.ts";
import { seedsFromEnv } from "../src/io/seeds.ts";

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const bin = path.join(pkg, "bin", "heck-sim.js");
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
const tmp = (): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "heck-sim-cli-"));
  dirs.push(d);
  return d;
};
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: pkg, encoding: "utf8", timeout: 60_000 });

describe("heck-sim sweep", () => {
  it("runs a package's sweep entry over many seeds in parallel", () => {
    const out = tmp();
    const r = run("sweep", "--package", "sim", "--seeds", "4", "--start", "100", "--jobs", "2", "--out", out);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/4 seeds: 4 passed, 0 failed/);
    const summary = JSON.parse(fs.readFileSync(path.join(out, "summary.json"), "utf8"));
    expect(summary.outcomes.map((o: { seed: number }) => o.seed)).toEqual([100, 101, 102, 103]);
  }, 60_000);

  it("keeps a log per failing seed with the replay recipe and the seed's own output", () => {
    const out = tmp();
    const r = run("sweep", "--entry", "test/fixtures/leader-sweep-entry.ts", "--seeds", "4", "--start", "11", "--jobs", "2", "--out", out);
    expect(r.status).toBe(1);
    // Odd seeds have a faulty safety phase and fail; even ones have none and pass.
    expect(r.stdout).toMatch(/4 seeds: 2 passed, 2 failed/);
    expect(r.stdout).toContain("failing seeds: HECK_SEED=11 HECK_SEED=13");
    const log = fs.readFileSync(path.join(out, "seed-13.log"), "utf8");
    expect(log).toMatch(/^HECK_SEED=13: invariant "at most one leader" violated/);
    expect(log).toContain("chatty output from seed 13");
    expect(fs.existsSync(path.join(out, "seed-12.log"))).toBe(false);
  }, 60_000);

  it("rejects bad flags by name", () => {
    expect(run("sweep", "--package", "sim", "--jobs", "0").stderr).toMatch(/--jobs must be between 1 and 64/);
    expect(run("sweep", "--package", "no-such-pkg").stderr).toMatch(/no package no-such-pkg/);
    expect(run("sweep").stderr).toMatch(/exactly one of --package/);
  }, 60_000);
});

describe("heck-sim trace", () => {
  it("pretty-prints and filters a JSONL trace, skipping bad lines", () => {
    const file = path.join(tmp(), "t.jsonl");
    const events = [
      { t: 1, node: "a", event: "send", msg: { to: "b" } },
      { t: 2, node: "b", event: "deliver", msg: { from: "a" } },
      { t: 3, node: "a", event: "crash" },
      { t: 4, node: "a", event: "restart" },
    ];
    fs.writeFileSync(file, formatTrace(events) + "garbage\n");
    const r = run("trace", file, "--node", "a", "--tail", "2");
    expect(r.stdout.trimEnd().split("\n")).toEqual(["       3.000  a        crash", "       4.000  a        restart"]);
    expect(r.stderr).toMatch(/t.jsonl:5: not JSON/);
  }, 60_000);
});

describe("seedsFromEnv", () => {
  it("returns exactly HECK_SEED when set, else fixed plus printed random seeds", () => {
    expect(seedsFromEnv({ fixed: [1, 2], random: 3, env: { HECK_SEED: "42" } })).toEqual([42]);
    const printed: string[] = [];
    const seeds = seedsFromEnv({ fixed: [1, 2], random: 2, env: {}, log: (l) => printed.push(l) });
    expect(seeds.slice(0, 2)).toEqual([1, 2]);
    expect(seeds).toHaveLength(4);
    expect(printed[0]).toBe(`random seeds: HECK_SEED=${seeds[2]} HECK_SEED=${seeds[3]}`);
    expect(() => seedsFromEnv({ fixed: [], env: { HECK_SEED: "x1" } })).toThrow(/HECK_SEED must be a non-negative integer/);
  });
});
