/**
 * Scenario tests on the deterministic simulator from @heck/sim, each named
 * for what it checks, covering the classic Raft lab list. Every run checks
 * Election Safety, Log Matching, Leader Completeness and State Machine Safety
 * after every step (raftInvariants), so a scenario that "passes" its own
 * assertions still fails on any safety violation along the way.
 *
 * Time: one tick = 10 simulated ms, electionTick 10 (timeouts 100-190 ms),
 * message latency 1 ms + Exp(1 ms) unless a test changes the network.
 */
import { describe, expect, it } from "vitest";
import { Simulation, checkKvHistory, type NodeId } from "@heck/sim";
import type { RaftConfig } from "../../src/core/raft/types.ts";
import type { Envelope } from "../../src/core/replica/index.ts";
import {
  RaftSimNode,
  SafetyRecorder,
  converged,
  describeCluster,
  leaderOf,
  raftCodec,
  raftFactory,
  raftInvariants,
  toKvOperations,
  type SnapshotImage,
  type WalRecord,
  type HistoryOp,
  type RaftSim,
} from "../../src/sim/raft-sim.ts";

interface SimOptions {
  founders?: NodeId[];
  raft?: Partial<Omit<RaftConfig, "id" | "prng" | "applied">>;
  compactEvery?: number;
  faults?: { dropRate?: number; duplicateRate?: number; reorderRate?: number };
}

function makeSim(seed: number, nodeIds: NodeId[], o: SimOptions = {}): RaftSim {
  const recorder = new SafetyRecorder();
  return new Simulation<Envelope, WalRecord, SnapshotImage, RaftSimNode>({
    seed,
    nodeIds,
    factory: raftFactory({ founders: o.founders ?? nodeIds, ...(o.raft ? { raft: o.raft } : {}), compactEvery: o.compactEvery ?? 0, recorder }),
    codec: raftCodec,
    tickIntervalMs: 10,
    invariants: raftInvariants(recorder),
    network: { maxPacketBytes: 1 << 24, ...(o.faults ? { faults: o.faults } : {}) },
    traceLimit: 200,
  });
}

const ids = (n: number): NodeId[] => Array.from({ length: n }, (_, i) => `n${i + 1}`);

/** Runs until a member of `among` (default: every live node) leads and every live node of `among` follows it. */
function awaitLeader(sim: RaftSim, budgetMs = 3000, among?: NodeId[]): RaftSimNode {
  let found: RaftSimNode | undefined;
  const ok = sim.runUntil((s) => {
    const group = among ?? s.up.map((n) => n.id);
    const l = group.map((id) => s.tryNode(id)).find((n) => n?.raft.role === "leader");
    if (!l) return false;
    found = l;
    return group.every((id) => !s.isUp(id) || (s.node(id).raft.leader === l.id && s.node(id).raft.term === l.raft.term));
  }, budgetMs);
  if (!ok) throw new Error(`no leader within ${budgetMs} ms\n${describeCluster(sim)}`);
  return found!;
}

/** Replaces any partition with this one (the simulator's partitions add up until heal). */
function repartition(sim: RaftSim, ...groups: NodeId[][]): void {
  sim.heal();
  sim.partition(...groups);
}

/** Proposes put(key, value) on the current leader and runs until it is applied there; returns whether it committed. */
function commitPut(sim: RaftSim, key: string, value: string, budgetMs = 3000): boolean {
  const deadline = sim.nowMs + budgetMs;
  while (sim.nowMs < deadline) {
    const l = leaderOf(sim);
    if (!l) {
      sim.runFor(20);
      continue;
    }
    let outcome: string | null = null;
    if (!l.write({ op: "put", key, value }, (o) => (outcome = o))) {
      sim.runFor(20);
      continue;
    }
    sim.runUntil(() => outcome !== null || !sim.isUp(l.id), Math.min(1000, deadline - sim.nowMs));
    if (outcome === "ok") return true;
  }
  return false;
}

/** Every live node in `group` has applied `key = value`. */
function allHave(sim: RaftSim, group: NodeId[], key: string, value: string): boolean {
  return group.every((id) => sim.isUp(id) && sim.node(id).kv.data.get(key) === value);
}

