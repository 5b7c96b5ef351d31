/**
 * Every stage's adapter, by name: the one table the driver, the CLI and the
 * page share.
 */
import type { StageAdapter, StageContext, StageName } from "../core/stage.ts";
import { crdtStage } from "./crdt.ts";
import { ownershipStage } from "./ownership.ts";
import { raftStage } from "./raft.ts";
import { swimStage } from "./swim.ts";
import { v2Stage } from "./v2.ts";
import { scenarioStage } from "./seeded.ts";

export { SCENARIOS, isScenario } from "./seeded.ts";

const BUILDERS: Record<StageName, (context: StageContext) => StageAdapter> = {
  swim: swimStage,
  raft: raftStage,
  crdt: crdtStage,
  v2: v2Stage,
  ownership: ownershipStage,
};

/**
 * Builds `stage`'s seeded cluster (a {@link StageFactory} for ScopeRun): its
 * own hand-built one, or with `scenario` one of its seeded test scenarios
 * (see seeded.ts). Throws a RangeError naming the problem for an unknown
 * scenario or a fault naming a node the cluster does not have.
 */
export function createStage(stage: StageName, context: StageContext, scenario?: string): StageAdapter {
  return scenario === undefined ? BUILDERS[stage](context) : scenarioStage(stage, scenario, context);
}
