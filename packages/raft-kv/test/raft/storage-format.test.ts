/**
 * The persistent state's bytes without files (storage-format.ts): what a
 * Ready appends, how recovery replays it, and the snapshot file format. The
 * WAL tests (test/wal.test.ts) run the same code through real files.
 */
import zlib from "node:zlib";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { RecordType, SnapshotCorruptionError, WalAppender, WalCorruptionError, WalReplay, crc32, decodeSnapshotFile, encodeEntry, encodeHardState, encodeRecord, encodeSnapshotFile, restartState, type SnapshotMarker } from "../../src/core/raft/storage-format.ts";
import type { Entry, Snapshot } from "../../src/core/raft/types.ts";

const entry = (index: number, term: number, text = `e${index}`): Entry => ({ index, term, type: "normal", data: new TextEncoder().encode(text) });
const concat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
const replay = (records: Uint8Array[]) => {
  const r = new WalReplay();
  const torn = r.segment(concat(records), "log", true);
  return { ...r.finish("log"), torn };
};

describe("crc32", () => {
  it("is zlib's CRC-32 (the server injects the native one, the simulation uses this)", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => crc32(bytes) === zlib.crc32(bytes)));
  });
});

describe("WalAppender", () => {
  it("writes entries before the hard state, holds back a commit-only hard state until the next write", () => {
    const w = new WalAppender({ term: 0, vote: null, commit: 0 });
    const first = w.records({ term: 2, vote: "n1", commit: 0 }, [entry(1, 2), entry(2, 2)], true);
    expect(first.map((r) => r[8])).toEqual([RecordType.Entry, RecordType.Entry, RecordType.HardState]);
    // Only the commit index moved: nothing to write now.
    expect(w.records({ term: 2, vote: "n1", commit: 2 }, [], false)).toEqual([]);
    // The next entry carries the held-back commit index with it.
    const next = w.records(null, [entry(3, 2)], true);
    expect(replay([...first, ...next]).hardState).toEqual({ term: 2, vote: "n1", commit: 2 });
    expect(w.flush()).toBeNull();
    w.records({ term: 2, vote: "n1", commit: 3 }, [], false);
    expect(replay([...first, ...next, w.flush()!]).hardState.commit).toBe(3);
  });
});

describe("WalAppender.batch", () => {
  it("encodes exactly the records a record at a time would, back to back, and records() splits them where they end", () => {
    const arbEntry = fc.record({ index: fc.nat({ max: Number.MAX_SAFE_INTEGER }), term: fc.nat({ max: 2 ** 40 }), type: fc.constantFrom("normal" as const, "confChange" as const), data: fc.uint8Array({ maxLength: 300 }) });
    const arbHardState = fc.option(fc.record({ term: fc.nat({ max: 2 ** 40 }), vote: fc.option(fc.string({ maxLength: 10 })), commit: fc.nat({ max: 2 ** 40 }) }));
    fc.assert(
      fc.property(fc.array(arbEntry, { maxLength: 20 }), arbHardState, (entries, hs) => {
        const b = new WalAppender({ term: 0, vote: null, commit: 0 }).batch(hs, entries, true);
        if (!hs && entries.length === 0) return b === null;
        const expected = [...entries.map((e) => encodeRecord(RecordType.Entry, encodeEntry(e))), ...(hs ? [encodeRecord(RecordType.HardState, encodeHardState(hs))] : [])];
        expect(b!.bytes).toEqual(concat(expected));
        expect(b!.ends).toEqual(expected.map((_, i) => expected.slice(0, i + 1).reduce((n, r) => n + r.length, 0)));
        expect(new WalAppender({ term: 0, vote: null, commit: 0 }).records(hs, entries, true)).toEqual(expected);
        return true;
      }),
    );
  });
});

