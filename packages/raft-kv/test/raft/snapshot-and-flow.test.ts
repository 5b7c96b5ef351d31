/**
 * Log compaction and InstallSnapshot (dissertation chapter 5), the flow
 * control of appends (probe / replicate / snapshot states, an in-flight
 * window, batching; dissertation §10.2), and the Ready/advance contract.
 */
import { describe, expect, it } from "vitest";
import { createPrng } from "@heck/sim";
import { RaftNode } from "../../src/core/raft/raft-node.ts";
import type { AppendMessage, InstallSnapshotMessage, Message } from "../../src/core/raft/types.ts";
import { bootstrapCluster, bytes, drain, newRaft, readMessages, text } from "./support/harness.ts";

const THREE = ["n1", "n2", "n3"];

describe("log compaction (dissertation §5.1)", () => {
  it("compact() replaces the applied prefix with a snapshot that records the membership", () => {
    const pump = bootstrapCluster(THREE, "n1");
    const leader = pump.node("n1");
    for (let i = 0; i < 10; i++) leader.propose(bytes(`v${i}`));
    pump.settle();
    const applied = leader.status().applied;
    const res = leader.compact(applied - 2, bytes("state@" + (applied - 2)));
    expect(res).toEqual({ ok: true, value: { index: applied - 2, term: leader.termAt(applied - 2), confState: { voters: THREE, learners: [] } } });
    expect(leader.status().snapshotIndex).toBe(applied - 2);
    expect(leader.status().firstIndex).toBe(applied - 1);
    expect(leader.termAt(applied - 3)).toBeUndefined();
    expect(leader.compact(applied - 2, bytes("again"))).toMatchObject({ ok: false, error: { code: "compacted" } });
    expect(leader.compact(applied + 1, bytes("future"))).toMatchObject({ ok: false, error: { code: "invalidArgument" } });
  });

  it("a snapshot taken before a membership change records the membership then, not now", () => {
    const pump = bootstrapCluster(THREE, "n1");
    const leader = pump.node("n1");
    leader.propose(bytes("a"));
    pump.settle();
    const beforeChange = leader.status().applied;
    leader.proposeConfChange({ type: "addLearner", nodeId: "n4" });
    pump.settle();
    const res = leader.compact(beforeChange, bytes("s"));
    expect(res.ok && res.value.confState).toEqual({ voters: THREE, learners: [] });
    const res2 = leader.compact(leader.status().applied, bytes("s2"));
    expect(res2.ok && res2.value.confState).toEqual({ voters: THREE, learners: ["n4"] });
  });
});

