/**
 * The replica layer as a whole: three replicas wired by hand (test/replica/
 * support.ts), each running the same Ready loop the simulations run, with
 * time moved by the test.
 */
import { describe, expect, it } from "vitest";
import { createPrng } from "@heck/sim";
import { DEFAULT_KV_STORE_CONFIG } from "../../src/core/kv/index.ts";
import { Replica, type Envelope, type ServerError } from "../../src/core/replica/index.ts";
import { ReplicaCluster, TEST_TIMING } from "./support.ts";

describe("proposals and forwarding", () => {
  it("a write on a follower is forwarded to the leader and answered once the follower has applied it", () => {
    const c = new ReplicaCluster(["n1", "n2", "n3"]);
    c.elect("n1");
    const w = c.put("n2", "k", "v");
    expect(w.outcome).toMatchObject({ ok: true, result: { ok: true } });
    expect(c.value("n2", "k")).toBe("v");
  });

  it("a forwarded write is announced at once even when the leader delays commit news, so its client does not wait", () => {
    const c = new ReplicaCluster(["n1", "n2", "n3"], { commitBroadcastDelayMs: 500 });
    c.elect("n1");
    // A write on the leader: followers hear of its commit only later (or with the next append).
    expect(c.put("n1", "a", "1").outcome?.ok).toBe(true);
    expect(c.value("n3", "a")).toBeUndefined();
    // A write forwarded by n2: n2's client waits for n2 to apply it, so the leader tells the followers at once.
    expect(c.put("n2", "b", "2").outcome?.ok).toBe(true);
    expect(c.value("n3", "b")).toBe("2");
    // The delayed news goes out when its deadline comes.
    c.put("n1", "c", "3");
    expect(c.value("n3", "c")).toBeUndefined();
    c.advance(500);
    expect(c.value("n3", "c")).toBe("3");
  });

  it("a proposal made while no leader is known waits for one, then is sent to it", () => {
    const c = new ReplicaCluster(["n1", "n2", "n3"]);
    const w = c.put("n2", "k", "v");
    expect(w.outcome).toBeUndefined();
    c.elect("n1");
    expect(w.outcome?.ok).toBe(true);
    expect(c.value("n2", "k")).toBe("v");
  });

  it("a proposal overwritten by a new leader fails with proposal_dropped (§5.3), which is safe to retry", () => {
    const c = new ReplicaCluster(["n1", "n2", "n3"]);
    c.elect("n1");
    c.drop = (from, to) => from === "n1" || to === "n1";
    const lost = c.put("n1", "k", "lost");
    expect(lost.outcome).toBeUndefined();
    // n2 and n3 elect one of them once n1's lease ran out (CheckQuorum, §4.2.3); n1 steps down.
    c.advance(400);
    const leader = ["n2", "n3"].find((id) => c.node(id).role === "leader")!;
    expect(leader).toBeDefined();
    expect(c.put(leader, "k", "kept").outcome?.ok).toBe(true);
    c.drop = () => false;
    c.advance(100);
    expect(lost.outcome).toMatchObject({ ok: false, error: { code: "proposal_dropped" } });
    expect(c.value("n1", "k")).toBe("kept");
  });

  it("a request that is not applied in time fails: timeout when a leader is known, no_leader when none is", () => {
    const c = new ReplicaCluster(["n1", "n2", "n3"]);
    c.elect("n1");
    c.drop = (from, to) => to === "n1" || from === "n1";
    const w = c.put("n2", "k", "v");
    c.advance(TEST_TIMING.requestTimeoutMs);
    expect((w.outcome as { error: ServerError }).error.code).toMatch(/^(timeout|no_leader)$/);
    expect(c.node("n2").pending.proposals).toBe(0);
    // Nobody can win an election now: a new request ends with no_leader.
    c.drop = () => true;
    c.advance(1_000);
    expect(c.node("n2").leader).toBeNull();
    const orphan = c.put("n2", "k", "v");
    c.advance(TEST_TIMING.requestTimeoutMs);
    expect(orphan.outcome).toMatchObject({ ok: false, error: { code: "no_leader" } });
  });
});

