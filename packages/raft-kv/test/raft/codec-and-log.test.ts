/**
 * The wire codec (every message round-trips; malformed bytes give a typed
 * error naming the field, never an exception) and the in-memory log, with
 * fast-check properties against naive models.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { decodeConfChange, decodeMessage, encodeConfChange, encodeMessage, WIRE_VERSION } from "../../src/core/raft/codec.ts";
import { RaftLog } from "../../src/core/raft/log.ts";
import { Inflights, committedIndex, quorumSize, voteResult } from "../../src/core/raft/progress.ts";
import type { Entry, Message } from "../../src/core/raft/types.ts";

const id = fc.string({ minLength: 1, maxLength: 8 });
const nat = fc.nat({ max: 2 ** 40 });
const data = fc.uint8Array({ maxLength: 64 });
const entryType = fc.constantFrom("normal" as const, "confChange" as const);
const ctx = fc.option(fc.string({ maxLength: 20 }), { nil: null });

const message: fc.Arbitrary<Message> = fc.oneof(
  fc
    .record({ from: id, to: id, term: nat, prevLogIndex: fc.nat({ max: 1000 }), prevLogTerm: nat, commit: nat, terms: fc.array(fc.nat({ max: 1000 }), { maxLength: 5 }), payloads: fc.array(fc.tuple(entryType, data), { minLength: 5, maxLength: 5 }) })
    .map(({ from, to, term, prevLogIndex, prevLogTerm, commit, terms, payloads }): Message => ({
      type: "append",
      from,
      to,
      term: term + 1000,
      prevLogIndex,
      prevLogTerm,
      commit,
      entries: terms.map((t, i) => ({ index: prevLogIndex + 1 + i, term: t, type: payloads[i]![0], data: payloads[i]![1] })),
    })),
  fc.record({ type: fc.constant("appendResponse" as const), from: id, to: id, term: nat, reject: fc.boolean(), index: nat, rejectHint: nat, logTerm: nat }),
  fc.record({ type: fc.constant("heartbeat" as const), from: id, to: id, term: nat, commit: nat, context: ctx }),
  fc.record({ type: fc.constant("heartbeatResponse" as const), from: id, to: id, term: nat, context: ctx }),
  fc.record({ type: fc.constantFrom("requestVote" as const, "requestPreVote" as const), from: id, to: id, term: nat, lastLogIndex: nat, lastLogTerm: nat, transfer: fc.boolean() }),
  fc.record({ type: fc.constantFrom("voteResponse" as const, "preVoteResponse" as const), from: id, to: id, term: nat, granted: fc.boolean() }),
  fc
    .record({ from: id, to: id, term: nat, index: fc.nat({ max: 10 ** 9 }), sterm: fc.nat({ max: 1000 }), voters: fc.array(id, { maxLength: 5 }), learners: fc.array(id, { maxLength: 3 }), data })
    .map(({ from, to, term, index, sterm, voters, learners, data }): Message => ({
      type: "installSnapshot",
      from,
      to,
      term,
      snapshot: { metadata: { index, term: index > 0 ? sterm + 1 : sterm, confState: { voters, learners } }, data },
    })),
  fc.record({ type: fc.constant("timeoutNow" as const), from: id, to: id, term: nat }),
  fc.record({ type: fc.constant("readIndex" as const), from: id, to: id, term: nat, context: fc.string({ maxLength: 20 }) }),
  fc.record({ type: fc.constant("readIndexResponse" as const), from: id, to: id, term: nat, context: fc.string({ maxLength: 20 }), index: fc.integer({ min: -1, max: 2 ** 40 }) }),
);

describe("message codec", () => {
  it("every message round-trips through encode/decode", () => {
    fc.assert(
      fc.property(message, (m) => {
        const back = decodeMessage(encodeMessage(m));
        expect(back).toEqual({ ok: true, value: m });
      }),
    );
  });

  it("never throws on arbitrary bytes, and a truncated frame names a field", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const r = decodeMessage(bytes);
        if (!r.ok) {
          expect(r.error.code).toBe("malformed");
          expect(r.error.field.length).toBeGreaterThan(0);
        }
      }),
    );
    fc.assert(
      fc.property(message, fc.nat(), (m, cut) => {
        const bytes = encodeMessage(m);
        const n = cut % bytes.length;
        const r = decodeMessage(bytes.subarray(0, n));
        expect(r.ok).toBe(false);
      }),
    );
  });

  it("reports what is wrong, by field", () => {
    const good = encodeMessage({ type: "timeoutNow", from: "n1", to: "n2", term: 3 });
    expect(decodeMessage(new Uint8Array([9, ...good.subarray(1)]))).toMatchObject({ ok: false, error: { field: "version" } });
    expect(decodeMessage(new Uint8Array([WIRE_VERSION, 99]))).toMatchObject({ ok: false, error: { field: "type" } });
    expect(decodeMessage(new Uint8Array([...good, 0]))).toMatchObject({ ok: false, error: { field: "frame", message: "frame: 1 trailing bytes" } });
    const emptyFrom = new Uint8Array([WIRE_VERSION, 10, 0, 2, 110, 50, 3]);
    expect(decodeMessage(emptyFrom)).toMatchObject({ ok: false, error: { field: "from" } });
    // Entries must be contiguous after prevLogIndex (§5.3) and not newer than the sender's term.
    const append = (entries: Entry[]) =>
      encodeMessage({ type: "append", from: "n1", to: "n2", term: 5, prevLogIndex: 3, prevLogTerm: 1, commit: 0, entries } as Message);
    expect(decodeMessage(append([{ index: 5, term: 2, type: "normal", data: new Uint8Array() }]))).toMatchObject({ ok: false, error: { field: "entries[0].index" } });
    expect(decodeMessage(append([{ index: 4, term: 9, type: "normal", data: new Uint8Array() }]))).toMatchObject({ ok: false, error: { field: "entries[0].term" } });
    // A huge claimed count cannot make the decoder allocate: it is checked against the frame.
    const bogusCount = new Uint8Array([...encodeMessage({ type: "append", from: "a", to: "b", term: 1, prevLogIndex: 0, prevLogTerm: 0, commit: 0, entries: [] }).subarray(0, 10), 0xff, 0xff, 0xff, 0x0f]);
    const r = decodeMessage(bogusCount);
    expect(r).toMatchObject({ ok: false, error: { field: "entries.length" } });
    expect(!r.ok && r.error.message).toMatch(/exceeds the frame/);
  });

  it("refuses to encode impossible numbers instead of writing garbage", () => {
    expect(() => encodeMessage({ type: "timeoutNow", from: "a", to: "b", term: -1 })).toThrow(RangeError);
  });
});

describe("conf change codec", () => {
  it("round-trips and validates", () => {
    const cc = { type: "addLearner" as const, nodeId: "n4", context: "127.0.0.1:15004" };
    expect(decodeConfChange(encodeConfChange(cc))).toEqual({ ok: true, value: cc });
    expect(decodeConfChange(new TextEncoder().encode("{}"))).toMatchObject({ ok: false, error: { field: "confChange.type" } });
    expect(decodeConfChange(new TextEncoder().encode('{"type":"addVoter","nodeId":""}'))).toMatchObject({ ok: false, error: { field: "confChange.nodeId" } });
    expect(decodeConfChange(new Uint8Array([0xff]))).toMatchObject({ ok: false, error: { field: "confChange" } });
  });
});

/** A naive log: an array of terms (index 1 at position 0). */
const entriesOf = (terms: number[], from = 1): Entry[] => terms.map((t, i) => ({ index: from + i, term: t, type: "normal", data: new Uint8Array([i]) }));