describe("InstallSnapshot (dissertation §5.1, Figure 5.3)", () => {
  it("a follower that fell behind the compacted prefix gets the snapshot, then the rest of the log", () => {
    const pump = bootstrapCluster(THREE, "n1");
    const leader = pump.node("n1");
    pump.drop = (m) => m.to === "n3" || m.from === "n3";
    for (let i = 0; i < 20; i++) leader.propose(bytes(`v${i}`));
    pump.settle();
    const snapIndex = leader.status().applied - 5;
    leader.compact(snapIndex, bytes("kv-state"));
    pump.heal();
    pump.tickAll(2);
    const snap = pump.delivered.find((m): m is InstallSnapshotMessage => m.type === "installSnapshot");
    expect(snap?.to).toBe("n3");
    expect(snap?.snapshot.metadata.index).toBe(snapIndex);
    const n3 = pump.node("n3");
    expect(n3.status().snapshotIndex).toBe(snapIndex);
    expect(n3.status().lastIndex).toBe(leader.status().lastIndex);
    expect(n3.status().applied).toBe(leader.status().commit);
    // Only the entries after the snapshot were applied one by one.
    expect(pump.appliedText("n3")).toEqual(["v15", "v16", "v17", "v18", "v19"]);
    expect(leader.status().progress!.n3!.state).toBe("replicate");
  });

  it("the follower's Ready carries the snapshot to persist, and restart() rebuilds from it", () => {
    const f = newRaft("n2", THREE, { logTerms: [1, 1], term: 2 });
    drain(f);
    const snapshot = { metadata: { index: 10, term: 2, confState: { voters: THREE, learners: [] } }, data: bytes("sm@10") };
    f.step({ type: "installSnapshot", from: "n1", to: "n2", term: 2, snapshot });
    const rd = f.ready();
    expect(rd.snapshot).toEqual(snapshot);
    expect(rd.mustSync).toBe(true);
    expect(rd.hardState?.commit).toBe(10);
    expect(rd.messages).toEqual([{ type: "appendResponse", from: "n2", to: "n1", term: 2, reject: false, index: 10, rejectHint: 0, logTerm: 0 }]);
    f.advance();
    expect(f.status().applied).toBe(10);
    const again = RaftNode.restart({ id: "n2", prng: createPrng(2) }, { hardState: { term: 2, vote: null, commit: 10 }, snapshot, entries: [] });
    expect(again.status()).toMatchObject({ snapshotIndex: 10, lastIndex: 10, commit: 10, applied: 10, confState: { voters: THREE } });
  });

  it("a snapshot the follower already covers is answered without replacing its log (rule 6)", () => {
    const f = newRaft("n2", THREE, { logTerms: [1, 1, 1, 1], term: 1, commit: 1 });
    drain(f);
    const snapshot = { metadata: { index: 3, term: 1, confState: { voters: THREE, learners: [] } }, data: bytes("s") };
    f.step({ type: "installSnapshot", from: "n1", to: "n2", term: 1, snapshot });
    const d = drain(f);
    expect(d.snapshot).toBeNull();
    expect(f.status().lastIndex).toBe(4);
    expect(f.status().commit).toBe(3);
  });

  it("a lost snapshot is sent again after about an election timeout of heartbeats", () => {
    const pump = bootstrapCluster(THREE, "n1", { electionTick: 10 });
    const leader = pump.node("n1");
    pump.drop = (m) => m.to === "n3" || m.from === "n3";
    for (let i = 0; i < 5; i++) leader.propose(bytes(`v${i}`));
    pump.settle();
    leader.compact(leader.status().applied, bytes("s"));
    // Snapshots to n3 vanish; everything else flows.
    pump.drop = (m) => m.type === "installSnapshot";
    pump.tickAll(3);
    expect(leader.status().progress!.n3!.state).toBe("snapshot");
    pump.tickAll(12);
    const sent = pump.delivered.length;
    expect(sent).toBeGreaterThan(0);
    pump.heal();
    pump.tickAll(15);
    expect(pump.node("n3").status().snapshotIndex).toBe(leader.status().snapshotIndex);
    expect(leader.status().progress!.n3!.state).toBe("replicate");
  });
});

