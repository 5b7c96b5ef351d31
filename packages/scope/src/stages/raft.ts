/**
 * raft-kv in the view: five members of the stage's own `Replica` (Raft core
 * with PreVote and CheckQuorum, the key-value state machine), the very member
 * the agreement ladder runs (`RaftMember`, behind `ReplicaNode`: its Readies
 * write raft-kv's WAL records to the runner's simulated disk, and a restarted
 * member recovers by replaying them), on @heck/sim's network with the
 * ladder's latency. Each node shows Figure 2's state: term, role, vote, the
 * log with its committed prefix, commit and applied index, and the leader's
 * per-follower progress (nextIndex, matchIndex).
 *
 * Checked after every step, as the paper states them (Figure 3): Election
 * Safety (at most one leader per term, over the whole run) and Log Matching
 * (two logs with an entry of the same index and term agree on everything
 * before it).
 */
import { Simulation } from "@heck/sim";
import { RaftMember } from "@heck/raft-kv/ladder";
import type { Envelope, Replica, SnapshotImage } from "@heck/raft-kv";
import { InvariantBoard, NODE_IDS, type InvariantStatus, type MessageDescription, type NodeView, type StageAdapter, type StageContext } from "../core/stage.ts";

const NODES = [...NODE_IDS];
/** The agreement ladder's network: 0.5 ms floor plus a 1 ms mean tail. */
const NETWORK = { latency: { minMs: 0.5, meanTailMs: 1 } };
const ELECTION_SAFETY = "one leader per term (Election Safety)";
const LOG_MATCHING = "logs that share an (index, term) agree before it (Log Matching)";
const LEADER = "a leader is elected";
/** Log entries shown per node (the newest). */
const SHOWN_ENTRIES = 12;

type RaftSim = Simulation<Envelope, Uint8Array, SnapshotImage, RaftMember>;

