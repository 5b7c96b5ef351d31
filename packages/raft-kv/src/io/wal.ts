/**
 * The write-ahead log: Raft's stable storage for the persistent state of
 * Figure 2 (currentTerm, votedFor, log[]), plus markers saying which
 * snapshot replaced the log's prefix.
 *
 * Layout: `<dir>/<seq>-<firstIndex>.wal` segment files (16 hex digits each),
 * each a sequence of records:
 *
 *     u32 length | u32 crc32(type + payload) | u8 type | payload (length bytes)
 *
 * A batch of records (one Ready) is written with one write() and made durable
 * with one fdatasync() before any message of that Ready leaves the node
 * (Figure 2: "updated on stable storage before responding to RPCs").
 *
 * Recovery reads every segment in order. A bad record (short, zero-filled or
 * failing its CRC) in the last segment with no valid record after it is a
 * torn tail from a crash mid-write: it was never acknowledged (its fsync never
 * returned), so it is cut off. A bad record anywhere else, or one followed by
 * valid records, means the disk lost data that was acknowledged: recovery
 * refuses to start with a {@link WalCorruptionError} naming the file and offset,
 * because silently continuing could forget committed entries.
 */
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import type { ConfState, Entry, HardState } from "../core/raft/index.ts";
import { Reader, Writer } from "../core/kv/wire.ts";

const RECORD_HEADER_BYTES = 9;
const SEGMENT_MAGIC = "heck-raft-wal";
const WAL_VERSION = 1;
/** Records larger than this are refused on write and treated as garbage on read. */
export const MAX_RECORD_BYTES = 256 * 1024 * 1024;

/** Record types; the numbers are on disk, never renumber. */
const enum RecordType {
  SegmentHeader = 1,
  Entry = 2,
  HardState = 3,
  Snapshot = 4,
}

/** A snapshot marker: the log up to `index` is covered by the snapshot file with that index and term. */
export interface SnapshotMarker {
  index: number;
  term: number;
  confState: ConfState;
  /**
   * "compact": we took this snapshot of our own state; later entries stay.
   * "install": the leader sent it; it replaces the whole log written before it.
   */
  kind: "compact" | "install";
}

/** What recovery read back. */
export interface WalState {
  hardState: HardState;
  /** The newest snapshot marker, or null when the log starts at index 1. */
  snapshot: SnapshotMarker | null;
  /** Entries after the snapshot, contiguous, in index order. */
  entries: Entry[];
  /** Bytes cut off the last segment as a torn tail (0 when the log ended cleanly). */
  tornBytes: number;
}

/** Tuning of the WAL. */
export interface WalOptions {
  /**
   * Start a new segment once the current one exceeds this. Old segments are
   * deleted whole after a snapshot covers them, so smaller segments free disk
   * sooner; larger ones mean fewer files. Default 64 MiB, etcd's size.
   */
  segmentBytes?: number;
  /** Called with a human-readable line when recovery cuts a torn tail. */
  onWarning?: (message: string) => void;
}

/** The WAL is damaged where a crash cannot explain it; the node must not start on it. */
export class WalCorruptionError extends Error {
  override readonly name = "WalCorruptionError";
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`WAL corrupted in ${file} at byte ${offset}: ${reason}. Refusing to start: data before this point may have been acknowledged. Restore this node from a peer (remove its data dir and re-add it) or repair the file.`);
  }
}

function segmentName(seq: number, firstIndex: number): string {
  return `${seq.toString(16).padStart(16, "0")}-${firstIndex.toString(16).padStart(16, "0")}.wal`;
}

function parseSegmentName(name: string): { seq: number; firstIndex: number } | undefined {
  const m = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/.exec(name);
  if (!m) return undefined;
  return { seq: parseInt(m[1]!, 16), firstIndex: parseInt(m[2]!, 16) };
}

const entryTypes = ["normal", "confChange"] as const;