describe("RaftLog", () => {
  it("maybeAppend matches the Figure 2 receiver rules against a naive model", () => {
    const nondecreasing = fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 8 }).map((a) => a.sort((x, y) => x - y));
    fc.assert(
      fc.property(nondecreasing, fc.nat({ max: 9 }), fc.array(fc.integer({ min: 1, max: 6 }), { maxLength: 5 }), (mine, prevIndex, newTerms) => {
        const log = new RaftLog(null, entriesOf(mine), 0, 0);
        const prevTerm = prevIndex === 0 ? 0 : (mine[prevIndex - 1] ?? 1);
        const incoming = entriesOf(
          newTerms.map((t) => Math.max(t, prevTerm)),
          prevIndex + 1,
        );
        const res = log.maybeAppend(prevIndex, prevTerm, 0, incoming);
        // Naive model: reject unless we hold prev; else drop from the first conflict and append the rest.
        if (prevIndex > mine.length) {
          expect(res).toBeNull();
          return;
        }
        const model = [...mine];
        incoming.forEach((e) => {
          const i = e.index - 1;
          if (model[i] !== undefined && model[i] !== e.term) model.length = i;
          if (model[i] === undefined) model[i] = e.term;
        });
        expect(res).toBe(prevIndex + incoming.length);
        expect(log.slice(1, log.lastIndex() + 1).map((e) => e.term)).toEqual(model);
      }),
    );
  });

  it("never truncates committed entries, even when asked", () => {
    const log = new RaftLog(null, entriesOf([1, 1, 2]), 3, 0);
    expect(log.maybeAppend(1, 1, 3, entriesOf([3], 2))).toBeNull();
    expect(log.lastIndex()).toBe(3);
  });

  it("findConflictByTerm returns the last index whose term is <= the given term", () => {
    const log = new RaftLog(null, entriesOf([1, 1, 2, 2, 5, 5]), 0, 0);
    expect(log.findConflictByTerm(6, 4)).toEqual({ index: 4, term: 2 });
    expect(log.findConflictByTerm(6, 5)).toEqual({ index: 6, term: 5 });
    expect(log.findConflictByTerm(3, 1)).toEqual({ index: 2, term: 1 });
    expect(log.findConflictByTerm(9, 0)).toEqual({ index: 0, term: 0 });
  });

  it("after compaction terms below the snapshot are unknown, and the snapshot's own term is kept", () => {
    const log = new RaftLog(null, entriesOf([1, 1, 2, 2]), 4, 4);
    log.compact({ metadata: { index: 3, term: 2, confState: { voters: ["a"], learners: [] } }, data: new Uint8Array() });
    expect([log.term(2), log.term(3), log.term(4), log.firstIndex()]).toEqual([undefined, 2, 2, 4]);
    expect(() => log.compact({ metadata: { index: 9, term: 2, confState: { voters: [], learners: [] } }, data: new Uint8Array() })).toThrow(RangeError);
  });
});

