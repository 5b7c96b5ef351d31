/**
 * @packageDocumentation
 * Raft against CRDTs on the same health-check workload: one seeded workload
 * (v2's agents in miniature) runs on raft-kv's replica and on crdt-kv's,
 * with the same network and the same faults, in simulation and on real
 * processes, and the figures go to a report (docs/compare.md is the
 * chapter). apps/v2's `heck` offers it as `heck compare` and `heck ladder`
 * through {@link registerCompareCommand} and {@link registerLadderCommand};
 * the ladder itself is `@heck/compare/ladder`.
 */
export { registerCompareCommand, registerLadderCommand, findRepoRoot, type HeckLauncher } from "./command.ts";
export { runCompare, isCompleteRun, isCompleteResults, resultsProblem, ALL_SIM_STORES, ALL_REAL_STORES, type CompareMode, type CompareOptions } from "./run-compare.ts";
export type { CompareResults, RealResults } from "./types.ts";
