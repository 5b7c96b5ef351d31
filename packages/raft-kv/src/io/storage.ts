/**
 * A node's stable storage: the WAL plus snapshot files under one data dir
 * (`<dataDir>/wal`, `<dataDir>/snap`). The driver hands it each Ready's
 * persistent part and gets the persisted state back on restart.
 */
import path from "node:path";
import fs from "node:fs";
import type { PersistedState, Ready, Snapshot } from "../core/raft/index.ts";
import { restartState } from "../core/raft/storage-format.ts";
import { SnapshotStore } from "./snapshot-file.ts";
import { Wal, type WalOptions } from "./wal.ts";
import { ServerError } from "../core/replica/errors.ts";

/** What {@link DiskStorage.open} found. */
export interface OpenedStorage {
  storage: DiskStorage;
  /** Null on a fresh data dir (bootstrap or join); the state to restart from otherwise. */
  persisted: PersistedState | null;
  /** Bytes of torn tail cut during recovery. */
  tornBytes: number;
}

/** WAL + snapshots of one node. */
export class DiskStorage {
  private closed = false;
  private snapshotSaving: Promise<void> = Promise.resolve();
  /** Index of the newest snapshot the WAL has a marker for (or is about to). */
  private newestMarkerIndex = 0;

  private constructor(
    readonly dataDir: string,
    private readonly wal: Wal,
    private readonly snaps: SnapshotStore,
  ) {}

  /**
   * Marks `dataDir` as this node's (meta.json), or refuses a data dir written
   * by another node or cluster: starting on it would corrupt both.
   */
  static claim(dataDir: string, id: string, clusterToken: string): void {
    fs.mkdirSync(dataDir, { recursive: true });
    const file = path.join(dataDir, "meta.json");
    if (fs.existsSync(file)) {
      let meta: { id?: unknown; clusterToken?: unknown };
      try {
        meta = JSON.parse(fs.readFileSync(file, "utf8")) as typeof meta;
      } catch (error) {
        throw new ServerError("invalid_argument", `data dir ${dataDir}: meta.json is unreadable (${error instanceof Error ? error.message : String(error)})`, { field: "dataDir" });
      }
      if (meta.id !== id) throw new ServerError("invalid_argument", `data dir ${dataDir} belongs to node ${String(meta.id)}, not ${id}`, { field: "dataDir" });
      if (meta.clusterToken !== clusterToken) throw new ServerError("invalid_argument", `data dir ${dataDir} belongs to cluster ${String(meta.clusterToken)}, not ${clusterToken}`, { field: "dataDir" });
      return;
    }
    const tmp = `${file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ id, clusterToken }) + "\n");
    fs.renameSync(tmp, file);
  }

  /** Opens or creates storage under `dataDir`; throws WalCorruptionError / SnapshotCorruptionError on damage. */
  static open(dataDir: string, options: WalOptions = {}): OpenedStorage {
    fs.mkdirSync(dataDir, { recursive: true });
    const snaps = new SnapshotStore(path.join(dataDir, "snap"));
    const { wal, state } = Wal.open(path.join(dataDir, "wal"), options);
    const storage = new DiskStorage(dataDir, wal, snaps);
    storage.newestMarkerIndex = state.snapshot?.index ?? 0;
    return { storage, persisted: restartState(state, (index, term) => snaps.load(index, term)), tornBytes: state.tornBytes };
  }

  /**
   * Step 1 of handling a Ready: an installed snapshot first (file, then its
   * marker), then entries (the Ready's records) and hard state, fsynced when the Ready says so.
   * Returns only once the data is durable, so the caller may then send.
   */
  persistReady(rd: Pick<Ready, "hardState" | "records" | "snapshot" | "mustSync">): void {
    if (rd.snapshot) {
      this.snaps.save(rd.snapshot);
      const m = rd.snapshot.metadata;
      this.newestMarkerIndex = Math.max(this.newestMarkerIndex, m.index);
      this.wal.saveSnapshotMarker({ index: m.index, term: m.term, confState: m.confState, kind: "install" });
    }
    this.wal.save(rd.hardState, rd.records, rd.mustSync);
  }

  /**
   * Step 1 without blocking on the disk: writes the Ready now, then calls
   * `done` once it is durable (at once when no fsync is needed). Meanwhile the
   * event loop keeps receiving messages and proposals, so the next Ready
   * batches everything that arrived during the fsync.
   */
  persistReadyAsync(rd: Pick<Ready, "hardState" | "records" | "snapshot" | "mustSync">, done: (error: Error | null) => void): void {
    if (rd.snapshot) {
      this.snaps.save(rd.snapshot);
      const m = rd.snapshot.metadata;
      this.newestMarkerIndex = Math.max(this.newestMarkerIndex, m.index);
      this.wal.saveSnapshotMarker({ index: m.index, term: m.term, confState: m.confState, kind: "install" });
    }
    this.wal.save(rd.hardState, rd.records, false);
    if (rd.mustSync) this.wal.syncAsync(done);
    else done(null);
  }

  /** Resolves when no asynchronous fsync or snapshot save is in flight. */
  async idle(): Promise<void> {
    await this.snapshotSaving;
    await this.wal.idle();
  }

  /**
   * {@link saveLocalSnapshot} without blocking the event loop: the snapshot
   * file is written and fsynced on the thread pool; then the WAL marker is
   * written and the segments it covers are freed. Until then the WAL still
   * holds every entry, so a crash meanwhile just replays them. Resolves when
   * done; rejects if the disk failed (the caller should stop).
   */
  async saveLocalSnapshotAsync(snapshot: Snapshot): Promise<void> {
    const saving = (async () => {
      await this.snaps.saveAsync(snapshot);
      if (this.closed) return;
      const m = snapshot.metadata;
      // A snapshot installed from the leader while this one was written is newer and already replaced the log.
      if (m.index <= this.newestMarkerIndex) return;
      this.newestMarkerIndex = m.index;
      this.wal.saveSnapshotMarker({ index: m.index, term: m.term, confState: m.confState, kind: "compact" });
      this.wal.releaseTo(m.index);
      this.snaps.prune(2);
    })();
    this.snapshotSaving = saving.catch(() => undefined);
    await saving;
  }

  /** Saves a snapshot we took of our own state (compaction), then frees WAL segments it covers. */
  saveLocalSnapshot(snapshot: Snapshot): void {
    this.snaps.save(snapshot);
    const m = snapshot.metadata;
    this.newestMarkerIndex = Math.max(this.newestMarkerIndex, m.index);
    this.wal.saveSnapshotMarker({ index: m.index, term: m.term, confState: m.confState, kind: "compact" });
    this.wal.releaseTo(m.index);
    this.snaps.prune(2);
  }

  /** Bytes of every file under the data dir (etcd's dbSize, for status). */
  sizeBytes(): number {
    let total = 0;
    const walk = (d: string) => {
      let names: fs.Dirent[];
      try {
        names = fs.readdirSync(d, { withFileTypes: true });
      } catch {
        return;
      }
      for (const n of names) {
        const p = path.join(d, n.name);
        if (n.isDirectory()) walk(p);
        else {
          try {
            total += fs.statSync(p).size;
          } catch {
            // A segment deleted between readdir and stat: skip it.
          }
        }
      }
    };
    walk(this.dataDir);
    return total;
  }

  /** Number of WAL segment files (for status and tests). */
  get walSegments(): number {
    return this.wal.segmentCount;
  }

  /** Closes the WAL (call {@link idle} first: a snapshot save still in flight then stops short of its marker). */
  close(): void {
    this.closed = true;
    this.wal.close();
  }
}
