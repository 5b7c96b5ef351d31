/**
 * A failure a sweep finds only once its faults heal, when its convergence
 * check throws (replicas that diverged, a history that is not linearizable,
 * a lost write), stops the view at the instant the sweep finds it, with the
 * check's own words; and a run that never converges says, past the liveness
 * budget, that the sweep fails it there.
 */
import { describe, expect, it } from "vitest";
import { runSeeded, SimulationFailure } from "@heck/sim";
import { crdtSweep } from "@heck/crdt-kv";
import { ScopeRun } from "../src/index.ts";
import { seededAdapter, CONVERGENCE_CHECK } from "../src/stages/seeded.ts";
import { crdtView, describeKv } from "../src/stages/crdt.ts";

const SEED = 1;

type CrdtSweepOptions = ReturnType<typeof crdtSweep>["options"];

function sweepFailure(options: CrdtSweepOptions): SimulationFailure {
  try {
    runSeeded({ ...options, maxShrinkRuns: 0, traceTail: 5 });
  } catch (e) {
    if (e instanceof SimulationFailure) return e;
    throw e;
  }
  throw new Error("the sweep did not fail");
}

function viewRun(options: CrdtSweepOptions): ScopeRun {
  const run = new ScopeRun({ stage: "crdt", seed: SEED, scenario: "sweep" }, (stage, context) =>
    seededAdapter(stage, options as never, context, { view: (sim, id) => crdtView(sim as never, id), describe: describeKv }),
  );
  run.run(options.safetyPhaseMs + options.livenessBudgetMs + 1);
  return run;
}

describe("a sweep's end-of-run failures in the view", () => {
  it("a convergence check that throws stops the view where the sweep fails, with its words", () => {
    const base = crdtSweep(SEED).options;
    const broken = {
      ...base,
      converged: (): boolean => {
        throw new Error("replicas diverged (on purpose)");
      },
    };
    const sweep = sweepFailure(broken);
    const run = viewRun(broken);
    expect(run.failure).not.toBeNull();
    expect(run.failure!.what).toBe(CONVERGENCE_CHECK);
    expect(run.failure!.detail).toContain("replicas diverged (on purpose)");
    expect(run.failure!.atMs).toBe(sweep.atMs);
  });

  it("a run that never converges is named as the sweep's failure once its budget is spent", () => {
    const base = crdtSweep(SEED).options;
    const never = { ...base, converged: (): boolean => false };
    expect(sweepFailure(never).kind).toBe("liveness");
    const run = viewRun(never);
    expect(run.failure).toBeNull();
    const status = run.snapshot().invariants.find((i) => i.kind === "progress");
    expect(status).toMatchObject({ ok: false, detail: expect.stringContaining("the sweep fails this run here") });
  });
});
