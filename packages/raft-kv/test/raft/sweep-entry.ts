/**
 * The Raft core's sweep entry (the @heck/sim convention): `runSeed(seed)`
 * runs one seeded VOPR-style simulation and throws a SimulationFailure
 * (message starting `HECK_SEED=<n>`) on any violation. sweep.test.ts runs it
 * for a fixed list of seeds; `heck-sim sweep` can run it for thousands.
 * What one seed does is src/sim/sweep-scenario.ts, which the browser view
 * runs too, so a failure's report names the `heck-scope` command that opens
 * the same run at the failure.
 *
 * `HECK_SWEEP=1` doubles the fault phase (8 s of simulated time).
 */
import { runSeeded, type SimulationStats } from "@heck/sim";
import { raftSweep, RAFT_SWEEP_SCENARIOS, type RaftSweepOptions, type RaftSweepOutcome } from "../../src/sim/sweep-scenario.ts";

export { POWER_LOSS } from "../../src/sim/sweep-scenario.ts";

const LONG = process.env.HECK_SWEEP === "1";
/** Simulated ms of faults before the heal. */
export const SAFETY_MS = RAFT_SWEEP_SCENARIOS[LONG ? "sweep-long" : "sweep"]!;

/** What a passing run produced, for the test's own assertions. */
export interface SweepRun extends RaftSweepOutcome {
  stats: SimulationStats;
}

/** What a test may change about a seed's run (default fault phase {@link SAFETY_MS}; 64 shrink runs with HECK_SWEEP=1). */
export type SweepOptions = RaftSweepOptions;

/**
 * Runs one seed; throws a SimulationFailure naming HECK_SEED on any
 * violation, a message that leaves before what it promises is durable
 * (src/sim/persist-check.ts) included.
 */
export function runSeed(seed: number, options: SweepOptions = {}): SweepRun {
  const sweep = raftSweep(seed, { safetyMs: SAFETY_MS, maxShrinkRuns: LONG ? 64 : 16, ...options });
  const result = runSeeded(sweep.options);
  return { ...sweep.outcome(), stats: result.stats };
}

export default runSeed;
