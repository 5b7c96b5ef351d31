import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import fc from "fast-check";
import type { Entry } from "../src/core/raft/index.ts";
import { Wal, WalCorruptionError } from "../src/io/wal.ts";
import { DiskStorage } from "../src/io/storage.ts";
import { SnapshotCorruptionError } from "../src/io/snapshot-file.ts";

const dirs: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "heck-wal-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const entry = (index: number, term: number, text = `v${index}`): Entry => ({ index, term, type: "normal", data: new TextEncoder().encode(text) });
const entries = (from: number, to: number, term: number) => Array.from({ length: to - from + 1 }, (_, i) => entry(from + i, term));
const segmentFiles = (dir: string) => fs.readdirSync(dir).filter((n) => n.endsWith(".wal")).sort().map((n) => path.join(dir, n));

describe("WAL round trip", () => {
  it("recovers the hard state and entries it saved", () => {
    const dir = tmpDir();
    const { wal } = Wal.open(dir);
    wal.save({ term: 2, vote: "n1", commit: 3 }, entries(1, 5, 2), true);
    wal.close();
    const { state } = Wal.open(dir);
    expect(state.hardState).toEqual({ term: 2, vote: "n1", commit: 3 });
    expect(state.entries.map((e) => [e.index, e.term])).toEqual([[1, 2], [2, 2], [3, 2], [4, 2], [5, 2]]);
    expect(new TextDecoder().decode(state.entries[4]!.data)).toBe("v5");
  });

  it("lets later entries overwrite a conflicting suffix (§5.3)", () => {
    const dir = tmpDir();
    const { wal } = Wal.open(dir);
    wal.save({ term: 1, vote: null, commit: 0 }, entries(1, 5, 1), true);
    wal.save({ term: 3, vote: "n2", commit: 2 }, [entry(3, 3, "new3"), entry(4, 3, "new4")], true);
    wal.close();
    const { state } = Wal.open(dir);
    expect(state.entries.map((e) => [e.index, e.term])).toEqual([[1, 1], [2, 1], [3, 3], [4, 3]]);
    expect(state.hardState.vote).toBe("n2");
  });

  it("fdatasyncs a batch before save returns, and skips it when sync is false", () => {
    const dir = tmpDir();
    const { wal } = Wal.open(dir);
    const s = vi.spyOn(fs, "fdatasyncSync");
    wal.save({ term: 1, vote: "n1", commit: 0 }, [entry(1, 1)], true);
    expect(s).toHaveBeenCalledTimes(1);
    wal.save({ term: 1, vote: "n1", commit: 1 }, [], false);
    expect(s).toHaveBeenCalledTimes(1);
    s.mockRestore();
    wal.close();
  });

  it("holds back a commit-only hard state until the next write, and writes it on close", () => {
    const dir = tmpDir();
    const { wal } = Wal.open(dir);
    wal.save({ term: 1, vote: "n1", commit: 0 }, [entry(1, 1), entry(2, 1)], true);
    const w = vi.spyOn(fs, "writeSync");
    wal.save({ term: 1, vote: "n1", commit: 1 }, [], false);
    expect(w).not.toHaveBeenCalled();
    // A crash now forgets commit 1: it is volatile (Figure 2), the leader tells us again.
    expect(Wal.open(dir).state.hardState.commit).toBe(0);
    // The next write carries it (the Ready with entries has no hard state of its own).
    wal.save(null, [entry(3, 1)], true);
    expect(w).toHaveBeenCalledTimes(1);
    w.mockRestore();
    expect(Wal.open(dir).state.hardState).toEqual({ term: 1, vote: "n1", commit: 1 });
    // A term or vote change is never held back, and close() writes what is held.
    wal.save({ term: 1, vote: "n1", commit: 3 }, [], false);
    wal.save({ term: 2, vote: null, commit: 3 }, [], true);
    expect(Wal.open(dir).state.hardState).toEqual({ term: 2, vote: null, commit: 3 });
    wal.save({ term: 2, vote: null, commit: 4 }, [entry(4, 2)], true);
    wal.save({ term: 2, vote: null, commit: 5 }, [], false);
    wal.close();
    expect(Wal.open(dir).state.hardState.commit).toBe(5);
  });
});

