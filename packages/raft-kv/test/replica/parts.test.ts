/**
 * The replica's parts on their own: the in-memory disk, the watch hub, and
 * the waiters' choices that a whole cluster rarely shows (refusals, lost
 * forwards, fail-fast clients).
 */
import { describe, expect, it } from "vitest";
import type { Entry, ProposalPosition, RaftResult } from "../../src/core/raft/index.ts";
import { KvStore, encodeCommand, fromUtf8, utf8, type KvEvent } from "../../src/core/kv/index.ts";
import { MemoryStorage, Proposals, WatchHub, type Envelope, type ProposalOutcome } from "../../src/core/replica/index.ts";

const entry = (index: number, term: number): Entry => ({ index, term, type: "normal", data: new Uint8Array([index]) });

describe("MemoryStorage", () => {
  it("new entries replace the suffix they conflict with, a snapshot replaces the log, compaction drops what it covers", () => {
    const s = new MemoryStorage();
    s.save({ hardState: { term: 1, vote: "n1", commit: 0 }, records: [entry(1, 1), entry(2, 1), entry(3, 1)], snapshot: null });
    // A new leader of term 2 overwrites from index 2 (§5.3).
    s.save({ hardState: { term: 2, vote: null, commit: 2 }, records: [entry(2, 2)], snapshot: null });
    expect(s.entries.map((e) => [e.index, e.term])).toEqual([[1, 1], [2, 2]]);
    expect(s.hardState).toEqual({ term: 2, vote: null, commit: 2 });
    s.compact({ metadata: { index: 1, term: 1, confState: { voters: ["n1"], learners: [] } }, data: new Uint8Array() });
    expect(s.entries.map((e) => e.index)).toEqual([2]);
    expect([s.termAt(0), s.termAt(1), s.termAt(2), s.termAt(3)]).toEqual([undefined, 1, 2, undefined]);
    s.save({ hardState: null, records: [], snapshot: { metadata: { index: 10, term: 3, confState: { voters: ["n1"], learners: [] } }, data: new Uint8Array() } });
    expect(s.entries).toEqual([]);
    expect(s.snapshotIndex()).toBe(10);
    s.save({ hardState: null, records: [entry(11, 3)], snapshot: null });
    // A restart gets a copy: the two incarnations never share an array.
    const copy = new MemoryStorage(s.persisted());
    copy.save({ hardState: null, records: [entry(12, 3)], snapshot: null });
    expect(s.entries.map((e) => e.index)).toEqual([11]);
    expect(copy.entries.map((e) => e.index)).toEqual([11, 12]);
  });
});

describe("WatchHub", () => {
  const put = (s: KvStore, index: number, key: string, value: string) =>
    s.apply(index, { type: "write", requestId: `r${index}`, op: { type: "put", key: utf8(key), value: utf8(value) } });

  it("replays from a past revision, then delivers live events in its range, each revision once", () => {
    const store = new KvStore();
    put(store, 1, "a/1", "x");
    put(store, 2, "b/1", "y");
    const hub = new WatchHub();
    const seen: string[] = [];
    const { start } = hub.watch(store, { key: utf8("a/"), rangeEnd: utf8("a0"), startRevision: 1 }, { onEvents: (ev) => seen.push(...ev.map(show)), onCancel: () => {} });
    expect(start).toMatchObject({ kind: "replay", revision: store.revision });
    if (start.kind === "replay") seen.push(...start.events.map(show));
    const r = put(store, 3, "a/2", "z");
    if (r.ok && "events" in r) {
      hub.notify(r.events, r.revision);
      hub.notify(r.events, r.revision);
    }
    const outside = put(store, 4, "c", "w");
    if (outside.ok && "events" in outside) hub.notify(outside.events, outside.revision);
    expect(seen).toEqual(["put a/1=x", "put a/2=z"]);
  });

  it("refuses a start revision that was compacted, and cancels watchers whose history a snapshot dropped", () => {
    const store = new KvStore({ historyRevisions: 2, maxSessions: 10, maxCachedPerSession: 10, sessionTtlMs: 1000 });
    for (let i = 1; i <= 5; i++) put(store, i, "k", `${i}`);
    const hub = new WatchHub();
    const { start } = hub.watch(store, { key: utf8("k"), startRevision: 1 }, { onEvents: () => {}, onCancel: () => {} });
    expect(start.kind).toBe("compacted");
    expect(hub.size).toBe(0);
    let cancelled = "";
    hub.watch(store, { key: utf8("k") }, { onEvents: () => {}, onCancel: (reason) => (cancelled = reason) });
    // A snapshot from far ahead: the revisions this watcher still needs are gone.
    const ahead = new KvStore({ historyRevisions: 2, maxSessions: 10, maxCachedPerSession: 10, sessionTtlMs: 1000 });
    for (let i = 1; i <= 20; i++) put(ahead, i, "k", `${i}`);
    hub.resync(ahead);
    expect(cancelled).toMatch(/compacted by a snapshot/);
  });

  function show(e: KvEvent): string {
    return `${e.type} ${fromUtf8(e.kv.key)}=${fromUtf8(e.kv.value)}`;
  }
});

