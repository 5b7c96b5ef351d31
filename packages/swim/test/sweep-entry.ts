/**
 * The swim sweep entry for `heck-sim sweep --package swim` (and for
 * test/seeded.test.ts): the scenario in src/sim/sweep-scenario.ts, run
 * through @heck/sim's runSeeded. A failure's report names the command that
 * opens the same run in the browser view at the failure.
 */
import { runSeeded, type SeededRunResult } from "@heck/sim";
import { swimSweepOptions, type SwimSweepVariant } from "../src/sim/sweep-scenario.ts";

export { POWER_LOSS } from "../src/sim/sweep-scenario.ts";

/** Runs one seed; throws a SimulationFailure whose message starts with HECK_SEED=<n>. */
export function runSeed(seed: number, options: SwimSweepVariant = {}): SeededRunResult {
  return runSeeded(swimSweepOptions(seed, options));
}