describe("elections", () => {
  it("initial election: one leader is elected and keeps its term while nothing fails", () => {
    const sim = makeSim(1, ids(3));
    const l = awaitLeader(sim, 1000);
    const term = l.raft.term;
    sim.runFor(5000);
    expect(leaderOf(sim)?.id).toBe(l.id);
    for (const n of sim.up) expect(n.raft.term).toBe(term);
  });

  it("re-election after leader loss: the others elect a new leader; the old one rejoins as follower", () => {
    const sim = makeSim(2, ids(3));
    const old = awaitLeader(sim);
    sim.isolate(old.id);
    const others = ids(3).filter((i) => i !== old.id);
    const ok = sim.runUntil((s) => others.some((id) => s.node(id).raft.role === "leader"), 2000);
    expect(ok).toBe(true);
    const fresh = others.map((id) => sim.node(id)).find((n) => n.raft.role === "leader")!;
    expect(fresh.raft.term).toBeGreaterThan(old.raft.term - (old.raft.role === "leader" ? 0 : 1));
    sim.heal();
    expect(sim.runUntil((s) => s.node(old.id).raft.leader === fresh.id && s.node(old.id).raft.role === "follower", 2000)).toBe(true);
    // And after a crash of the new leader, again.
    sim.crash(fresh.id);
    const third = awaitLeader(sim, 2000);
    expect(third.id).not.toBe(fresh.id);
  });

  it("no leader without a quorum, and one as soon as a majority can talk", () => {
    const sim = makeSim(3, ids(3));
    awaitLeader(sim);
    sim.partition(["n1"], ["n2"], ["n3"]);
    sim.runFor(2000);
    // CheckQuorum made the old leader step down; nobody can win alone.
    expect(sim.up.filter((n) => n.raft.role === "leader")).toEqual([]);
    repartition(sim, ["n1", "n2"], ["n3"]);
    const l = awaitLeader(sim, 2000, ["n1", "n2"]);
    expect(["n1", "n2"]).toContain(l.id);
  });

  it("many elections under churn: with a majority connected a leader always emerges, never two per term", () => {
    const sim = makeSim(4, ids(7));
    const rng = sim.prng.fork("churn");
    awaitLeader(sim);
    for (let round = 0; round < 12; round++) {
      const cut = rng.shuffle(ids(7)).slice(0, 3);
      const rest = ids(7).filter((i) => !cut.includes(i));
      repartition(sim, rest, ...cut.map((c) => [c]));
      const l = awaitLeader(sim, 3000, rest);
      expect(rest).toContain(l.id);
      sim.heal();
      sim.runFor(rng.nextInt(50, 400));
    }
    awaitLeader(sim, 3000);
  });

  it("leadership transfer hands over in a few round trips, far below an election timeout, losing nothing", () => {
    const sim = makeSim(6, ids(3));
    const l = awaitLeader(sim);
    expect(commitPut(sim, "k", "v1")).toBe(true);
    const target = ids(3).find((i) => i !== l.id)!;
    const start = sim.nowMs;
    expect(l.raft.transferLeadership(target).ok).toBe(true);
    expect(sim.runUntil((s) => s.node(target).raft.role === "leader", 1000)).toBe(true);
    // Election timeouts are 100-190 ms here; TimeoutNow skips them (§3.10).
    expect(sim.nowMs - start).toBeLessThan(50);
    expect(commitPut(sim, "k", "v2")).toBe(true);
    expect(sim.runUntil((s) => allHave(s, ids(3), "k", "v2"), 1000)).toBe(true);
  });

  it("PreVote stops a partitioned node from disrupting the cluster when it returns", () => {
    const sim = makeSim(5, ids(3));
    const l = awaitLeader(sim);
    const term = l.raft.term;
    const f = ids(3).find((i) => i !== l.id)!;
    sim.isolate(f);
    sim.runFor(3000);
    // Pre-elections fail without a quorum, so the term does not grow (§9.6).
    expect(sim.node(f).raft.term).toBe(term);
    sim.heal();
    sim.runFor(1000);
    expect(leaderOf(sim)?.id).toBe(l.id);
    expect(leaderOf(sim)?.raft.term).toBe(term);
  });

  it("without PreVote the same partitioned node deposes the leader when it returns", () => {
    const sim = makeSim(5, ids(3), { raft: { preVote: false, checkQuorum: false } });
    const l = awaitLeader(sim);
    const term = l.raft.term;
    const f = ids(3).find((i) => i !== l.id)!;
    sim.isolate(f);
    sim.runFor(3000);
    expect(sim.node(f).raft.term).toBeGreaterThan(term + 5);
    sim.heal();
    sim.runFor(1000);
    expect(awaitLeader(sim).raft.term).toBeGreaterThan(term + 5);
  });
});