describe("quorum maths", () => {
  it("committedIndex is the largest index a majority has reached", () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 50 }), { minLength: 1, maxLength: 9 }), (matches) => {
        const c = committedIndex(matches);
        const atLeast = (i: number) => matches.filter((m) => m >= i).length;
        expect(atLeast(c)).toBeGreaterThanOrEqual(quorumSize(matches.length));
        expect(atLeast(c + 1)).toBeLessThan(quorumSize(matches.length));
      }),
    );
  });

  it("voteResult is won with a majority of grants, lost once a majority is out of reach", () => {
    const voters = ["a", "b", "c", "d", "e"];
    expect(voteResult(voters, new Map([["a", true], ["b", true], ["c", true]]))).toBe("won");
    expect(voteResult(voters, new Map([["a", false], ["b", false], ["c", false]]))).toBe("lost");
    expect(voteResult(voters, new Map([["a", true], ["b", false], ["c", false]]))).toBe("pending");
  });

  it("Inflights is a bounded window freed by cumulative acknowledgements", () => {
    const w = new Inflights(3);
    w.add(5);
    w.add(7);
    w.add(9);
    expect(w.full()).toBe(true);
    expect(() => w.add(11)).toThrow(RangeError);
    w.freeLE(7);
    expect(w.count).toBe(1);
    w.add(11);
    w.add(12);
    w.freeFirstOne();
    expect(w.count).toBe(2);
    w.freeLE(100);
    expect(w.count).toBe(0);
  });
});
