/**
 * Membership changes one server at a time (dissertation §4.1), learners
 * that catch up before they vote (§4.2.1), and removing the leader (§4.2.2).
 */
import { describe, expect, it } from "vitest";
import { createPrng } from "@heck/sim";
import { RaftNode } from "../../src/core/raft/raft-node.ts";
import { decodeConfChange } from "../../src/core/raft/codec.ts";
import { Pump, bootstrapCluster, bytes, drain } from "./support/harness.ts";

const THREE = ["n1", "n2", "n3"];

function joiner(id: string): RaftNode {
  return RaftNode.join({ id, prng: createPrng(9).fork(id) });
}

describe("bootstrap", () => {
  it("the founding membership is committed log entries 1..n of term 1, identical on every founder", () => {
    const r = RaftNode.bootstrap({ id: "n1", prng: createPrng(1) }, THREE);
    const rd = r.ready();
    expect(rd.hardState).toEqual({ term: 1, vote: null, commit: 3 });
    expect(rd.records.map((e) => [e.index, e.term, e.type])).toEqual([
      [1, 1, "confChange"],
      [2, 1, "confChange"],
      [3, 1, "confChange"],
    ]);
    expect(rd.committedEntries).toHaveLength(3);
    expect(rd.records.map((e) => decodeConfChange(e.data))).toEqual(THREE.map((n) => ({ ok: true, value: { type: "addVoter", nodeId: n } })));
    expect(rd.confState).toEqual({ voters: THREE, learners: [] });
    expect(rd.mustSync).toBe(true);
    r.advance();
    expect(r.status().applied).toBe(3);
  });

  it("refuses a voter list without this node or with duplicates", () => {
    expect(() => RaftNode.bootstrap({ id: "n9", prng: createPrng(1) }, THREE)).toThrow(/include this node/);
    expect(() => RaftNode.bootstrap({ id: "n1", prng: createPrng(1) }, ["n1", "n1"])).toThrow(/distinct/);
  });
});

describe("adding a server as a learner, then promoting it (§4.2.1)", () => {
  it("a learner receives the log but does not count toward the quorum", () => {
    const pump = bootstrapCluster(THREE, "n1");
    const leader = pump.node("n1");
    for (let i = 0; i < 3; i++) leader.propose(bytes(`v${i}`));
    pump.settle();
    pump.add(joiner("n4"));
    const res = leader.proposeConfChange({ type: "addLearner", nodeId: "n4", context: "127.0.0.1:15004" });
    expect(res.ok).toBe(true);
    pump.settle();
    expect(leader.status().confState).toEqual({ voters: THREE, learners: ["n4"] });
    expect(pump.node("n4").status().confState).toEqual({ voters: THREE, learners: ["n4"] });
    expect(pump.appliedText("n4")).toEqual(["v0", "v1", "v2"]);
    expect(leader.status().progress!.n4!.learner).toBe(true);

    // With n2 and n3 gone, leader + learner are not a majority: nothing commits.
    pump.drop = (m) => ["n2", "n3"].includes(m.to) || ["n2", "n3"].includes(m.from);
    const before = leader.status().commit;
    leader.propose(bytes("needs-a-voter"));
    pump.settle();
    expect(leader.status().commit).toBe(before);
    // And a learner never campaigns.
    for (let i = 0; i < 50; i++) pump.node("n4").tick();
    expect(pump.node("n4").role).toBe("follower");
  });

  it("promotion is refused until the learner has caught up, then it votes", () => {
    const pump = bootstrapCluster(THREE, "n1", { promoteMaxLagEntries: 5 });
    const leader = pump.node("n1");
    pump.add(joiner("n4"));
    // Cut n4 off so it cannot catch up.
    pump.drop = (m) => m.to === "n4";
    leader.proposeConfChange({ type: "addLearner", nodeId: "n4" });
    pump.settle();
    for (let i = 0; i < 20; i++) leader.propose(bytes(`v${i}`));
    pump.settle();
    expect(leader.proposeConfChange({ type: "promoteLearner", nodeId: "n4" })).toMatchObject({ ok: false, error: { code: "learnerNotCaughtUp" } });
    pump.heal();
    pump.tickAll(3);
    const promoted = leader.proposeConfChange({ type: "promoteLearner", nodeId: "n4" });
    expect(promoted.ok).toBe(true);
    pump.settle();
    expect(leader.status().confState).toEqual({ voters: ["n1", "n2", "n3", "n4"], learners: [] });
    // Four voters: a majority is three, so leader + n4 alone cannot commit.
    pump.drop = (m) => ["n2", "n3"].includes(m.to);
    const before = leader.status().commit;
    leader.propose(bytes("x"));
    pump.settle();
    expect(leader.status().commit).toBe(before);
    pump.heal();
    pump.tickAll(2);
    expect(leader.status().commit).toBeGreaterThan(before);
  });
});