describe("the read barrier (ReadIndex, §6.4)", () => {
  it("a linearizable read on a lagging follower waits until it has applied what the leader had committed", () => {
    const c = new ReplicaCluster(["n1", "n2", "n3"], { commitBroadcastDelayMs: 10_000 });
    c.elect("n1");
    expect(c.put("n1", "k", "new").outcome?.ok).toBe(true);
    expect(c.value("n3", "k")).toBeUndefined();
    let seen: string | undefined = "not yet";
    c.node("n3").readBarrier(c.nowMs, (error) => {
      expect(error).toBeUndefined();
      seen = c.value("n3", "k");
    });
    c.settle();
    expect(seen).toBe("new");
  });

  it("reads arriving together share one request; reads arriving while it is in flight share the next", () => {
    const c = new ReplicaCluster(["n1", "n2", "n3"]);
    c.elect("n1");
    let requests = 0;
    c.drop = (from, _to, env) => {
      if (from === "n2" && env.kind === "raft" && env.message.type === "readIndex") requests++;
      return false;
    };
    let released = 0;
    for (let i = 0; i < 5; i++) c.node("n2").readBarrier(c.nowMs, () => released++);
    c.settle();
    expect(released).toBe(5);
    expect(requests).toBe(2);
  });

  it("a read whose request was lost is asked again after the retry delay, or at once of a new leader", () => {
    const c = new ReplicaCluster(["n1", "n2", "n3"]);
    c.elect("n1");
    let dropReads = true;
    c.drop = (_from, _to, env) => dropReads && env.kind === "raft" && env.message.type === "readIndex";
    let done = false;
    c.node("n2").readBarrier(c.nowMs, () => (done = true));
    c.settle();
    expect(done).toBe(false);
    dropReads = false;
    c.advance(TEST_TIMING.readRetryMs);
    expect(done).toBe(true);
  });

  it("fails reads with timeout after the request timeout when they cannot be served", () => {
    const c = new ReplicaCluster(["n1", "n2", "n3"]);
    c.elect("n1");
    c.drop = () => true;
    let error: ServerError | undefined;
    c.node("n2").readBarrier(c.nowMs, (e) => (error = e));
    c.advance(TEST_TIMING.requestTimeoutMs);
    expect(error?.code).toMatch(/^(timeout|no_leader)$/);
    expect(c.node("n2").pending.reads).toBe(0);
  });
});

describe("lease reads under a paused leader (§6.4.1)", () => {
  it("a leader stopped past its lease, asked to read the moment it resumes, does not answer from the old lease", () => {
    const c = new ReplicaCluster(["n1", "n2", "n3"], {}, { readOnlyOption: "leaseBased", checkQuorum: true, preVote: true });
    c.elect("n1");
    c.advance(30);
    expect(c.put("n1", "k", "old").outcome?.ok).toBe(true);
    // The lease is live: a read is served from it, with no heartbeat round.
    let served: string | undefined;
    c.node("n1").readBarrier(c.nowMs, () => (served = c.value("n1", "k")));
    c.settle();
    expect(served).toBe("old");
    // SIGSTOP n1 for 10 election timeouts: the others elect a new leader and accept a write.
    c.pause("n1");
    c.advance(1_000);
    const leader = ["n2", "n3"].find((id) => c.node(id).role === "leader")!;
    expect(leader).toBeDefined();
    expect(c.put(leader, "k", "new").outcome?.ok).toBe(true);
    // SIGCONT: the first thing n1 does is a client read, before any tick or message from the new leader.
    c.resume("n1");
    let outcome: { error?: string; value?: string } | undefined;
    c.node("n1").readBarrier(c.nowMs, (error) => (outcome = error ? { error: error.code } : { value: c.value("n1", "k") }));
    c.settle();
    c.advance(200);
    // Either refused or read after catching up: never the value from before the pause.
    expect(outcome).toBeDefined();
    expect(outcome!.value).not.toBe("old");
    expect(c.node("n1").ticksMissed).toBeGreaterThanOrEqual(99);
  });
});

