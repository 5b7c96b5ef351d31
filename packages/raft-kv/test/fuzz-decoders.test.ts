/**
 * Every decoder of bytes from outside the process, fuzzed: a peer's frames
 * (the envelope around Raft messages, forwarded proposals and calls), the
 * commands inside log entries, and the write-ahead log read back at start.
 * Random bytes and mutations of real encodings (bit flips, truncation,
 * junk appended) must give a typed error (or a value), never an exception
 * from deep inside: a bad frame is logged and counted by the peer network,
 * and a bad WAL stops recovery with a WalCorruptionError that names the
 * file and offset. Runs are bounded so the file takes a second or two.
 */
import { byteMutation, mutateBytes } from "@heck/sim/testing";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeEnvelope, encodeEnvelope, type Envelope } from "../src/core/replica/envelope.ts";
import { decodeCommand, encodeCommand } from "../src/core/kv/codec.ts";
import { encodeRecord, RecordType, WalAppender, WalCorruptionError, WalReplay, encodeSegmentHeader } from "../src/core/raft/storage-format.ts";
import type { KvCommand } from "../src/core/kv/types.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);

/** Real commands, as a leader proposes them. */
const commands: KvCommand[] = [
  { type: "write", requestId: "r1", op: { type: "put", key: utf8("heck/origins/o1"), value: utf8('{"url":"http://x/health"}'), lease: 0, prevKv: false, ignoreValue: false, ignoreLease: false } },
  { type: "register", requestId: "r2" },
  { type: "lease-grant", requestId: "r3", id: 7, ttlSec: 10 },
  { type: "lease-revoke", requestId: "r4", id: 7, expired: true },
] as KvCommand[];

/** Real frames, one of each kind a peer sends. */
const envelopes: Envelope[] = [
  { kind: "raft", message: { type: "append", from: "n1", to: "n2", term: 3, prevLogIndex: 4, prevLogTerm: 2, commit: 4, entries: commands.map((c, i) => ({ index: 5 + i, term: 3, type: "normal" as const, data: encodeCommand(c) })) } },
  { kind: "raft", message: { type: "heartbeat", from: "n1", to: "n3", term: 3, commit: 8, context: "read-17" } },
  { kind: "raft", message: { type: "requestVote", from: "n2", to: "n1", term: 4, lastLogIndex: 8, lastLogTerm: 3, transfer: false } },
  { kind: "forward", requestId: "q1", from: "n2", data: encodeCommand(commands[0]!) },
  { kind: "forwardReply", from: "n1", requestId: "q1", ok: false, index: 0, term: 3, code: "not_leader", message: "n1 is not the leader", leader: "n3" },
  { kind: "call", from: "n2", requestId: "c1", method: "status", body: utf8("{}") },
  { kind: "callReply", from: "n1", requestId: "c1", ok: true, body: utf8('{"term":3}'), code: "", message: "" },
  { kind: "removed", from: "n1", member: "n4" },
] as Envelope[];


/** A decode result is a value or an error with something to say. */
function expectTyped(r: { ok: true } | { ok: false; error: unknown }): void {
  if (!r.ok) expect(r.error).toBeTruthy();
}

describe("peer frames", () => {
  it("the corpus round-trips (so the mutations below start from real frames)", () => {
    for (const e of envelopes) expect(decodeEnvelope(encodeEnvelope(e))).toMatchObject({ ok: true, value: { kind: e.kind } });
  });

  it("random bytes never throw: a frame decodes or names what is wrong", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => expectTyped(decodeEnvelope(bytes))),
      { numRuns: 1000 },
    );
  });

  it("mutated real frames never throw", () => {
    fc.assert(
      fc.property(fc.constantFrom(...envelopes), byteMutation, (e, m) => expectTyped(decodeEnvelope(mutateBytes(encodeEnvelope(e), m)))),
      { numRuns: 1000 },
    );
  });
});

describe("commands in log entries", () => {
  it("random and mutated command bytes never throw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => expectTyped(decodeCommand(bytes))),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.constantFrom(...commands), byteMutation, (c, m) => expectTyped(decodeCommand(mutateBytes(encodeCommand(c), m)))),
      { numRuns: 1000 },
    );
  });
});

describe("the write-ahead log read back", () => {
  /** A real segment: header, entries and hard states, as a node appends them. */
  function segment(): Uint8Array {
    const appender = new WalAppender({ term: 0, vote: null, commit: 0 });
    const records = [
      encodeRecord(RecordType.SegmentHeader, encodeSegmentHeader(1, 1)),
      ...appender.records({ term: 1, vote: "n1", commit: 0 }, [], true),
      ...appender.records({ term: 1, vote: "n1", commit: 2 }, commands.map((c, i) => ({ index: 1 + i, term: 1, type: "normal" as const, data: encodeCommand(c) })), true),
    ];
    const out = new Uint8Array(records.reduce((n, r) => n + r.length, 0));
    let at = 0;
    for (const r of records) {
      out.set(r, at);
      at += r.length;
    }
    return out;
  }

  /** Recovery either returns a state or refuses with a WalCorruptionError: nothing else escapes. */
  function replay(buf: Uint8Array, isLast: boolean): void {
    try {
      const r = new WalReplay();
      r.segment(buf, "0000.wal", isLast);
      r.finish("0000.wal");
    } catch (error) {
      expect(error, String(error)).toBeInstanceOf(WalCorruptionError);
    }
  }

  it("the real segment recovers", () => {
    const r = new WalReplay();
    expect(r.segment(segment(), "0000.wal", true)).toBeNull();
    expect(r.finish("0000.wal").entries).toHaveLength(commands.length);
  });

  it("mutated segments recover or stop with a WalCorruptionError, sealed or last", () => {
    fc.assert(
      fc.property(byteMutation, fc.boolean(), (m, isLast) => replay(mutateBytes(segment(), m), isLast)),
      { numRuns: 1000 },
    );
  });

  it("records that pass their CRC but hold garbage stop recovery with a WalCorruptionError", () => {
    fc.assert(
      fc.property(fc.constantFrom(RecordType.Entry, RecordType.HardState, RecordType.Snapshot, RecordType.SegmentHeader), fc.uint8Array({ maxLength: 128 }), fc.boolean(), (type, payload, isLast) =>
        replay(encodeRecord(type, payload), isLast),
      ),
      { numRuns: 1000 },
    );
  });
});
