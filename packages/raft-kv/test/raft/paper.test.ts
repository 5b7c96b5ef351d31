/**
 * Tests of the rules in the Raft paper (Ongaro & Ousterhout, "In Search of an
 * Understandable Consensus Algorithm", 2014), one section at a time, in the
 * spirit of etcd's raft_paper_test.go. Each test quotes the sentence it
 * checks. PreVote and CheckQuorum are off here: they are not in §5 and are
 * tested in their own files.
 */
import { describe, expect, it } from "vitest";
import { createPrng } from "@heck/sim";
import { RaftNode } from "../../src/core/raft/raft-node.ts";
import type { AppendMessage, Message, NodeId, VoteRequestMessage } from "../../src/core/raft/types.ts";
import { Pump, bytes, drain, entriesWithTerms, newRaft, readMessages, tickN } from "./support/harness.ts";

const THREE = ["n1", "n2", "n3"];

function append(from: NodeId, to: NodeId, term: number, prevLogIndex: number, prevLogTerm: number, entryTerms: number[], commit: number): AppendMessage {
  return { type: "append", from, to, term, prevLogIndex, prevLogTerm, entries: entriesWithTerms(entryTerms, prevLogIndex + 1), commit };
}

/** Makes `r` leader by granting it every vote (no PreVote). */
function becomeLeader(r: RaftNode, voters: NodeId[]): void {
  r.campaign();
  for (const v of voters) if (v !== r.id) r.step({ type: "voteResponse", from: v, to: r.id, term: r.term, granted: true });
  expect(r.role).toBe("leader");
}

function logTerms(r: RaftNode): number[] {
  return r.logEntries(1, r.status().lastIndex + 1).map((e) => e.term);
}

describe("§5.1 terms", () => {
  // "If one server's current term is smaller than the other's, then it
  // updates its current term to the larger value. If a candidate or leader
  // discovers that its term is out of date, it immediately reverts to
  // follower state."
  it.each(["follower", "candidate", "leader"] as const)("a %s seeing a higher term adopts it and becomes follower", (role) => {
    const r = newRaft("n1", THREE);
    if (role === "candidate") r.campaign();
    if (role === "leader") becomeLeader(r, THREE);
    expect(r.role).toBe(role);
    r.step(append("n2", "n1", 5, 0, 0, [], 0));
    expect(r.term).toBe(5);
    expect(r.role).toBe("follower");
    expect(r.leader).toBe("n2");
  });

  // "If a server receives a request with a stale term number, it rejects the request."
  it("ignores a request with a stale term", () => {
    const r = newRaft("n1", THREE, { term: 2 });
    drain(r);
    r.step(append("n2", "n1", 1, 0, 0, [1], 1));
    expect(r.term).toBe(2);
    expect(r.status().lastIndex).toBe(0);
    expect(r.status().commit).toBe(0);
    expect(r.leader).toBeNull();
  });
});

