/**
 * The replicated log as one server holds it in memory: a snapshot (the
 * compacted prefix, dissertation chapter 5) followed by entries, plus the
 * bookkeeping that tells the driver what it still has to persist and apply.
 *
 * Indexes, as in the paper, start at 1; index 0 with term 0 is the empty
 * prefix every log shares, which makes the first AppendEntries consistency
 * check (§5.3) succeed without a special case.
 */
import type { ConfState, Entry, Snapshot } from "./types.ts";

/** The bytes an entry costs for flow control: its data length (etcd counts the payload too). */
export function entrySize(entry: Entry): number {
  return entry.data.length;
}

const EMPTY_CONF: ConfState = { voters: [], learners: [] };

/** One server's log: snapshot + entries, with commit, apply and persistence cursors. */
export class RaftLog {
  /** The latest snapshot (compaction or InstallSnapshot), with its data, or null. */
  snapshot: Snapshot | null;
  /** Index of the last entry the snapshot replaced (0 when none): entries[0] has index offset + 1. */
  private offset: number;
  private offsetTerm: number;
  private entries: Entry[];
  /** commitIndex (Figure 2). */
  committed: number;
  /** lastApplied (Figure 2): acknowledged by the driver through advance(). */
  applied: number;
  /** Highest index handed to the driver for applying (applied <= applying <= committed). */
  applying: number;
  /** First index not yet handed to the driver for persisting. */
  private unstableFrom: number;
  /** A snapshot received through InstallSnapshot that the driver has not yet been given to persist. */
  private unstableSnapshot: Snapshot | null = null;
  /** A snapshot handed out in a Ready and not yet acknowledged. */
  private inFlightSnapshot: Snapshot | null = null;

  constructor(snapshot: Snapshot | null, entries: readonly Entry[], committed: number, applied: number) {
    this.snapshot = snapshot;
    this.offset = snapshot?.metadata.index ?? 0;
    this.offsetTerm = snapshot?.metadata.term ?? 0;
    this.entries = [...entries];
    this.committed = committed;
    this.applied = applied;
    this.applying = applied;
    this.unstableFrom = this.lastIndex() + 1;
  }

