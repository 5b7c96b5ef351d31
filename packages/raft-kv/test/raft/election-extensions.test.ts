/**
 * PreVote (dissertation §9.6), CheckQuorum (§6.2) with the leader lease on
 * votes (§4.2.3), and leadership transfer (§3.10), with messages passed by hand.
 */
import { describe, expect, it } from "vitest";
import { bootstrapCluster, bytes, drain, newRaft, readMessages, tickN } from "./support/harness.ts";

const THREE = ["n1", "n2", "n3"];

describe("PreVote (dissertation §9.6)", () => {
  // "In the Pre-Vote algorithm, a candidate only increments its term if it
  // first learns from a majority of the cluster that they would be willing
  // to grant the candidate their votes."
  it("a pre-candidate asks for votes in term+1 without changing its own term", () => {
    const r = newRaft("n1", THREE, { term: 3, preVote: true });
    r.campaign();
    expect(r.role).toBe("preCandidate");
    expect(r.term).toBe(3);
    expect(r.status().vote).toBeNull();
    const msgs = readMessages(r);
    expect(msgs.map((m) => [m.type, m.to, m.term])).toEqual([
      ["requestPreVote", "n2", 4],
      ["requestPreVote", "n3", 4],
    ]);
  });

  it("a majority of pre-votes starts the real election", () => {
    const r = newRaft("n1", THREE, { term: 3, preVote: true });
    r.campaign();
    drain(r);
    r.step({ type: "preVoteResponse", from: "n2", to: "n1", term: 4, granted: true });
    expect(r.role).toBe("candidate");
    expect(r.term).toBe(4);
    expect(readMessages(r).map((m) => m.type)).toEqual(["requestVote", "requestVote"]);
  });

  it("a voter answering a pre-vote keeps its term and its vote", () => {
    const r = newRaft("n2", THREE, { term: 3, vote: "n3", preVote: true });
    r.step({ type: "requestPreVote", from: "n1", to: "n2", term: 4, lastLogIndex: 0, lastLogTerm: 0, transfer: false });
    expect(r.term).toBe(3);
    expect(r.status().vote).toBe("n3");
    expect(readMessages(r)).toEqual([{ type: "preVoteResponse", from: "n2", to: "n1", term: 4, granted: true }]);
  });

  it("a pre-vote is refused to a candidate whose log is behind (§5.4.1 applies to pre-votes too)", () => {
    const r = newRaft("n2", THREE, { logTerms: [1, 2], preVote: true });
    r.step({ type: "requestPreVote", from: "n1", to: "n2", term: 3, lastLogIndex: 5, lastLogTerm: 1, transfer: false });
    expect(readMessages(r)).toEqual([{ type: "preVoteResponse", from: "n2", to: "n1", term: 2, granted: false }]);
  });

  // §9.6: "... this prevents a server that was partitioned from ... disrupting the cluster when it rejoins."
  it("an isolated node does not inflate its term, so rejoining deposes nobody", () => {
    const pump = bootstrapCluster(THREE, "n1", { preVote: true, checkQuorum: true });
    expect(pump.node("n1").role).toBe("leader");
    const term = pump.node("n1").term;
    pump.isolate("n3");
    pump.tickAll(100);
    expect(pump.node("n3").term).toBe(term);
    expect(pump.node("n3").role).not.toBe("leader");
    pump.heal();
    pump.tickAll(5);
    expect(pump.node("n1").role).toBe("leader");
    expect(pump.node("n1").term).toBe(term);
  });

  it("without PreVote the same isolated node does bump the term and depose the leader", () => {
    const pump = bootstrapCluster(THREE, "n1", { preVote: false, checkQuorum: false });
    const term = pump.node("n1").term;
    pump.isolate("n3");
    pump.tickAll(100);
    expect(pump.node("n3").term).toBeGreaterThan(term + 2);
    pump.heal();
    pump.tickAll(50);
    expect(pump.node("n1").term).toBeGreaterThan(term);
  });
});