describe("flow control (probe / replicate / snapshot, dissertation §10.2.1 pipelining)", () => {
  function replicatingLeader(maxInflightMsgs: number, maxSizePerMsg = 1024 * 1024) {
    const r = newRaft("n1", ["n1", "n2"], { maxInflightMsgs, maxSizePerMsg });
    r.campaign();
    r.step({ type: "voteResponse", from: "n2", to: "n1", term: 1, granted: true });
    drain(r);
    r.step({ type: "appendResponse", from: "n2", to: "n1", term: 1, reject: false, index: 1, rejectHint: 0, logTerm: 0 });
    drain(r);
    expect(r.status().progress!.n2!.state).toBe("replicate");
    return r;
  }

  it("a follower in probe state gets one append at a time", () => {
    const r = newRaft("n1", ["n1", "n2"]);
    r.campaign();
    r.step({ type: "voteResponse", from: "n2", to: "n1", term: 1, granted: true });
    expect(readMessages(r).filter((m) => m.type === "append")).toHaveLength(1);
    r.propose(bytes("a"));
    r.propose(bytes("b"));
    expect(readMessages(r).filter((m) => m.type === "append")).toHaveLength(0);
    expect(r.status().progress!.n2!.state).toBe("probe");
    // A heartbeat answer unpauses the probe (the first append may have been lost).
    r.step({ type: "heartbeatResponse", from: "n2", to: "n1", term: 1, context: null });
    expect(readMessages(r).filter((m) => m.type === "append")).toHaveLength(1);
  });

  it("in replicate state appends are pipelined up to maxInflightMsgs, then pause until acknowledged", () => {
    const r = replicatingLeader(3);
    for (let i = 0; i < 5; i++) {
      r.propose(bytes(`v${i}`));
      drain(r); // one Ready per proposal: one append each
    }
    expect(r.status().progress!.n2!.inflight).toBe(3);
    r.step({ type: "appendResponse", from: "n2", to: "n1", term: 1, reject: false, index: 3, rejectHint: 0, logTerm: 0 });
    const apps = readMessages(r).filter((m): m is AppendMessage => m.type === "append");
    // Two slots freed: the two remaining entries go out in one batch.
    expect(apps.map((m) => m.entries.map((e) => e.index))).toEqual([[5, 6]]);
  });

  it("proposals made between two Ready batches go out as one append per follower", () => {
    const r = replicatingLeader(256);
    for (let i = 0; i < 50; i++) r.propose(bytes(`v${i}`));
    const apps = readMessages(r).filter((m): m is AppendMessage => m.type === "append");
    expect(apps).toHaveLength(1);
    expect(apps[0]!.entries).toHaveLength(50);
  });

  it("maxSizePerMsg splits a large backlog into several appends", () => {
    const r = replicatingLeader(256, 100);
    for (let i = 0; i < 10; i++) r.propose(new Uint8Array(40));
    const apps = readMessages(r).filter((m): m is AppendMessage => m.type === "append");
    // 40-byte entries, 100-byte budget: two per message.
    expect(apps.map((m) => m.entries.length)).toEqual([2, 2, 2, 2, 2]);
  });

  it("a rejection in replicate state falls back to probing from the last known match", () => {
    const r = replicatingLeader(256);
    r.propose(bytes("a"));
    drain(r);
    r.propose(bytes("b"));
    drain(r);
    // The append carrying index 2 was lost, so the one after it (prev 2) is rejected.
    r.step({ type: "appendResponse", from: "n2", to: "n1", term: 1, reject: true, index: 2, rejectHint: 1, logTerm: 1 });
    const pr = r.status().progress!.n2!;
    expect(pr.state).toBe("probe");
    expect(pr.next).toBe(2);
  });

  it("a window of lost appends does not stall the follower forever: a heartbeat answer lets one through", () => {
    const r = replicatingLeader(2);
    for (let i = 0; i < 4; i++) {
      r.propose(bytes(`v${i}`));
      drain(r);
    }
    // Both in-flight appends were lost (the follower crashed and came back).
    expect(r.status().progress!.n2!.inflight).toBe(2);
    r.step({ type: "heartbeatResponse", from: "n2", to: "n1", term: 1, context: null });
    const apps = readMessages(r).filter((m): m is AppendMessage => m.type === "append");
    expect(apps).toHaveLength(1);
    // The follower has only index 1, so it rejects; the leader probes from its match.
    r.step({ type: "appendResponse", from: "n2", to: "n1", term: 1, reject: true, index: apps[0]!.prevLogIndex, rejectHint: 1, logTerm: 1 });
    expect(r.status().progress!.n2!).toMatchObject({ state: "probe", next: 2 });
    const retry = readMessages(r).filter((m): m is AppendMessage => m.type === "append");
    expect(retry.map((m) => [m.prevLogIndex, m.entries.length])).toEqual([[1, 4]]);
  });

  it("reportUnreachable turns pipelining back into probing", () => {
    const r = replicatingLeader(256);
    r.reportUnreachable("n2");
    expect(r.status().progress!.n2!.state).toBe("probe");
  });

  it("refuses proposals beyond maxUncommittedEntriesSize (back-pressure)", () => {
    const r = replicatingLeader(256);
    const small = newRaft("n1", ["n1", "n2"], { maxUncommittedEntriesSize: 100 });
    small.campaign();
    small.step({ type: "voteResponse", from: "n2", to: "n1", term: 1, granted: true });
    expect(small.propose(new Uint8Array(60)).ok).toBe(true);
    expect(small.propose(new Uint8Array(60))).toMatchObject({ ok: false, error: { code: "tooManyUncommitted" } });
    expect(r.propose(new Uint8Array(60)).ok).toBe(true);
  });
});

