/**
 * `heck compare` end to end: the simulation experiment, the real-process
 * runs, and the report. The CLI (command.ts) only parses flags and calls
 * {@link runCompare}; the test suite calls it directly.
 */
import { cpus, loadavg } from "node:os";
import { runSimExperiment } from "./experiment.ts";
import { writeReport, type WrittenReport } from "./report/files.ts";
import { runRealMode, type RealModeOptions } from "./real/real-mode.ts";
import type { SimStoreKind } from "./sim/run.ts";
import type { CompareResults } from "./types.ts";

/** Which modes to run. */
export type CompareMode = "sim" | "real" | "all";

/** Options of a compare run (the CLI's flags, parsed). */
export interface CompareOptions {
  quick: boolean;
  mode: CompareMode;
  seed: number;
  /** Seeds per scenario (seed, seed+1, ...); figures are medians over them. */
  seedCount: number;
  /** Where report.md, results.json and the charts go. */
  outDir: string;
  /** docs/compare.md, whose key-figures block is rewritten (optional). */
  chapter?: string;
  /** Simulation stores (raft, crdt). */
  simStores: SimStoreKind[];
  /** Real-mode stores (crdt, raft, etcd). */
  realStores: Array<"crdt" | "raft" | "etcd">;
  /** Only these simulation scenarios (ids or prefixes like "scale"). */
  only?: string[];
  /** The command line recorded in the report. */
  command: string;
  /** Progress lines (stderr in the CLI). */
  log: (line: string) => void;
  /** Real mode: how to start `heck` (`heck`, `cwd`) and its sizes; without `heck` real mode reports itself unavailable. */
  real?: Partial<RealModeOptions>;
  /** Re-render the report from this results.json instead of measuring anything. */
  from?: CompareResults;
}

/** The simulation and real-mode stores of a run that measures everything. */
export const ALL_SIM_STORES: readonly SimStoreKind[] = ["raft", "crdt"];
export const ALL_REAL_STORES: readonly ("crdt" | "raft" | "etcd")[] = ["crdt", "raft", "etcd"];

/**
 * True for a run that measures everything: full size, both modes, every
 * scenario and store. Only such a run may replace the committed report
 * (docs/compare/ and the chapter's figures): anything smaller would leave
 * the chapter's prose describing figures the report no longer holds.
 */
export function isCompleteRun(o: { quick: boolean; mode: CompareMode; only?: readonly string[]; simStores: readonly string[]; realStores: readonly string[] }): boolean {
  const all = (have: readonly string[], want: readonly string[]) => want.every((x) => have.includes(x));
  return !o.quick && o.mode === "all" && o.only === undefined && all(o.simStores, ALL_SIM_STORES) && all(o.realStores, ALL_REAL_STORES);
}

/** {@link isCompleteRun} for results read back from a results.json (from its recorded command). */
export function isCompleteResults(r: CompareResults): boolean {
  return !r.quick && r.sim !== null && r.real !== null && !/ --(only|mode|stores|real-stores)\b/.test(` ${r.command}`);
}

/**
 * What makes `value` unusable as results to render, or undefined when it
 * has every part the report reads: a results.json written by another
 * version, cut short or edited by hand is refused naming the first problem
 * rather than failing somewhere inside the renderer.
 */
export function resultsProblem(value: unknown): string | undefined {
  const obj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  if (!obj(value)) return "not a JSON object";
  if (value.schema !== 1 || value.generator !== "heck compare") return 'not a heck compare results.json (needs "schema": 1 and "generator": "heck compare")';
  if (typeof value.command !== "string") return "command: must be a string";
  if (typeof value.quick !== "boolean") return "quick: must be true or false";
  const sim = value.sim;
  if (sim !== null) {
    if (!obj(sim)) return "sim: must be an object or null";
    for (const k of ["seeds", "stores", "scenarios", "runs"]) if (!Array.isArray(sim[k])) return `sim.${k}: must be an array`;
    if ((sim.seeds as unknown[]).length === 0) return "sim.seeds: must not be empty";
    for (const k of ["settings", "cost", "scale"]) if (!obj(sim[k])) return `sim.${k}: must be an object`;
    const runs = sim.runs as unknown[];
    for (let i = 0; i < runs.length; i++) {
      const r = runs[i];
      if (!obj(r) || typeof r.store !== "string" || typeof r.scenario !== "string" || !obj(r.writes) || !obj(r.visibilityMs) || !obj(r.traffic) || !Array.isArray(r.checks)) {
        return `sim.runs[${i}]: not a run (needs store, scenario, writes, visibilityMs, traffic, checks)`;
      }
    }
  }
  const real = value.real;
  if (real !== null) {
    if (!obj(real)) return "real: must be an object or null";
    if (typeof real.available !== "boolean") return "real.available: must be true or false";
    if (!Array.isArray(real.stores)) return "real.stores: must be an array";
  }
  return undefined;
}

/** Runs everything the options ask for and writes the report. */
export async function runCompare(o: CompareOptions): Promise<{ results: CompareResults; written: WrittenReport }> {
  if (o.from !== undefined) {
    const written = writeReport(o.from, o.outDir, o.chapter);
    o.log(`re-rendered ${written.files.length} files in ${written.dir} from existing results`);
    return { results: o.from, written };
  }
  const results: CompareResults = { schema: 1, generator: "heck compare", command: o.command, quick: o.quick, sim: null, real: null };
  if (o.mode === "sim" || o.mode === "all") {
    o.log(`simulation: seeds ${o.seed}..${o.seed + o.seedCount - 1}${o.quick ? ", quick" : ""}`);
    const t0 = performance.now();
    results.sim = runSimExperiment({
      seed: o.seed,
      seedCount: o.seedCount,
      quick: o.quick,
      stores: o.simStores,
      ...(o.only ? { only: o.only } : {}),
      clock: () => performance.now(),
      onRun: (store, sc, f, ms) =>
        o.log(
          `  ${sc.id.padEnd(27)} ${store.padEnd(4)} ${(ms / 1000).toFixed(1).padStart(5)} s  writes ok ${pct(f.writes.okShare)}  visible p99 ${f.visibilityMs.p99 ?? "-"} ms  ${f.linearizability ? `linearizable ${f.linearizability.linearizable}` : ""}`,
        ),
    });
    o.log(`simulation done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  if (o.mode === "real" || o.mode === "all") {
    o.log("real processes:");
    results.real = await runRealMode({ quick: o.quick, stores: o.realStores, log: o.log, ...o.real });
    results.real.machine = { cpus: cpus().length, loadAvg1m: Number(loadavg()[0]!.toFixed(2)) };
    if (!results.real.available) o.log(`  unavailable: ${results.real.reason}`);
  }
  const written = writeReport(results, o.outDir, o.chapter);
  o.log(`wrote ${written.files.length} files to ${written.dir}${written.chapterUpdated ? ` and the key figures in ${o.chapter}` : ""}`);
  return { results, written };
}

function pct(v: number | null): string {
  return v === null ? "-" : `${(v * 100).toFixed(1)}%`;
}