  /** The first index still held as an entry (snapshot index + 1). */
  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.entries.length;
  }

  /** The index the snapshot covers (0 when none). */
  snapshotIndex(): number {
    return this.offset;
  }

  /** The term of the entry at `index`, or undefined if compacted away or beyond the end. */
  term(index: number): number | undefined {
    if (index === this.offset) return this.offsetTerm;
    if (index < this.offset || index > this.lastIndex()) return undefined;
    return this.entries[index - this.offset - 1]!.term;
  }

  lastTerm(): number {
    return this.term(this.lastIndex())!;
  }

  /** The entry at `index` if held. */
  entry(index: number): Entry | undefined {
    if (index <= this.offset || index > this.lastIndex()) return undefined;
    return this.entries[index - this.offset - 1];
  }

  /** True when this log holds an entry at `index` with `term` (the §5.3 consistency check). */
  matchTerm(index: number, term: number): boolean {
    const t = this.term(index);
    return t !== undefined && t === term;
  }

  /**
   * The election restriction (§5.4.1): a candidate's log is at least as
   * up-to-date as ours if its last term is higher, or equal with an index at
   * least as long.
   */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** Entries in [lo, hi) with at most `maxBytes` of data (but always at least one entry). */
  slice(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    const from = Math.max(lo, this.firstIndex());
    const to = Math.min(hi, this.lastIndex() + 1);
    if (from >= to) return [];
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = from; i < to; i++) {
      const e = this.entries[i - this.offset - 1]!;
      bytes += entrySize(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  /**
   * The first new entry index among `entries` that is not already in the
   * log with the same term, or 0 if all are present. Entries inside the
   * snapshot are committed and hence match (Log Matching, §5.3).
   */
  findConflict(entries: readonly Entry[]): number {
    for (const e of entries) {
      if (e.index <= this.offset) continue;
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast back-tracking (§5.3, last paragraph; as in etcd's findConflictByTerm):
   * the largest index <= `index` whose term is <= `term`, and that term. Any
   * entry after it cannot match a log whose entry at `index` has `term`, so
   * a whole term's worth of entries is skipped per round trip. Returns term 0
   * for indexes whose term is unknown (compacted).
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex());
    for (; i >= this.offset; i--) {
      const t = this.term(i)!;
      if (t <= term) return { index: i, term: t };
    }
    return { index: i < 0 ? 0 : i, term: 0 };
  }

  /**
   * The follower side of AppendEntries (Figure 2, receiver rules 2-5):
   * returns the index of the last new entry, or null when the log has no
   * entry at prevIndex with prevTerm. Conflicting uncommitted entries are
   * truncated; entries already present are not touched (a stale, reordered
   * append must not truncate newer entries).
   */
  maybeAppend(prevIndex: number, prevTerm: number, leaderCommit: number, entries: readonly Entry[]): number | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = prevIndex + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      if (conflict <= this.committed) {
        // Only a broken leader could ask this (Leader Completeness, §5.4); refuse rather than lose committed entries.
        return null;
      }
      this.append(entries.slice(conflict - prevIndex - 1));
    }
    this.commitTo(Math.min(leaderCommit, lastNew));
    return lastNew;
  }

  /** Appends entries, truncating any existing entries at or after the first one's index. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    if (first <= this.offset || first > this.lastIndex() + 1) {
      throw new RangeError(`RaftLog.append: index ${first} outside (${this.offset}, ${this.lastIndex() + 1}]`);
    }
    if (first <= this.lastIndex()) {
      this.entries.length = first - this.offset - 1;
    }
    for (const e of entries) this.entries.push(e);
    if (first < this.unstableFrom) this.unstableFrom = first;
  }

  /** Raises the commit index (never lowers it, never beyond the last entry). */
  commitTo(index: number): void {
    const to = Math.min(index, this.lastIndex());
    if (to > this.committed) this.committed = to;
  }

  /**
   * The leader's commit rule (§5.4.2): an index replicated on a majority is
   * committed only if its entry is from the current term; earlier entries
   * then commit indirectly (Figure 8 shows why counting replicas of an old
   * term's entry is unsafe).
   */
  maybeCommit(index: number, currentTerm: number): boolean {
    if (index > this.committed && this.term(index) === currentTerm) {
      this.committed = index;
      return true;
    }
    return false;
  }

  /** Committed entries not yet handed out for applying. */
  nextCommittedEntries(): Entry[] {
    const from = Math.max(this.applying, this.offset) + 1;
    return this.slice(from, this.committed + 1);
  }

  hasNextCommittedEntries(): boolean {
    return this.committed > Math.max(this.applying, this.offset);
  }

  /** Entries not yet handed out for persisting. */
  unstableEntries(): Entry[] {
    return this.slice(this.unstableFrom, this.lastIndex() + 1);
  }

  hasUnstableEntries(): boolean {
    return this.unstableFrom <= this.lastIndex();
  }

  /** Marks entries up to `index` as durable if the entry there still has `term` (it may have been truncated since). */
  stableTo(index: number, term: number): void {
    if (index >= this.unstableFrom && this.matchTerm(index, term)) this.unstableFrom = index + 1;
  }

  /** The snapshot received through InstallSnapshot that still has to be handed out for persisting. */
  takeUnstableSnapshot(): Snapshot | null {
    const s = this.unstableSnapshot;
    this.unstableSnapshot = null;
    this.inFlightSnapshot = s;
    return s;
  }

  hasUnstableSnapshot(): boolean {
    return this.unstableSnapshot !== null;
  }

  /** Acknowledges the snapshot handed out (advance()). */
  stableSnapshot(): void {
    this.inFlightSnapshot = null;
  }

  /**
   * Replaces the whole log with an installed snapshot (dissertation §5.1,
   * InstallSnapshot receiver rules 6-7: the follower's log is discarded
   * unless it already holds the snapshot's last entry).
   */
  restore(snapshot: Snapshot): void {
    this.snapshot = snapshot;
    this.offset = snapshot.metadata.index;
    this.offsetTerm = snapshot.metadata.term;
    this.entries = [];
    this.committed = snapshot.metadata.index;
    this.unstableFrom = this.offset + 1;
    this.unstableSnapshot = snapshot;
  }

  /**
   * Log compaction (dissertation §5.1): drops entries up to the snapshot's
   * index, which the state machine has applied and the driver persisted.
   */
  compact(snapshot: Snapshot): void {
    const index = snapshot.metadata.index;
    if (index <= this.offset || index > this.applied) {
      throw new RangeError(`RaftLog.compact: index ${index} outside (${this.offset}, ${this.applied}]`);
    }
    this.entries = this.entries.slice(index - this.offset);
    this.offset = index;
    this.offsetTerm = snapshot.metadata.term;
    this.snapshot = snapshot;
  }

  /** Whether a snapshot is waiting to be persisted or is being persisted. */
  snapshotPending(): boolean {
    return this.unstableSnapshot !== null || this.inFlightSnapshot !== null;
  }
}

/** The membership a snapshot records, or an empty one. */
export function snapshotConf(snapshot: Snapshot | null): ConfState {
  return snapshot?.metadata.confState ?? EMPTY_CONF;
}
