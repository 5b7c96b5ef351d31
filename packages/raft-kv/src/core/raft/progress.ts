/**
 * The leader's view of each follower: Figure 2's nextIndex and matchIndex,
 * plus the flow control etcd adds on top (probe / replicate / snapshot
 * states and a window of in-flight appends, dissertation §10.2.1 on
 * pipelining). The transitions are driven by raft-node.ts.
 */
import type { ProgressState, ProgressStatus } from "./types.ts";

/**
 * A bounded window of append messages sent and not yet acknowledged, each
 * remembered by the last index it carried. A ring buffer: acknowledgements
 * free every message up to the acknowledged index.
 */
export class Inflights {
  private readonly buffer: number[];
  private start = 0;
  private countValue = 0;

  constructor(readonly capacity: number) {
    this.buffer = new Array<number>(capacity).fill(0);
  }

  get count(): number {
    return this.countValue;
  }

  full(): boolean {
    return this.countValue >= this.capacity;
  }

  /** Records one more message whose last entry is `lastIndex` (indexes must be added in increasing order). */
  add(lastIndex: number): void {
    if (this.full()) throw new RangeError("Inflights.add: window is full");
    this.buffer[(this.start + this.countValue) % this.capacity] = lastIndex;
    this.countValue++;
  }

  /** Frees every message whose last index is <= `index` (they were all received, as the ack is cumulative). */
  freeLE(index: number): void {
    while (this.countValue > 0 && this.buffer[this.start]! <= index) {
      this.start = (this.start + 1) % this.capacity;
      this.countValue--;
    }
  }

  /** Frees the oldest message: used when every in-flight append may have been lost, to let one more through. */
  freeFirstOne(): void {
    if (this.countValue === 0) return;
    this.start = (this.start + 1) % this.capacity;
    this.countValue--;
  }

  reset(): void {
    this.start = 0;
    this.countValue = 0;
  }
}

/** One follower's replication progress as the leader tracks it. */
export class Progress {
  /** matchIndex (Figure 2): highest index known to be replicated on the follower. */
  match = 0;
  /** nextIndex (Figure 2): the next index to send. Invariant: match < next. */
  next: number;
  /**
   * probe: send one append per heartbeat until an append is accepted (we do
   * not know where the follower's log ends). replicate: stream appends
   * optimistically, up to the in-flight window. snapshot: a snapshot is on
   * its way; send nothing until it lands.
   */
  state: ProgressState = "probe";
  /** In "snapshot": the index of the snapshot sent. */
  pendingSnapshot = 0;
  /** Heard from since the last CheckQuorum round (§6.2). */
  recentActive = false;
  /** In "probe": an append is outstanding, wait for its answer or the next heartbeat. */
  probeSent = false;
  /**
   * The leader tick at which the newest heartbeat this follower answered was
   * SENT: the follower refuses votes for an election timeout after receiving
   * it, which is what a lease read relies on (dissertation §6.4.1).
   */
  leaseAckTick = -Infinity;
  /** The highest commit index already sent to this follower (saves appends that would only repeat it). */
  sentCommit = 0;
  /** In "snapshot": heartbeat answers seen since the snapshot was sent (to retry a lost snapshot). */
  snapshotHeartbeats = 0;
  readonly inflights: Inflights;

  constructor(
    next: number,
    maxInflight: number,
    public isLearner: boolean,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotHeartbeats = 0;
    this.inflights.reset();
  }

  /** Back to probing from just after what is known to match (or after the snapshot just sent). */
  becomeProbe(): void {
    if (this.state === "snapshot") {
      const pending = this.pendingSnapshot;
      this.resetState("probe");
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState("probe");
      this.next = this.match + 1;
    }
  }

  /** The follower's log is known to match up to `match`: stream from there. */
  becomeReplicate(): void {
    this.resetState("replicate");
    this.next = this.match + 1;
  }

  /** A snapshot at `snapshotIndex` was sent: wait for it. */
  becomeSnapshot(snapshotIndex: number): void {
    this.resetState("snapshot");
    this.pendingSnapshot = snapshotIndex;
    this.next = snapshotIndex + 1;
  }

  /** An acknowledgement of `index`: raises match (and next). Returns whether match grew. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /** After sending entries up to `lastIndex` in "replicate": assume they will arrive (pipelining). */
  optimisticUpdate(lastIndex: number): void {
    this.next = lastIndex + 1;
  }

  /**
   * A rejection of the append whose prevLogIndex was `rejected`, with the
   * follower's hint that its log may match up to `matchHint`. Returns false
   * for a stale rejection (an answer to an append we have moved past).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === "replicate") {
      // Rejections of indexes already known to match are stale (reordered).
      if (rejected <= this.match) return false;
      // The follower lost or reordered something in the pipeline: restart from what is known.
      this.next = this.match + 1;
      return true;
    }
    // In probe, only the answer to the latest probe counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Whether the leader must hold back appends to this follower for now. */
  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflights.full();
      case "snapshot":
        return true;
    }
  }

  /** A plain copy for status endpoints. */
  toStatus(): ProgressStatus {
    return {
      match: this.match,
      next: this.next,
      state: this.state,
      inflight: this.inflights.count,
      recentActive: this.recentActive,
      learner: this.isLearner,
      pendingSnapshot: this.pendingSnapshot,
    };
  }
}

/** The number of votes that makes a majority of `n` voters (§5.2). */
export function quorumSize(n: number): number {
  return Math.floor(n / 2) + 1;
}

/**
 * The highest index replicated on a majority: sort the voters' match
 * indexes descending and take the quorum-th (Figure 2, leader rule 4).
 */
export function committedIndex(matches: readonly number[]): number {
  if (matches.length === 0) return 0;
  const sorted = [...matches].sort((a, b) => b - a);
  return sorted[quorumSize(matches.length) - 1]!;
}

/** The outcome of an election so far: won with a majority, lost when a majority refused, or pending. */
export function voteResult(voters: readonly string[], votes: ReadonlyMap<string, boolean>): "won" | "lost" | "pending" {
  let granted = 0;
  let rejected = 0;
  for (const v of voters) {
    const vote = votes.get(v);
    if (vote === true) granted++;
    else if (vote === false) rejected++;
  }
  const q = quorumSize(voters.length);
  if (granted >= q) return "won";
  if (rejected > voters.length - q) return "lost";
  return "pending";
}