describe("the Ready / advance contract", () => {
  it("fields come in the documented order and a vote is persisted before the message that grants it", () => {
    const r = newRaft("n2", THREE, { term: 1 });
    drain(r);
    r.step({ type: "requestVote", from: "n1", to: "n2", term: 2, lastLogIndex: 0, lastLogTerm: 0, transfer: false });
    const rd = r.ready();
    expect(Object.keys(rd)).toEqual(["hardState", "records", "snapshot", "mustSync", "messages", "committedEntries", "readStates", "softState", "confState"]);
    expect(rd.hardState).toEqual({ term: 2, vote: "n1", commit: 0 });
    expect(rd.mustSync).toBe(true);
    expect(rd.messages).toEqual([{ type: "voteResponse", from: "n2", to: "n1", term: 2, granted: true }]);
    r.advance();
    expect(r.hasReady()).toBe(false);
  });

  it("a commit-only change does not require fsync", () => {
    const r = newRaft("n2", THREE, { logTerms: [1, 1], term: 1 });
    drain(r);
    r.step({ type: "heartbeat", from: "n1", to: "n2", term: 1, commit: 2, context: null });
    const rd = r.ready();
    expect(rd.hardState).toEqual({ term: 1, vote: null, commit: 2 });
    expect(rd.mustSync).toBe(false);
    expect(rd.committedEntries.map((e) => text(e.data))).toEqual(["e1", "e2"]);
    r.advance();
  });

  it("steps between ready() and advance() land in the next Ready, and truncation after ready() is not marked stable", () => {
    const r = newRaft("n2", THREE, { term: 1 });
    drain(r);
    r.step({ type: "append", from: "n1", to: "n2", term: 1, prevLogIndex: 0, prevLogTerm: 0, entries: [{ index: 1, term: 1, type: "normal", data: bytes("a") }, { index: 2, term: 1, type: "normal", data: bytes("b") }], commit: 0 });
    const rd1 = r.ready();
    expect(rd1.records.map((e) => e.index)).toEqual([1, 2]);
    // While the driver persists rd1, a new leader overwrites index 2.
    r.step({ type: "append", from: "n3", to: "n2", term: 2, prevLogIndex: 1, prevLogTerm: 1, entries: [{ index: 2, term: 2, type: "normal", data: bytes("c") }], commit: 0 });
    expect(() => r.ready()).toThrow(/advance/);
    r.advance();
    const rd2 = r.ready();
    expect(rd2.records.map((e) => [e.index, e.term])).toEqual([[2, 2]]);
    expect(rd2.hardState?.term).toBe(2);
    r.advance();
    expect(r.hasReady()).toBe(false);
  });

  it("restart() re-delivers committed entries after `applied` and resumes the term and vote", () => {
    const entries = [1, 1, 2].map((term, i) => ({ index: i + 1, term, type: "normal" as const, data: bytes(`e${i + 1}`) }));
    const snapshot = { metadata: { index: 0, term: 0, confState: { voters: THREE, learners: [] } }, data: new Uint8Array(0) };
    const r = RaftNode.restart({ id: "n1", prng: createPrng(1), applied: 1 }, { hardState: { term: 3, vote: "n2", commit: 3 }, snapshot, entries });
    expect(r.term).toBe(3);
    const rd = r.ready();
    expect(rd.hardState).toBeNull();
    expect(rd.records).toEqual([]);
    expect(rd.committedEntries.map((e) => e.index)).toEqual([2, 3]);
    r.advance();
  });

  it("restart() refuses inconsistent persisted state with a message naming the field", () => {
    const entries = [{ index: 2, term: 1, type: "normal" as const, data: bytes("x") }];
    expect(() => RaftNode.restart({ id: "n1", prng: createPrng(1) }, { hardState: { term: 1, vote: null, commit: 0 }, snapshot: null, entries })).toThrow(/entries\[0\]\.index/);
    expect(() =>
      RaftNode.restart({ id: "n1", prng: createPrng(1) }, { hardState: { term: 1, vote: null, commit: 5 }, snapshot: null, entries: [] }),
    ).toThrow(/commit/);
    expect(() => RaftNode.restart({ id: "n1", prng: createPrng(1), heartbeatTick: 10, electionTick: 10 }, { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] })).toThrow(
      /heartbeatTick/,
    );
  });

  it("step() ignores misaddressed messages", () => {
    const r = newRaft("n2", THREE);
    const m: Message = { type: "heartbeat", from: "n1", to: "n3", term: 5, commit: 0, context: null };
    r.step(m);
    expect(r.term).toBe(0);
  });
});

