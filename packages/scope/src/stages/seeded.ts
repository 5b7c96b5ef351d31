/**
 * A stage's seeded test scenario in the view: the very run `runSeeded` makes
 * for a seed (the cluster and fault schedule drawn from it, the workload, the
 * scenario's own invariants after every step), so a failure a sweep or a
 * simulation test reports opens here at the same instant. The fault schedule
 * can be given (the shrunk one a failure report prints) instead of drawn.
 *
 * At the end of the safety phase the run heals, restarts every crashed node
 * and restores the baseline network, as runSeeded does; the scenario's
 * `converged` is shown as a progress check from then on.
 *
 * v2's scenarios are the coordination ladder's rungs instead (ladder.ts);
 * swim has the failure-detection ladder's rungs beside its sweeps
 * (swim-ladder.ts), raft the agreement ladder's (raft-ladder.ts), crdt
 * the gossip and causality ladders' (crdt-ladder.ts), and ownership its
 * ladder's (ownership-ladder.ts).
 */
import { createSeededSimulation, formatFaultSchedule, enterLivenessPhase, seededScenario, startSeededWorkload, type FaultStep, type SeededRunOptions, type SimProcess } from "@heck/sim";
import { swimSweepOptions } from "@heck/swim";
import { raftSweep, RAFT_SWEEP_SCENARIOS } from "@heck/raft-kv/sim";
import { crdtSweep } from "@heck/crdt-kv";
import { runnerActions, type InvariantStatus, type MessageDescription, type NodeView, type StageAdapter, type StageContext, type StageName } from "../core/stage.ts";
import { describeSwim, swimView } from "./swim.ts";
import { describeEnvelope, raftView } from "./raft.ts";
import { crdtView, describeKv } from "./crdt.ts";
import { ladderRungOf, ladderStage } from "./ladder.ts";
import { swimLadderStage, swimRungOf, SWIM_RUNG_SCENARIOS } from "./swim-ladder.ts";
import { AGREEMENT_RUNG_SCENARIOS, agreementLadderStage, agreementRungOfScenario } from "./raft-ladder.ts";
import { CRDT_RUNG_SCENARIOS, crdtLadderStage, crdtRungOf } from "./crdt-ladder.ts";
import { OWNERSHIP_RUNG_SCENARIOS, ownershipLadderStage, ownershipRungOf } from "./ownership-ladder.ts";

/** The seeded scenarios each stage opens (`--scenario`), beside its own hand-built cluster. */
export const SCENARIOS: Readonly<Record<StageName, readonly string[]>> = {
  // Beside the sweeps, the failure-detection ladder's rungs (`heck-swim ladder`): ladder-all-to-all ... ladder-swim-lifeguard.
  swim: ["sweep", "sweep-power-loss", ...SWIM_RUNG_SCENARIOS],
  // Beside the sweeps, the agreement ladder's rungs (`heck-raft ladder`): ladder-primary-backup, ladder-raft.
  raft: [...Object.keys(RAFT_SWEEP_SCENARIOS), ...AGREEMENT_RUNG_SCENARIOS],
  // Beside the sweep, the gossip ladder's rungs at any N and the causality ladder's (`heck-crdt ladder`).
  crdt: ["sweep", ...CRDT_RUNG_SCENARIOS],
  // The coordination ladder's rungs (`heck ladder`) at any N: ladder-raft-n5, ladder-hybrid-n9, ladder-crdt-n3...
  v2: ["ladder-<raft|hybrid|crdt>-n<N>"],
  // The ownership ladder's rungs (`heck-ownership ladder`): ladder-modulo ... ladder-rendezvous-bounded.
  ownership: [...OWNERSHIP_RUNG_SCENARIOS],
};

/** True when `stage` opens the scenario called `name`. */
export function isScenario(stage: StageName, name: string): boolean {
  if (stage === "v2") return ladderRungOf(name) !== undefined;
  if (stage === "crdt" && crdtRungOf(name) !== undefined) return true;
  return SCENARIOS[stage].includes(name);
}

/** What a scenario adapter shows of its nodes and messages. */
interface ScenarioShape<S> {
  view(sim: S, id: string): NodeView;
  describe(payload: unknown): MessageDescription;
}