describe("§5.2 leader election", () => {
  // "When servers start up, they begin as followers."
  it("starts as a follower", () => {
    const r = newRaft("n1", THREE);
    expect(r.role).toBe("follower");
    expect(r.term).toBe(0);
  });

  // "Leaders send periodic heartbeats (AppendEntries RPCs that carry no log
  // entries) to all followers in order to maintain their authority."
  it("a leader broadcasts a heartbeat every heartbeatTick", () => {
    const r = newRaft("n1", THREE, { heartbeatTick: 2 });
    becomeLeader(r, THREE);
    drain(r);
    r.tick();
    expect(readMessages(r)).toEqual([]);
    r.tick();
    const msgs = readMessages(r);
    expect(msgs.map((m) => [m.type, m.to, m.term])).toEqual([
      ["heartbeat", "n2", 1],
      ["heartbeat", "n3", 1],
    ]);
  });

  // "If a follower receives no communication over a period of time called
  // the election timeout, then it ... begins an election ... it increments
  // its current term and transitions to candidate state. It then votes for
  // itself and issues RequestVote RPCs in parallel to each of the other servers."
  it.each(["follower", "candidate"] as const)("a %s whose election timeout elapses starts a new election", (role) => {
    const r = newRaft("n1", THREE, { logTerms: [1, 1], term: 1 });
    if (role === "candidate") r.campaign();
    const termBefore = r.term;
    drain(r);
    tickN(r, 2 * 10);
    expect(r.role).toBe("candidate");
    expect(r.term).toBe(termBefore + 1);
    expect(r.status().vote).toBe("n1");
    const msgs = readMessages(r) as VoteRequestMessage[];
    expect(msgs.map((m) => [m.type, m.to, m.term, m.lastLogIndex, m.lastLogTerm])).toEqual([
      ["requestVote", "n2", termBefore + 1, 2, 1],
      ["requestVote", "n3", termBefore + 1, 2, 1],
    ]);
  });

  // "A candidate wins an election if it receives votes from a majority of the
  // servers in the full cluster for the same term." / "... if many followers
  // become candidates at the same time, votes could be split so that no
  // candidate obtains a majority."
  it.each([
    [1, {}, "leader"],
    [3, { n2: true, n3: true }, "leader"],
    [3, { n2: true }, "leader"],
    [5, { n2: true, n3: true, n4: true, n5: true }, "leader"],
    [5, { n2: true, n3: true, n4: true }, "leader"],
    [5, { n2: true, n3: true }, "leader"],
    [3, { n2: false, n3: false }, "follower"],
    [5, { n2: false, n3: false, n4: false }, "follower"],
    [5, { n2: true, n3: false, n4: false }, "candidate"],
    [3, {}, "candidate"],
    [5, { n2: true }, "candidate"],
  ] as const)("a candidate in a cluster of %i with votes %j ends up %s", (size, votes, expected) => {
    const ids = Array.from({ length: size }, (_, i) => `n${i + 1}`);
    const r = newRaft("n1", ids);
    r.campaign();
    for (const [from, granted] of Object.entries(votes)) {
      r.step({ type: "voteResponse", from, to: "n1", term: r.term, granted: granted as boolean });
    }
    expect(r.role).toBe(expected);
    expect(r.term).toBe(1);
  });

  // "Each server will vote for at most one candidate in a given term, on a
  // first-come-first-served basis."
  it.each([
    [null, "n2", true],
    [null, "n3", true],
    ["n2", "n2", true],
    ["n3", "n3", true],
    ["n2", "n3", false],
    ["n3", "n2", false],
  ] as const)("a follower that voted for %s and is asked by %s grants: %s", (vote, candidate, granted) => {
    const r = newRaft("n1", THREE, { term: 1, vote });
    r.step({ type: "requestVote", from: candidate, to: "n1", term: 1, lastLogIndex: 0, lastLogTerm: 0, transfer: false });
    const msgs = readMessages(r);
    expect(msgs).toEqual([{ type: "voteResponse", from: "n1", to: candidate, term: 1, granted }]);
  });

  // "While waiting for votes, a candidate may receive an AppendEntries RPC
  // from another server claiming to be leader. If the leader's term ... is at
  // least as large as the candidate's current term, then the candidate
  // recognizes the leader as legitimate and returns to follower state."
  it.each([1, 2])("a candidate receiving an append of term %i (>= its own) returns to follower", (term) => {
    const r = newRaft("n1", THREE);
    r.campaign();
    expect(r.term).toBe(1);
    r.step(append("n2", "n1", term, 0, 0, [], 0));
    expect(r.role).toBe("follower");
    expect(r.term).toBe(term);
    expect(r.leader).toBe("n2");
  });

  // "Raft uses randomized election timeouts ... chosen randomly from a fixed interval."
  it("election timeouts are randomized over [electionTick, 2*electionTick - 1]", () => {
    const seen = new Set<number>();
    for (let seed = 1; seed <= 200; seed++) {
      const r = newRaft("n1", THREE, { seed, electionTick: 10 });
      let ticks = 0;
      while (r.role === "follower") {
        r.tick();
        ticks++;
      }
      seen.add(ticks);
    }
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(10);
    expect(Math.max(...seen)).toBeLessThanOrEqual(19);
    expect(seen.size).toBeGreaterThanOrEqual(8);
  });

  // "... spreads out the servers so that in most cases only a single server will time out."
  it("followers ticked in lockstep rarely time out on the same tick", () => {
    let conflicts = 0;
    const rounds = 300;
    for (let round = 0; round < rounds; round++) {
      const prng = createPrng(round);
      const nodes = ["n1", "n2", "n3", "n4", "n5"].map((id) =>
        RaftNode.restart(
          { id, prng: prng.fork(id), preVote: false, checkQuorum: false },
          { hardState: { term: 1, vote: null, commit: 0 }, snapshot: { metadata: { index: 0, term: 0, confState: { voters: ["n1", "n2", "n3", "n4", "n5"], learners: [] } }, data: new Uint8Array(0) }, entries: [] },
        ),
      );
      for (let t = 0; t < 20; t++) {
        for (const n of nodes) n.tick();
        const candidates = nodes.filter((n) => n.role === "candidate").length;
        if (candidates > 0) {
          if (candidates > 1) conflicts++;
          break;
        }
      }
    }
    expect(conflicts / rounds).toBeLessThan(0.3);
  });
});

