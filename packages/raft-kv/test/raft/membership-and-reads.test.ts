/**
 * The Raft core's two helpers on their own: the configuration and its change
 * rules (membership.ts, dissertation chapter 4) and the reads a leader holds
 * (read-only.ts, §6.4). The RaftNode tests (membership.test.ts,
 * read-index.test.ts) cover them in use.
 */
import { describe, expect, it } from "vitest";
import { Membership } from "../../src/core/raft/membership.ts";
import { Progress } from "../../src/core/raft/progress.ts";
import { ReadOnly, leaseValid } from "../../src/core/raft/read-only.ts";
import type { ConfChange } from "../../src/core/raft/types.ts";

describe("Membership (§4.1, §4.2.1)", () => {
  const base = { voters: ["n1", "n2", "n3"], learners: ["n4"] };
  const caughtUp = (match: number): Progress => {
    const pr = new Progress(match + 1, 8, true);
    pr.match = match;
    pr.becomeReplicate();
    return pr;
  };

  it("refuses changes that make no sense, and promoting a learner that has not caught up", () => {
    const m = new Membership(base);
    const refused = (cc: ConfChange, progress?: Progress) => m.refusal(cc, () => progress, 100, 10)?.code ?? "ok";
    expect(refused({ type: "addVoter", nodeId: "n1" })).toBe("invalidConfChange");
    expect(refused({ type: "addVoter", nodeId: "n4" })).toBe("invalidConfChange");
    expect(refused({ type: "addLearner", nodeId: "n4" })).toBe("invalidConfChange");
    expect(refused({ type: "removeVoter", nodeId: "n9" })).toBe("invalidConfChange");
    expect(refused({ type: "promoteLearner", nodeId: "n2" })).toBe("invalidConfChange");
    expect(refused({ type: "addVoter", nodeId: "n5" })).toBe("ok");
    expect(refused({ type: "removeVoter", nodeId: "n4" })).toBe("ok");
    // §4.2.1: a learner votes only once the leader streams to it and it is close behind.
    expect(refused({ type: "promoteLearner", nodeId: "n4" })).toBe("learnerNotCaughtUp");
    expect(refused({ type: "promoteLearner", nodeId: "n4" }, caughtUp(80))).toBe("learnerNotCaughtUp");
    expect(refused({ type: "promoteLearner", nodeId: "n4" }, caughtUp(95))).toBe("ok");
    expect(new Membership({ voters: ["n1"], learners: [] }).refusal({ type: "removeVoter", nodeId: "n1" }, () => undefined, 1, 0)?.message).toBe("n1 is the last voter");
  });

  it("applies committed changes, ignores those that raced, and remembers the configuration at each index for snapshots", () => {
    const m = new Membership(base);
    m.apply(10, { type: "promoteLearner", nodeId: "n4" });
    m.apply(11, { type: "promoteLearner", nodeId: "n4" }); // raced: already a voter, nothing changes
    m.apply(12, { type: "removeVoter", nodeId: "n1" });
    m.apply(13, null); // an entry that does not decode changes nothing
    expect(m.state()).toEqual({ voters: ["n2", "n3", "n4"], learners: [] });
    const solo = new Membership({ voters: ["n1"], learners: [] });
    solo.apply(5, { type: "removeVoter", nodeId: "n1" });
    expect(solo.state().voters).toEqual(["n1"]);
    // A snapshot at 11 records the configuration in force after entry 11, before the removal at 12.
    expect(m.compactTo(11)).toEqual({ voters: ["n1", "n2", "n3", "n4"], learners: [] });
    expect(m.compactTo(13)).toEqual({ voters: ["n2", "n3", "n4"], learners: [] });
  });
});

describe("ReadOnly (§6.4)", () => {
  const voters = new Set(["n1", "n2", "n3", "n4", "n5"]);

  it("confirms a round once a quorum of voters answered, and with it every earlier round", () => {
    const ro = new ReadOnly();
    const pr = new Progress(1, 8, false);
    ro.add({ from: "n1", ctx: "a" });
    const first = ro.startRound(2, 7, 10, "n1");
    ro.add({ from: "n3", ctx: "b" });
    const second = ro.startRound(2, 9, 11, "n1");
    // Answers from a non-voter or to an unknown round count for nothing.
    expect(ro.ack(second, "n9", pr, voters)).toEqual([]);
    expect(ro.ack("2.99", "n2", pr, voters)).toEqual([]);
    expect(ro.ack(second, "n2", pr, voters)).toEqual([]);
    expect(ro.ack(second, "n3", pr, voters).map((c) => [c.request.ctx, c.index])).toEqual([
      ["a", 7],
      ["b", 9],
    ]);
    expect(ro.ack(first, "n4", pr, voters)).toEqual([]);
    // Each answer also tells when the follower last heard from the leader (its lease).
    expect(pr.leaseAckTick).toBe(11);
  });

  it("a lease holds while a quorum answered heartbeats sent less than an election timeout ago, and never after TimeoutNow", () => {
    const progress = new Map<string, Progress>();
    for (const id of ["n2", "n3"]) {
      const pr = new Progress(1, 8, false);
      pr.leaseAckTick = 20;
      progress.set(id, pr);
    }
    const three = new Set(["n1", "n2", "n3"]);
    expect(leaseValid("n1", three, progress, 28, 10, false)).toBe(true);
    expect(leaseValid("n1", three, progress, 29, 10, false)).toBe(false);
    expect(leaseValid("n1", three, progress, 21, 10, true)).toBe(false);
  });
});