describe("the election restriction (§5.4.1)", () => {
  // "The RequestVote RPC implements this restriction: the RPC includes
  // information about the candidate's log, and the voter denies its vote if
  // its own log is more up-to-date than that of the candidate." Without it, a
  // node that missed committed writes could be elected and overwrite them on
  // everyone (Leader Completeness, §5.4.3). The random sweep reaches that
  // situation only on some seeds; this scenario builds it every time: the
  // stale node campaigns first, and the only other live voter is the one
  // that holds the writes and no longer hears a leader.
  it.each([
    ["with PreVote and CheckQuorum (the defaults)", {}],
    ["with plain elections (§5 alone)", { preVote: false, checkQuorum: false }],
  ])("a node that missed committed writes cannot be elected %s, so the writes survive", (_, raft: SimOptions["raft"]) => {
    const sim = makeSim(40, ids(3), { raft });
    const l = awaitLeader(sim);
    const [stale, keeper] = ids(3).filter((i) => i !== l.id) as [NodeId, NodeId];
    sim.isolate(stale);
    for (let i = 0; i < 5; i++) expect(commitPut(sim, `k${i}`, "v")).toBe(true);
    // The leader dies (its last messages land), then the one voter holding the writes restarts, so it
    // follows no leader and holds no lease (§4.2.3) that would make it ignore the candidate.
    sim.crash(l.id);
    sim.runFor(50);
    sim.crash(keeper);
    sim.restart(keeper);
    sim.heal();
    const missing = sim.node(keeper).raft.status().lastIndex - sim.node(stale).raft.status().lastIndex;
    expect(missing).toBeGreaterThanOrEqual(5);
    sim.node(stale).campaign();
    // The keeper refuses (its log is more up-to-date), times out itself and wins with the stale node's vote.
    const winner = awaitLeader(sim, 3000, [stale, keeper]);
    expect(winner.id).toBe(keeper);
    expect(sim.runUntil((s) => allHave(s, [stale, keeper], "k4", "v"), 2000)).toBe(true);
    expect(commitPut(sim, "after", "v")).toBe(true);
  });

  // "If the logs have last entries with different terms, then the log with
  // the later term is more up-to-date": a longer log is not enough. Here the
  // candidate is a deposed leader holding many entries of its old term that
  // never committed; the voter holds fewer entries, of the later term, that did.
  it.each([
    ["with PreVote and CheckQuorum (the defaults)", {}],
    ["with plain elections (§5 alone)", { preVote: false, checkQuorum: false }],
  ])("a deposed leader with a longer log of an older term cannot be elected %s", (_, raft: SimOptions["raft"]) => {
    const sim = makeSim(41, ids(3), { raft });
    const old = awaitLeader(sim);
    sim.isolate(old.id);
    // Appended by the cut-off leader, never replicated, never committed.
    for (let i = 0; i < 10; i++) old.write({ op: "put", key: "lost", value: `${i}` }, () => undefined);
    const majority = ids(3).filter((i) => i !== old.id);
    const fresh = awaitLeader(sim, 3000, majority);
    expect(commitPut(sim, "kept", "v")).toBe(true);
    const keeper = majority.find((i) => i !== fresh.id)!;
    sim.crash(fresh.id);
    sim.runFor(50);
    // Both survivors restart: the old leader comes back a follower with its uncommitted entries on disk.
    sim.crash(keeper);
    sim.crash(old.id);
    sim.restart(keeper);
    sim.restart(old.id);
    sim.heal();
    const candidate = sim.node(old.id).raft.status();
    const voter = sim.node(keeper).raft.status();
    expect(candidate.lastIndex).toBeGreaterThan(voter.lastIndex);
    expect(sim.node(old.id).raft.termAt(candidate.lastIndex)).toBeLessThan(sim.node(keeper).raft.termAt(voter.lastIndex)!);
    sim.node(old.id).campaign();
    const winner = awaitLeader(sim, 3000, [old.id, keeper]);
    expect(winner.id).toBe(keeper);
    expect(sim.runUntil((s) => allHave(s, [old.id, keeper], "kept", "v"), 2000)).toBe(true);
    expect(sim.node(old.id).kv.data.has("lost")).toBe(false);
  });
});