describe("WAL recovery from a crash mid-write (torn tail)", () => {
  it("cuts a record cut short at the end and keeps everything before it", () => {
    const dir = tmpDir();
    const { wal } = Wal.open(dir);
    wal.save({ term: 1, vote: "n1", commit: 2 }, entries(1, 3, 1), true);
    wal.close();
    const file = segmentFiles(dir)[0]!;
    const full = fs.statSync(file).size;
    fs.appendFileSync(file, Buffer.from([200, 0, 0, 0, 1, 2, 3, 4, 2, 9, 9])); // a header promising 200 bytes, then 2
    const warnings: string[] = [];
    const { state } = Wal.open(dir, { onWarning: (m) => warnings.push(m) });
    expect(state.entries.length).toBe(3);
    expect(state.tornBytes).toBe(11);
    expect(fs.statSync(file).size).toBe(full);
    expect(warnings[0]).toMatch(/torn tail of 11 bytes/);
  });

  it("cuts a zero-filled tail (a file extended but never written)", () => {
    const dir = tmpDir();
    const { wal } = Wal.open(dir);
    wal.save({ term: 1, vote: null, commit: 0 }, entries(1, 2, 1), true);
    wal.close();
    fs.appendFileSync(segmentFiles(dir)[0]!, Buffer.alloc(4096));
    const { state } = Wal.open(dir);
    expect(state.entries.length).toBe(2);
  });

  it("recovers a prefix of the written batches at every truncation point, and every batch that fitted whole (property)", () => {
    const dir = tmpDir();
    const { wal } = Wal.open(dir);
    const batchEnds: Array<{ size: number; lastIndex: number }> = [];
    const file = segmentFiles(dir)[0]!;
    let next = 1;
    for (let b = 0; b < 12; b++) {
      const n = 1 + (b % 3);
      wal.save({ term: 1 + Math.floor(b / 4), vote: "n1", commit: next - 1 }, entries(next, next + n - 1, 1 + Math.floor(b / 4)), true);
      next += n;
      batchEnds.push({ size: fs.statSync(file).size, lastIndex: next - 1 });
    }
    wal.close();
    const pristine = fs.readFileSync(file);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: pristine.length }), fc.boolean(), (cut, garbage) => {
        const d2 = tmpDir();
        const f2 = path.join(d2, path.basename(file));
        const tail = garbage ? Buffer.from([0x37, 0x13, 0x99]) : Buffer.alloc(0);
        fs.writeFileSync(f2, Buffer.concat([pristine.subarray(0, cut), tail]));
        if (cut < 20) {
          // Not even the segment header survived: a fresh WAL or an empty one, never an error.
          const { state, wal: w2 } = Wal.open(d2);
          w2.close();
          expect(state.entries).toEqual([]);
          return;
        }
        const { state, wal: w2 } = Wal.open(d2);
        w2.close();
        const got = state.entries.map((e) => e.index);
        expect(got).toEqual(Array.from({ length: got.length }, (_, i) => i + 1));
        const mustHave = batchEnds.filter((b) => b.size <= cut).at(-1)?.lastIndex ?? 0;
        expect(got.length).toBeGreaterThanOrEqual(mustHave);
        fs.rmSync(d2, { recursive: true, force: true });
      }),
      { numRuns: 120 },
    );
  });
});

