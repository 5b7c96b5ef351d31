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

const BUILDERS: Record<StageName, (context: StageContext) => StageAdapter> = {
  swim: swimStage,
  raft: raftStage,
  crdt: crdtStage,
  v2: v2Stage,
  ownership: ownershipStage,
};

/** Builds `stage`'s seeded cluster (a {@link StageFactory} for ScopeRun). */
export function createStage(stage: StageName, context: StageContext): StageAdapter {
  return BUILDERS[stage](context);
}