describe("agreement", () => {
  it("agreement with a failed follower: the majority commits, the follower catches up when it returns", () => {
    const sim = makeSim(10, ids(3));
    const l = awaitLeader(sim);
    expect(commitPut(sim, "k", "v1")).toBe(true);
    expect(sim.runUntil((s) => allHave(s, ids(3), "k", "v1"), 1000)).toBe(true);
    const f = ids(3).find((i) => i !== l.id)!;
    sim.isolate(f);
    expect(commitPut(sim, "k", "v2")).toBe(true);
    expect(commitPut(sim, "k", "v3")).toBe(true);
    expect(sim.node(f).kv.data.get("k")).toBe("v1");
    sim.heal();
    expect(sim.runUntil((s) => allHave(s, ids(3), "k", "v3"), 2000)).toBe(true);
  });

  it("no agreement without a quorum: a minority leader commits nothing; the healed cluster moves on", () => {
    const sim = makeSim(11, ids(5));
    const l = awaitLeader(sim);
    expect(commitPut(sim, "k", "v1")).toBe(true);
    const followers = ids(5).filter((i) => i !== l.id);
    const minority = [l.id, followers[0]!];
    sim.partition(minority, followers.slice(1));
    let outcome: string | null = null;
    expect(l.write({ op: "put", key: "k", value: "minority" }, (o) => (outcome = o))).toBe(true);
    const commitBefore = l.raft.status().commit;
    sim.runFor(1000);
    expect(outcome).not.toBe("ok");
    expect(sim.node(l.id).raft.status().commit).toBe(commitBefore);
    expect(sim.node(followers[0]!).kv.data.get("k")).toBe("v1");
    sim.heal();
    expect(commitPut(sim, "k", "v2")).toBe(true);
    expect(sim.runUntil((s) => allHave(s, ids(5), "k", "v2"), 2000)).toBe(true);
  });

  it("rejoin of a stale leader: its uncommitted entries are discarded in favour of the new leader's", () => {
    const sim = makeSim(12, ids(3));
    const l1 = awaitLeader(sim);
    expect(commitPut(sim, "k", "v1")).toBe(true);
    sim.isolate(l1.id);
    for (const x of ["x1", "x2", "x3"]) l1.write({ op: "put", key: "k", value: x }, () => undefined);
    const others = ids(3).filter((i) => i !== l1.id);
    const l2 = awaitLeader(sim, 2000, others);
    expect(commitPut(sim, "k", "v2")).toBe(true);
    // Now the new leader is cut off and the stale one comes back beside the third node.
    const third = others.find((i) => i !== l2.id)!;
    repartition(sim, [l2.id], [l1.id, third]);
    awaitLeader(sim, 3000, [l1.id, third]);
    expect(commitPut(sim, "k", "v3")).toBe(true);
    sim.heal();
    expect(sim.runUntil((s) => allHave(s, ids(3), "k", "v3"), 3000)).toBe(true);
    // Nobody ever applied the stale leader's writes.
    for (const n of sim.up) expect(["v1", "v2", "v3"]).toContain(n.kv.data.get("k"));
  });

  it("fast backup over a long divergent log: a follower far behind a different history catches up in few round trips", () => {
    const sim = makeSim(13, ids(5));
    const l1 = awaitLeader(sim);
    expect(commitPut(sim, "k", "base")).toBe(true);
    const f = ids(5).filter((i) => i !== l1.id);
    // l1 and one follower are cut off; l1 piles up 50 entries that will never commit.
    sim.partition([l1.id, f[0]!], f.slice(1));
    for (let i = 0; i < 50; i++) l1.write({ op: "put", key: "k", value: `lost${i}` }, () => undefined);
    sim.runFor(100);
    const l2 = awaitLeader(sim, 3000, f.slice(1));
    for (let i = 0; i < 50; i++) l2.write({ op: "put", key: "k", value: `a${i}` }, () => undefined);
    sim.runFor(300);
    expect(sim.node(l2.id).kv.data.get("k")).toBe("a49");
    // The majority side splits: its leader piles up another 50 doomed entries.
    const others = f.slice(1).filter((i) => i !== l2.id);
    repartition(sim, [l2.id, others[0]!], [others[1]!], [l1.id, f[0]!]);
    for (let i = 0; i < 50; i++) l2.write({ op: "put", key: "k", value: `lost2-${i}` }, () => undefined);
    sim.runFor(100);
    // The original pair rejoins the one up-to-date node: they elect it and commit 50 more.
    repartition(sim, [l1.id, f[0]!, others[1]!], [l2.id, others[0]!]);
    const l3 = awaitLeader(sim, 3000, [l1.id, f[0]!, others[1]!]);
    for (let i = 0; i < 50; i++) l3.write({ op: "put", key: "k", value: `b${i}` }, () => undefined);
    sim.runFor(500);
    sim.heal();
    expect(commitPut(sim, "k", "final")).toBe(true);
    expect(sim.runUntil((s) => allHave(s, ids(5), "k", "final"), 3000)).toBe(true);
    // Each divergent stretch is one term, so back-tracking takes a round trip
    // or two per follower and leader, not one per divergent entry (~150 here).
    const roundTrips = sim.up.reduce((a, n) => a + n.rejectionHints.size, 0);
    expect(roundTrips).toBeLessThan(20);
  });
});

