/**
 * Raft's persistent state (Figure 2: currentTerm, votedFor, log[]) as
 * bytes, with no file in sight: the write-ahead log's records, what one
 * Ready appends, how recovery replays them, and the snapshot file format.
 * `src/io/wal.ts` and `src/io/snapshot-file.ts` put these bytes in files;
 * the simulation puts them on its simulated disk, so a seeded crash replays
 * exactly what a real node writes, through the same recovery code.
 *
 * A WAL record is
 *
 *     u32 length | u32 crc32(type + payload) | u8 type | payload (length bytes)
 *
 * and a snapshot file is `magic | version | index | term | confState | data
 * | u32 crc32 of everything before it`. Integers are little-endian.
 *
 * Recovery reads records in order. A bad record (short, zero-filled or
 * failing its CRC) at the very end with no valid record after it is a torn
 * tail from a crash mid-write: it was never acknowledged (its fsync never
 * returned), so it is cut off. A bad record anywhere else, or one followed
 * by valid records, means acknowledged data was lost: recovery refuses to
 * go on ({@link WalCorruptionError}), because silently continuing could
 * forget committed entries.
 */
import type { ConfState, Entry, HardState, PersistedState, Snapshot } from "./types.ts";
import { crc32 } from "@heck/sim";
import { Reader, Writer } from "../kv/wire.ts";

/** A CRC-32 (IEEE 802.3) of some bytes; injected so a server can use a native one. */
export type Checksum = (bytes: Uint8Array) => number;

/** CRC-32 (IEEE 802.3, as zlib's crc32): the shared kit's, which the simulation and the tests use; the server injects zlib's native one. */
export { crc32 };

/** Record types; the numbers are on disk, never renumber. */
export const RecordType = { SegmentHeader: 1, Entry: 2, HardState: 3, Snapshot: 4 } as const;
/** One of {@link RecordType}. */
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

/** Bytes before a record's payload: length, CRC, type. */
export const RECORD_HEADER_BYTES = 9;
/** Records larger than this are refused on write and treated as garbage on read. */
export const MAX_RECORD_BYTES = 256 * 1024 * 1024;
const SEGMENT_MAGIC = "heck-raft-wal";
const WAL_VERSION = 1;
const SNAPSHOT_MAGIC = "heck-raft-snap";
const SNAPSHOT_VERSION = 1;

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
  /** Bytes cut off as a torn tail (0 when the log ended cleanly). */
  tornBytes: number;
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

/** A snapshot file is unreadable; the node refuses to start on it rather than lose data silently. */
export class SnapshotCorruptionError extends Error {
  override readonly name = "SnapshotCorruptionError";
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`snapshot file ${file} is corrupted: ${reason}`);
  }
}

// ---------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------

/** One framed record. */
export function encodeRecord(type: RecordType, payload: Uint8Array, checksum: Checksum = crc32): Uint8Array {
  if (payload.length > MAX_RECORD_BYTES) throw new RangeError(`WAL record of ${payload.length} bytes exceeds ${MAX_RECORD_BYTES}`);
  const buf = new Uint8Array(RECORD_HEADER_BYTES + payload.length);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  view.setUint32(0, payload.length, true);
  buf[8] = type;
  buf.set(payload, RECORD_HEADER_BYTES);
  view.setUint32(4, checksum(buf.subarray(8)), true);
  return buf;
}

/** Parses one record at `offset`; "bad" when it is short, zeroed, oversized or fails its CRC. */
export function parseRecord(buf: Uint8Array, offset: number, checksum: Checksum = crc32): { type: RecordType; payload: Uint8Array; next: number } | { bad: string } {
  if (offset + RECORD_HEADER_BYTES > buf.length) return { bad: "record header cut short" };
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const len = view.getUint32(offset, true);
  const crc = view.getUint32(offset + 4, true);
  const type = buf[offset + 8]!;
  if (type < RecordType.SegmentHeader || type > RecordType.Snapshot) return { bad: `unknown record type ${type}` };
  if (len > MAX_RECORD_BYTES) return { bad: `record length ${len} too large` };
  const end = offset + RECORD_HEADER_BYTES + len;
  if (end > buf.length) return { bad: `record of ${len} bytes runs past the end of the file` };
  if (checksum(buf.subarray(offset + 8, end)) !== crc) return { bad: "CRC mismatch" };
  return { type: type as RecordType, payload: buf.subarray(offset + RECORD_HEADER_BYTES, end), next: end };
}

