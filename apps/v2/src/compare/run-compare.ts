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
  /** Real mode: how to start `heck` (defaults: this package's bin/heck.js). */
  real?: Partial<RealModeOptions>;
  /** Re-render the report from this results.json instead of measuring anything. */
  from?: CompareResults;
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