describe("persistence", () => {
  it("crash and restart of one follower, then of the leader: nothing committed is lost", () => {
    const sim = makeSim(20, ids(3));
    const l = awaitLeader(sim);
    expect(commitPut(sim, "k", "v1")).toBe(true);
    const f = ids(3).find((i) => i !== l.id)!;
    sim.crash(f);
    expect(commitPut(sim, "k", "v2")).toBe(true);
    sim.restart(f);
    expect(sim.runUntil((s) => allHave(s, ids(3), "k", "v2"), 2000)).toBe(true);
    sim.crash(l.id);
    awaitLeader(sim, 2000);
    expect(commitPut(sim, "k", "v3")).toBe(true);
    sim.restart(l.id);
    expect(sim.runUntil((s) => allHave(s, ids(3), "k", "v3"), 2000)).toBe(true);
  });

  it("crash and restart of some nodes (2 of 5) repeatedly while writing", () => {
    const sim = makeSim(21, ids(5));
    awaitLeader(sim);
    const rng = sim.prng.fork("crashes");
    for (let round = 0; round < 6; round++) {
      const down = rng.shuffle(ids(5)).slice(0, 2);
      for (const d of down) sim.crash(d);
      expect(commitPut(sim, "k", `r${round}`, 4000)).toBe(true);
      for (const d of down) sim.restart(d);
      sim.runFor(rng.nextInt(0, 300));
    }
    expect(sim.runUntil((s) => allHave(s, ids(5), "k", "r5"), 3000)).toBe(true);
  });

  it("crash and restart of all nodes: the committed log survives and the cluster resumes", () => {
    const sim = makeSim(22, ids(3));
    awaitLeader(sim);
    for (let i = 1; i <= 5; i++) expect(commitPut(sim, `k${i}`, `v${i}`)).toBe(true);
    for (const id of ids(3)) sim.crash(id);
    sim.runFor(500);
    sim.restartAll();
    awaitLeader(sim, 3000);
    expect(commitPut(sim, "k6", "v6")).toBe(true);
    expect(sim.runUntil((s) => ids(3).every((id) => [1, 2, 3, 4, 5, 6].every((i) => s.node(id).kv.data.get(`k${i}`) === `v${i}`)), 2000)).toBe(true);
  });
});

