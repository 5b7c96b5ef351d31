/**
 * A node's simulated disk: exactly the snapshots and records its Readies
 * asked to persist, in order, and how far they were synced.
 *
 * It models the two facts a recovery path has to survive. A snapshot is
 * written whole or not at all (both real drivers write it to a temporary
 * file, fsync, rename), and it replaces everything before it. Records are
 * appended; those covered by a sync are on stable storage, the tail after
 * the last sync only in the page cache. A process crash (kill -9) keeps the
 * page cache, so by default a crash loses nothing that was written; a
 * machine crash (power loss) can lose any suffix of the unsynced tail, and
 * leave the first lost record half written ("torn"). The runner draws those
 * faults from the run's seed when {@link DiskFaultOptions} asks for them.
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
  private records: R[] = [];
  /** Records [0, synced) are on stable storage. */
  private synced = 0;
  /** A record a crash left half written after the others, until the next restart's recovery cuts it off. */
  private torn: R | undefined;
  /** Counters of what was persisted, for stats. */
  recordsWritten = 0;
  snapshotsWritten = 0;
  syncs = 0;

  /** Persists one Ready's snapshot (replacing everything before it) and appends its records. */
  write(snapshot: S | null, records: readonly R[]): void {
    if (snapshot !== null) {
      this.snapshot = snapshot;
      this.records = [];
      this.synced = 0;
      this.snapshotsWritten++;
    }
    for (let i = 0; i < records.length; i++) this.records.push(records[i]!);
    this.recordsWritten += records.length;
  }

  /** Makes every record written so far durable (fsync). */
  sync(): void {
    this.synced = this.records.length;
    this.syncs++;
  }

  /** Records written but not yet synced. */
  get unsynced(): number {
    return this.records.length - this.synced;
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
   * The records as they are now, without copying (invariants and checks
   * read it after every step; a torn record is not included). Valid until
   * the next write.
   */
  view(): DiskImage<R, S> {
    return { snapshot: this.snapshot, records: this.records };
  }

  /**
   * A crash: with `faults`, may lose a suffix of the unsynced tail and leave
   * its first record torn by `tear`. Draws from `prng` only when there is
   * an unsynced tail, so runs without one replay the same with faults on.
   */
  crash(prng: Prng, faults: DiskFaultOptions, tear: ((record: R, prng: Prng) => R) | undefined): CrashDamage {
    const unsynced = this.unsynced;
    let damage: CrashDamage = { lost: 0, torn: false };
    if (unsynced > 0 && prng.chance(faults.lostUnsyncedRate)) {
      const keep = this.synced + prng.nextInt(0, unsynced - 1);
      const first = this.records[keep]!;
      damage = { lost: this.records.length - keep, torn: false };
      this.records.length = keep;
      if (tear !== undefined && prng.chance(faults.tornRecordRate)) {
        this.torn = tear(first, prng);
        damage.torn = true;
      }
    }
    // After the crash, whatever is on the platters is all there is: durable by definition.
    this.synced = this.records.length;
    return damage;
  }
}
