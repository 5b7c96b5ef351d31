/**
 * crdt-kv's sweep entry (the @heck/sim convention) for `heck-sim sweep
 * --package crdt-kv` and test/simulation.test.ts: the scenario in
 * src/sim/sweep-scenario.ts, run through @heck/sim's runSeeded. A failure's
 * report starts `HECK_SEED=<n>` and names the command that opens the same
 * run in the browser view at the failure.
 */
import { runSeeded, type SeededRunResult } from "@heck/sim";
import { crdtSweep } from "../src/sim/sweep-scenario.ts";
import type { Reference } from "../src/sim/cluster.ts";

/** Runs one seed; throws a SimulationFailure whose message starts with HECK_SEED=<n>. */
export function runSeed(seed: number): { result: SeededRunResult; reference: Reference } {
  const sweep = crdtSweep(seed);
  return { result: runSeeded(sweep.options), reference: sweep.reference };
}

export default runSeed;