describe("membership administration (§4.2.1, §3.10)", () => {
  it("adds a member as a learner, promotes it once it has caught up, and removing the leader itself hands leadership over", () => {
    const c = new ReplicaCluster(["n1", "n2", "n3"]);
    c.elect("n1");
    for (let i = 0; i < 20; i++) c.put("n1", `k${i}`, `${i}`);
    // n4 starts empty and waits to be added.
    c.addJoiner("n4");
    let added: ServerError | undefined | "pending" = "pending";
    c.node("n1").addMember("n4", "127.0.0.1:1", false, c.nowMs, (e) => (added = e));
    c.settle();
    c.advance(200);
    expect(added).toBeUndefined();
    expect(c.node("n1").confState).toEqual({ voters: ["n1", "n2", "n3", "n4"], learners: [] });
    expect(c.value("n4", "k19")).toBe("19");

    let removed: ServerError | undefined | "pending" = "pending";
    c.node("n1").removeMember("n1", c.nowMs, (e) => (removed = e));
    c.advance(100);
    expect(removed).toMatchObject({ code: "not_leader" });
    expect(c.node("n1").role).not.toBe("leader");
    expect(["n2", "n3", "n4"]).toContain(c.node("n1").leader);
  });

  it("refuses bad input and unknown members with a clear error", () => {
    const c = new ReplicaCluster(["n1", "n2", "n3"]);
    c.elect("n1");
    const errors: Array<ServerError | undefined> = [];
    c.node("n1").addMember("bad id", "127.0.0.1:1", false, c.nowMs, (e) => errors.push(e));
    c.node("n1").addMember("n5", "no-port", false, c.nowMs, (e) => errors.push(e));
    c.node("n1").addMember("n2", "127.0.0.1:1", false, c.nowMs, (e) => errors.push(e));
    c.node("n1").removeMember("n9", c.nowMs, (e) => errors.push(e));
    expect(errors.map((e) => e?.code)).toEqual(["invalid_argument", "invalid_argument", "member_exists", "unknown_member"]);
  });
});

describe("close", () => {
  it("fails every waiting request and cancels every watch with 'stopped'", () => {
    const c = new ReplicaCluster(["n1", "n2", "n3"]);
    const w = c.put("n2", "k", "v");
    let read: ServerError | undefined;
    c.node("n2").readBarrier(c.nowMs, (e) => (read = e));
    let cancelled = "";
    c.node("n2").watch({ key: new Uint8Array([1]) }, { onEvents: () => {}, onCancel: (reason) => (cancelled = reason) });
    c.node("n2").close();
    expect(w.outcome).toMatchObject({ ok: false, error: { code: "stopped" } });
    expect(read?.code).toBe("stopped");
    expect(cancelled).toBe("node stopped");
  });
});

/** A single founder, elected, driven by hand (ready, then advance: in memory there is nothing to persist). */
function lone(options: { snapshotEntries: number; snapshotBytes?: number } = { snapshotEntries: 0 }): Replica {
  const r = new Replica({
    raft: { id: "n1", prng: createPrng(1).fork("n1"), electionTick: 10, heartbeatTick: 1 },
    start: { bootstrap: ["n1"] },
    kvConfig: DEFAULT_KV_STORE_CONFIG,
    incarnation: "t",
    timing: TEST_TIMING,
    ...options,
    nowMs: 0,
    hooks: { send: () => {} },
  });
  for (let t = 1; t < 50 && r.role !== "leader"; t++) {
    r.tick(t * TEST_TIMING.tickMs);
    drain(r);
  }
  expect(r.role).toBe("leader");
  return r;
}

function drain(r: Replica): void {
  while (r.hasReady()) r.advance(r.ready(), 0);
}

