/**
 * The Raft core's sweep entry (the @heck/sim convention): `runSeed(seed)`
 * runs one seeded VOPR-style simulation and throws a SimulationFailure
 * (message starting `HECK_SEED=<n>`) on any violation. sweep.test.ts runs it
 * for a fixed list of seeds; `heck-sim sweep` can run it for thousands.
 *
 * One seed picks the cluster size (3 or 5), a random fault schedule
 * (partitions of every shape, crashes and restarts, loss, duplication,
 * reordering, delay spikes; a fault every ~250 ms on average) and a client
 * workload; every third seed also compacts the log every 15 entries, so
 * InstallSnapshot runs under faults, every other seed uses lease reads,
 * every fourth seed changes membership one server at a time under faults,
 * and seeds 2-3, 6-7, ... tell followers of new commits lazily (with the
 * next append or heartbeat, or at the next tick), as the server does.
 * Election Safety, Log Matching, Leader Completeness and State Machine
 * Safety are checked after every step; after
 * the faults heal the cluster must converge (one leader, every member applied
 * the same log) with identical key-value state on every replica, and the
 * clients' history must be linearizable (checkKvHistory from @heck/sim).
 *
 * `HECK_SWEEP=1` doubles the fault phase (8 s of simulated time).
 */
import { checkKvHistory, runSeeded, type NodeId, type Prng } from "@heck/sim";
import type { ProposalPosition, RaftResult } from "../../src/core/raft/types.ts";
import type { Envelope } from "../../src/core/replica/index.ts";
import {
  PerRunRecorder,
  converged,
  describeCluster,
  leaderOf,
  raftCodec,
  raftInvariants,
  startClients,
  toKvOperations,
  type Disk,
  type HistoryOp,
  type RaftSim,
  type RaftSimNode,
} from "./support/raft-sim.ts";

const LONG = process.env.HECK_SWEEP === "1";
/** Simulated ms of faults before the heal. */
export const SAFETY_MS = LONG ? 8000 : 4000;

function clusterIds(prng: Prng, membership: boolean): NodeId[] {
  const n = membership ? 5 : prng.pick([3, 5]);
  return Array.from({ length: n }, (_, i) => `n${i + 1}`);
}

/**
 * Membership churn (§4): every few hundred ms the current leader proposes
 * one random single-server change (add a learner, promote a caught-up
 * learner, remove a member), refused changes are simply dropped, while the
 * random faults go on.
 */
function churnMembership(sim: RaftSim, prng: Prng, accepted: { count: number; changed: boolean }): void {
  let t = prng.nextInt(300, 700);
  while (t < SAFETY_MS) {
    sim.schedule(t, (s) => {
      const l = leaderOf(s);
      if (!l) return;
      const { voters, learners } = l.raft.status().confState;
      // The founders are n1-n3 (see runSeed); any other configuration in force means a change took effect.
      if (learners.length > 0 || voters.join(",") !== "n1,n2,n3") accepted.changed = true;
      const outsiders = s.nodeIds.filter((id) => !voters.includes(id) && !learners.includes(id));
      const choices: (() => RaftResult<ProposalPosition>)[] = [];
      if (outsiders.length > 0) choices.push(() => l.raft.proposeConfChange({ type: "addLearner", nodeId: prng.pick(outsiders) }));
      if (learners.length > 0) choices.push(() => l.raft.proposeConfChange({ type: "promoteLearner", nodeId: prng.pick(learners) }));
      if (voters.length > 2) choices.push(() => l.raft.proposeConfChange({ type: "removeVoter", nodeId: prng.pick(voters) }));
      if (choices.length > 0 && prng.pick(choices)().ok) accepted.count++;
    });
    t += prng.nextInt(200, 600);
  }
}

/** Every member holds the same key-value state as the leader. */
function sameState(sim: RaftSim): string | null {
  const l = leaderOf(sim)!;
  const want = JSON.stringify([...l.kv.data].sort());
  const { voters, learners } = l.raft.status().confState;
  for (const n of sim.up) {
    if (!voters.includes(n.id) && !learners.includes(n.id)) continue;
    const got = JSON.stringify([...n.kv.data].sort());
    if (got !== want) return `${n.id} has ${got}, leader ${l.id} has ${want}`;
  }
  return null;
}

