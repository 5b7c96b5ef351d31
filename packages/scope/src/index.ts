/**
 * @packageDocumentation
 * `@heck/scope`: see the protocols. Each stage's real core (SWIM, raft-kv,
 * crdt-kv, the composed v2, rendezvous ownership) runs in its seeded
 * simulation, in Node or in a browser page, where a learner steps it,
 * crashes and partitions it, and rewinds it: a run is its stage, its seed
 * and the learner's actions, so re-running it lands on the same state.
 *
 * - {@link ScopeRun}: one watched run (trace, hash, snapshot, actions).
 * - {@link createStage}: each stage's adapter over its own simulation.
 * - `heck-scope` (src/cli.ts): `--trace-hash` in Node, `--listen` for the page.
 */
export { ScopeRun, type ScopeRunOptions, type Snapshot, type RunFailure, type ShownEvent, type ShownMessage, type StageFactory } from "./core/scope-run.ts";
export { parseActions, formatAction, formatActions, type Action, type ActionRequest, type ParseActionsResult } from "./core/actions.ts";
export { STAGES, NODE_IDS, isStageName, type StageName, type StageAdapter, type NodeView, type InvariantStatus, type MessageDescription } from "./core/stage.ts";
export { TraceHasher } from "./core/trace-hash.ts";
export { checkSeed, checkStage, checkTimeMs, type Checked } from "./core/options.ts";
export { createStage, SCENARIOS, isScenario } from "./stages/index.ts";

import { ScopeRun, type ScopeRunOptions } from "./core/scope-run.ts";
import type { Action } from "./core/actions.ts";
import type { StageName } from "./core/stage.ts";
import { createStage } from "./stages/index.ts";

/**
 * Runs `stage` from `seed` with `actions` to `untilMs` and returns the run
 * (the CLI's `--trace-hash`); `more` picks a seeded scenario, its faults, extra checks.
 */
export function runScope(stage: StageName, seed: number, untilMs: number, actions: readonly Action[] = [], more: Pick<ScopeRunOptions, "scenario" | "faults" | "checks"> = {}): ScopeRun {
  const run = new ScopeRun({ stage, seed, actions, ...more }, createStage);
  run.run(untilMs);
  return run;
}