describe("one change at a time (§4.1)", () => {
  it("refuses a second change while the first is not applied", () => {
    const pump = bootstrapCluster(THREE, "n1");
    const leader = pump.node("n1");
    pump.drop = () => true;
    expect(leader.proposeConfChange({ type: "addLearner", nodeId: "n4" }).ok).toBe(true);
    expect(leader.proposeConfChange({ type: "addLearner", nodeId: "n5" })).toMatchObject({ ok: false, error: { code: "confChangePending" } });
    pump.heal();
    pump.tickAll(2);
    expect(leader.proposeConfChange({ type: "addLearner", nodeId: "n5" }).ok).toBe(true);
  });

  it("a new leader accepts no change until its no-op is applied (the single-server change bug fix)", () => {
    const r = RaftNode.bootstrap({ id: "n1", prng: createPrng(1), preVote: false }, THREE);
    drain(r);
    r.campaign();
    for (const v of ["n2", "n3"]) r.step({ type: "voteResponse", from: v, to: "n1", term: r.term, granted: true });
    expect(r.role).toBe("leader");
    expect(r.proposeConfChange({ type: "addLearner", nodeId: "n4" })).toMatchObject({ ok: false, error: { code: "confChangePending" } });
    drain(r);
    r.step({ type: "appendResponse", from: "n2", to: "n1", term: r.term, reject: false, index: 4, rejectHint: 0, logTerm: 0 });
    drain(r);
    expect(r.proposeConfChange({ type: "addLearner", nodeId: "n4" }).ok).toBe(true);
  });

  it("refuses changes that make no sense, naming why", () => {
    const pump = bootstrapCluster(THREE, "n1");
    const leader = pump.node("n1");
    expect(leader.proposeConfChange({ type: "addVoter", nodeId: "n2" })).toMatchObject({ ok: false, error: { code: "invalidConfChange" } });
    expect(leader.proposeConfChange({ type: "removeVoter", nodeId: "n9" })).toMatchObject({ ok: false, error: { code: "invalidConfChange" } });
    expect(leader.proposeConfChange({ type: "promoteLearner", nodeId: "n2" })).toMatchObject({ ok: false, error: { code: "invalidConfChange" } });
    expect(leader.proposeConfChange({ type: "bogus", nodeId: "n2" } as never)).toMatchObject({ ok: false, error: { code: "invalidArgument" } });
    expect(pump.node("n2").proposeConfChange({ type: "addLearner", nodeId: "n4" })).toMatchObject({ ok: false, error: { code: "notLeader" } });
  });
});

describe("removing servers", () => {
  it("a removed follower stops counting; the rest commit with the smaller quorum", () => {
    const pump = bootstrapCluster(THREE, "n1");
    const leader = pump.node("n1");
    leader.proposeConfChange({ type: "removeVoter", nodeId: "n3" });
    pump.settle();
    expect(leader.status().confState.voters).toEqual(["n1", "n2"]);
    expect(leader.status().progress!.n3).toBeUndefined();
    // n3 is gone for good: it never campaigns.
    for (let i = 0; i < 50; i++) pump.node("n3").tick();
    expect(pump.node("n3").role).toBe("follower");
    leader.propose(bytes("two-voters"));
    pump.settle();
    expect(pump.appliedText("n2")).toContain("two-voters");
  });

  // §4.2.2: "the leader steps down ... once the Cnew entry is committed."
  it("a removed leader steps down and hands over to an up-to-date voter", () => {
    const pump = bootstrapCluster(THREE, "n1");
    const leader = pump.node("n1");
    leader.proposeConfChange({ type: "removeVoter", nodeId: "n1" });
    pump.settle();
    expect(leader.role).toBe("follower");
    pump.tickAll(2);
    const newLeader = ["n2", "n3"].find((id) => pump.node(id).role === "leader");
    expect(newLeader).toBeDefined();
    expect(pump.node(newLeader!).status().confState.voters).toEqual(["n2", "n3"]);
    pump.node(newLeader!).propose(bytes("after-removal"));
    pump.settle();
    expect(pump.appliedText("n2")).toContain("after-removal");
  });
});

describe("joining from an empty log", () => {
  it("a node created with join() learns the membership from the leader", () => {
    const pump = bootstrapCluster(THREE, "n1");
    const n4 = joiner("n4");
    expect(n4.status().confState).toEqual({ voters: [], learners: [] });
    pump.add(n4);
    pump.node("n1").proposeConfChange({ type: "addVoter", nodeId: "n4", context: "127.0.0.1:15004" });
    pump.settle();
    expect(n4.status().confState.voters).toEqual(["n1", "n2", "n3", "n4"]);
    const last = pump.applied.get("n4")!.at(-1)!;
    expect(decodeConfChange(last.data)).toEqual({ ok: true, value: { type: "addVoter", nodeId: "n4", context: "127.0.0.1:15004" } });
    expect(new Pump([]).nodes.size).toBe(0);
  });
});