describe("snapshots", () => {
  /** A single founder that applies `puts` puts of `valueBytes` bytes and reports the index of each snapshot it takes. */
  function snapshotsTaken(options: { snapshotEntries: number; snapshotBytes?: number }, puts: number, valueBytes: number): number[] {
    const r = lone(options);
    const taken: number[] = [];
    for (let i = 0; i < puts; i++) {
      r.propose({ type: "write", requestId: r.nextRequestId(), op: { type: "put", key: new TextEncoder().encode(`k${i}`), value: new Uint8Array(valueBytes) }, timeMs: 0 }, false, 0, () => {});
      drain(r);
      const snap = r.compactIfDue();
      if (snap) taken.push(snap.metadata.index);
    }
    return taken;
  }

  it("come every snapshotEntries entries, or sooner once the entries since the last one hold snapshotBytes", () => {
    expect(snapshotsTaken({ snapshotEntries: 20 }, 50, 1000).length).toBe(2);
    const byBytes = snapshotsTaken({ snapshotEntries: 20, snapshotBytes: 5000 }, 50, 1000);
    // Each put's command holds its 1,000-byte value and a little more: a snapshot every 5 puts.
    expect(byBytes.length).toBeGreaterThanOrEqual(9);
    expect(byBytes.every((index, i) => i === 0 || index - byBytes[i - 1]! <= 5)).toBe(true);
    // Small entries: the count decides.
    expect(snapshotsTaken({ snapshotEntries: 20, snapshotBytes: 1_000_000 }, 50, 10).length).toBe(2);
    expect(snapshotsTaken({ snapshotEntries: 0, snapshotBytes: 5000 }, 50, 1000)).toEqual([]);
  });
});

describe("applying while the fsync runs", () => {
  const put = (r: Replica, key: number, done: () => void) => r.propose({ type: "write", requestId: r.nextRequestId(), op: { type: "put", key: new Uint8Array([key]), value: new Uint8Array([1]) }, timeMs: 0 }, false, 0, done);

  it("applies only committed entries an earlier Ready made durable, never one the Ready itself still has to write", () => {
    const r = lone();
    let acked = false;
    put(r, 1, () => (acked = true));
    // Alone, the leader commits its entry in the same Ready that writes it: nothing may be applied before that write.
    const rd = r.ready();
    expect(rd.committedEntries.some((e) => rd.records.some((n) => n.index === e.index))).toBe(true);
    r.applyDurableCommitted(rd, 0);
    expect(acked).toBe(false);
    r.advance(rd, 0);
    expect(acked).toBe(true);
  });

  it("lets a leader answer a write once a follower acknowledged it, before its next fsync, and applies it once", () => {
    const ids = ["n1", "n2", "n3"];
    const queue: Array<{ to: string; envelope: Envelope }> = [];
    const nodes = new Map(
      ids.map((id) => [
        id,
        new Replica({ raft: { id, prng: createPrng(1).fork(id), electionTick: 10, heartbeatTick: 1 }, start: { bootstrap: ids }, kvConfig: DEFAULT_KV_STORE_CONFIG, incarnation: "t", timing: TEST_TIMING, snapshotEntries: 0, nowMs: 0, hooks: { send: (to, envelope) => queue.push({ to, envelope }) } }),
      ]),
    );
    // Every member but `held` runs its Readies; envelopes are delivered until none are left.
    const settle = (held?: string) => {
      for (let step = 0; step < 10_000; step++) {
        for (const [id, r] of nodes) {
          if (id === held) continue;
          while (r.hasReady()) {
            const rd = r.ready();
            for (const m of rd.messages) queue.push({ to: m.to, envelope: { kind: "raft", message: m } });
            r.advance(rd, 0);
          }
        }
        const next = queue.shift();
        if (!next) return;
        nodes.get(next.to)!.receive(next.envelope, 0);
      }
    };
    const leader = nodes.get("n1")!;
    settle(); // the founders apply their initial configuration first
    leader.raft.campaign();
    settle();
    expect(leader.role).toBe("leader");
    let acks = 0;
    put(leader, 1, () => acks++);
    const first = leader.ready();
    for (const m of first.messages) queue.push({ to: m.to, envelope: { kind: "raft", message: m } });
    leader.advance(first, 0);
    // The followers write and acknowledge; the leader has not taken its next Ready yet.
    settle("n1");
    put(leader, 2, () => acks++);
    const second = leader.ready();
    expect(second.records.map((e) => e.index)).not.toContain(first.records[0]!.index);
    leader.applyDurableCommitted(second, 0);
    expect(acks).toBe(1);
    leader.advance(second, 0);
    expect(acks).toBe(1);
    expect(leader.kv.revision).toBe(2);
  });
});
