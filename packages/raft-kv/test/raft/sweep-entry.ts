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
 * Each node persists its Readies as WAL records on the runner's simulated
 * disk and a restart replays them (src/core/replica/replica-node.ts); every
 * message is checked as it leaves for promises its disk does not hold yet
 * (support/persist-check.ts).
 * Election Safety, Log Matching, Leader Completeness and State Machine
 * Safety are checked after every step; after
 * the faults heal the cluster must converge (one leader, every member applied
 * the same log) with identical key-value state on every replica, and the
 * clients' history must be linearizable (checkKvHistory from @heck/sim)
 * and every write a client was told succeeded must still be in the log.
 * {@link SweepOptions} adds power-loss disks and leader crashes
 * (persist-before-send.test.ts) or swaps in a wrong driver.
 *
 * `HECK_SWEEP=1` doubles the fault phase (8 s of simulated time).
 */
import { checkKvHistory, runSeeded, tearBytes, type NodeFactoryArgs, type NodeId, type Prng, type SimulationDiskOptions, type SimulationStats } from "@heck/sim";
import type { ProposalPosition, RaftResult } from "../../src/core/raft/types.ts";
import type { Envelope } from "../../src/core/replica/index.ts";
import {
  PerRunRecorder,
  converged,
  describeCluster,
  leaderOf,
  lostAcknowledgedWrite,
  raftCodec,
  raftInvariants,
  startClients,
  toKvOperations,
  type SnapshotImage,
  type WalRecord,
  type HistoryOp,
  type RaftSim,
  type RaftSimNode,
  type RaftSimOptions,
} from "./support/raft-sim.ts";
import { raftPromisesPersisted } from "./support/persist-check.ts";

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
function churnMembership(sim: RaftSim, prng: Prng, accepted: { count: number; changed: boolean }, untilMs: number): void {
  let t = prng.nextInt(300, 700);
  while (t < untilMs) {
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
function isolateLeaders(sim: RaftSim, prng: Prng, untilMs: number): void {
  let t = prng.nextInt(200, 600);
  while (t < untilMs) {
    const cutFor = prng.nextInt(150, 500);
    sim.schedule(t, (s) => {
      const l = leaderOf(s);
      if (l) s.isolate(l.id);
    });
    sim.schedule(Math.min(t + cutFor, untilMs), (s) => s.heal());
    t += cutFor + prng.nextInt(100, 600);
  }
}

/**
 * Power loss where it hurts: now and then crash whoever leads at that
 * moment (it writes an entry for every client write, so its disk usually
 * has records written and not yet synced), and restart it a little later.
 */
function crashLeaders(sim: RaftSim, prng: Prng, untilMs: number): void {
  let t = prng.nextInt(200, 500);
  while (t < untilMs) {
    const downFor = prng.nextInt(20, 200);
    let crashed: string | undefined;
    sim.schedule(t, (s) => {
      crashed = leaderOf(s)?.id;
      if (crashed !== undefined) s.crash(crashed);
    });
    sim.schedule(Math.min(t + downFor, untilMs), (s) => {
      if (crashed !== undefined) s.restart(crashed);
    });
    t += downFor + prng.nextInt(200, 500);
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
  /** Client writes answered "ok" (each checked to survive). */
  acknowledged: number;
  stats: SimulationStats;
}

/**
 * A disk whose fsyncs take 1-20 ms (so crashes find records written and
 * not yet synced) and whose crashes are power losses that often lose that
 * unsynced tail and leave its first record torn, for recovery to cut off.
 */
export const POWER_LOSS: SimulationDiskOptions<WalRecord> = { syncLatency: { minMs: 1, maxMs: 20 }, faults: { lostUnsyncedRate: 0.7, tornRecordRate: 0.7 }, tear: tearBytes };

/** What a test may change about a seed's run. */
export interface SweepOptions {
  /** The disks' sync latency and crash faults; default instant syncs, crashes as kill -9 (nothing written is lost). */
  disk?: SimulationDiskOptions<WalRecord>;
  /** Builds each node: a test swaps in a deliberately wrong driver. Default {@link RaftSimNode}. */
  node?: (args: NodeFactoryArgs<WalRecord, SnapshotImage>, opts: RaftSimOptions) => RaftSimNode;
  /** Also crash whoever leads every few hundred ms (with `disk` faults, a power loss mid-write). Default false. */
  crashLeaders?: boolean;
  /** Simulated ms of faults before the heal; default {@link SAFETY_MS}. */
  safetyMs?: number;
  /** Re-runs spent shrinking a failing schedule; default 16 (64 with HECK_SWEEP=1). */
  maxShrinkRuns?: number;
}

/**
 * Runs one seed; throws a SimulationFailure naming HECK_SEED on any
 * violation, a message that leaves before what it promises is durable
 * (support/persist-check.ts) included.
 */
export function runSeed(seed: number, options: SweepOptions = {}): SweepRun {
  const safetyMs = options.safetyMs ?? SAFETY_MS;
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
  let acknowledged = 0;
  const result = runSeeded<Envelope, WalRecord, SnapshotImage, RaftSimNode>({
    seed,
    nodeIds: (prng) => {
      const ids = clusterIds(prng, membership);
      nodes = ids.length;
      return ids;
    },
    factory: (args) => holder.factory("n1", { founders: membership ? args.peers.slice(0, 3) : args.peers, compactEvery, raft: { readOnlyOption, commitBroadcast } }, options.node)(args),
    codec: raftCodec,
    network: { maxPacketBytes: 1 << 24 },
    tickIntervalMs: 10,
    ...(options.disk ? { disk: options.disk } : {}),
    beforeSend: raftPromisesPersisted<RaftSimNode>(),
    invariants: raftInvariants(holder),
    workload: (sim, prng) => {
      history = startClients(sim, prng.fork("clients"), { clients: 8, keys: ["a", "b"], untilMs: safetyMs, timeoutMs: 300, thinkMs: 2 });
      isolateLeaders(sim, prng.fork("nemesis"), safetyMs);
      if (options.crashLeaders) crashLeaders(sim, prng.fork("crashes"), safetyMs);
      accepted.count = 0;
      accepted.changed = false;
      if (membership) churnMembership(sim, prng.fork("membership"), accepted, safetyMs);
    },
    safetyPhaseMs: safetyMs,
    faultOptions: { meanGapMs: 250 },
    converged: (sim) => {
      // Members are whoever the leader's configuration names (removed nodes are out for good).
      if (!converged(sim, membership ? undefined : sim.nodeIds)) return false;
      const diff = sameState(sim);
      if (diff !== null) throw new Error(`replicas diverged after convergence: ${diff}`);
      // Every client history must be linearizable (ops still running count as unknown outcomes).
      const verdict = checkKvHistory(toKvOperations(history));
      if (verdict.linearizable === false) throw new Error(`client history not linearizable:\n${verdict.report}`);
      // And no write a client was told succeeded is gone, whatever the crashes and power losses took.
      const lost = lostAcknowledgedWrite(sim, holder.current);
      if (lost !== null) throw new Error(`an acknowledged write was lost: ${lost}`);
      acknowledged = holder.current.acknowledged.length;
      finalConf = leaderOf(sim)!.raft.status().confState;
      if (finalConf.learners.length > 0 || finalConf.voters.join(",") !== "n1,n2,n3") accepted.changed = true;
      return true;
    },
    livenessBudgetMs: 6000,
    describeState: describeCluster,
    maxShrinkRuns: options.maxShrinkRuns ?? (LONG ? 64 : 16),
  });
  return { history, nodes, compactEvery, confChanges: accepted.count, membershipChanged: accepted.changed, finalConf, acknowledged, stats: result.stats };
}

export default runSeed;