/** True when some valid record starts anywhere after `offset` (so the damage is not a torn tail). */
export function validRecordAfter(buf: Uint8Array, offset: number, checksum: Checksum = crc32): boolean {
  for (let p = offset + 1; p + RECORD_HEADER_BYTES <= buf.length; p++) {
    const r = parseRecord(buf, p, checksum);
    if ("type" in r && r.payload.length > 0) return true;
  }
  return false;
}

const entryTypes = ["normal", "confChange"] as const;

/** A log entry's record payload. */
export function encodeEntry(e: Entry): Uint8Array {
  return new Writer(e.data.length + 32).uint(e.index).uint(e.term).uint(entryTypes.indexOf(e.type)).bytes(e.data).finish();
}

function decodeEntry(p: Uint8Array): Entry {
  const r = new Reader(p);
  const index = r.uint();
  const term = r.uint();
  const t = entryTypes[r.uint()];
  if (!t) throw new Error("unknown entry type");
  return { index, term, type: t, data: r.bytes() };
}

/** A hard state's record payload. */
export function encodeHardState(h: HardState): Uint8Array {
  return new Writer().uint(h.term).bool(h.vote !== null).string(h.vote ?? "").uint(h.commit).finish();
}

function decodeHardState(p: Uint8Array): HardState {
  const r = new Reader(p);
  const term = r.uint();
  const hasVote = r.bool();
  const vote = r.string();
  return { term, vote: hasVote ? vote : null, commit: r.uint() };
}

/** Encodes a ConfState (in snapshot markers and snapshot files). */
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

