/**
 * Linearizable reads without writing to the log: ReadIndex (dissertation
 * §6.4) and lease-based reads (§6.4.1).
 */
import { describe, expect, it } from "vitest";
import { bootstrapCluster, bytes, drain, newRaft, readMessages } from "./support/harness.ts";
import type { HeartbeatMessage } from "../../src/core/raft/types.ts";

const THREE = ["n1", "n2", "n3"];

function leaderWithCommittedNoop() {
  const r = newRaft("n1", THREE);
  r.campaign();
  for (const v of ["n2", "n3"]) r.step({ type: "voteResponse", from: v, to: "n1", term: 1, granted: true });
  drain(r);
  r.step({ type: "appendResponse", from: "n2", to: "n1", term: 1, reject: false, index: 1, rejectHint: 0, logTerm: 0 });
  drain(r);
  expect(r.status().commit).toBe(1);
  return r;
}

describe("ReadIndex (§6.4)", () => {
  // Step 2-3: "the leader records its current commit index in a local
  // variable readIndex ... sends a new round of heartbeats and waits for
  // their acknowledgments from a majority of the cluster."
  it("serves a read only after a majority acknowledges a heartbeat round", () => {
    const r = leaderWithCommittedNoop();
    expect(r.readIndex("req-1").ok).toBe(true);
    const d = drain(r);
    expect(d.readStates).toEqual([]);
    const hbs = d.messages.filter((m): m is HeartbeatMessage => m.type === "heartbeat");
    expect(hbs).toHaveLength(2);
    const ctx = hbs[0]!.context;
    expect(ctx).not.toBeNull();
    r.step({ type: "heartbeatResponse", from: "n2", to: "n1", term: 1, context: ctx });
    expect(drain(r).readStates).toEqual([{ index: 1, requestCtx: "req-1" }]);
  });

  it("batches every read made between two Ready batches into one heartbeat round", () => {
    const r = leaderWithCommittedNoop();
    r.readIndex("a");
    r.readIndex("b");
    r.readIndex("c");
    const d = drain(r);
    const hbs = d.messages.filter((m): m is HeartbeatMessage => m.type === "heartbeat");
    expect(hbs).toHaveLength(2);
    r.step({ type: "heartbeatResponse", from: "n3", to: "n1", term: 1, context: hbs[0]!.context });
    expect(drain(r).readStates.map((s) => s.requestCtx)).toEqual(["a", "b", "c"]);
  });

  it("a stale heartbeat answer without the round's context confirms nothing", () => {
    const r = leaderWithCommittedNoop();
    r.readIndex("a");
    drain(r);
    r.step({ type: "heartbeatResponse", from: "n2", to: "n1", term: 1, context: null });
    r.step({ type: "heartbeatResponse", from: "n2", to: "n1", term: 1, context: "1.999" });
    expect(drain(r).readStates).toEqual([]);
  });

  // Step 1: "If the leader has not yet marked an entry from its current term
  // committed, it waits until it has done so."
  it("holds reads until the new leader's no-op is committed", () => {
    const r = newRaft("n1", THREE);
    r.campaign();
    for (const v of ["n2", "n3"]) r.step({ type: "voteResponse", from: v, to: "n1", term: 1, granted: true });
    r.readIndex("early");
    const d1 = drain(r);
    expect(d1.messages.filter((m) => m.type === "heartbeat")).toHaveLength(0);
    r.step({ type: "appendResponse", from: "n2", to: "n1", term: 1, reject: false, index: 1, rejectHint: 0, logTerm: 0 });
    const d2 = drain(r);
    const hb = d2.messages.find((m): m is HeartbeatMessage => m.type === "heartbeat" && m.context !== null);
    expect(hb).toBeDefined();
    r.step({ type: "heartbeatResponse", from: "n2", to: "n1", term: 1, context: hb!.context });
    expect(drain(r).readStates).toEqual([{ index: 1, requestCtx: "early" }]);
  });

  it("a follower forwards the request and learns the read index from the leader", () => {
    const pump = bootstrapCluster(THREE, "n1");
    pump.node("n1").propose(bytes("x"));
    pump.settle();
    expect(pump.node("n2").readIndex("f-1").ok).toBe(true);
    pump.settle();
    const states = pump.readStates.get("n2")!;
    expect(states).toEqual([{ index: pump.node("n1").status().commit, requestCtx: "f-1" }]);
  });

  it("a node that knows no leader refuses, naming the reason", () => {
    const r = newRaft("n2", THREE);
    expect(r.readIndex("x")).toMatchObject({ ok: false, error: { code: "unavailable" } });
    expect(r.readIndex("")).toMatchObject({ ok: false, error: { code: "invalidArgument" } });
  });

  it("a leader cut off from its majority never confirms a read", () => {
    const pump = bootstrapCluster(THREE, "n1");
    pump.isolate("n1");
    pump.node("n1").readIndex("lost");
    pump.tickAll(5);
    expect(pump.readStates.get("n1")).toEqual([]);
  });
});

