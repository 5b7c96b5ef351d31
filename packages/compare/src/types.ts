/**
 * The shape of `docs/compare/results.json`: what `heck compare` measured, in
 * both modes. The markdown report and every chart are generated from this
 * object alone.
 */
import type { Summary } from "./analysis/stats.ts";
import type { SimResults } from "./experiment.ts";

/** Flips measured in one phase: fleet origin set failing (or healthy again) until every node reports it. */
export interface FlipFigures {
  flips: number;
  /** Fleet flip until the last node's API reports the new status (checks, rise/fall thresholds and replication). */
  visibleMs: Summary;
  /** First node reporting it (usually the owner, which checked) until the last: the store's share of the delay. */
  spreadMs: Summary;
  /** Flips some node did not report within the bound. */
  notSeen: number;
}

/** One side of a real partition. */
export interface RealSide {
  nodes: string[];
  /** Share of (flip, node) pairs on this side that reported the flip within the bound. */
  sawShare: number | null;
  /** Per (flip, node): time until the node reported it. */
  visibleMs: Summary;
}

/** One store measured on real processes. */
export interface RealStoreResult {
  store: "crdt" | "raft" | "etcd";
  nodes: number;
  origins: number;
  intervalMs: number;
  /** Steady state. */
  steady: FlipFigures;
  /** Latency of `GET /v1/origins?status=unhealthy`, any node, whole run. */
  readLatencyMs: Summary;
  /** Share of API reads that answered (any node, whole run). */
  readOkShare: number | null;
  /** CPU per agent process over the steady phase, % of one core. */
  cpuPctPerNode: number[];
  /** With every agent dropping this share of packets (the transports' fault layer). */
  loss: (FlipFigures & { dropRate: number }) | null;
  /** A partition through the agents' fault layer (SWIM, crdt gossip, raft peer links), flips during it, then heal. */
  partition: { sides: Record<string, RealSide>; healAgreeMs: number | null; cut: string } | null;
  /** kill -9 of one agent, then flips of up to three origins it owned, at once: median time until every survivor reports one. */
  crash: { node: string; flips: number; visibleMs: number | null; notSeen: number } | null;
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