/** Builds the raft stage's adapter. */
export function raftStage(context: StageContext): StageAdapter {
  const board = new InvariantBoard([
    { name: ELECTION_SAFETY, kind: "safety" },
    { name: LOG_MATCHING, kind: "safety" },
    { name: LEADER, kind: "progress" },
  ]);
  const leaderOfTerm = new Map<number, string>();
  const last = new Map<string, { role: string; term: number; commit: number; lastIndex: number; lastTerm: number }>();

  /**
   * After every step: note elections, step-downs and commits in the trace,
   * and check the safety properties. Only cheap reads (role, term, commit
   * index and the log's end are fields; a follower's log change is probed
   * with termAt), since this runs after every one of a re-run's events and a
   * full status() builds the membership and progress tables each time.
   */
  const observe = (sim: RaftSim): string | undefined => {
    let logsChanged = false;
    for (const m of sim.up) {
      const raft = m.replica.raft;
      const role = raft.role;
      const term = raft.term;
      const before = last.get(m.id);
      if (before !== undefined && before.role === role && before.term === term && role !== "leader") {
        // A follower's log moved if an entry appeared past its end or its last entry changed term.
        if (raft.termAt(before.lastIndex + 1) === undefined && (before.lastIndex === 0 || raft.termAt(before.lastIndex) === before.lastTerm)) continue;
      }
      const commit = raft.commitIndex;
      const lastIndex = raft.lastIndex;
      if (before === undefined || before.role !== role || before.term !== term) {
        if (role === "leader") {
          sim.record({ t: sim.nowMs, node: m.id, event: "elected", msg: { term } });
          const other = leaderOfTerm.get(term);
          if (other !== undefined && other !== m.id && board.fail(ELECTION_SAFETY, `${other} and ${m.id} both lead term ${term}`)) return `${other} and ${m.id} both lead term ${term}`;
          leaderOfTerm.set(term, m.id);
        } else if (before?.role === "leader") sim.record({ t: sim.nowMs, node: m.id, event: "stepped-down", msg: { term, role } });
        else if (before !== undefined && term > before.term && role === "candidate") sim.record({ t: sim.nowMs, node: m.id, event: "campaign", msg: { term } });
      }
      if (role === "leader" && before !== undefined && commit > before.commit) sim.record({ t: sim.nowMs, node: m.id, event: "commit", msg: { index: commit, term } });
      const lastTerm = lastIndex > 0 ? (raft.termAt(lastIndex) ?? -1) : 0;
      if (before === undefined || before.lastIndex !== lastIndex || before.lastTerm !== lastTerm || before.term !== term) logsChanged = true;
      last.set(m.id, { role, term, commit, lastIndex, lastTerm });
    }
    if (logsChanged) {
      const broken = logMatchingViolation(sim.up, (id) => last.get(id)?.lastIndex ?? 0);
      if (broken !== undefined && board.fail(LOG_MATCHING, broken)) return broken;
    }
    return undefined;
  };

  const sim: RaftSim = new Simulation<Envelope, Uint8Array, SnapshotImage, RaftMember>({
    seed: context.seed,
    nodeIds: NODES,
    network: NETWORK,
    traceLimit: 1,
    onTrace: context.onTrace,
    factory: (a) => new RaftMember(a as ConstructorParameters<typeof RaftMember>[0]),
    invariants: [{ name: "raft safety (Figure 3)", check: (s) => observe(s) }, ...(context.checks ?? [])],
  });

  return {
    stage: "raft",
    sim,
    nodeIds: NODES,
    operations: ["put"],
    origins: [],
    crash: (id) => {
      sim.crash(id);
      last.delete(id);
    },
    restart: (id) => sim.restart(id),
    put: (node, key, value) => {
      const m = sim.tryNode(node);
      if (m === undefined) {
        sim.record({ t: sim.nowMs, node, event: "client-refused", msg: { key, value, why: "node is down" } });
        return;
      }
      const at = sim.nowMs;
      const accepted = m.put(key, value, at, () => sim.record({ t: sim.nowMs, node, event: "client-ack", msg: { key, value, afterMs: round(sim.nowMs - at) } }));
      if (!accepted) sim.record({ t: sim.nowMs, node, event: "client-refused", msg: { key, value, why: "no known leader" } });
    },
    flip: () => undefined,
    nodeView: (id) => raftView(sim, id),
    invariants: (): InvariantStatus[] =>
      board.statuses((name) => {
        if (name !== LEADER) return undefined;
        const leaders = sim.up.filter((m) => m.replica.role === "leader").map((m) => `${m.id} (term ${m.replica.raft.term})`);
        return { name, kind: "progress", ok: leaders.length > 0, detail: leaders.length > 0 ? `leader: ${leaders.join(", ")}` : "no leader" };
      }),
    describe: describeEnvelope,
  };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Figure 2's state of one server, of this stage's cluster or of the raft-kv sweep's (any node holding a `Replica`). */
export function raftView(sim: { tryNode(id: string): { replica: Replica } | undefined }, id: string): NodeView {
  const m = sim.tryNode(id);
  if (m === undefined) return { id, up: false };
  const raft = m.replica.raft;
  const s = raft.status();
  const lo = Math.max(s.firstIndex, s.lastIndex - SHOWN_ENTRIES + 1);
  const log = s.lastIndex >= lo ? raft.logEntries(lo, s.lastIndex + 1).map((e) => ({ index: e.index, term: e.term, type: e.type, bytes: e.data.length, committed: e.index <= s.commit })) : [];
  const progress: Record<string, { match: number; next: number; state: string; recentActive: boolean }> = {};
  if (s.progress !== null) for (const [peer, p] of Object.entries(s.progress)) progress[peer] = { match: p.match, next: p.next, state: p.state, recentActive: p.recentActive };
  return {
    id,
    up: true,
    role: s.role,
    term: s.term,
    votedFor: s.vote,
    leader: s.leader,
    commitIndex: s.commit,
    lastApplied: s.applied,
    lastIndex: s.lastIndex,
    snapshotIndex: s.snapshotIndex,
    log,
    progress: s.progress === null ? null : progress,
  };
}

/**
 * Log Matching over the live nodes: for every pair, find the highest index
 * where both logs hold the same term; every earlier index they both hold
 * must carry the same term too.
 */
function logMatchingViolation(nodes: readonly RaftMember[], lastIndexOf: (id: string) => number): string | undefined {
  for (let i = 0; i < nodes.length; i++) {
    for (let j = i + 1; j < nodes.length; j++) {
      const a = nodes[i]!.replica.raft;
      const b = nodes[j]!.replica.raft;
      const hi = Math.min(lastIndexOf(a.id), lastIndexOf(b.id));
      let matched = false;
      for (let k = hi; k >= 1; k--) {
        const ta = a.termAt(k);
        const tb = b.termAt(k);
        if (ta === undefined || tb === undefined) break; // compacted: covered by the snapshot
        if (ta === tb) matched = true;
        else if (matched) return `${a.id} and ${b.id} share an entry after index ${k} but disagree at ${k} (terms ${ta} and ${tb})`;
      }
    }
  }
  return undefined;
}

/** A raft message's type and fields, for colour and hover. */
export function describeEnvelope(payload: unknown): MessageDescription {
  const e = payload as Envelope;
  if (e.kind === "forward" || e.kind === "call") return { type: e.kind, detail: { requestId: e.requestId, from: e.from } };
  if (e.kind === "callReply") return { type: e.kind, detail: { requestId: e.requestId, ok: e.ok } };
  if (e.kind === "forwardReply") return { type: e.kind, detail: { requestId: e.requestId, ok: e.ok, index: e.index } };
  if (e.kind === "removed") return { type: e.kind, detail: { from: e.from, member: e.member } };
  const m = e.message;
  switch (m.type) {
    case "append":
      return { type: m.type, detail: { term: m.term, prevLogIndex: m.prevLogIndex, prevLogTerm: m.prevLogTerm, entries: m.entries.map((x) => `${x.index}@${x.term}`), leaderCommit: m.commit } };
    case "appendResponse":
      return { type: m.type, detail: { term: m.term, success: !m.reject, index: m.index } };
    case "heartbeat":
      return { type: m.type, detail: { term: m.term, commit: m.commit } };
    case "requestVote":
    case "requestPreVote":
      return { type: m.type, detail: { term: m.term, lastLogIndex: m.lastLogIndex, lastLogTerm: m.lastLogTerm } };
    case "voteResponse":
    case "preVoteResponse":
      return { type: m.type, detail: { term: m.term, voteGranted: m.granted } };
    default:
      return { type: m.type, detail: { term: m.term } };
  }
}
