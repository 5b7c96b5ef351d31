/**
 * The write-ahead log: Raft's stable storage for the persistent state of
 * Figure 2 (currentTerm, votedFor, log[]), plus markers saying which
 * snapshot replaced the log's prefix, in segment files
 * `<dir>/<seq>-<firstIndex>.wal` (16 hex digits each).
 *
 * The records, what one Ready appends and how recovery replays them are in
 * `src/core/raft/storage-format.ts`, shared with the simulation; this file
 * adds the files: a batch of records (one Ready) is written with one
 * write() and made durable with one fdatasync() before any message of that
 * Ready leaves the node (Figure 2: "updated on stable storage before
 * responding to RPCs"); a torn tail found at recovery is truncated away; a
 * snapshot lets whole segments go.
 */
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { fsyncDir } from "@heck/sim/io";
import type { Entry, HardState } from "../core/raft/index.ts";
import { RecordType, WalAppender, WalCorruptionError, WalReplay, encodeHardState, encodeRecord, encodeSegmentHeader, parseRecord, type SnapshotMarker, type WalState } from "../core/raft/storage-format.ts";

export { WalCorruptionError, MAX_RECORD_BYTES, type SnapshotMarker, type WalState } from "../core/raft/storage-format.ts";

/** The server's checksum: zlib's native CRC-32 (the same function as storage-format's `crc32`, faster). */
const checksum = (bytes: Uint8Array): number => zlib.crc32(bytes);

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

function segmentName(seq: number, firstIndex: number): string {
  return `${seq.toString(16).padStart(16, "0")}-${firstIndex.toString(16).padStart(16, "0")}.wal`;
}

function parseSegmentName(name: string): { seq: number; firstIndex: number } | undefined {
  const m = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/.exec(name);
  if (!m) return undefined;
  return { seq: parseInt(m[1]!, 16), firstIndex: parseInt(m[2]!, 16) };
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
  /** Turns each save into records (and holds back a commit-only hard state, see WalAppender). */
  private readonly appender: WalAppender;
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
    this.appender = new WalAppender(state.hardState, checksum);
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
      fs.writeFileSync(file, encodeRecord(RecordType.SegmentHeader, encodeSegmentHeader(1, 1), checksum));
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
    const replay = new WalReplay(checksum);
    segments.forEach((seg, i) => {
      const buf = fs.readFileSync(seg.file);
      const tornAt = replay.segment(buf, seg.file, i === segments.length - 1);
      if (tornAt === null) return;
      onWarning?.(`WAL: cutting a torn tail of ${buf.length - tornAt} bytes at ${seg.file}:${tornAt} (${describeTear(buf, tornAt)}); it was never acknowledged`);
      const fd = fs.openSync(seg.file, "r+");
      fs.ftruncateSync(fd, tornAt);
      fs.fsyncSync(fd);
      fs.closeSync(fd);
    });
    return replay.finish(segments[0]!.file);
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
    // A new segment begins with the hard state as it was before this save: never one ahead of the entries.
    const before = this.appender.hardState;
    const batch = this.appender.batch(hardState, entries, sync);
    if (!batch) return;
    if (this.size >= this.segmentBytes) this.cut(before);
    this.writeAll(batch.bytes);
    if (sync) fs.fdatasyncSync(this.fd);
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
    this.writeAll(this.appender.marker(marker));
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
    const held = this.appender.flush();
    if (held) this.writeAll(held);
    this.closed = true;
    fs.closeSync(this.fd);
  }

  private writeAll(buf: Uint8Array): void {
    let done = 0;
    while (done < buf.length) done += fs.writeSync(this.fd, buf, done, buf.length - done, this.size + done);
    this.size += buf.length;
  }

  /** Seals the current segment and starts the next, beginning with the current hard state. */
  private cut(hardState: HardState): void {
    fs.fdatasyncSync(this.fd);
    fs.closeSync(this.fd);
    const seq = this.segments[this.segments.length - 1]!.seq + 1;
    const firstIndex = this.lastIndex + 1;
    const file = path.join(this.dir, segmentName(seq, firstIndex));
    const tmp = `${file}.tmp`;
    const header = Buffer.concat([encodeRecord(RecordType.SegmentHeader, encodeSegmentHeader(seq, firstIndex), checksum), encodeRecord(RecordType.HardState, encodeHardState(hardState), checksum)]);
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

/** Why the record at `offset` is unreadable, for the warning about a torn tail. */
function describeTear(buf: Uint8Array, offset: number): string {
  const r = parseRecord(buf, offset, checksum);
  return "bad" in r ? r.bad : "unreadable";
}
