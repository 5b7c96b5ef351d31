/**
 * The seeded sweep, VOPR-style (runSeeded from @heck/sim): one seed picks the
 * cluster size, a random fault schedule (partitions of every shape, crashes
 * and restarts, loss, duplication, reordering, delay spikes) and a client
 * workload. Election Safety, Log Matching, Leader Completeness and State
 * Machine Safety are checked after every step; after the faults heal, the
 * cluster must converge (one leader, every member applied the same log) and
 * all replicas must hold the same key-value state.
 *
 * A failure prints `HECK_SEED=<n>`; `HECK_SEED=<n> npx vitest run --project
 * raft-kv test/raft/sweep.test.ts` replays exactly that run.
 * `HECK_SWEEP=1` runs many more seeds with longer fault phases.
 */
import { describe, expect, it } from "vitest";
import { runSeeded, type NodeId, type Prng } from "@heck/sim";
import { seedsFromEnv } from "@heck/sim/testing";
import type { Message } from "../../src/core/raft/types.ts";
import {
  PerRunRecorder,
  converged,
  describeCluster,
  leaderOf,
  raftCodec,
  raftInvariants,
  startClients,
  type Disk,
  type HistoryOp,
  type RaftSim,
  type RaftSimNode,
} from "./support/raft-sim.ts";

const LONG = process.env.HECK_SWEEP === "1";
const SAFETY_MS = LONG ? 8000 : 4000;
const seeds = seedsFromEnv({ fixed: LONG ? Array.from({ length: 60 }, (_, i) => 1000 + i) : Array.from({ length: 10 }, (_, i) => i + 1), random: LONG ? 20 : 1 });

function clusterIds(prng: Prng): NodeId[] {
  const n = prng.pick([3, 5]);
  return Array.from({ length: n }, (_, i) => `n${i + 1}`);
}

/** All replicas hold the same key-value state as the leader. */
function sameState(sim: RaftSim): string | null {
  const l = leaderOf(sim)!;
  const want = JSON.stringify([...l.kv.data].sort());
  for (const n of sim.up) {
    const got = JSON.stringify([...n.kv.data].sort());
    if (got !== want) return `${n.id} has ${got}, leader ${l.id} has ${want}`;
  }
  return null;
}

function sweep(seed: number, compactEvery: number): { history: HistoryOp[]; nodes: number } {
  const holder = new PerRunRecorder();
  let history: HistoryOp[] = [];
  let nodes = 0;
  runSeeded<Message, Disk, RaftSimNode>({
    seed,
    nodeIds: (prng) => {
      const ids = clusterIds(prng);
      nodes = ids.length;
      return ids;
    },
    factory: (args) => holder.factory("n1", { founders: args.peers, compactEvery })(args),
    codec: raftCodec,
    network: { maxPacketBytes: 1 << 24 },
    tickIntervalMs: 10,
    invariants: raftInvariants(holder),
    workload: (sim, prng) => {
      history = startClients(sim, prng, { clients: 4, keys: ["a", "b", "c"], untilMs: SAFETY_MS, timeoutMs: 300 });
    },
    safetyPhaseMs: SAFETY_MS,
    // A fault every ~250 ms on average: many leader changes per run.
    faultOptions: { meanGapMs: 250 },
    converged: (sim) => {
      if (!converged(sim, sim.nodeIds)) return false;
      const diff = sameState(sim);
      if (diff !== null) throw new Error(`replicas diverged after convergence: ${diff}`);
      return true;
    },
    livenessBudgetMs: 6000,
    describeState: describeCluster,
    maxShrinkRuns: LONG ? 64 : 16,
  });
  return { history, nodes };
}

describe("seeded sweep with invariants after every step", () => {
  it.each(seeds)("seed %i: safety under random faults, then convergence", (seed) => {
    const { history } = sweep(seed, 0);
    // The workload really ran: some operations succeeded despite the faults.
    expect(history.filter((o) => o.outcome === "ok").length).toBeGreaterThan(10);
  });

  it.each(seeds.slice(0, 3))("seed %i: the same with log compaction and InstallSnapshot", (seed) => {
    const { history } = sweep(seed, 15);
    expect(history.filter((o) => o.outcome === "ok").length).toBeGreaterThan(10);
  });
});