function encodeRecord(type: RecordType, payload: Uint8Array): Buffer {
  if (payload.length > MAX_RECORD_BYTES) throw new RangeError(`WAL record of ${payload.length} bytes exceeds ${MAX_RECORD_BYTES}`);
  const buf = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.length);
  buf.writeUInt32LE(payload.length, 0);
  buf[8] = type;
  buf.set(payload, RECORD_HEADER_BYTES);
  buf.writeUInt32LE(zlib.crc32(buf.subarray(8)), 4);
  return buf;
}

function encodeEntry(e: Entry): Uint8Array {
  return new Writer().uint(e.index).uint(e.term).uint(entryTypes.indexOf(e.type)).bytes(e.data).finish();
}

function decodeEntry(p: Uint8Array): Entry {
  const r = new Reader(p);
  const index = r.uint();
  const term = r.uint();
  const t = entryTypes[r.uint()];
  if (!t) throw new Error("unknown entry type");
  return { index, term, type: t, data: r.bytes() };
}

function encodeHardState(h: HardState): Uint8Array {
  return new Writer().uint(h.term).bool(h.vote !== null).string(h.vote ?? "").uint(h.commit).finish();
}

function decodeHardState(p: Uint8Array): HardState {
  const r = new Reader(p);
  const term = r.uint();
  const hasVote = r.bool();
  const vote = r.string();
  return { term, vote: hasVote ? vote : null, commit: r.uint() };
}

/** Encodes a ConfState (also used by snapshot files). */
export function writeConfState(w: Writer, c: ConfState): void {
  w.uint(c.voters.length);
  for (const v of c.voters) w.string(v);
  w.uint(c.learners.length);
  for (const l of c.learners) w.string(l);
}

/** Decodes a ConfState. */
export function readConfState(r: Reader): ConfState {
  const voters: string[] = [];
  for (let i = r.uint(); i > 0; i--) voters.push(r.string());
  const learners: string[] = [];
  for (let i = r.uint(); i > 0; i--) learners.push(r.string());
  return { voters, learners };
}

function encodeMarker(m: SnapshotMarker): Uint8Array {
  const w = new Writer().uint(m.index).uint(m.term).uint(m.kind === "compact" ? 0 : 1);
  writeConfState(w, m.confState);
  return w.finish();
}

function decodeMarker(p: Uint8Array): SnapshotMarker {
  const r = new Reader(p);
  const index = r.uint();
  const term = r.uint();
  const kind = r.uint() === 0 ? "compact" : "install";
  return { index, term, kind, confState: readConfState(r) };
}

function encodeSegmentHeader(seq: number, firstIndex: number): Uint8Array {
  return new Writer().string(SEGMENT_MAGIC).uint(WAL_VERSION).uint(seq).uint(firstIndex).finish();
}

/** Parses one record at `offset`; "bad" when it is short, zeroed, oversized or fails its CRC. */
function parseRecord(buf: Buffer, offset: number): { type: number; payload: Buffer; next: number } | { bad: string } {
  if (offset + RECORD_HEADER_BYTES > buf.length) return { bad: "record header cut short" };
  const len = buf.readUInt32LE(offset);
  const crc = buf.readUInt32LE(offset + 4);
  const type = buf[offset + 8]!;
  if (type < RecordType.SegmentHeader || type > RecordType.Snapshot) return { bad: `unknown record type ${type}` };
  if (len > MAX_RECORD_BYTES) return { bad: `record length ${len} too large` };
  const end = offset + RECORD_HEADER_BYTES + len;
  if (end > buf.length) return { bad: `record of ${len} bytes runs past the end of the file` };
  if (zlib.crc32(buf.subarray(offset + 8, end)) !== crc) return { bad: "CRC mismatch" };
  return { type, payload: buf.subarray(offset + RECORD_HEADER_BYTES, end), next: end };
}