describe("Figure 8 and unreliable networks", () => {
  it("Figure 8 under churn: leaders crash with uncommitted entries of old terms, and safety holds", () => {
    const sim = makeSim(30, ids(5));
    const rng = sim.prng.fork("fig8");
    awaitLeader(sim);
    let up = 5;
    for (let iter = 0; iter < 60; iter++) {
      const l = leaderOf(sim);
      if (l) l.write({ op: "put", key: "k", value: `i${iter}` }, () => undefined);
      sim.runFor(rng.chance(0.1) ? rng.nextInt(0, 500) : rng.nextInt(0, 15));
      const l2 = leaderOf(sim);
      if (l2 && rng.chance(0.5)) {
        sim.crash(l2.id);
        up--;
      }
      if (up < 3) {
        const down = ids(5).filter((i) => !sim.isUp(i));
        sim.restart(rng.pick(down));
        up++;
      }
    }
    sim.restartAll();
    expect(commitPut(sim, "k", "end", 5000)).toBe(true);
    expect(sim.runUntil((s) => allHave(s, ids(5), "k", "end"), 3000)).toBe(true);
  });

  it("unreliable network (10% loss, duplicates, reordering): agreement and progress", () => {
    const sim = makeSim(31, ids(5), { faults: { dropRate: 0.1, duplicateRate: 0.1, reorderRate: 0.2 } });
    awaitLeader(sim, 5000);
    for (let i = 0; i < 30; i++) expect(commitPut(sim, `k${i % 4}`, `v${i}`, 5000)).toBe(true);
    sim.setFaults({ dropRate: 0, duplicateRate: 0, reorderRate: 0 });
    expect(sim.runUntil((s) => converged(s), 3000)).toBe(true);
    const leader = leaderOf(sim)!;
    for (const n of sim.up) expect([...n.kv.data]).toEqual([...leader.kv.data]);
    expect(sim.stats.dropped).toBeGreaterThan(0);
    expect(sim.stats.duplicated).toBeGreaterThan(0);
  });
});

describe("linearizable reads", () => {
  // The classic stale read: the old leader is cut off but does not know it
  // yet; a new leader commits a write; a client then reads from the old one.
  // ReadIndex needs a heartbeat round the old leader can no longer win, and
  // the lease expires before the followers may elect anyone (§6.4, §6.4.1).
  it.each(["safe", "leaseBased"] as const)("%s reads: a deposed leader that does not know it yet serves no stale read", (readOnlyOption) => {
    const sim = makeSim(3, ids(3), { raft: { readOnlyOption } });
    const old = awaitLeader(sim);
    sim.runFor(200);
    const history: HistoryOp[] = [];
    const record = (client: number, f: HistoryOp["f"], value: string | null): HistoryOp => {
      const op: HistoryOp = { client, f, key: "k", value, invokeMs: sim.nowMs, completeMs: Infinity, outcome: "info" };
      history.push(op);
      return op;
    };
    const w0 = record(0, "write", "before");
    old.write({ op: "put", key: "k", value: "before" }, () => Object.assign(w0, { outcome: "ok", completeMs: sim.nowMs }));
    sim.runFor(100);
    sim.isolate(old.id);
    const newLeader = (): RaftSimNode | undefined => sim.up.find((n) => n.id !== old.id && n.raft.role === "leader");
    expect(sim.runUntil(() => newLeader() !== undefined, 2000)).toBe(true);
    const w1 = record(1, "write", "after");
    newLeader()!.write({ op: "put", key: "k", value: "after" }, () => Object.assign(w1, { outcome: "ok", completeMs: sim.nowMs }));
    sim.runUntil(() => w1.outcome === "ok", 500);
    expect(w1.outcome).toBe("ok");
    // The old leader may still believe it leads; ask it every few ms until it gives up.
    let reads = 0;
    for (let i = 0; i < 40 && old.raft.role === "leader"; i++) {
      const r = record(2 + i, "read", null);
      if (old.read("k", (v) => Object.assign(r, { outcome: "ok", value: v, completeMs: sim.nowMs }))) reads++;
      else r.outcome = "fail";
      sim.runFor(5);
    }
    sim.runFor(500);
    expect(reads).toBeGreaterThan(0);
    const verdict = checkKvHistory(toKvOperations(history));
    expect(verdict.report).toBe("");
    expect(verdict.linearizable).toBe(true);
  });
});