/**
 * A Jepsen-style nemesis on top of the random schedule: now and then cut off
 * whoever leads at that moment (the fault that makes deposed leaders serve
 * stale reads if the read path is wrong), then heal.
 */
function isolateLeaders(sim: RaftSim, prng: Prng): void {
  let t = prng.nextInt(200, 600);
  while (t < SAFETY_MS) {
    const cutFor = prng.nextInt(150, 500);
    sim.schedule(t, (s) => {
      const l = leaderOf(s);
      if (l) s.isolate(l.id);
    });
    sim.schedule(Math.min(t + cutFor, SAFETY_MS), (s) => s.heal());
    t += cutFor + prng.nextInt(100, 600);
  }
}

/** What a passing run produced, for the test's own assertions. */
export interface SweepRun {
  history: HistoryOp[];
  nodes: number;
  compactEvery: number;
  /** Membership changes the leader accepted (membership seeds only). */
  confChanges: number;
  /** Whether a configuration other than the founders' was ever in force (membership seeds only). */
  membershipChanged: boolean;
  /** The leader's configuration at convergence. */
  finalConf: { voters: readonly string[]; learners: readonly string[] } | null;
}

/** Runs one seed; throws a SimulationFailure naming HECK_SEED on any violation. */
export function runSeed(seed: number): SweepRun {
  const holder = new PerRunRecorder();
  const compactEvery = seed % 3 === 0 ? 15 : 0;
  // Every fourth seed starts 3 founders among 5 nodes and changes membership under faults.
  const membership = seed % 4 === 3;
  // Every other seed serves reads from the leader lease instead of a heartbeat round (§6.4.1).
  const readOnlyOption = seed % 2 === 0 ? "leaseBased" : "safe";
  // Every other pair of seeds uses the server's lazy commit broadcast (independent of the choices above).
  const commitBroadcast = Math.floor(seed / 2) % 2 === 1 ? "lazy" : "immediate";
  let history: HistoryOp[] = [];
  let nodes = 0;
  const accepted = { count: 0, changed: false };
  let finalConf: SweepRun["finalConf"] = null;
  runSeeded<Envelope, never, Disk, RaftSimNode>({
    seed,
    nodeIds: (prng) => {
      const ids = clusterIds(prng, membership);
      nodes = ids.length;
      return ids;
    },
    factory: (args) => holder.factory("n1", { founders: membership ? args.peers.slice(0, 3) : args.peers, compactEvery, raft: { readOnlyOption, commitBroadcast } })(args),
    codec: raftCodec,
    network: { maxPacketBytes: 1 << 24 },
    tickIntervalMs: 10,
    invariants: raftInvariants(holder),
    workload: (sim, prng) => {
      history = startClients(sim, prng.fork("clients"), { clients: 8, keys: ["a", "b"], untilMs: SAFETY_MS, timeoutMs: 300, thinkMs: 2 });
      isolateLeaders(sim, prng.fork("nemesis"));
      accepted.count = 0;
      accepted.changed = false;
      if (membership) churnMembership(sim, prng.fork("membership"), accepted);
    },
    safetyPhaseMs: SAFETY_MS,
    faultOptions: { meanGapMs: 250 },
    converged: (sim) => {
      // Members are whoever the leader's configuration names (removed nodes are out for good).
      if (!converged(sim, membership ? undefined : sim.nodeIds)) return false;
      const diff = sameState(sim);
      if (diff !== null) throw new Error(`replicas diverged after convergence: ${diff}`);
      // Every client history must be linearizable (ops still running count as unknown outcomes).
      const verdict = checkKvHistory(toKvOperations(history));
      if (verdict.linearizable === false) throw new Error(`client history not linearizable:\n${verdict.report}`);
      finalConf = leaderOf(sim)!.raft.status().confState;
      if (finalConf.learners.length > 0 || finalConf.voters.join(",") !== "n1,n2,n3") accepted.changed = true;
      return true;
    },
    livenessBudgetMs: 6000,
    describeState: describeCluster,
    maxShrinkRuns: LONG ? 64 : 16,
  });
  return { history, nodes, compactEvery, confChanges: accepted.count, membershipChanged: accepted.changed, finalConf };
}

export default runSeed;