describe("CheckQuorum (dissertation §6.2)", () => {
  // "... a leader steps down if an election timeout elapses without a
  // successful round of heartbeats to a majority of its cluster."
  it("a leader that hears from no majority for an election timeout steps down", () => {
    const pump = bootstrapCluster(THREE, "n1", { checkQuorum: true });
    pump.isolate("n1");
    pump.tickAll(25);
    expect(pump.node("n1").role).toBe("follower");
  });

  it("a leader that hears from a majority stays leader", () => {
    const pump = bootstrapCluster(THREE, "n1", { checkQuorum: true });
    pump.drop = (m) => m.from === "n3" || m.to === "n3";
    pump.tickAll(25);
    expect(pump.node("n1").role).toBe("leader");
  });

  // §4.2.3: "if a server receives a RequestVote request within the minimum
  // election timeout of hearing from a current leader, it does not update its
  // term or grant its vote."
  it("a follower that heard from its leader recently ignores a higher-term vote request", () => {
    const pump = bootstrapCluster(THREE, "n1", { checkQuorum: true, preVote: false });
    const n2 = pump.node("n2");
    const term = n2.term;
    n2.step({ type: "requestVote", from: "n3", to: "n2", term: term + 1, lastLogIndex: 99, lastLogTerm: 99, transfer: false });
    expect(n2.term).toBe(term);
    expect(readMessages(n2)).toEqual([]);
    // A transfer campaign (TimeoutNow) is honoured even inside the lease.
    n2.step({ type: "requestVote", from: "n3", to: "n2", term: term + 1, lastLogIndex: 99, lastLogTerm: 99, transfer: true });
    expect(n2.term).toBe(term + 1);
    expect(readMessages(n2)).toMatchObject([{ type: "voteResponse", granted: true }]);
  });

  it("a stale leader is told the newer term when it sends to a follower", () => {
    const r = newRaft("n2", THREE, { term: 5, checkQuorum: true });
    r.step({ type: "heartbeat", from: "n1", to: "n2", term: 3, commit: 0, context: null });
    expect(readMessages(r)).toEqual([{ type: "appendResponse", from: "n2", to: "n1", term: 5, reject: false, index: 0, rejectHint: 0, logTerm: 0 }]);
  });
});

describe("leadership transfer (§3.10)", () => {
  it("hands over to an up-to-date follower with TimeoutNow", () => {
    const pump = bootstrapCluster(THREE, "n1");
    const term = pump.node("n1").term;
    expect(pump.node("n1").transferLeadership("n2")).toEqual({ ok: true, value: undefined });
    pump.settle();
    expect(pump.node("n2").role).toBe("leader");
    expect(pump.node("n2").term).toBe(term + 1);
    expect(pump.node("n1").role).toBe("follower");
    expect(pump.delivered.some((m) => m.type === "timeoutNow" && m.to === "n2")).toBe(true);
  });

  it("catches a lagging target up before sending TimeoutNow, and refuses proposals meanwhile", () => {
    const pump = bootstrapCluster(THREE, "n1");
    pump.drop = (m) => m.to === "n3";
    for (let i = 0; i < 5; i++) pump.node("n1").propose(bytes(`v${i}`));
    pump.settle();
    pump.heal();
    const leader = pump.node("n1");
    expect(leader.status().progress!.n3!.match).toBeLessThan(leader.status().lastIndex);
    // Hold messages so we can observe the in-between state.
    pump.drop = () => true;
    leader.transferLeadership("n3");
    const msgs = readMessages(leader);
    expect(msgs.map((m) => m.type)).not.toContain("timeoutNow");
    expect(leader.propose(bytes("during"))).toMatchObject({ ok: false, error: { code: "transferInProgress" } });
    pump.heal();
    pump.settle(msgs);
    pump.tickAll(3);
    expect(pump.node("n3").role).toBe("leader");
    expect(pump.appliedText("n3")).toEqual(["v0", "v1", "v2", "v3", "v4"]);
  });

  it("abandons a transfer that does not finish within an election timeout", () => {
    const pump = bootstrapCluster(THREE, "n1", { electionTick: 10 });
    pump.drop = (m) => m.to === "n3" || m.from === "n3";
    pump.node("n1").transferLeadership("n3");
    pump.tickAll(11);
    expect(pump.node("n1").role).toBe("leader");
    expect(pump.node("n1").status().leadTransferee).toBeNull();
    expect(pump.node("n1").propose(bytes("after")).ok).toBe(true);
  });

  it("refuses to transfer to a non-voter or from a follower", () => {
    const pump = bootstrapCluster(THREE, "n1");
    expect(pump.node("n1").transferLeadership("n9")).toMatchObject({ ok: false, error: { code: "invalidArgument" } });
    expect(pump.node("n2").transferLeadership("n3")).toMatchObject({ ok: false, error: { code: "notLeader", leader: "n1" } });
  });
});

describe("proposals on non-leaders", () => {
  it("are refused with the leader hint so a driver can redirect", () => {
    const pump = bootstrapCluster(THREE, "n2");
    expect(pump.node("n1").propose(bytes("x"))).toMatchObject({ ok: false, error: { code: "notLeader", leader: "n2" } });
    const lonely = newRaft("n1", THREE);
    tickN(lonely, 1);
    expect(lonely.propose(bytes("x"))).toMatchObject({ ok: false, error: { code: "notLeader", leader: null } });
  });
});