describe("WalReplay", () => {
  const w = () => new WalAppender({ term: 0, vote: null, commit: 0 });
  const marker = (m: SnapshotMarker) => new WalAppender({ term: 0, vote: null, commit: 0 }).marker(m);
  const conf = { voters: ["n1"], learners: [] };

  it("later entries overwrite a suffix (§5.3), an installed snapshot replaces the log, a compaction only its prefix", () => {
    const a = w();
    const records = [...a.records({ term: 1, vote: "n1", commit: 0 }, [entry(1, 1), entry(2, 1), entry(3, 1)], true), ...a.records({ term: 2, vote: null, commit: 1 }, [entry(2, 2, "new")], true)];
    expect(replay(records).entries.map((e) => [e.index, e.term])).toEqual([
      [1, 1],
      [2, 2],
    ]);
    const compacted = [...records, marker({ index: 1, term: 1, confState: conf, kind: "compact" })];
    expect(replay(compacted).entries.map((e) => e.index)).toEqual([2]);
    const installed = [...records, marker({ index: 9, term: 3, confState: conf, kind: "install" })];
    expect(replay(installed)).toMatchObject({ entries: [], snapshot: { index: 9, kind: "install" } });
  });

  it("cuts a torn last record and refuses damage in the middle", () => {
    const records = w().records({ term: 1, vote: "n1", commit: 0 }, [entry(1, 1), entry(2, 1)], true);
    const last = records[records.length - 1]!;
    const torn = [...records.slice(0, -1), last.subarray(0, last.length - 3)];
    const r = replay(torn);
    expect(r.entries.map((e) => e.index)).toEqual([1, 2]);
    expect(r.torn).toBe(concat(records.slice(0, -1)).length);
    expect(r.tornBytes).toBe(last.length - 3);
    const flipped = records.map((x) => x.slice());
    flipped[0]![12]! ^= 0xff;
    expect(() => replay(flipped)).toThrow(WalCorruptionError);
    expect(() => replay(flipped)).toThrow(/CRC mismatch, followed by valid records/);
  });

  it("refuses a log that does not start right after its snapshot", () => {
    const records = [marker({ index: 5, term: 1, confState: conf, kind: "compact" }), ...w().records(null, [entry(8, 1)], true)];
    expect(() => replay(records)).toThrow(/log starts at 8 but the snapshot covers only up to 5/);
  });
});

describe("restartState", () => {
  it("a power loss that tears off the hard state after a new term's entries resumes in that term with no vote, not refusing to start", () => {
    const appender = new WalAppender({ term: 1, vote: "n2", commit: 0 });
    const first = appender.records({ term: 1, vote: "n2", commit: 0 }, [entry(1, 1)], true);
    // A new leader's append in term 2: its entry, then the hard state with the new term; the power loss tears the last record.
    const second = appender.records({ term: 2, vote: null, commit: 1 }, [entry(2, 2)], true);
    const torn = second[1]!.slice(0, 5);
    const state = replay([...first, second[0]!, torn]);
    expect(state.torn).not.toBeNull();
    expect(state.hardState).toEqual({ term: 1, vote: "n2", commit: 0 });
    const restart = restartState(state, () => {
      throw new Error("no snapshot");
    })!;
    expect(restart.hardState).toEqual({ term: 2, vote: null, commit: 0 });
    expect(restart.entries.map((e) => [e.index, e.term])).toEqual([
      [1, 1],
      [2, 2],
    ]);
  });

  it("finds nothing on a fresh log, and keeps the hard state when it is as new as the log", () => {
    const none = () => {
      throw new Error("no snapshot");
    };
    expect(restartState(replay([]), none)).toBeNull();
    const appender = new WalAppender({ term: 0, vote: null, commit: 0 });
    const records = appender.records({ term: 3, vote: "n1", commit: 1 }, [entry(1, 2)], true);
    expect(restartState(replay(records), none)!.hardState).toEqual({ term: 3, vote: "n1", commit: 1 });
  });
});

describe("snapshot files", () => {
  const snap: Snapshot = { metadata: { index: 7, term: 2, confState: { voters: ["n1", "n2"], learners: ["n3"] } }, data: new Uint8Array([1, 2, 3]) };

  it("round-trip, and refuse a flipped byte or another snapshot than the marker names", () => {
    const file = encodeSnapshotFile(snap, zlib.crc32);
    expect(decodeSnapshotFile(file, "s", 7, 2)).toEqual(snap);
    const bad = file.slice();
    bad[5]! ^= 1;
    expect(() => decodeSnapshotFile(bad, "s", 7, 2)).toThrow(SnapshotCorruptionError);
    expect(() => decodeSnapshotFile(file, "s", 8, 2)).toThrow(/holds index 7 term 2, expected 8\/2/);
  });
});
