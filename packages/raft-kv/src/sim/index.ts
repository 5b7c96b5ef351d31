/**
 * raft-kv under @heck/sim's seeded runner, for the sweep and for the browser
 * view: the simulated replica (`RaftSimNode`, the package's `ReplicaNode`
 * persisting its Readies on the runner's disk), the safety checks, and the
 * sweep's scenario ({@link raftSweep}). Pure: no timers, no Node modules.
 */
export { raftSweep, RAFT_SWEEP_SCENARIOS, POWER_LOSS, type RaftSweep, type RaftSweepOptions, type RaftSweepOutcome } from "./sweep-scenario.ts";
export { RaftSimNode, SafetyRecorder, PerRunRecorder, raftCodec, raftInvariants, leaderOf, type RaftSim, type RaftSimOptions, type WalRecord, type HistoryOp } from "./raft-sim.ts";