/** True when some valid record starts anywhere after `offset` (so the damage is not a torn tail). */
function validRecordAfter(buf: Buffer, offset: number): boolean {
  for (let p = offset + 1; p + RECORD_HEADER_BYTES <= buf.length; p++) {
    const r = parseRecord(buf, p);
    if ("type" in r && r.payload.length > 0) return true;
  }
  return false;
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

interface Segment {
  seq: number;
  firstIndex: number;
  file: string;
}

/**
 * An open write-ahead log. Create with {@link Wal.open}; then {@link Wal.save}
 * each Ready's hard state and entries before sending its messages.
 */
export class Wal {
  private fd: number;
  private size: number;
  private lastIndex: number;
  private hardState: HardState;
  /** A hard state that only moved the commit index and has not been written yet (see save). */
  private heldBack: HardState | null = null;
  private closed = false;
  private syncing = false;
  private readonly closeWaiters: Array<() => void> = [];

  private constructor(
    readonly dir: string,
    private segments: Segment[],
    state: WalState,
    private readonly segmentBytes: number,
  ) {
    const last = segments[segments.length - 1]!;
    this.fd = fs.openSync(last.file, "r+");
    this.size = fs.fstatSync(this.fd).size;
    this.hardState = state.hardState;
    this.lastIndex = state.entries.length > 0 ? state.entries[state.entries.length - 1]!.index : (state.snapshot?.index ?? 0);
  }

  /** Opens (creating if empty) the WAL in `dir` and recovers its state. Throws {@link WalCorruptionError} on damage a crash cannot explain. */
  static open(dir: string, options: WalOptions = {}): { wal: Wal; state: WalState } {
    fs.mkdirSync(dir, { recursive: true });
    // A .tmp segment is a cut that crashed before its rename: it holds only a header, so drop it.
    for (const name of fs.readdirSync(dir)) if (name.endsWith(".wal.tmp")) fs.rmSync(path.join(dir, name), { force: true });
    const segmentBytes = options.segmentBytes ?? 64 * 1024 * 1024;
    let segments = Wal.listSegments(dir);
    if (segments.length === 0) {
      const file = path.join(dir, segmentName(1, 1));
      fs.writeFileSync(file, encodeRecord(RecordType.SegmentHeader, encodeSegmentHeader(1, 1)));
      const fd = fs.openSync(file, "r+");
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fsyncDir(dir);
      segments = Wal.listSegments(dir);
    }
    const state = Wal.replay(segments, options.onWarning);
    return { wal: new Wal(dir, segments, state, segmentBytes), state };
  }

  private static listSegments(dir: string): Segment[] {
    const out: Segment[] = [];
    for (const name of fs.readdirSync(dir)) {
      const parsed = parseSegmentName(name);
      if (parsed) out.push({ ...parsed, file: path.join(dir, name) });
    }
    out.sort((a, b) => a.seq - b.seq);
    for (let i = 1; i < out.length; i++) {
      if (out[i]!.seq !== out[i - 1]!.seq + 1) throw new WalCorruptionError(out[i]!.file, 0, `segment sequence jumps from ${out[i - 1]!.seq} to ${out[i]!.seq} (a segment file is missing)`);
    }
    return out;
  }

  private static replay(segments: Segment[], onWarning?: (message: string) => void): WalState {
    let hardState: HardState = { term: 0, vote: null, commit: 0 };
    let snapshot: SnapshotMarker | null = null;
    let entries: Entry[] = [];
    let tornBytes = 0;
    segments.forEach((seg, i) => {
      const isLast = i === segments.length - 1;
      const buf = fs.readFileSync(seg.file);
      let offset = 0;
      while (offset < buf.length) {
        const rec = parseRecord(buf, offset);
        if ("bad" in rec) {
          const allZero = buf.subarray(offset).every((b) => b === 0);
          if (!isLast) throw new WalCorruptionError(seg.file, offset, `${rec.bad} in a sealed segment`);
          if (!allZero && validRecordAfter(buf, offset)) throw new WalCorruptionError(seg.file, offset, `${rec.bad}, followed by valid records`);
          tornBytes = buf.length - offset;
          onWarning?.(`WAL: cutting a torn tail of ${tornBytes} bytes at ${seg.file}:${offset} (${rec.bad}); it was never acknowledged`);
          const fd = fs.openSync(seg.file, "r+");
          fs.ftruncateSync(fd, offset);
          fs.fsyncSync(fd);
          fs.closeSync(fd);
          break;
        }
        try {
          switch (rec.type) {
            case RecordType.SegmentHeader: {
              const r = new Reader(rec.payload);
              if (r.string() !== SEGMENT_MAGIC) throw new Error("bad segment magic");
              const version = r.uint();
              if (version !== WAL_VERSION) throw new Error(`unsupported WAL version ${version}`);
              if (offset !== 0) throw new Error("segment header in the middle of a segment");
              break;
            }
            case RecordType.Entry: {
              const e = decodeEntry(rec.payload);
              const last = entries.length > 0 ? entries[entries.length - 1]!.index : undefined;
              if (last !== undefined && e.index <= last) {
                // A new leader overwrote a suffix (§5.3): later records win.
                entries = entries.slice(0, entries.length - (last - e.index + 1));
              }
              const prev = entries.length > 0 ? entries[entries.length - 1]!.index : undefined;
              if (prev !== undefined && e.index !== prev + 1) throw new Error(`entry ${e.index} does not follow ${prev}`);
              entries.push(e);
              break;
            }
            case RecordType.HardState:
              hardState = decodeHardState(rec.payload);
              break;
            case RecordType.Snapshot: {
              const m = decodeMarker(rec.payload);
              snapshot = m;
              // An installed snapshot replaces the whole log before it; our own compaction only its prefix.
              entries = m.kind === "install" ? [] : entries.filter((e) => e.index > m.index);
              break;
            }
          }
        } catch (error) {
          throw new WalCorruptionError(seg.file, offset, `record passed its CRC but does not decode (${error instanceof Error ? error.message : String(error)})`);
        }
        offset = rec.next;
      }
    });
    const snap = snapshot as SnapshotMarker | null;
    if (snap) entries = entries.filter((e) => e.index > snap.index);
    const first = entries[0];
    const expectedFirst = (snap?.index ?? 0) + 1;
    if (first && first.index !== expectedFirst) {
      throw new WalCorruptionError(segments[0]!.file, 0, `log starts at ${first.index} but the snapshot covers only up to ${expectedFirst - 1} (missing entries)`);
    }
    return { hardState, snapshot: snap, entries, tornBytes };
  }

  /** The last index in the log (or the snapshot's index when the log is empty). */
  get lastLogIndex(): number {
    return this.lastIndex;
  }

  /** Number of segment files. */
  get segmentCount(): number {
    return this.segments.length;
  }

  /**
   * Appends a hard state and entries (entries may overwrite a suffix; recovery
   * keeps the later ones) and, when `sync`, fdatasyncs before returning.
   */
  save(hardState: HardState | null, entries: readonly Entry[], sync: boolean): void {
    this.assertOpen();
    if (!hardState && entries.length === 0) return;
    if (hardState && entries.length === 0 && !sync && hardState.term === this.hardState.term && hardState.vote === this.hardState.vote) {
      // Only the commit index moved: hold it back until the next write instead of a write() of its own per
      // committed batch. commitIndex is volatile state (Figure 2); after a restart the leader tells us again.
      this.heldBack = hardState;
      this.hardState = hardState;
      return;
    }
    if (this.size >= this.segmentBytes) this.cut();
    const parts: Buffer[] = [];
    for (const e of entries) parts.push(encodeRecord(RecordType.Entry, encodeEntry(e)));
    // The hard state goes after the entries, so a torn write can lose the commit index but never claim entries it lacks.
    const hs = hardState ?? this.heldBack;
    this.heldBack = null;
    if (hs) parts.push(encodeRecord(RecordType.HardState, encodeHardState(hs)));
    this.writeAll(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    if (sync) fs.fdatasyncSync(this.fd);
    if (hs) this.hardState = hs;
    if (entries.length > 0) this.lastIndex = entries[entries.length - 1]!.index;
  }

  /**
   * Starts an fdatasync on the thread pool and calls `done` when the data
   * written so far is durable. The caller must not write again before `done`.
   */
  syncAsync(done: (error: Error | null) => void): void {
    this.assertOpen();
    this.syncing = true;
    fs.fdatasync(this.fd, (error) => {
      this.syncing = false;
      const waiters = this.closeWaiters.splice(0);
      done(error);
      for (const w of waiters) w();
    });
  }

  /** Resolves once no asynchronous fsync is in flight (so the file can be closed safely). */
  idle(): Promise<void> {
    return this.syncing ? new Promise((r) => this.closeWaiters.push(r)) : Promise.resolve();
  }

  /** Records (durably) that a snapshot file for `marker` exists and covers the log up to its index. */
  saveSnapshotMarker(marker: SnapshotMarker): void {
    this.assertOpen();
    this.writeAll(encodeRecord(RecordType.Snapshot, encodeMarker(marker)));
    fs.fdatasyncSync(this.fd);
    if (marker.kind === "install" || marker.index > this.lastIndex) this.lastIndex = marker.index;
  }

  /** Forces buffered records to disk. */
  sync(): void {
    this.assertOpen();
    fs.fdatasyncSync(this.fd);
  }

  /**
   * Deletes whole segments whose entries are all at or below `index` (a
   * snapshot at or above `index` is durable and marked). The segment being
   * written is never deleted.
   */
  releaseTo(index: number): number {
    this.assertOpen();
    let removed = 0;
    // Segment k holds only entries < firstIndex(k+1): later overwrites go above the commit index, and index <= commit.
    while (this.segments.length > 1 && this.segments[1]!.firstIndex - 1 <= index) {
      const old = this.segments.shift()!;
      fs.rmSync(old.file, { force: true });
      removed++;
    }
    if (removed > 0) fsyncDir(this.dir);
    return removed;
  }

  /** Closes the file (idempotent), writing a held-back commit index first so a clean restart resumes from it. */
  close(): void {
    if (this.closed) return;
    if (this.heldBack) this.writeAll(encodeRecord(RecordType.HardState, encodeHardState(this.heldBack)));
    this.closed = true;
    fs.closeSync(this.fd);
  }

  private writeAll(buf: Buffer): void {
    let done = 0;
    while (done < buf.length) done += fs.writeSync(this.fd, buf, done, buf.length - done, this.size + done);
    this.size += buf.length;
  }

  /** Seals the current segment and starts the next, beginning with the current hard state. */
  private cut(): void {
    fs.fdatasyncSync(this.fd);
    fs.closeSync(this.fd);
    const seq = this.segments[this.segments.length - 1]!.seq + 1;
    const firstIndex = this.lastIndex + 1;
    const file = path.join(this.dir, segmentName(seq, firstIndex));
    const tmp = `${file}.tmp`;
    const header = Buffer.concat([encodeRecord(RecordType.SegmentHeader, encodeSegmentHeader(seq, firstIndex)), encodeRecord(RecordType.HardState, encodeHardState(this.hardState))]);
    fs.writeFileSync(tmp, header);
    const tfd = fs.openSync(tmp, "r+");
    fs.fsyncSync(tfd);
    fs.closeSync(tfd);
    // Rename makes the new segment appear whole, so a crash never leaves a segment without its header.
    fs.renameSync(tmp, file);
    fsyncDir(this.dir);
    this.segments.push({ seq, firstIndex, file });
    this.fd = fs.openSync(file, "r+");
    this.size = header.length;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error("WAL is closed");
  }
}