describe("§5.3 log replication", () => {
  // "The leader appends the command to its log as a new entry, then issues
  // AppendEntries RPCs in parallel to each of the other servers to replicate the entry."
  it("a leader appends a proposal and sends it to every follower", () => {
    const r = newRaft("n1", THREE);
    becomeLeader(r, THREE);
    // Let followers acknowledge the no-op so they move to "replicate".
    drain(r);
    for (const f of ["n2", "n3"]) r.step({ type: "appendResponse", from: f, to: "n1", term: 1, reject: false, index: 1, rejectHint: 0, logTerm: 0 });
    drain(r);
    const res = r.propose(bytes("x"));
    expect(res).toEqual({ ok: true, value: { index: 2, term: 1 } });
    const d = drain(r);
    expect(d.persisted.map((e) => [e.index, e.term])).toEqual([[2, 1]]);
    const apps = d.messages.filter((m): m is AppendMessage => m.type === "append");
    expect(apps.map((m) => [m.to, m.prevLogIndex, m.prevLogTerm, m.entries.map((e) => e.index), m.commit])).toEqual([
      ["n2", 1, 1, [2], 1],
      ["n3", 1, 1, [2], 1],
    ]);
  });

  // "A log entry is committed once the leader that created the entry has
  // replicated it on a majority of the servers."
  it.each([
    [1, [], true],
    [3, [], false],
    [3, ["n2"], true],
    [3, ["n2", "n3"], true],
    [5, [], false],
    [5, ["n2"], false],
    [5, ["n2", "n3"], true],
    [5, ["n2", "n3", "n4", "n5"], true],
  ] as const)("in a cluster of %i, acknowledgements from %j commit the entry: %s", (size, acks, committed) => {
    const ids = Array.from({ length: size }, (_, i) => `n${i + 1}`);
    const r = newRaft("n1", ids);
    becomeLeader(r, ids);
    drain(r);
    r.propose(bytes("x"));
    const first = drain(r);
    for (const a of acks) r.step({ type: "appendResponse", from: a, to: "n1", term: 1, reject: false, index: 2, rejectHint: 0, logTerm: 0 });
    const d = drain(r);
    expect(r.status().commit === 2).toBe(committed);
    expect([...first.committed, ...d.committed].some((e) => e.index === 2)).toBe(committed);
  });

  // "This also commits all preceding entries in the leader's log, including
  // entries created by previous leaders."
  it("committing an entry commits every entry before it, from earlier terms too", () => {
    const r = newRaft("n1", THREE, { logTerms: [1, 2, 2], term: 2 });
    becomeLeader(r, THREE);
    expect(r.term).toBe(3);
    drain(r);
    r.step({ type: "appendResponse", from: "n2", to: "n1", term: 3, reject: false, index: 4, rejectHint: 0, logTerm: 0 });
    const d = drain(r);
    expect(d.committed.map((e) => [e.index, e.term])).toEqual([
      [1, 1],
      [2, 2],
      [3, 2],
      [4, 3],
    ]);
  });

  // "Once a follower learns that a log entry is committed, it applies the
  // entry to its local state machine (in log order)."
  it("a follower commits what the leader's commit index says, in order", () => {
    const r = newRaft("n1", THREE);
    r.step(append("n2", "n1", 1, 0, 0, [1, 1, 1], 2));
    const d = drain(r);
    expect(r.status().commit).toBe(2);
    expect(d.committed.map((e) => e.index)).toEqual([1, 2]);
    // Figure 2: commitIndex = min(leaderCommit, index of last new entry).
    r.step(append("n2", "n1", 1, 3, 1, [], 9));
    expect(r.status().commit).toBe(3);
  });

  // "When sending an AppendEntries RPC, the leader includes the index and
  // term of the entry in its log that immediately precedes the new entries.
  // If the follower does not find an entry in its log with the same index
  // and term, then it refuses the new entries."
  it.each([
    // prevLogTerm, prevLogIndex, reject, rejectHint, logTerm
    [0, 0, false, 0, 0],
    [1, 1, false, 0, 0],
    [2, 2, false, 0, 0],
    [1, 2, true, 1, 1], // term mismatch at 2: the last index with term <= 1 is 1
    [3, 3, true, 2, 2], // beyond the end: hint is the last index
  ] as const)("a follower with log [1,2] checks prev (term %i, index %i): reject=%s", (prevLogTerm, prevLogIndex, reject, hint, logTerm) => {
    const r = newRaft("n1", THREE, { logTerms: [1, 2], term: 2, commit: 0 });
    r.step(append("n2", "n1", 2, prevLogIndex, prevLogTerm, [], 0));
    const msgs = readMessages(r);
    expect(msgs).toHaveLength(1);
    const m = msgs[0]!;
    expect(m.type).toBe("appendResponse");
    if (m.type !== "appendResponse") return;
    expect(m.reject).toBe(reject);
    if (reject) expect([m.index, m.rejectHint, m.logTerm]).toEqual([prevLogIndex, hint, logTerm]);
  });

  // "If an existing entry conflicts with a new one (same index but different
  // terms), delete the existing entry and all that follow it; append any new
  // entries not already in the log."
  it.each([
    [2, 2, [3], [1, 2, 3]],
    [1, 1, [3, 4], [1, 3, 4]],
    [0, 0, [1], [1, 2]],
    [0, 0, [3], [3]],
  ] as const)("after an append with prev (index %i, term %i) and entries %j, log [1,2] becomes %j", (prevLogIndex, prevLogTerm, ents, expected) => {
    const r = newRaft("n1", THREE, { logTerms: [1, 2], term: 2 });
    r.step(append("n2", "n1", 4, prevLogIndex, prevLogTerm, [...ents], 0));
    expect(logTerms(r)).toEqual(expected);
  });

  // "The leader maintains a nextIndex for each follower ... When a leader
  // first comes to power, it initializes all nextIndex values to the index
  // just after the last one in its log ... If a follower's log is
  // inconsistent with the leader's, the AppendEntries consistency check will
  // fail ... the leader decrements nextIndex and retries." (Figure 7: any of
  // the followers a-f can be brought in line.)
  const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  it.each([
    ["a", [1, 1, 1, 4, 4, 5, 5, 6, 6]],
    ["b", [1, 1, 1, 4]],
    ["c", [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6]],
    ["d", [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7]],
    ["e", [1, 1, 1, 4, 4, 4, 4]],
    ["f", [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]],
  ] as const)("Figure 7 follower (%s) ends up with the leader's log", (_name, followerLog) => {
    const leader = newRaft("n1", THREE, { logTerms: leaderLog, term: 7, commit: 0 });
    const follower = newRaft("n2", THREE, { logTerms: [...followerLog], term: 7 });
    // n3 has an empty log and votes for the leader, as the figure's majority would.
    const voter = newRaft("n3", THREE, { term: 7 });
    const pump = new Pump([leader, follower, voter]);
    pump.elect("n1");
    expect(leader.role).toBe("leader");
    expect(leader.term).toBe(8);
    expect(logTerms(follower)).toEqual([...leaderLog, 8]);
    expect(follower.status().commit).toBe(11);
  });

  // "... the protocol can be optimized to reduce the number of rejected
  // AppendEntries RPCs ... the follower can include the term of the
  // conflicting entry and the first index it stores for that term."
  it("fast back-tracking skips a whole divergent term per round trip", () => {
    // The follower holds 200 entries of stale terms 2 and 3; the leader's log diverges after index 1.
    const followerLog = [1, ...Array<number>(100).fill(2), ...Array<number>(100).fill(3)];
    const leader = newRaft("n1", THREE, { logTerms: [1, ...Array<number>(50).fill(4)], term: 4 });
    const follower = newRaft("n2", THREE, { logTerms: followerLog, term: 4 });
    const voter = newRaft("n3", THREE, { term: 4 });
    const pump = new Pump([leader, follower, voter]);
    pump.elect("n1");
    const rejections = pump.delivered.filter((m: Message) => m.type === "appendResponse" && m.from === "n2" && m.reject);
    expect(rejections.length).toBeLessThanOrEqual(3);
    expect(logTerms(follower)).toEqual(logTerms(leader));
  });
});