describe("Proposals", () => {
  /** Waiters on a follower of `leader`, recording what they send. */
  function follower(leader: string | null, failFast = false) {
    const sent: Envelope[] = [];
    const p = new Proposals(
      {
        id: "n2",
        leader: () => leader,
        propose: (): RaftResult<ProposalPosition> => ({ ok: false, error: { code: "notLeader", message: "not the leader", leader } }),
        send: (_to, env) => sent.push(env),
        appliedIndex: () => 0,
      },
      { requestTimeoutMs: 1_000, forwardRetryMs: 50, failFast },
    );
    return { p, sent };
  }
  const data = encodeCommand({ type: "register", requestId: "r1" });

  it("sends a proposal the leader refused again after the retry delay, and one whose forward was lost", () => {
    const { p, sent } = follower("n1");
    let outcome: ProposalOutcome | undefined;
    p.add("r1", data, false, 0, (o) => (outcome = o));
    expect(sent.map((e) => e.kind)).toEqual(["forward"]);
    p.onForwardReply({ kind: "forwardReply", from: "n1", requestId: "r1", ok: false, index: 0, term: 0, code: "transferInProgress", message: "busy moving", leader: "n1" }, 10);
    expect(p.nextDeadlineMs()).toBe(60);
    p.expire(59);
    expect(sent.length).toBe(1);
    p.expire(60);
    expect(sent.length).toBe(2);
    p.forwardLost("r1", 70);
    p.expire(120);
    expect(sent.length).toBe(3);
    expect(outcome).toBeUndefined();
  });

  it("fails at once instead, for a client that does not wait (failFast)", () => {
    const noLeader = follower(null, true);
    let outcome: ProposalOutcome | undefined;
    noLeader.p.add("r1", data, false, 0, (o) => (outcome = o));
    expect(outcome).toMatchObject({ ok: false, error: { code: "no_leader" } });
    const refused = follower("n1", true);
    refused.p.add("r2", data, false, 0, (o) => (outcome = o));
    refused.p.onForwardReply({ kind: "forwardReply", from: "n1", requestId: "r2", ok: false, index: 0, term: 0, code: "transferInProgress", message: "busy moving", leader: "n1" }, 10);
    expect(outcome).toMatchObject({ ok: false, error: { code: "not_leader" } });
  });

  it("resolves by request id whatever index the entry landed at, and fails the proposal another entry displaced", () => {
    const { p } = follower("n1");
    const outcomes: Record<string, ProposalOutcome> = {};
    p.add("r1", data, false, 0, (o) => (outcomes.r1 = o));
    p.add("r2", data, false, 0, (o) => (outcomes.r2 = o));
    p.onForwardReply({ kind: "forwardReply", from: "n1", requestId: "r1", ok: true, index: 5, term: 2, code: "", message: "", leader: "n1" }, 0);
    p.onForwardReply({ kind: "forwardReply", from: "n1", requestId: "r2", ok: true, index: 6, term: 2, code: "", message: "", leader: "n1" }, 0);
    const result = { ok: true as const, revision: 1, registered: 5 };
    // A new leader put r2 at index 5 (it was re-sent) and something else at 6.
    p.applied(5, "r2", result);
    p.applied(6, "other", result);
    expect(outcomes.r2).toEqual({ ok: true, result });
    expect(outcomes.r1).toMatchObject({ ok: false, error: { code: "proposal_dropped" } });
  });
});