describe('telling followers about commits (commitBroadcast: "lazy")', () => {
  const appendsToFollowers = (msgs: Message[]) => msgs.filter((m): m is AppendMessage => m.type === "append");

  it("immediate (the default, as etcd): an entry that commits is announced at once with empty appends", () => {
    const pump = bootstrapCluster(THREE, "n1");
    pump.node("n1").propose(bytes("a"));
    pump.settle();
    const commit = pump.node("n1").status().commit;
    expect(pump.node("n2").status().commit).toBe(commit);
    expect(pump.node("n3").status().commit).toBe(commit);
  });

  it("lazy: no empty appends when an entry commits; the next append, a heartbeat or broadcastCommit() carries the commit", () => {
    const pump = bootstrapCluster(THREE, "n1", { commitBroadcast: "lazy" });
    const leader = pump.node("n1");
    const before = pump.delivered.length;
    leader.propose(bytes("a"));
    pump.settle();
    const commit = leader.status().commit;
    expect(pump.appliedText("n1")).toEqual(["a"]);
    // One append and one acknowledgement per follower, nothing else: the followers do not know yet.
    expect(pump.delivered.slice(before).map((m) => m.type).sort()).toEqual(["append", "append", "appendResponse", "appendResponse"]);
    expect(pump.node("n2").status().commit).toBeLessThan(commit);
    // The next write's append carries it.
    leader.propose(bytes("b"));
    const appends = appendsToFollowers(readMessages(leader));
    expect(appends).toHaveLength(2);
    for (const m of appends) expect(m.commit).toBe(commit);
    pump.settle(appends);
    expect(pump.node("n2").status().commit).toBe(commit);
    // With nothing more to send, broadcastCommit() announces the second commit; a second call sends nothing.
    leader.broadcastCommit();
    const announce = appendsToFollowers(readMessages(leader));
    expect(announce.map((m) => [m.to, m.entries.length, m.commit])).toEqual([
      ["n2", 0, commit + 1],
      ["n3", 0, commit + 1],
    ]);
    pump.settle(announce);
    expect(pump.appliedText("n3")).toEqual(["a", "b"]);
    leader.broadcastCommit();
    expect(readMessages(leader)).toEqual([]);
  });

  it("lazy: heartbeats carry the commit index, so a follower learns it within a heartbeat anyway", () => {
    const pump = bootstrapCluster(THREE, "n1", { commitBroadcast: "lazy" });
    pump.node("n1").propose(bytes("a"));
    pump.settle();
    expect(pump.appliedText("n2")).toEqual([]);
    pump.tickAll(1);
    expect(pump.appliedText("n2")).toEqual(["a"]);
    expect(pump.appliedText("n3")).toEqual(["a"]);
  });

  it("broadcastCommit() is a no-op on a follower", () => {
    const pump = bootstrapCluster(THREE, "n1", { commitBroadcast: "lazy" });
    pump.node("n2").broadcastCommit();
    expect(readMessages(pump.node("n2"))).toEqual([]);
  });

  it("refuses an unknown commitBroadcast value", () => {
    expect(() => newRaft("n1", THREE, { commitBroadcast: "sometimes" as "lazy" })).toThrow(/commitBroadcast/);
  });
});
