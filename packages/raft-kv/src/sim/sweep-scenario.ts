/**
 * The Raft sweep's scenario as data, so the sweep (`heck-sim sweep --package
 * raft-kv`, test/raft/sweep-entry.ts), the seeded tests and the browser view
 * (`heck-scope raft --scenario sweep`) run the very same thing: a VOPR-style
 * run through @heck/sim's runSeeded.
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
 * (persist-check.ts).
 * Election Safety, Log Matching, Leader Completeness and State Machine
 * Safety are checked after every step; after
 * the faults heal the cluster must converge (one leader, every member applied
 * the same log) with identical key-value state on every replica, and the
 * clients' history must be linearizable (checkKvHistory from @heck/sim)
 * and every write a client was told succeeded must still be in the log.
 * {@link RaftSweepOptions} adds power-loss disks and leader crashes
 * or swaps in a wrong driver.
 */
import { checkKvHistory, tearBytes, type NodeFactoryArgs, type NodeId, type Prng, type SeededRunOptions, type SimulationDiskOptions } from "@heck/sim";
import type { ProposalPosition, RaftResult } from "../core/raft/types.ts";
import type { Envelope } from "../core/replica/index.ts";
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
} from "./raft-sim.ts";
import { raftPromisesPersisted } from "./persist-check.ts";

/**
 * The scenarios the browser view opens, by name, with their fault phases in
 * simulated ms: the sweep's default, and the longer one `HECK_SWEEP=1` runs.
 */
export const RAFT_SWEEP_SCENARIOS: Readonly<Record<string, number>> = { sweep: 4000, "sweep-long": 8000 };

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
export interface RaftSweepOutcome {
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
}

/**
 * A disk whose fsyncs take 1-20 ms (so crashes find records written and
 * not yet synced) and whose crashes are power losses that often lose that
 * unsynced tail and leave its first record torn, for recovery to cut off.
 */
export const POWER_LOSS: SimulationDiskOptions<WalRecord> = { syncLatency: { minMs: 1, maxMs: 20 }, faults: { lostUnsyncedRate: 0.7, tornRecordRate: 0.7 }, tear: tearBytes };

/** What a test may change about a seed's run. */
export interface RaftSweepOptions {
  /** The disks' sync latency and crash faults; default instant syncs, crashes as kill -9 (nothing written is lost). */
  disk?: SimulationDiskOptions<WalRecord>;
  /** Builds each node: a test swaps in a deliberately wrong driver. Default {@link RaftSimNode}. */
  node?: (args: NodeFactoryArgs<WalRecord, SnapshotImage>, opts: RaftSimOptions) => RaftSimNode;
  /** Also crash whoever leads every few hundred ms (with `disk` faults, a power loss mid-write). Default false. */
  crashLeaders?: boolean;
  /** Simulated ms of faults before the heal; default 4000 (the `sweep` scenario). */
  safetyMs?: number;
  /** Re-runs spent shrinking a failing schedule; default 16. */
  maxShrinkRuns?: number;
}

/** One seed's sweep: the options runSeeded takes, and what the run produced once it passed. */
export interface RaftSweep {
  options: SeededRunOptions<Envelope, WalRecord, SnapshotImage, RaftSimNode>;
  /** What the last run of these options produced (read it after runSeeded returns). */
  outcome(): RaftSweepOutcome;
}

/**
 * The sweep scenario for `seed`. Its failure report names the `heck-scope`
 * command that opens the same run at the failure, unless a test changed the
 * run into one the view does not build (its own driver, disks or leader crashes).
 */
export function raftSweep(seed: number, options: RaftSweepOptions = {}): RaftSweep {
  const safetyMs = options.safetyMs ?? RAFT_SWEEP_SCENARIOS.sweep!;
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
  let finalConf: RaftSweepOutcome["finalConf"] = null;
  let acknowledged = 0;
  const viewed = options.node === undefined && options.disk === undefined && options.crashLeaders !== true;
  const scenario = viewed ? Object.keys(RAFT_SWEEP_SCENARIOS).find((name) => RAFT_SWEEP_SCENARIOS[name] === safetyMs) : undefined;
  const runOptions: SeededRunOptions<Envelope, WalRecord, SnapshotImage, RaftSimNode> = {
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
    maxShrinkRuns: options.maxShrinkRuns ?? 16,
    ...(scenario !== undefined ? { watchCommand: (s: number, faults: string) => `pnpm heck-scope raft --scenario ${scenario} --seed ${s} --faults "${faults}" --at failure` } : {}),
  };
  return {
    options: runOptions,
    outcome: () => ({ history, nodes, compactEvery, confChanges: accepted.count, membershipChanged: accepted.changed, finalConf, acknowledged }),
  };
}
