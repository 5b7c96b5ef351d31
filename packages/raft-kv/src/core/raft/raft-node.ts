/**
 * The Raft state machine (Raft paper §5, Ongaro's dissertation chapters 3-6
 * and 9), in the shape of etcd-io/raft's RawNode: synchronous, no I/O, no
 * timers, randomness from an injected Prng. The driver calls `tick()`,
 * `step(message)` and the request methods, then drains `ready()` and calls
 * `advance()`.
 */
import type {
  ConfChange,
  Message,
  NodeId,
  PersistedState,
  ProposalPosition,
  RaftConfig,
  RaftResult,
  RaftStatus,
  Ready,
  Role,
  SnapshotMetadata,
} from "./types.ts";

/**
 * One Raft server's consensus module. Create it with `bootstrap` (a founding
 * member), `join` (a member to be added later) or `restart` (from disk).
 */
export class RaftNode {
  private constructor(_config: RaftConfig, _persisted: PersistedState, _bootstrapVoters: readonly NodeId[] | null) {
    throw new Error("RaftNode: under construction");
  }

  /**
   * A founding member of a new cluster. Every founder must pass the same
   * `voters`; the first Ready persists the initial membership as committed
   * log entries 1..n (term 1), as etcd's Bootstrap does.
   */
  static bootstrap(config: RaftConfig, voters: readonly NodeId[]): RaftNode {
    return new RaftNode(config, { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] }, voters);
  }

  /** A node that will be added by a membership change: empty log, no membership until the leader contacts it. */
  static join(config: RaftConfig): RaftNode {
    return new RaftNode(config, { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] }, null);
  }

  /** A node restarted from what it persisted (hard state, snapshot, entries after the snapshot). */
  static restart(config: RaftConfig, persisted: PersistedState): RaftNode {
    return new RaftNode(config, persisted, null);
  }

  /** This node's id. */
  get id(): NodeId {
    throw new Error("unimplemented");
  }
  /** The current term (§5.1). */
  get term(): number {
    throw new Error("unimplemented");
  }
  /** The leader this node follows, or null. */
  get leader(): NodeId | null {
    throw new Error("unimplemented");
  }
  /** follower, preCandidate, candidate or leader. */
  get role(): Role {
    throw new Error("unimplemented");
  }

  /** Advances logical time by one tick: election timeouts on followers, heartbeats and CheckQuorum on leaders. */
  tick(): void {
    throw new Error("unimplemented");
  }

  /** Feeds one message from a peer. Stale, misaddressed or nonsensical messages are ignored, never thrown on. */
  step(_message: Message): void {
    throw new Error("unimplemented");
  }

  /** Leader only: appends a command; it is committed iff an entry with the returned index and term is applied. */
  propose(_data: Uint8Array): RaftResult<ProposalPosition> {
    throw new Error("unimplemented");
  }

  /** Leader only: proposes one membership change (§4.1); refused while another is uncommitted or unapplied. */
  proposeConfChange(_change: ConfChange): RaftResult<ProposalPosition> {
    throw new Error("unimplemented");
  }

  /**
   * Requests a linearizable read point (§6.4). Later a Ready carries a
   * ReadState with this `requestCtx` and the index to wait for. Followers
   * forward to the leader.
   */
  readIndex(_requestCtx: string): RaftResult<void> {
    throw new Error("unimplemented");
  }

  /** Leader only: hands leadership to `to` (§3.10): catch it up, then send TimeoutNow. */
  transferLeadership(_to: NodeId): RaftResult<void> {
    throw new Error("unimplemented");
  }

  /** Starts an election now (PreVote first if enabled), as if the election timeout fired. */
  campaign(): void {
    throw new Error("unimplemented");
  }

  /** Whether `ready()` has anything to do. */
  hasReady(): boolean {
    throw new Error("unimplemented");
  }

  /** The next batch of work (see {@link Ready} for the order); call `advance()` when done. */
  ready(): Ready {
    throw new Error("unimplemented");
  }

  /** Acknowledges the last Ready: its entries are durable and its committed entries applied. */
  advance(): void {
    throw new Error("unimplemented");
  }

  /**
   * Log compaction (dissertation chapter 5): the state machine's snapshot
   * `data` at `index` (<= applied) replaces the log up to `index`. The caller
   * has already persisted the snapshot and may then drop WAL entries <= index.
   */
  compact(_index: number, _data: Uint8Array): RaftResult<SnapshotMetadata> {
    throw new Error("unimplemented");
  }

  /** Tells the leader a message to `id` could not be delivered, so it stops pipelining and probes. */
  reportUnreachable(_id: NodeId): void {
    throw new Error("unimplemented");
  }

  /** Tells the leader whether the snapshot sent to `id` was delivered. */
  reportSnapshot(_id: NodeId, _ok: boolean): void {
    throw new Error("unimplemented");
  }

  /** A read-only view for status endpoints. */
  status(): RaftStatus {
    throw new Error("unimplemented");
  }
}
