/**
 * A replica behind the one Ready contract every Heck core shares (@heck/sim
 * `ProtocolCore`: tick, receive, hasReady/ready/advance), whose Readies ask
 * to persist the write-ahead log's own bytes: the records and snapshot
 * files storage-format.ts encodes, exactly as `src/io/wal.ts` and
 * `src/io/snapshot-file.ts` write them. Whoever drains its Readies (the
 * simulation runner) needs no Raft knowledge: write the snapshot image and
 * the records to a disk, sync when asked, send the messages, call
 * `advance()`. A restarted node reads that disk back with
 * {@link recoverStorage}, through the WAL's own replay (`WalReplay`) and
 * the server's own restart rules (`restartState`).
 *
 * The server drives the {@link Replica} directly instead, because its disk
 * is asynchronous (the fsync runs on the thread pool while messages keep
 * arriving) and a leader's appends leave before its own fsync
 * (dissertation §10.2.1).
 *
 * The simulated disk has one log, which a snapshot replaces. The server's
 * WAL keeps older segments until a snapshot's marker is durable, so the hard
 * state and the entries after the snapshot survive the snapshot's write
 * there; here they travel in the snapshot image itself ({@link SnapshotImage}).
 */
import type { DiskImage, NodeId, Outbound, Ready as CoreReady } from "@heck/sim";
import type { Message, PersistedState, Ready, Snapshot } from "../raft/index.ts";
import { RecordType, WalAppender, WalReplay, crc32, decodeSnapshotFile, encodeEntry, encodeHardState, encodeRecord, encodeSnapshotFile, restartState, type Checksum } from "../raft/storage-format.ts";
import type { Envelope } from "./envelope.ts";
import { MemoryStorage } from "./memory-storage.ts";
import { Replica, type ReplicaHooks, type ReplicaOptions } from "./replica.ts";

/**
 * What a snapshot write leaves on a disk with one log: the snapshot file
 * and the WAL records that must survive with it (its marker, the hard
 * state, and after a compaction the entries that follow the snapshot).
 */
export interface SnapshotImage {
  readonly file: Uint8Array;
  readonly records: readonly Uint8Array[];
}

/** A disk written by a {@link ReplicaNode}: its last snapshot image and the WAL records appended after it. */
export type StorageImage = DiskImage<Uint8Array, SnapshotImage>;

/**
 * One batch of a {@link ReplicaNode}: persist (the snapshot image, then the
 * records; fsync when `mustSync`), then send the messages, then `advance()`.
 */
export interface ReplicaNodeReady extends CoreReady<Outbound<Envelope>, Uint8Array, SnapshotImage> {
  /** The core's own Ready, for observers (what it persists, commits, sends); null when only envelopes or a compaction go out. */
  readonly raft: Ready | null;
}

/** How a Raft message travels (the server uses TCP for all of them; a simulation may send small ones as packets). */
export type ChannelOf = (m: Message) => "packet" | "stream";

/**
 * Reads a disk written by {@link ReplicaNode} (or one a crash damaged) back
 * into the state a replica restarts from: null when nothing durable is on
 * it (the node starts afresh, as on an empty data dir). Throws
 * WalCorruptionError or SnapshotCorruptionError on damage a crash cannot
 * explain; a torn last record is cut off, as the WAL does.
 */
export function recoverStorage(image: StorageImage, checksum: Checksum = crc32): PersistedState | null {
  const replay = new WalReplay(checksum);
  // A snapshot image is written whole (a temporary file, fsync, rename): any damage in it is corruption.
  if (image.snapshot) replay.segment(concat(image.snapshot.records), "snapshot image", false);
  replay.segment(concat(image.records), "simulated disk", true);
  const state = replay.finish("simulated disk");
  return restartState(state, (index, term) => {
    if (!image.snapshot) throw new Error(`recoverStorage: a marker names snapshot ${index}@${term} but the disk holds no snapshot file`);
    return decodeSnapshotFile(image.snapshot.file, "simulated disk", index, term, checksum);
  });
}

/** {@link ReplicaOptions} without the `send` hook: forwarded proposals leave in the next Ready. */
export type ReplicaNodeOptions = Omit<ReplicaOptions, "hooks"> & { hooks?: Omit<ReplicaHooks, "send"> };

/** A {@link Replica} whose Readies persist the WAL's own bytes (see the file comment). */
export class ReplicaNode {
  readonly id: NodeId;
  readonly replica: Replica;
  /** What the Readies handed out so far asked to persist: the entries a compaction keeps come from here, and observers read terms from it. */
  private readonly stored: MemoryStorage;
  private readonly appender: WalAppender;
  private outbox: Outbound<Envelope>[] = [];
  private pendingCompaction: Snapshot | null = null;
  private outstanding: Ready | null = null;
  private handedOut = false;
  /** The time of the last input, for `advance()`. */
  protected now: number;