describe("lease-based reads (§6.4.1)", () => {
  it("the leader answers at once from its lease, without a heartbeat round", () => {
    // newRaft turns CheckQuorum off; a lease requires it, so the config is refused.
    expect(() => newRaft("n1", THREE, { readOnlyOption: "leaseBased" })).toThrow(/checkQuorum/);
    const pump = bootstrapCluster(THREE, "n1", { readOnlyOption: "leaseBased", checkQuorum: true });
    // One acknowledged heartbeat round starts the lease.
    pump.tickAll(1);
    pump.node("n1").readIndex("lease-1");
    const d = drain(pump.node("n1"));
    expect(d.readStates).toEqual([{ index: pump.node("n1").status().commit, requestCtx: "lease-1" }]);
    expect(d.messages.filter((m) => m.type === "heartbeat")).toHaveLength(0);
  });

  it("a new leader has no lease until a majority answered its heartbeats, and falls back to ReadIndex", () => {
    const pump = bootstrapCluster(THREE, "n1", { readOnlyOption: "leaseBased", checkQuorum: true });
    pump.node("n1").readIndex("early");
    const d = drain(pump.node("n1"));
    expect(d.readStates).toEqual([]);
    pump.settle(d.messages);
    expect(pump.readStates.get("n1")).toEqual([{ index: pump.node("n1").status().commit, requestCtx: "early" }]);
  });

  it("a leader cut off from its followers stops serving lease reads before they could elect another", () => {
    const pump = bootstrapCluster(THREE, "n1", { readOnlyOption: "leaseBased", checkQuorum: true, electionTick: 10 });
    pump.tickAll(1);
    pump.isolate("n1");
    const leader = pump.node("n1");
    // The last answered heartbeat was sent at leader tick 1. Followers refuse
    // votes for 10 of their ticks after it arrived; the lease ends one tick earlier.
    for (let t = 0; t < 8; t++) leader.tick();
    drain(leader);
    leader.readIndex("still-leased");
    expect(drain(leader).readStates.map((r) => r.requestCtx)).toEqual(["still-leased"]);
    leader.tick();
    drain(leader);
    expect(leader.role).toBe("leader");
    leader.readIndex("expired");
    expect(drain(leader).readStates).toEqual([]);
  });

  it("ticks the caller missed (a paused process) age the lease: a leader paused past it takes a heartbeat round", () => {
    const pump = bootstrapCluster(THREE, "n1", { readOnlyOption: "leaseBased", checkQuorum: true, electionTick: 10 });
    pump.tickAll(1);
    const leader = pump.node("n1");
    // A pause of a few ticks leaves some lease: reads are still served from it.
    leader.ticksMissed(3);
    leader.readIndex("short-pause");
    expect(drain(leader).readStates.map((r) => r.requestCtx)).toEqual(["short-pause"]);
    // SIGSTOP for longer than the election timeout: the followers may have elected another leader meanwhile.
    leader.ticksMissed(10);
    expect(leader.role).toBe("leader");
    leader.readIndex("after-long-pause");
    const d = drain(leader);
    expect(d.readStates).toEqual([]);
    expect(d.messages.filter((m) => m.type === "heartbeat")).toHaveLength(2);
  });

  it("a leader that sent TimeoutNow serves no more lease reads (a transfer election ignores leases)", () => {
    const pump = bootstrapCluster(THREE, "n1", { readOnlyOption: "leaseBased", checkQuorum: true });
    pump.tickAll(1);
    const leader = pump.node("n1");
    leader.transferLeadership("n2");
    const msgs = drain(leader).messages;
    expect(msgs.map((m) => m.type)).toContain("timeoutNow");
    leader.readIndex("after-transfer");
    expect(drain(leader).readStates).toEqual([]);
  });
});

describe("a cluster of one", () => {
  it("reads are served immediately", () => {
    const r = newRaft("n1", ["n1"]);
    r.campaign();
    expect(r.role).toBe("leader");
    drain(r);
    r.readIndex("solo");
    expect(drain(r).readStates).toEqual([{ index: 1, requestCtx: "solo" }]);
    expect(readMessages(r)).toEqual([]);
  });
});
