/**
 * Stable storage kept in memory: exactly what each Ready told the node to
 * persist (Raft Figure 2's currentTerm, votedFor and log[], plus the
 * snapshot that replaced the log's prefix). `ReplicaNode` keeps one beside
 * the WAL records it hands out (a compaction's kept entries and observers'
 * terms come from it), the Raft transcript tests keep one per node, and the
 * real server keeps the same state in its write-ahead log
 * (`src/io/storage.ts`).
 */
import type { Entry, HardState, PersistedState, Ready, Snapshot } from "../raft/index.ts";

/** The persistent part of a Ready. */
export type PersistentPart = Pick<Ready, "hardState" | "records" | "snapshot">;

/** A node's durable state, in memory. */
export class MemoryStorage {
  hardState: HardState = { term: 0, vote: null, commit: 0 };
  snapshot: Snapshot | null = null;
  /** The entries after the snapshot, contiguous, in index order. */
  entries: Entry[] = [];

  /** Starts empty, or from what a previous incarnation persisted (copied: the two must not share arrays). */
  constructor(from?: PersistedState) {
    if (from === undefined) return;
    this.hardState = from.hardState;
    this.snapshot = from.snapshot;
    this.entries = [...from.entries];
  }

  /**
   * Step 1 of a Ready: an installed snapshot replaces the whole log; new
   * entries replace every entry from their first index on (a new leader
   * overwrote a conflicting suffix, §5.3); then the hard state.
   */
  save(rd: PersistentPart): void {
    if (rd.snapshot) {
      this.snapshot = rd.snapshot;
      this.entries = [];
    }
    if (rd.records.length > 0) {
      this.entries.length = Math.max(0, rd.records[0]!.index - this.snapshotIndex() - 1);
      for (const e of rd.records) this.entries.push(e);
    }
    if (rd.hardState) this.hardState = rd.hardState;
  }

  /** Records a snapshot this node took of its own state (compaction): the entries it covers are dropped. */
  compact(snapshot: Snapshot): void {
    this.snapshot = snapshot;
    this.entries = this.entries.filter((e) => e.index > snapshot.metadata.index);
  }

  /** Index of the last entry the snapshot replaced (0 without a snapshot). */
  snapshotIndex(): number {
    return this.snapshot?.metadata.index ?? 0;
  }

  /** Term of the persisted entry at `index` (the snapshot's term at its index), or undefined if compacted or absent. */
  termAt(index: number): number | undefined {
    const snap = this.snapshot?.metadata;
    const base = snap?.index ?? 0;
    if (index === base) return snap?.term ?? 0;
    if (index < base) return undefined;
    return this.entries[index - base - 1]?.term;
  }

  /** A copy to restart from. */
  persisted(): PersistedState {
    return { hardState: this.hardState, snapshot: this.snapshot, entries: [...this.entries] };
  }
}