describe("§5.4 safety", () => {
  // §5.4.1 "The RequestVote RPC ... includes information about the
  // candidate's log, and the voter denies its vote if its own log is more
  // up-to-date than that of the candidate."
  it.each([
    // voter log, candidate lastLogIndex, lastLogTerm, granted
    [[1], 1, 1, true],
    [[1], 2, 1, true],
    [[1, 1], 1, 1, false], // same last term, shorter log
    [[1], 1, 2, true], // higher last term wins even if shorter
    [[2], 1, 1, false], // lower last term
    [[2], 5, 1, false], // lower last term, however long
  ] as const)("a voter with log %j asked by a candidate with last (index %i, term %i) grants: %s", (voterLog, lastLogIndex, lastLogTerm, granted) => {
    const r = newRaft("n1", THREE, { logTerms: [...voterLog] });
    r.step({ type: "requestVote", from: "n2", to: "n1", term: 3, lastLogIndex, lastLogTerm, transfer: false });
    const msgs = readMessages(r);
    expect(msgs).toHaveLength(1);
    expect(msgs[0]).toMatchObject({ type: "voteResponse", granted });
  });

  // §5.4.2 "Raft never commits log entries from previous terms by counting
  // replicas. Only log entries from the leader's current term are committed
  // by counting replicas."
  it("a leader does not commit an entry of an earlier term by counting replicas", () => {
    const r = newRaft("n1", THREE, { logTerms: [1, 2], term: 2 });
    becomeLeader(r, THREE);
    expect(r.term).toBe(3);
    drain(r);
    // A majority holds index 2 (term 2): not enough.
    r.step({ type: "appendResponse", from: "n2", to: "n1", term: 3, reject: false, index: 2, rejectHint: 0, logTerm: 0 });
    drain(r);
    expect(r.status().commit).toBe(0);
    // Once the no-op of term 3 (index 3) is on a majority, everything commits.
    r.step({ type: "appendResponse", from: "n2", to: "n1", term: 3, reject: false, index: 3, rejectHint: 0, logTerm: 0 });
    drain(r);
    expect(r.status().commit).toBe(3);
  });
});

describe("§8 client interaction", () => {
  // "... each leader commit a blank no-op entry into the log at the start of its term."
  it("a new leader appends a no-op entry of its term", () => {
    const r = newRaft("n1", THREE, { logTerms: [1] });
    becomeLeader(r, THREE);
    const d = drain(r);
    expect(d.persisted.map((e) => [e.index, e.term, e.data.length])).toEqual([[2, 2, 0]]);
  });
});
