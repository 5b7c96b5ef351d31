/**
 * A node's simulated disk: exactly the snapshots and records its Readies
 * asked to persist, in order, and how far they were synced.
 *
 * It models the two facts a recovery path has to survive. A snapshot is
 * written whole or not at all (both real drivers write it to a temporary
 * file, fsync, rename), and it replaces everything before it, which makes
 * everything before it durable too. Records are appended; those covered by
 * a sync are on stable storage, the tail after the last sync only in the
 * page cache. A process crash (kill -9) keeps the page cache, so by default
 * a crash loses nothing that was written; a machine crash (power loss) can
 * lose any suffix of the unsynced tail, and leave the first lost record
 * half written ("torn"). The runner draws those faults from the run's seed
 * when {@link DiskFaultOptions} asks for them.
 *
 * Positions are counted over the disk's whole life (`written`, `synced`),
 * not within the current snapshot's tail, so a sync in flight still means
 * the same records after a snapshot replaced them.
 */
import type { DiskImage, Prng } from "./types.ts";

/** Crash faults of the simulated disks, each a probability per crash, drawn from the run's "disk" stream. */
export interface DiskFaultOptions {
  /**
   * Probability that a crash loses part of the records written since the
   * last sync (a power loss rather than a process kill): a random suffix of
   * the unsynced tail, at least one record. Default 0.
   */
  lostUnsyncedRate: number;
  /**
   * Probability that, when records are lost, the first of them stays on disk
   * torn: cut short by the stage's `tear`, so recovery must detect and drop
   * it (a checksum). Needs `tear`. Default 0.
   */
  tornRecordRate: number;
}

/** What a crash did to a disk. */
export interface CrashDamage {
  /** Unsynced records lost. */
  lost: number;
  /** Whether the first lost record was left torn on disk. */
  torn: boolean;
}

/** One node's disk; survives the node's crashes and restarts. */
export class SimDisk<R, S> {
  private snapshot: S | null = null;
  /** The records appended since the last snapshot. */
  private records: R[] = [];
  /** Records ever appended (the position after the last one). */
  private writtenCount = 0;
  /** Records ever made durable (by a sync, a snapshot, or a crash that kept them). */
  private syncedCount = 0;
  /** A record a crash left half written after the others, until the next restart's recovery cuts it off. */
  private torn: R | undefined;
  /** Counters of what was persisted, for stats. */
  recordsWritten = 0;
  snapshotsWritten = 0;
  syncs = 0;
  /** Counters of what crashes did: unsynced records lost, and lost records left torn. */
  recordsLost = 0;
  recordsTorn = 0;

  /** Position after the last record written. */
  get written(): number {
    return this.writtenCount;
  }

  /** Position after the last durable record. */
  get synced(): number {
    return this.syncedCount;
  }

  /** Records written but not yet synced. */
  get unsynced(): number {
    return this.writtenCount - this.syncedCount;
  }

  /** Persists one Ready's snapshot (replacing, and making durable, everything before it) and appends its records. */
  write(snapshot: S | null, records: readonly R[]): void {
    if (snapshot !== null) {
      this.snapshot = snapshot;
      this.records = [];
      this.syncedCount = this.writtenCount;
      this.snapshotsWritten++;
    }
    for (let i = 0; i < records.length; i++) this.records.push(records[i]!);
    this.writtenCount += records.length;
    this.recordsWritten += records.length;
  }

  /** Makes the records up to position `upTo` (default: all written so far) durable, as an fsync does. */
  sync(upTo = this.writtenCount): void {
    if (upTo > this.syncedCount) this.syncedCount = Math.min(upTo, this.writtenCount);
    this.syncs++;
  }

  /** What a node restarted now would read (a torn last record included): a copy, so the caller may keep it. */
  image(): DiskImage<R, S> {
    const records = this.records.slice();
    if (this.torn !== undefined) records.push(this.torn);
    return { snapshot: this.snapshot, records };
  }

  /**
   * Recovery has read the disk: a torn last record is cut off, as both real
   * drivers truncate a torn WAL tail before appending again.
   */
  recovered(): void {
    this.torn = undefined;
  }

  /**
   * Everything written so far, without copying (a torn record not
   * included). Valid until the next write: read it, do not keep it.
   */
  view(): DiskImage<R, S> {
    return { snapshot: this.snapshot, records: this.records };
  }

  /** Only what is durable: the snapshot and the synced records. Valid until the next write. */
  durableView(): DiskImage<R, S> {
    const unsynced = this.unsynced;
    return { snapshot: this.snapshot, records: unsynced === 0 ? this.records : this.records.slice(0, this.records.length - unsynced) };
  }

  /**
   * A crash: with `faults`, may lose a suffix of the unsynced tail and leave
   * its first record torn by `tear`. Draws from `prng` only when there is
   * an unsynced tail, so runs without one replay the same with faults on.
   * Whatever survives is durable from then on.
   */
  crash(prng: Prng, faults: DiskFaultOptions, tear: ((record: R, prng: Prng) => R) | undefined): CrashDamage {
    const unsynced = this.unsynced;
    let damage: CrashDamage = { lost: 0, torn: false };
    if (unsynced > 0 && prng.chance(faults.lostUnsyncedRate)) {
      const lost = prng.nextInt(1, unsynced);
      const keep = this.records.length - lost;
      const first = this.records[keep]!;
      this.records.length = keep;
      this.writtenCount -= lost;
      damage = { lost, torn: false };
      this.recordsLost += lost;
      if (tear !== undefined && prng.chance(faults.tornRecordRate)) {
        this.torn = tear(first, prng);
        damage.torn = true;
        this.recordsTorn++;
      }
    }
    this.syncedCount = this.writtenCount;
    return damage;
  }
}

/**
 * A `tear` for text records: a strict prefix, at least one character short,
 * as a crash mid-write leaves a line without its end.
 */
export function tearText(record: string, prng: Prng): string {
  return record.length <= 1 ? "" : record.slice(0, prng.nextInt(0, record.length - 1));
}

/**
 * A `tear` for binary records (a WAL's framed records): a strict prefix, at
 * least one byte short, as a crash mid-write leaves a record without its end.
 */
export function tearBytes(record: Uint8Array, prng: Prng): Uint8Array {
  return record.length <= 1 ? new Uint8Array(0) : record.slice(0, prng.nextInt(0, record.length - 1));
}