/** Builds `stage`'s scenario `name` for the context's seed, with its faults (default: the seed's own schedule). */
export function scenarioStage(stage: StageName, name: string, context: StageContext): StageAdapter {
  switch (stage) {
    case "swim": {
      const rung = swimRungOf(name);
      if (rung !== undefined) {
        if (context.faults !== undefined) throw new RangeError(`faults: the ladder's runs have no fault schedule to replace (${name})`);
        return swimLadderStage(rung, context);
      }
      if (name !== "sweep" && name !== "sweep-power-loss") break;
      return seededAdapter(stage, swimSweepOptions(context.seed, { powerLoss: name === "sweep-power-loss" }), context, {
        view: (sim, id) => swimView(sim as never, id),
        describe: describeSwim,
      });
    }
    case "raft": {
      const rung = agreementRungOfScenario(name);
      if (rung !== undefined) {
        if (context.faults !== undefined) throw new RangeError(`faults: the ladder's story has its own partition, no fault schedule to replace (${name})`);
        return agreementLadderStage(rung, context);
      }
      if (RAFT_SWEEP_SCENARIOS[name] === undefined) break;
      return seededAdapter(stage, raftSweep(context.seed, { safetyMs: RAFT_SWEEP_SCENARIOS[name] }).options, context, {
        view: (sim, id) => raftView(sim as never, id),
        describe: describeEnvelope,
      });
    }
    case "v2": {
      const rung = ladderRungOf(name);
      if (rung === undefined) break;
      if (context.faults !== undefined) throw new RangeError(`faults: the ladder's runs have no fault schedule to replace (${name})`);
      return ladderStage(rung.store, rung.nodes, context);
    }
    case "crdt": {
      const rung = crdtRungOf(name);
      if (rung !== undefined) {
        if (context.faults !== undefined) throw new RangeError(`faults: the ladder's runs have no fault schedule to replace (${name})`);
        return crdtLadderStage(rung, context);
      }
      if (name !== "sweep") break;
      return seededAdapter(stage, crdtSweep(context.seed).options, context, {
        view: (sim, id) => crdtView(sim as never, id),
        describe: describeKv,
      });
    }
    case "ownership": {
      const rung = ownershipRungOf(name);
      if (rung === undefined) break;
      if (context.faults !== undefined) throw new RangeError(`faults: the ladder's runs have no fault schedule to replace (${name})`);
      return ownershipLadderStage(rung, context);
    }
    default:
      break;
  }
  throw new RangeError(`stage ${stage} has no scenario ${JSON.stringify(name)}${SCENARIOS[stage].length > 0 ? ` (it has ${SCENARIOS[stage].join(", ")})` : " (it has none)"}`);
}

/** A seeded scenario's adapter (exported for its tests). */
export function seededAdapter<M, R, S, N extends SimProcess<M, R, S>>(stage: StageName, options: SeededRunOptions<M, R, S, N>, context: StageContext, shape: ScenarioShape<unknown>): StageAdapter {
  const drawn = seededScenario(options);
  const schedule: FaultStep[] = context.faults ?? drawn.schedule;
  for (const step of schedule) {
    const named = nodesOf(step);
    for (const n of named) if (!drawn.nodeIds.includes(n)) throw new RangeError(`faults: "${formatFaultSchedule([step])}" names ${n}, but seed ${context.seed}'s cluster is ${drawn.nodeIds.join(", ")}`);
  }
  let liveness = false;
  let settled = false;
  const withChecks: SeededRunOptions<M, R, S, N> = {
    ...options,
    invariants: [
      ...options.invariants,
      ...((context.checks ?? []).map((c) => ({ name: c.name, check: (s: unknown) => c.check(s) }))),
      // The sweep asks `converged` before every step once the faults heal, and a check that throws
      // there (replicas that diverged, a history that is not linearizable, a lost write) is its
      // failure: asked after every step here, it stops the view at the same instant.
      {
        name: CONVERGENCE_CHECK,
        check: (s) => {
          if (!liveness || settled) return undefined;
          const r = convergenceCheck(options.converged, s);
          // Once it converged the sweep stops asking, and so does the view.
          if (r === true) settled = true;
          return typeof r === "string" ? r : undefined;
        },
      },
    ],
  };
  const sim = createSeededSimulation(withChecks, drawn.nodeIds, schedule, 1, context.onTrace);
  startSeededWorkload(sim, withChecks, schedule);
  sim.schedule(options.safetyPhaseMs, (s) => {
    enterLivenessPhase(s, withChecks);
    liveness = true;
  });
  const CONVERGED = "converged after the faults heal";
  return {
    stage,
    sim: sim as unknown as StageAdapter["sim"],
    nodeIds: drawn.nodeIds,
    ...runnerActions(sim),
    endMs: options.safetyPhaseMs + options.livenessBudgetMs,
    nodeView: (id) => shape.view(sim, id),
    invariants: (): InvariantStatus[] => {
      const safety: InvariantStatus[] = withChecks.invariants.map((i) => ({ name: i.name, kind: "safety", ok: true }));
      let ok: boolean;
      try {
        ok = liveness && options.converged(sim);
      } catch {
        // A scenario's convergence check may throw on what it finds (diverged replicas): not converged.
        ok = false;
      }
      // Past the liveness budget the sweep gives up and reports this run as failed; say so.
      const late = liveness && !ok && sim.nowMs >= options.safetyPhaseMs + options.livenessBudgetMs;
      const detail = !liveness ? `faults until t=${options.safetyPhaseMs} ms` : ok ? "converged" : late ? `not converged ${options.livenessBudgetMs} ms after heal: the sweep fails this run here` : "not yet";
      return [...safety, { name: CONVERGED, kind: "progress", ok, detail }];
    },
    describe: shape.describe,
  };
}

/** The name under which a throwing convergence check stops the view. */
export const CONVERGENCE_CHECK = "the sweep's convergence check finds nothing wrong";

/** What a scenario's `converged` says: whether it converged, or what it threw (its failure). */
function convergenceCheck<S>(converged: (sim: S) => boolean, sim: S): boolean | string {
  try {
    return converged(sim);
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/** Every node a fault names. */
function nodesOf(step: FaultStep): string[] {
  const f = step.fault;
  if (f.kind === "crash" || f.kind === "restart") return [f.node];
  if (f.kind !== "partition") return [];
  const p = f.spec;
  return p.kind === "groups" ? p.groups.flat() : p.kind === "one-way" ? [...p.from, ...p.to] : [...p.left, p.bridge, ...p.right];
}
