/**
 * `heck compare`: the CLI face of the comparison (docs/compare.md). It parses and
 * validates flags and calls {@link runCompare}; nothing else happens here.
 *
 * ```sh
 * heck compare                 # simulation + real processes, full size; writes docs/compare/
 * heck compare --quick         # the small version the test suite runs (< 2 minutes)
 * heck compare --mode sim --seed 7 --only steady,partition
 * ```
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { InvalidArgumentError, Option, type Command } from "commander";
import { runCompare, type CompareMode } from "./run-compare.ts";
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

/** Adds `compare` to a commander program (the founder wires this into apps/v2's `heck`). */
export function registerCompareCommand(program: Command): Command {
  return program
    .command("compare")
    .description("Compare the raft and CRDT stores on the same health-check workload; writes docs/compare/ (report.md, charts, results.json)")
    .option("--quick", "the small version (the test suite's; under two minutes)", false)
    .addOption(new Option("--mode <mode>", "simulation, real processes, or both").choices(["sim", "real", "all"]).default("all"))
    .option("--seed <n>", "the simulation's first seed", parseSeed, 1)
    .option("--seeds <k>", "seeds per scenario, from --seed on; figures are medians (default: 5, quick: 2)", parseSeedCount)
    .option("--out <dir>", "output directory (default: <repo>/docs/compare)")
    .option("--chapter <file>", "chapter whose key-figures block to refresh (default: <repo>/docs/compare.md)")
    .option("--stores <list>", "simulation stores: raft,crdt", parseList("--stores", ["raft", "crdt"] as const), ["raft", "crdt"])
    .option("--real-stores <list>", "real-mode stores: crdt,raft,etcd (default: all three; quick: crdt,raft)", parseList("--real-stores", ["crdt", "raft", "etcd"] as const))
    .option("--only <ids>", "only these simulation scenarios (ids or prefixes: steady, crash, partition, bridge, loss, churn, scale)")
    .option("--json", "print one JSON line with the key figures at the end", false)
    .option("--render <results.json>", "measure nothing: re-render report.md, the charts and the chapter's table from a results.json")
    .action(async (opts: { quick: boolean; mode: CompareMode; seed: number; seeds?: number; out?: string; chapter?: string; stores: SimStoreKind[]; realStores?: Array<"crdt" | "raft" | "etcd">; only?: string; json: boolean; render?: string }) => {
      const root = findRepoRoot(process.cwd()) ?? process.cwd();
      const outDir = resolve(opts.out ?? join(root, "docs", "compare"));
      const chapter = opts.chapter !== undefined ? resolve(opts.chapter) : join(root, "docs", "compare.md");
      // The command that regenerates the results, as the report prints it (output flags left out).
      const command = [
        "heck compare",
        opts.quick ? "--quick" : "",
        opts.mode !== "all" ? `--mode ${opts.mode}` : "",
        opts.seed !== 1 ? `--seed ${opts.seed}` : "",
        opts.seeds !== undefined ? `--seeds ${opts.seeds}` : "",
        opts.only !== undefined ? `--only ${opts.only}` : "",
        opts.stores.join(",") !== "raft,crdt" ? `--stores ${opts.stores.join(",")}` : "",
        opts.realStores !== undefined ? `--real-stores ${opts.realStores.join(",")}` : "",
      ]
        .filter((x) => x.length > 0)
        .join(" ");
      let from: CompareResults | undefined;
      if (opts.render !== undefined) {
        try {
          from = JSON.parse(readFileSync(opts.render, "utf8")) as CompareResults;
        } catch (e) {
          throw new InvalidArgumentError(`--render: cannot read ${opts.render}: ${(e as Error).message}`);
        }
        if (from?.schema !== 1 || from.generator !== "heck compare") throw new InvalidArgumentError(`--render: ${opts.render} is not a heck compare results.json (schema 1)`);
      }
      const { results } = await runCompare({
        ...(from !== undefined ? { from } : {}),
        quick: opts.quick,
        mode: opts.mode,
        seed: opts.seed,
        seedCount: opts.seeds ?? (opts.quick ? 2 : 5),
        outDir,
        chapter,
        simStores: opts.stores,
        realStores: opts.realStores ?? (opts.quick ? ["crdt", "raft"] : ["crdt", "raft", "etcd"]),
        ...(opts.only !== undefined ? { only: opts.only.split(",").map((s) => s.trim()) } : {}),
        command,
        log: (line) => process.stderr.write(`${line}\n`),
      });
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