  /** Starts as `options.start` says; for a restart, pass {@link recoverStorage}'s result as `{ persisted }`. */
  constructor(
    options: ReplicaNodeOptions,
    private readonly channelOf: ChannelOf = () => "stream",
    private readonly checksum: Checksum = crc32,
  ) {
    this.id = options.raft.id;
    this.now = options.nowMs;
    const persisted = "persisted" in options.start ? options.start.persisted : undefined;
    this.stored = new MemoryStorage(persisted);
    this.appender = new WalAppender(persisted?.hardState ?? { term: 0, vote: null, commit: 0 }, checksum);
    this.replica = new Replica({
      ...options,
      hooks: { ...options.hooks, send: (to, envelope) => this.outbox.push({ to, message: envelope, channel: "stream" }) },
    });
  }

  // --- inputs -----------------------------------------------------------------------

  /** Runs whatever is due at `nowMs` (Raft ticks, timeouts). */
  tick(nowMs: number): void {
    this.now = nowMs;
    this.replica.tick(nowMs);
  }

  /** The replica's next deadline. */
  nextDeadlineMs(): number {
    return this.replica.nextDeadlineMs();
  }

  /** One envelope from a peer (the envelope names its sender). */
  receive(_from: NodeId, envelope: Envelope, _channel: "packet" | "stream", nowMs: number): void {
    this.now = nowMs;
    this.replica.receive(envelope, nowMs);
  }

  // --- the Ready contract -----------------------------------------------------------------

  /** Whether `ready()` has anything to do; false while a Ready is outstanding. */
  hasReady(): boolean {
    if (this.handedOut) return false;
    return this.outbox.length > 0 || this.pendingCompaction !== null || this.replica.hasReady();
  }

  /** The next batch: the core's Ready as WAL records and a snapshot image, its messages, and any envelopes to forward. */
  ready(): ReplicaNodeReady {
    if (this.handedOut) throw new Error("ReplicaNode.ready: call advance() for the previous Ready first");
    this.handedOut = true;
    const rd = this.replica.hasReady() ? this.replica.ready() : null;
    this.outstanding = rd;
    let snapshot: SnapshotImage | null = null;
    const records: Uint8Array[] = [];
    if (this.pendingCompaction) {
      snapshot = this.compactionImage(this.pendingCompaction);
      this.pendingCompaction = null;
    }
    const messages = this.outbox;
    this.outbox = [];
    if (rd) {
      if (rd.snapshot) {
        // A snapshot from the leader replaces the whole log (dissertation §5.1, Figure 5.3 step 7); it is newer
        // than any compaction of ours (the core accepts one only past its commit index), so it wins.
        const m = rd.snapshot.metadata;
        const marker = this.appender.marker({ index: m.index, term: m.term, confState: m.confState, kind: "install" });
        snapshot = { file: encodeSnapshotFile(rd.snapshot, this.checksum), records: [marker, this.hardStateRecord()] };
      }
      for (const r of this.appender.records(rd.hardState, rd.records, rd.mustSync)) records.push(r);
      this.stored.save(rd);
      for (const m of rd.messages) messages.push({ to: m.to, message: { kind: "raft", message: m }, channel: this.channelOf(m) });
    }
    return { snapshot, records, mustSync: snapshot !== null || (rd?.mustSync ?? false), messages, raft: rd };
  }

  /** The batch is persisted and sent: apply it, and take a snapshot if one is due (it goes out with the next Ready). */
  advance(): void {
    if (!this.handedOut) throw new Error("ReplicaNode.advance: no Ready outstanding");
    this.handedOut = false;
    const rd = this.outstanding;
    this.outstanding = null;
    if (rd) this.replica.advance(rd, this.now);
    const snap = this.replica.compactIfDue();
    if (snap) {
      this.pendingCompaction = snap;
      this.compacted(snap);
    }
  }

  /** Called when this node has just taken a snapshot of its own state (it is written with the next Ready); for subclasses that observe compactions. */
  protected compacted(_snapshot: Snapshot): void {}

  /** Our own snapshot (compaction): the file, its marker, the entries after it, and the hard state. */
  private compactionImage(snap: Snapshot): SnapshotImage {
    const m = snap.metadata;
    const records = [this.appender.marker({ index: m.index, term: m.term, confState: m.confState, kind: "compact" })];
    this.stored.compact(snap);
    for (const e of this.stored.entries) records.push(encodeRecord(RecordType.Entry, encodeEntry(e), this.checksum));
    records.push(this.hardStateRecord());
    return { file: encodeSnapshotFile(snap, this.checksum), records };
  }

  /** The newest hard state (a held-back commit-only one included), as a record. */
  private hardStateRecord(): Uint8Array {
    return encodeRecord(RecordType.HardState, encodeHardState(this.appender.hardState), this.checksum);
  }

  // --- what the Readies persisted, for observers --------------------------------------------

  /** The term of a persisted entry (the snapshot's at its index; undefined if compacted or absent). */
  storedTermAt(index: number): number | undefined {
    return this.stored.termAt(index);
  }

  /** The index of the newest persisted snapshot (0 when none). */
  storedSnapshotIndex(): number {
    return this.stored.snapshotIndex();
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
