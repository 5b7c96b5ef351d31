/**
 * `heck compare` and `heck ladder`: the CLI face of the comparison
 * (docs/compare.md). It parses and validates flags and calls
 * {@link runCompare} or the ladder; nothing else happens here. apps/v2's
 * `heck` registers both commands.
 *
 * ```sh
 * heck compare                 # simulation + real processes, full size; rewrites docs/compare/ and the chapter's figures
 * heck compare --quick         # the small version the test suite runs (< 2 minutes); writes .heck/compare/
 * heck compare --mode sim --seed 7 --only steady,partition
 * ```
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { InvalidArgumentError, Option, type Command } from "commander";
import type { CompareMode } from "./run-compare.ts";
import { unknownScenarioNames } from "./sim/scenarios.ts";
import type { SimStoreKind } from "./sim/run.ts";
import type { CompareResults } from "./types.ts";

/** The repository root (the directory holding pnpm-workspace.yaml) above `from`, or undefined. */
export function findRepoRoot(from: string): string | undefined {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, "pnpm-workspace.yaml"))) return dir;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

function parseSeed(v: string): number {
  if (!/^\d{1,10}$/.test(v) || Number(v) > 0xffffffff) throw new InvalidArgumentError("--seed must be an integer in [0, 4294967295]");
  return Number(v);
}

function parseSeedCount(v: string): number {
  if (!/^\d{1,3}$/.test(v) || Number(v) < 1 || Number(v) > 100) throw new InvalidArgumentError("--seeds must be an integer in [1, 100]");
  return Number(v);
}

function parseList<T extends string>(flag: string, allowed: readonly T[]): (v: string) => T[] {
  return (v) => {
    const items = v.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
    if (items.length === 0) throw new InvalidArgumentError(`${flag} needs at least one of ${allowed.join(", ")}`);
    for (const s of items) if (!allowed.includes(s as T)) throw new InvalidArgumentError(`${flag}: unknown "${s}"; expected ${allowed.join(", ")}`);
    return items as T[];
  };
}

/** `--only`: names that select at least one scenario of a full or a quick run (the action checks the run's own size). */
function parseOnly(v: string): string[] {
  const names = v.split(",").map((x) => x.trim()).filter((x) => x.length > 0);
  if (names.length === 0) throw new InvalidArgumentError("--only needs at least one scenario id or family (steady, crash, partition, bridge, loss, churn, scale)");
  const full = unknownScenarioNames(false, names);
  const quick = unknownScenarioNames(true, names);
  const unknown = full.unknown.filter((n) => quick.unknown.includes(n));
  if (unknown.length > 0) {
    const known = [...new Set([...full.known, ...quick.known])];
    throw new InvalidArgumentError(`--only: no scenario is called ${unknown.map((n) => `"${n}"`).join(", ")}; the scenarios are ${known.join(", ")} (a family name such as "partition" selects all of its scenarios)`);
  }
  return names;
}

/** How `heck compare`'s real mode starts the agents: the argv prefix that runs `heck`, and its working directory. */
export interface HeckLauncher {
  /** argv prefix that runs the heck CLI, e.g. `[process.execPath, "<apps/v2>/bin/heck.js"]`. */
  heck: string[];
  /** Working directory of the heck processes (default: the current one). */
  cwd?: string;
}

/**
 * Adds `compare` to a commander program (apps/v2's `heck` wires it in,
 * passing itself as `launcher` so that real mode can start its agents).
 */
