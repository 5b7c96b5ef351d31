/**
 * The shape of `docs/compare/results.json`: what `heck compare` measured, in
 * both modes. The markdown report and every chart are generated from this
 * object alone.
 */
import type { Summary } from "./analysis/stats.ts";
import type { SimResults } from "./experiment.ts";

/** One store measured on real processes. */
export interface RealStoreResult {
  store: "crdt" | "raft" | "etcd";
  nodes: number;
  origins: number;
  intervalMs: number;
  /** Origin flips measured (fleet set failing, then healthy again). */
  flips: number;
  /** Fleet flip until every node's API reports the new status. */
  flipVisibleMs: Summary;
  /** Flips some node never reported within the bound. */
  flipsNotSeen: number;
  /** Latency of `GET /v1/origins?status=unhealthy`, any node. */
  readLatencyMs: Summary;
  /** Share of API reads that answered (any node, whole run). */
  readOkShare: number | null;
  /** CPU per agent process over the steady window, % of one core. */
  cpuPctPerNode: number[];
  /** kill -9 of one agent: until the killed node's origins are reported by the others again (flip visible), if measured. */
  crash: { node: string; flipVisibleAfterCrashMs: number | null } | null;
  /** Why the run failed, if it did. */
  error: string | null;
}

/** Real-process mode results. */
export interface RealResults {
  /** False when v2 could not be run; `reason` says exactly what was missing. */
  available: boolean;
  reason: string | null;
  stores: RealStoreResult[];
  /** The machine, for the reader: cores and load at the start. */
  machine: { cpus: number; loadAvg1m: number } | null;
}

/** Everything `heck compare` writes to results.json. */
export interface CompareResults {
  schema: 1;
  generator: "heck compare";
  /** The command that regenerates this file. */
  command: string;
  quick: boolean;
  sim: SimResults | null;
  real: RealResults | null;
}