/** A snapshot marker's record payload. */
export function encodeMarker(m: SnapshotMarker): Uint8Array {
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

/** The payload of the record each segment file begins with. */
export function encodeSegmentHeader(seq: number, firstIndex: number): Uint8Array {
  return new Writer().string(SEGMENT_MAGIC).uint(WAL_VERSION).uint(seq).uint(firstIndex).finish();
}

// ---------------------------------------------------------------------------
// Writing: the records one Ready appends
// ---------------------------------------------------------------------------

/** Records encoded back to back: all of them in `bytes`, record i ending at `ends[i]`. */
export interface RecordBatch {
  bytes: Uint8Array;
  ends: number[];
}

/** Writes `value` as an unsigned LEB128 varint (as Writer.uint) at `pos`; returns the position after it. */
function putUint(buf: Uint8Array, pos: number, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`WAL: ${value} is not an unsigned safe integer`);
  let v = value;
  while (v >= 0x80) {
    buf[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buf[pos++] = v;
  return pos;
}

/** Fills in the header of the record whose payload lies in buf[start + header, end): length, type, then the CRC over both. */
function sealRecord(buf: Uint8Array, view: DataView, start: number, end: number, type: RecordType, checksum: Checksum): void {
  const length = end - start - RECORD_HEADER_BYTES;
  if (length > MAX_RECORD_BYTES) throw new RangeError(`WAL record of ${length} bytes exceeds ${MAX_RECORD_BYTES}`);
  view.setUint32(start, length, true);
  buf[start + 8] = type;
  view.setUint32(start + 4, checksum(buf.subarray(start + 8, end)), true);
}

/**
 * Turns each Ready's hard state and entries into the records to append.
 * Entries come first and the hard state after them, so a torn write can
 * lose the commit index but never claim entries it lacks. A Ready that only
 * moves the commit index appends nothing: its hard state is held back until
 * the next write (commitIndex is volatile state, Figure 2; after a restart
 * the leader tells us again), which saves a write per committed batch.
 */
export class WalAppender {
  private held: HardState | null = null;

  constructor(
    /** The newest hard state written (or held back). */
    public hardState: HardState,
    private readonly checksum: Checksum = crc32,
  ) {}

  /** The records to append for this hard state and these entries (may overwrite a suffix; recovery keeps the later ones). */
  records(hardState: HardState | null, entries: readonly Entry[], sync: boolean): Uint8Array[] {
    const b = this.batch(hardState, entries, sync);
    if (!b) return [];
    return b.ends.map((end, i) => b.bytes.subarray(i === 0 ? 0 : b.ends[i - 1], end));
  }

  /**
   * The same records encoded back to back in one buffer (null when there are
   * none): one allocation and one copy of each entry's data for a whole
   * Ready, where a record at a time cost three of each (payload, record,
   * concatenation). `ends[i]` is where record i ends in `bytes`.
   */
  batch(hardState: HardState | null, entries: readonly Entry[], sync: boolean): RecordBatch | null {
    if (!hardState && entries.length === 0) return null;
    if (hardState && entries.length === 0 && !sync && hardState.term === this.hardState.term && hardState.vote === this.hardState.vote) {
      this.held = hardState;
      this.hardState = hardState;
      return null;
    }
    const hs = hardState ?? this.held;
    this.held = null;
    const hsPayload = hs ? encodeHardState(hs) : null;
    // An entry's payload is four varints (at most 8 bytes each) and its data.
    let size = hsPayload ? RECORD_HEADER_BYTES + hsPayload.length : 0;
    for (const e of entries) size += RECORD_HEADER_BYTES + 32 + e.data.length;
    const buf = new Uint8Array(size);
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const ends: number[] = [];
    let pos = 0;
    for (const e of entries) {
      const start = pos;
      pos = putUint(buf, start + RECORD_HEADER_BYTES, e.index);
      pos = putUint(buf, pos, e.term);
      pos = putUint(buf, pos, entryTypes.indexOf(e.type));
      pos = putUint(buf, pos, e.data.length);
      buf.set(e.data, pos);
      pos += e.data.length;
      sealRecord(buf, view, start, pos, RecordType.Entry, this.checksum);
      ends.push(pos);
    }
    if (hs && hsPayload) {
      const start = pos;
      buf.set(hsPayload, start + RECORD_HEADER_BYTES);
      pos = start + RECORD_HEADER_BYTES + hsPayload.length;
      sealRecord(buf, view, start, pos, RecordType.HardState, this.checksum);
      ends.push(pos);
      this.hardState = hs;
    }
    return { bytes: buf.subarray(0, pos), ends };
  }

  /** The held-back hard state as a record, if any (write it on a clean close so a restart resumes from it). */
  flush(): Uint8Array | null {
    if (!this.held) return null;
    const rec = encodeRecord(RecordType.HardState, encodeHardState(this.held), this.checksum);
    this.held = null;
    return rec;
  }

  /** A snapshot marker record. */
  marker(m: SnapshotMarker): Uint8Array {
    return encodeRecord(RecordType.Snapshot, encodeMarker(m), this.checksum);
  }
}

// ---------------------------------------------------------------------------
// Recovery
// ---------------------------------------------------------------------------

/** Replays WAL records into the state they describe; feed it every segment in order, then call {@link finish}. */
export class WalReplay {
  private hardState: HardState = { term: 0, vote: null, commit: 0 };
  private snapshot: SnapshotMarker | null = null;
  private entries: Entry[] = [];
  private tornBytes = 0;

  constructor(private readonly checksum: Checksum = crc32) {}

  /**
   * Replays one segment's bytes, named `name` in errors. Only the last
   * segment may end in a torn tail: returns the offset it starts at (the
   * caller truncates there), or null when the segment ended cleanly.
   */
  segment(buf: Uint8Array, name: string, isLast: boolean): number | null {
    let offset = 0;
    while (offset < buf.length) {
      const rec = parseRecord(buf, offset, this.checksum);
      if ("bad" in rec) {
        const allZero = buf.subarray(offset).every((b) => b === 0);
        if (!isLast) throw new WalCorruptionError(name, offset, `${rec.bad} in a sealed segment`);
        if (!allZero && validRecordAfter(buf, offset, this.checksum)) throw new WalCorruptionError(name, offset, `${rec.bad}, followed by valid records`);
        this.tornBytes = buf.length - offset;
        return offset;
      }
      try {
        this.apply(rec.type, rec.payload, offset);
      } catch (error) {
        throw new WalCorruptionError(name, offset, `record passed its CRC but does not decode (${error instanceof Error ? error.message : String(error)})`);
      }
      offset = rec.next;
    }
    return null;
  }

  private apply(type: RecordType, payload: Uint8Array, offset: number): void {
    switch (type) {
      case RecordType.SegmentHeader: {
        const r = new Reader(payload);
        if (r.string() !== SEGMENT_MAGIC) throw new Error("bad segment magic");
        const version = r.uint();
        if (version !== WAL_VERSION) throw new Error(`unsupported WAL version ${version}`);
        if (offset !== 0) throw new Error("segment header in the middle of a segment");
        return;
      }
      case RecordType.Entry: {
        const e = decodeEntry(payload);
        const last = this.entries.length > 0 ? this.entries[this.entries.length - 1]!.index : undefined;
        if (last !== undefined && e.index <= last) {
          // A new leader overwrote a suffix (§5.3): later records win.
          this.entries = this.entries.slice(0, this.entries.length - (last - e.index + 1));
        }
        const prev = this.entries.length > 0 ? this.entries[this.entries.length - 1]!.index : undefined;
        if (prev !== undefined && e.index !== prev + 1) throw new Error(`entry ${e.index} does not follow ${prev}`);
        this.entries.push(e);
        return;
      }
      case RecordType.HardState:
        this.hardState = decodeHardState(payload);
        return;
      case RecordType.Snapshot: {
        const m = decodeMarker(payload);
        this.snapshot = m;
        // An installed snapshot replaces the whole log before it; our own compaction only its prefix.
        this.entries = m.kind === "install" ? [] : this.entries.filter((e) => e.index > m.index);
        return;
      }
    }
  }

  /** The recovered state; `firstName` names the log in the error if it does not start right after the snapshot. */
  finish(firstName: string): WalState {
    const snap = this.snapshot;
    let entries = this.entries;
    if (snap) entries = entries.filter((e) => e.index > snap.index);
    const first = entries[0];
    const expectedFirst = (snap?.index ?? 0) + 1;
    if (first && first.index !== expectedFirst) {
      throw new WalCorruptionError(firstName, 0, `log starts at ${first.index} but the snapshot covers only up to ${expectedFirst - 1} (missing entries)`);
    }
    return { hardState: this.hardState, snapshot: snap, entries, tornBytes: this.tornBytes };
  }
}

/**
 * What a node restarts from, given what replay read and a way to load the
 * snapshot its newest marker names: null when nothing durable was found (a
 * fresh data dir: bootstrap or join). A snapshot holds only committed
 * state, so the commit index is at least the snapshot's.
 *
 * A power loss may tear off the hard state written after a Ready's entries
 * (or after an installed snapshot's marker), keeping entries of a term the
 * hard state never reached. That write was never synced, so nothing in it
 * was acknowledged and no vote in that term ever left the node (every
 * earlier hard state of that term would have survived, being earlier in
 * the log): it resumes in the newest term its log holds, having voted for
 * nobody, rather than refuse to start.
 */
export function restartState(state: WalState, loadSnapshot: (index: number, term: number) => Snapshot): PersistedState | null {
  if (state.hardState.term === 0 && state.entries.length === 0 && state.snapshot === null) return null;
  const snapshot = state.snapshot ? loadSnapshot(state.snapshot.index, state.snapshot.term) : null;
  let hardState: HardState = state.hardState;
  const logTerm = Math.max(state.entries.at(-1)?.term ?? 0, snapshot?.metadata.term ?? 0);
  if (logTerm > hardState.term) hardState = { term: logTerm, vote: null, commit: hardState.commit };
  if (snapshot && hardState.commit < snapshot.metadata.index) hardState = { ...hardState, commit: snapshot.metadata.index };
  return { hardState, snapshot, entries: state.entries };
}

// ---------------------------------------------------------------------------
// Snapshot files
// ---------------------------------------------------------------------------

/** A snapshot file's bytes. */
export function encodeSnapshotFile(snapshot: Snapshot, checksum: Checksum = crc32): Uint8Array {
  const w = new Writer(snapshot.data.length + 512).string(SNAPSHOT_MAGIC).uint(SNAPSHOT_VERSION).uint(snapshot.metadata.index).uint(snapshot.metadata.term);
  writeConfState(w, snapshot.metadata.confState);
  w.bytes(snapshot.data);
  const body = w.finish();
  const buf = new Uint8Array(body.length + 4);
  buf.set(body, 0);
  new DataView(buf.buffer).setUint32(body.length, checksum(body), true);
  return buf;
}

/**
 * Reads a snapshot file named `name`, which a WAL marker says holds the
 * snapshot at `index` and `term`; throws {@link SnapshotCorruptionError} when
 * it is damaged or holds another one.
 */
export function decodeSnapshotFile(buf: Uint8Array, name: string, index: number, term: number, checksum: Checksum = crc32): Snapshot {
  if (buf.length < 4) throw new SnapshotCorruptionError(name, "file too short");
  const body = buf.subarray(0, buf.length - 4);
  if (checksum(body) !== new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(buf.length - 4, true)) throw new SnapshotCorruptionError(name, "CRC mismatch");
  try {
    const r = new Reader(body);
    if (r.string() !== SNAPSHOT_MAGIC) throw new Error("bad magic");
    const version = r.uint();
    if (version !== SNAPSHOT_VERSION) throw new Error(`unsupported version ${version}`);
    const idx = r.uint();
    const t = r.uint();
    const confState = readConfState(r);
    const data = r.bytes();
    if (idx !== index || t !== term) throw new Error(`file holds index ${idx} term ${t}, expected ${index}/${term}`);
    return { metadata: { index: idx, term: t, confState }, data };
  } catch (error) {
    throw new SnapshotCorruptionError(name, error instanceof Error ? error.message : String(error));
  }
}