describe("WAL corruption that a crash cannot explain", () => {
  it("refuses a flipped byte in the middle, naming the file and offset", () => {
    const dir = tmpDir();
    const { wal } = Wal.open(dir);
    wal.save({ term: 1, vote: "n1", commit: 0 }, entries(1, 10, 1), true);
    wal.close();
    const file = segmentFiles(dir)[0]!;
    const buf = fs.readFileSync(file);
    buf[60] = buf[60]! ^ 0xff;
    fs.writeFileSync(file, buf);
    let error: unknown;
    try {
      Wal.open(dir);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(WalCorruptionError);
    expect((error as WalCorruptionError).file).toBe(file);
    expect((error as Error).message).toMatch(/followed by valid records/);
    // Nothing was truncated: the operator still has every byte to repair from.
    expect(fs.readFileSync(file).length).toBe(buf.length);
  });

  it("refuses damage in a sealed (non-last) segment and a missing segment", () => {
    const dir = tmpDir();
    const { wal } = Wal.open(dir, { segmentBytes: 200 });
    for (let i = 1; i <= 30; i++) wal.save({ term: 1, vote: "n1", commit: i - 1 }, [entry(i, 1)], true);
    wal.close();
    const files = segmentFiles(dir);
    expect(files.length).toBeGreaterThan(3);
    const copy = tmpDir();
    for (const f of files) fs.copyFileSync(f, path.join(copy, path.basename(f)));
    // Truncate a sealed segment: a crash cannot do that (it was fsynced before the next was cut).
    fs.truncateSync(files[1]!, fs.statSync(files[1]!).size - 3);
    expect(() => Wal.open(dir)).toThrow(/sealed segment/);
    fs.rmSync(path.join(copy, path.basename(files[2]!)));
    expect(() => Wal.open(copy)).toThrow(/segment file is missing/);
  });
});

describe("WAL segments and snapshots", () => {
  it("rotates segments, replays across them, and frees those a snapshot covers", () => {
    const dir = tmpDir();
    const { storage } = DiskStorage.open(dir, { segmentBytes: 300 });
    for (let i = 1; i <= 40; i++) storage.persistReady({ hardState: { term: 1, vote: "n1", commit: i }, records: [entry(i, 1)], snapshot: null, mustSync: true });
    const before = storage.walSegments;
    expect(before).toBeGreaterThan(4);
    storage.saveLocalSnapshot({ metadata: { index: 30, term: 1, confState: { voters: ["n1"], learners: [] } }, data: new Uint8Array([1, 2, 3]) });
    expect(storage.walSegments).toBeLessThan(before);
    storage.close();
    const { persisted } = DiskStorage.open(dir);
    expect(persisted!.snapshot!.metadata.index).toBe(30);
    expect([...persisted!.snapshot!.data]).toEqual([1, 2, 3]);
    expect(persisted!.entries.map((e) => e.index)).toEqual([31, 32, 33, 34, 35, 36, 37, 38, 39, 40]);
    expect(persisted!.hardState.commit).toBe(40);
  });

  it("an installed snapshot replaces the whole log before it", () => {
    const dir = tmpDir();
    const { storage } = DiskStorage.open(dir);
    storage.persistReady({ hardState: { term: 1, vote: null, commit: 2 }, records: entries(1, 5, 1), snapshot: null, mustSync: true });
    storage.persistReady({ hardState: { term: 4, vote: null, commit: 20 }, records: [entry(21, 4)], snapshot: { metadata: { index: 20, term: 4, confState: { voters: ["n1", "n2"], learners: [] } }, data: new Uint8Array([9]) }, mustSync: true });
    storage.close();
    const { persisted } = DiskStorage.open(dir);
    expect(persisted!.snapshot!.metadata.index).toBe(20);
    expect(persisted!.entries.map((e) => e.index)).toEqual([21]);
  });

  it("saves a local snapshot off the event loop: the WAL keeps every entry until the file is durable and marked", async () => {
    const dir = tmpDir();
    const { storage } = DiskStorage.open(dir, { segmentBytes: 300 });
    for (let i = 1; i <= 40; i++) storage.persistReady({ hardState: { term: 1, vote: "n1", commit: i }, records: [entry(i, 1)], snapshot: null, mustSync: true });
    const segments = storage.walSegments;
    const saving = storage.saveLocalSnapshotAsync({ metadata: { index: 30, term: 1, confState: { voters: ["n1"], learners: [] } }, data: new Uint8Array([4, 5]) });
    // Not durable yet: a crash now restarts from the whole log.
    expect(storage.walSegments).toBe(segments);
    expect(Wal.open(path.join(dir, "wal")).state.snapshot).toBeNull();
    await saving;
    expect(storage.walSegments).toBeLessThan(segments);
    await storage.idle();
    storage.close();
    const { persisted } = DiskStorage.open(dir);
    expect(persisted!.snapshot!.metadata.index).toBe(30);
    expect(persisted!.entries.map((e) => e.index)).toEqual([31, 32, 33, 34, 35, 36, 37, 38, 39, 40]);
  });

  it("a snapshot installed from the leader while a local one is being saved wins", async () => {
    const dir = tmpDir();
    const { storage } = DiskStorage.open(dir);
    storage.persistReady({ hardState: { term: 1, vote: null, commit: 5 }, records: entries(1, 5, 1), snapshot: null, mustSync: true });
    const saving = storage.saveLocalSnapshotAsync({ metadata: { index: 5, term: 1, confState: { voters: ["n1", "n2"], learners: [] } }, data: new Uint8Array([1]) });
    storage.persistReady({ hardState: { term: 4, vote: null, commit: 20 }, records: [entry(21, 4)], snapshot: { metadata: { index: 20, term: 4, confState: { voters: ["n1", "n2"], learners: [] } }, data: new Uint8Array([9]) }, mustSync: true });
    await saving;
    storage.close();
    const { persisted } = DiskStorage.open(dir);
    expect(persisted!.snapshot!.metadata.index).toBe(20);
    expect([...persisted!.snapshot!.data]).toEqual([9]);
    expect(persisted!.entries.map((e) => e.index)).toEqual([21]);
  });

  it("refuses to start when the snapshot the WAL names is corrupted", () => {
    const dir = tmpDir();
    const { storage } = DiskStorage.open(dir);
    storage.persistReady({ hardState: { term: 1, vote: null, commit: 3 }, records: entries(1, 3, 1), snapshot: null, mustSync: true });
    storage.saveLocalSnapshot({ metadata: { index: 3, term: 1, confState: { voters: ["n1"], learners: [] } }, data: new Uint8Array(100).fill(7) });
    storage.close();
    const snapDir = path.join(dir, "snap");
    const f = path.join(snapDir, fs.readdirSync(snapDir)[0]!);
    const buf = fs.readFileSync(f);
    buf[buf.length - 20] = buf[buf.length - 20]! ^ 1;
    fs.writeFileSync(f, buf);
    expect(() => DiskStorage.open(dir)).toThrow(SnapshotCorruptionError);
  });

  it("reports a fresh data dir as fresh", () => {
    const { persisted, storage } = DiskStorage.open(tmpDir());
    storage.close();
    expect(persisted).toBeNull();
  });
});