describe("snapshots", () => {
  it("a snapshot is installed on a follower that fell behind the compacted log", () => {
    const sim = makeSim(40, ids(3), { compactEvery: 20 });
    const l = awaitLeader(sim);
    const f = ids(3).find((i) => i !== l.id)!;
    sim.crash(f);
    for (let i = 0; i < 100; i++) l.write({ op: "put", key: `k${i % 10}`, value: `v${i}` }, () => undefined);
    sim.runFor(500);
    expect(l.raft.status().snapshotIndex).toBeGreaterThan(50);
    sim.restart(f);
    expect(sim.runUntil((s) => converged(s), 3000)).toBe(true);
    const fn = sim.node(f);
    expect(fn.received.get("installSnapshot") ?? 0).toBeGreaterThanOrEqual(1);
    expect([...fn.kv.data].sort()).toEqual([...sim.node(l.id).kv.data].sort());
    // A crash right after restores from the installed snapshot plus the log after it.
    sim.crash(f);
    sim.restart(f);
    expect(sim.runUntil((s) => converged(s), 3000)).toBe(true);
    expect([...sim.node(f).kv.data].sort()).toEqual([...sim.node(l.id).kv.data].sort());
  });
});

describe("membership", () => {
  it("membership changes under failures: add a learner, promote it, remove the leader, add another, while nodes crash", () => {
    const all = ids(5);
    const sim = makeSim(50, all, { founders: ["n1", "n2", "n3"], compactEvery: 30 });
    const rng = sim.prng.fork("members");
    awaitLeader(sim, 2000, ["n1", "n2", "n3"]);
    const plan: { type: "addLearner" | "promoteLearner" | "removeVoter"; node: NodeId | "leader" }[] = [
      { type: "addLearner", node: "n4" },
      { type: "promoteLearner", node: "n4" },
      { type: "removeVoter", node: "leader" },
      { type: "addLearner", node: "n5" },
      { type: "promoteLearner", node: "n5" },
    ];
    const removed: NodeId[] = [];
    let writes = 0;
    for (const step of plan) {
      let done = false;
      for (let attempt = 0; attempt < 200 && !done; attempt++) {
        // Failures meanwhile: a random follower crashes or restarts now and then.
        if (rng.chance(0.15)) {
          const l = leaderOf(sim);
          const victims = all.filter((i) => i !== l?.id && sim.isUp(i) && !removed.includes(i));
          const down = all.filter((i) => !sim.isUp(i));
          if (down.length > 0) sim.restart(rng.pick(down));
          else if (victims.length > 0) sim.crash(rng.pick(victims));
        }
        const l = leaderOf(sim);
        if (l) {
          l.write({ op: "put", key: "w", value: `w${++writes}` }, () => undefined);
          const nodeId = step.node === "leader" ? l.id : step.node;
          const res = l.raft.proposeConfChange({ type: step.type, nodeId });
          if (res.ok) {
            const { index, term } = res.value;
            sim.runUntil((s) => !s.isUp(l.id) || s.node(l.id).raft.status().applied >= index, 1000);
            if (sim.isUp(l.id) && sim.node(l.id).raft.termAt(index) === term) {
              done = true;
              if (step.type === "removeVoter") removed.push(nodeId);
            }
          }
        }
        sim.runFor(50);
      }
      expect(done, `step ${step.type} ${step.node} never committed\n${describeCluster(sim)}`).toBe(true);
    }
    sim.restartAll();
    const members = all.filter((i) => !removed.includes(i));
    expect(sim.runUntil((s) => converged(s, members), 5000)).toBe(true);
    const conf = leaderOf(sim)!.raft.status().confState;
    expect(conf.learners).toEqual([]);
    expect([...conf.voters].sort()).toEqual(members);
    expect(removed).toHaveLength(1);
  });
});