export function registerCompareCommand(program: Command, launcher?: HeckLauncher): Command {
  return program
    .command("compare")
    .description(
      "Compare the raft and CRDT stores on the same health-check workload. A full run (no --quick, --only or --mode, every store) rewrites the committed report, docs/compare/ and the chapter's key figures; any other run writes .heck/compare/ unless --out says where",
    )
    .option("--quick", "the small version (the test suite's; under two minutes); written to .heck/compare/ unless --out", false)
    .addOption(new Option("--mode <mode>", "simulation, real processes, or both").choices(["sim", "real", "all"]).default("all"))
    .option("--seed <n>", "the simulation's first seed", parseSeed, 1)
    .option("--seeds <k>", "seeds per scenario, from --seed on; figures are medians (default: 5, quick: 2)", parseSeedCount)
    .option("--out <dir>", "output directory (default: <repo>/docs/compare for a full run, <repo>/.heck/compare otherwise)")
    .option("--chapter <file>", "chapter whose key figures to refresh (default: <repo>/docs/compare.md when writing <repo>/docs/compare, else none)")
    .option("--stores <list>", "simulation stores: raft,crdt", parseList("--stores", ["raft", "crdt"] as const), ["raft", "crdt"])
    .option("--real-stores <list>", "real-mode stores: crdt,raft,etcd (default: all three; quick: crdt,raft)", parseList("--real-stores", ["crdt", "raft", "etcd"] as const))
    .option("--only <ids>", "only these simulation scenarios (ids, or families: steady, crash, partition, bridge, loss, churn, scale)", parseOnly)
    .option("--json", "print one JSON line with the key figures at the end", false)
    .option("--render <results.json>", "measure nothing: re-render report.md, the charts and the chapter's figures from a results.json")
    .action(async (opts: { quick: boolean; mode: CompareMode; seed: number; seeds?: number; out?: string; chapter?: string; stores: SimStoreKind[]; realStores?: Array<"crdt" | "raft" | "etcd">; only?: string[]; json: boolean; render?: string }, cmd: Command) => {
      // The experiment (both stores' code) loads only when the command runs: every other heck command starts without it.
      const { ALL_REAL_STORES, isCompleteResults, isCompleteRun, resultsProblem, runCompare } = await import("./run-compare.ts");
      const refuse = (message: string): never => cmd.error(`error: ${message}`, { exitCode: 2 });
      const root = findRepoRoot(process.cwd()) ?? process.cwd();
      if (opts.only !== undefined && opts.render === undefined) {
        const { unknown, known } = unknownScenarioNames(opts.quick, opts.only);
        if (unknown.length > 0) refuse(`--only: ${unknown.map((n) => `"${n}"`).join(", ")} selects no scenario of a ${opts.quick ? "quick" : "full"} run; its scenarios are ${known.join(", ")}`);
      }
      const realStores = opts.realStores ?? (opts.quick ? ["crdt", "raft"] : [...ALL_REAL_STORES]);
      // The command that regenerates the results, as the report prints it (output flags left out).
      const command = [
        "heck compare",
        opts.quick ? "--quick" : "",
        opts.mode !== "all" ? `--mode ${opts.mode}` : "",
        opts.seed !== 1 ? `--seed ${opts.seed}` : "",
        opts.seeds !== undefined ? `--seeds ${opts.seeds}` : "",
        opts.only !== undefined ? `--only ${opts.only.join(",")}` : "",
        opts.stores.join(",") !== "raft,crdt" ? `--stores ${opts.stores.join(",")}` : "",
        opts.realStores !== undefined ? `--real-stores ${opts.realStores.join(",")}` : "",
      ]
        .filter((x) => x.length > 0)
        .join(" ");
      let from: CompareResults | undefined;
      if (opts.render !== undefined) {
        let text: string;
        try {
          text = readFileSync(opts.render, "utf8");
        } catch (e) {
          return refuse(`--render: cannot read ${opts.render}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch (e) {
          return refuse(`--render: ${opts.render} is not JSON (${(e as Error).message})`);
        }
        const problem = resultsProblem(value);
        if (problem !== undefined) return refuse(`--render: ${opts.render} cannot be rendered: ${problem}`);
        from = value as CompareResults;
      }
      // Only a run that measured everything replaces the committed report; anything else goes to the scratch folder.
      const complete = from !== undefined ? isCompleteResults(from) : isCompleteRun({ quick: opts.quick, mode: opts.mode, ...(opts.only !== undefined ? { only: opts.only } : {}), simStores: opts.stores, realStores });
      const committed = join(root, "docs", "compare");
      const outDir = resolve(opts.out ?? (complete ? committed : join(root, ".heck", "compare")));
      const chapter = opts.chapter !== undefined ? resolve(opts.chapter) : outDir === resolve(committed) ? join(root, "docs", "compare.md") : undefined;
      const log = (line: string) => process.stderr.write(`${line}\n`);
      if (opts.out === undefined && !complete) {
        log(`${from !== undefined ? "results of a partial run" : "a quick or partial run"}: writing ${relative(process.cwd(), outDir) || "."} (git-ignored); the committed report in docs/compare changes only on a full run (no --quick, --only or --mode, every store), or with --out`);
      }
      let results: CompareResults;
      try {
        ({ results } = await runCompare({
          ...(from !== undefined ? { from } : {}),
          quick: opts.quick,
          mode: opts.mode,
          seed: opts.seed,
          seedCount: opts.seeds ?? (opts.quick ? 2 : 5),
          outDir,
          ...(chapter !== undefined ? { chapter } : {}),
          simStores: opts.stores,
          realStores,
          ...(opts.only !== undefined ? { only: opts.only } : {}),
          command,
          log,
          ...(launcher !== undefined ? { real: { ...launcher } } : {}),
        }));
      } catch (e) {
        // Results that passed the shape check can still hold values the renderer cannot use.
        if (from !== undefined) return refuse(`--render: ${opts.render} cannot be rendered: ${(e as Error).message}`);
        throw e;
      }
      if (opts.json) {
        const sim = results.sim;
        const key = (store: string) => sim?.runs.find((r) => r.store === store && r.scenario === "steady");
        process.stdout.write(
          JSON.stringify({
            outDir,
            raftLinearizable: sim?.runs.filter((r) => r.store === "raft").every((r) => r.checks.every((c) => c.linearizable !== false && c.staleLinearizableReads === 0)) ?? null,
            crdtConverged: sim?.runs.filter((r) => r.store === "crdt").every((r) => r.checks.every((c) => c.converged && c.reconverged !== false)) ?? null,
            steadyWriteP50Ms: Object.fromEntries((sim?.stores ?? []).map((s) => [s, key(s)?.writes.latencyMs.p50 ?? null])),
            steadyVisibleP99Ms: Object.fromEntries((sim?.stores ?? []).map((s) => [s, key(s)?.visibilityMs.p99 ?? null])),
            usl: Object.fromEntries(Object.entries(sim?.scale ?? {}).map(([s, v]) => [s, v.usl])),
            real: results.real === null ? null : { available: results.real.available, reason: results.real.reason },
          }) + "\n",
        );
      }
    });
}

/** An integer flag in [min, max], refused with the flag's name otherwise. */
const integerIn = (flag: string, min: number, max: number) => (v: string) => {
  const n = Number(v);
  if (!/^-?\d+$/.test(v) || n < min || n > max) throw new InvalidArgumentError(`${flag} must be an integer in ${min}..${max}`);
  return n;
};

/** Adds `ladder` (the cost of coordination as N grows, ladder.ts) to a commander program. */
export function registerLadderCommand(program: Command): Command {
  return program
    .command("ladder")
    .description("the cost of coordination as N grows: raft-kv for every record, for the origin list only, and crdt-kv for everything (USL fits, CALM)")
    .option("--seed <n>", "simulation seed (same seed, same table)", integerIn("--seed", 0, 0xffffffff), 1)
    .option(
      "--sizes <list>",
      "cluster sizes, at least three (comma-separated)",
      (v: string) => {
        const out = v.split(",").map((x) => Number(x.trim()));
        if (out.length < 3 || out.some((n) => !Number.isInteger(n) || n < 2 || n > 129)) throw new InvalidArgumentError(`--sizes: at least three integers 2..129, comma-separated, got ${JSON.stringify(v)}`);
        return out;
      },
      [3, 5, 9, 17],
    )
    .option("--json", "print one JSON line { rungs: [{ name, broke, ...figures }] }")
    .action(async (o: { seed: number; sizes: number[]; json?: boolean }) => {
      // Loaded on demand: only this command runs the ladder.
      const { coordinationLadderJson, formatCoordinationLadder, runCoordinationLadder } = await import("./ladder.ts");
      const ladder = runCoordinationLadder({ seed: o.seed, sizes: o.sizes });
      process.stdout.write(`${o.json ? coordinationLadderJson(ladder) : formatCoordinationLadder(ladder)}\n`);
    });
}
