/**
 * The vocabulary of the Raft core: log entries, the persistent and volatile
 * state of Figure 2 (Raft paper §5, "Figure 2: a condensed summary"), the
 * messages servers exchange, and the Ready batch the driver drains.
 *
 * Everything here is plain data: the core (raft-node.ts) is a synchronous
 * state machine in the shape of etcd-io/raft's RawNode, and the driver
 * (src/io) owns disks, sockets and clocks.
 */
import type { NodeId, Prng, Ready as CoreReady } from "@heck/sim";

export type { NodeId } from "@heck/sim";

// ---------------------------------------------------------------------------
// The log (§5.3)
// ---------------------------------------------------------------------------

/**
 * What an entry carries: a client command for the state machine, or a
 * membership change (§4) that the core itself applies when it commits.
 */
export type EntryType = "normal" | "confChange";

/**
 * One log entry (§5.3): its position, the leader's term when it was created,
 * and opaque bytes. A "normal" entry with empty data is a leader's no-op (§8).
 */
export interface Entry {
  /** Position in the log, starting at 1. */
  readonly index: number;
  /** The term of the leader that created the entry (§5.3). */
  readonly term: number;
  readonly type: EntryType;
  /** For "normal": the command; for "confChange": `encodeConfChange(...)`. */
  readonly data: Uint8Array;
}

// ---------------------------------------------------------------------------
// Persistent and volatile state (Figure 2)
// ---------------------------------------------------------------------------

/**
 * Persistent state on all servers (Figure 2), updated on stable storage
 * before responding to RPCs. `commit` is persisted too (as etcd does) so a
 * restarted node can re-apply without waiting for a leader; it is safe to
 * lose, never to overstate.
 */
export interface HardState {
  /** currentTerm: latest term the server has seen (§5.1). */
  readonly term: number;
  /** votedFor: the candidate that received this server's vote in `term`, or null (§5.2). */
  readonly vote: NodeId | null;
  /** commitIndex: highest log entry known to be committed (§5.3). */
  readonly commit: number;
}

/** The role a server plays (§5.1); "preCandidate" is the PreVote phase (dissertation §9.6). */
export type Role = "follower" | "preCandidate" | "candidate" | "leader";

/** Volatile state the driver may want to display or act on; never persisted. */
export interface SoftState {
  /** The leader this node currently follows (itself when leader), or null if unknown. */
  readonly leader: NodeId | null;
  readonly role: Role;
}

// ---------------------------------------------------------------------------
// Membership (§4: one server at a time)
// ---------------------------------------------------------------------------

/**
 * A single-server membership change (dissertation §4.1). Learners
 * (non-voting members, §4.2.1) receive the log but do not vote or count
 * toward a quorum until promoted. "removeVoter" removes any member, voter or
 * learner.
 */
export type ConfChangeType = "addVoter" | "removeVoter" | "addLearner" | "promoteLearner";

/** One membership change, stored in a "confChange" entry. */
export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
  /**
   * Opaque text for the driver, e.g. the new member's "host:port". The core
   * never reads it; it travels in the log so every member learns it.
   */
  readonly context?: string;
}

/** The membership at some log index: who votes and who only listens. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

// ---------------------------------------------------------------------------
// Snapshots (dissertation chapter 5)
// ---------------------------------------------------------------------------

/** What a snapshot replaces: the log up to `index` (whose entry had `term`) and the membership then. */
export interface SnapshotMetadata {
  /** lastIncludedIndex (§5.1 of the dissertation's chapter 5, Figure 5.3). */
  readonly index: number;
  /** lastIncludedTerm. */
  readonly term: number;
  /** The latest configuration as of `index` (chapter 5: snapshots carry the configuration). */
  readonly confState: ConfState;
}

/** A state-machine snapshot: opaque bytes produced by the driver's state machine. */
export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  readonly data: Uint8Array;
}

// ---------------------------------------------------------------------------
// Messages: a discriminated union on `type`
// ---------------------------------------------------------------------------

/** Fields every message carries: sender, receiver and the sender's term (§5.1). */
interface MessageBase {
  readonly from: NodeId;
  readonly to: NodeId;
  /** The sender's current term; for PreVote requests, the term it would campaign in. */
  readonly term: number;
}

/**
 * AppendEntries (§5.3): entries following (prevLogIndex, prevLogTerm), plus
 * the leader's commit index. An empty `entries` is a probe.
 */
export interface AppendMessage extends MessageBase {
  readonly type: "append";
  readonly prevLogIndex: number;
  readonly prevLogTerm: number;
  readonly entries: readonly Entry[];
  /** leaderCommit (Figure 2). */
  readonly commit: number;
}

/**
 * AppendEntries result. On success `index` is the last index now known to
 * match the leader. On rejection `index` is the rejected prevLogIndex and
 * (`rejectHint`, `logTerm`) is the follower's fast-backtracking hint (§5.3,
 * "the follower can include the term of the conflicting entry"): the largest
 * index <= prevLogIndex whose term is <= prevLogTerm, and that term.
 */
export interface AppendResponseMessage extends MessageBase {
  readonly type: "appendResponse";
  readonly reject: boolean;
  readonly index: number;
  readonly rejectHint: number;
  readonly logTerm: number;
}

/**
 * A leader's heartbeat (§5.2). As in etcd it carries no log check, so the
 * commit is min(follower's match, leader commit). `context` is set when the
 * heartbeat confirms leadership for a ReadIndex round (§6.4).
 */
export interface HeartbeatMessage extends MessageBase {
  readonly type: "heartbeat";
  readonly commit: number;
  readonly context: string | null;
}

/** Reply to a heartbeat; echoes the ReadIndex `context`. */
export interface HeartbeatResponseMessage extends MessageBase {
  readonly type: "heartbeatResponse";
  readonly context: string | null;
}

/**
 * RequestVote (§5.2) or its PreVote twin (dissertation §9.6), which asks
 * "would you vote for me in `term`?" without anyone changing term.
 * `transfer` marks an election started by TimeoutNow (§3.10), which voters
 * honour even inside a leader lease (§4.2.3).
 */
export interface VoteRequestMessage extends MessageBase {
  readonly type: "requestVote" | "requestPreVote";
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  readonly transfer: boolean;
}

/** A vote (or pre-vote) granted or refused. */
export interface VoteResponseMessage extends MessageBase {
  readonly type: "voteResponse" | "preVoteResponse";
  readonly granted: boolean;
}

/**
 * InstallSnapshot (dissertation §5.1, Figure 5.3). Sent whole; a driver may
 * chunk it on the wire.
 */
export interface InstallSnapshotMessage extends MessageBase {
  readonly type: "installSnapshot";
  readonly snapshot: Snapshot;
}

/** TimeoutNow (§3.10): "start an election at once", sent by a leader handing over. */
export interface TimeoutNowMessage extends MessageBase {
  readonly type: "timeoutNow";
}

/** A follower forwards a client's ReadIndex request to the leader (§6.4). */
export interface ReadIndexMessage extends MessageBase {
  readonly type: "readIndex";
  readonly context: string;
}

/**
 * The leader's answer to a forwarded ReadIndex: `index` is the commit index
 * the read must wait for, or -1 when the leader could not serve it.
 */
export interface ReadIndexResponseMessage extends MessageBase {
  readonly type: "readIndexResponse";
  readonly context: string;
  readonly index: number;
}

/** Every message the core sends or accepts. */
export type Message =
  | AppendMessage
  | AppendResponseMessage
  | HeartbeatMessage
  | HeartbeatResponseMessage
  | VoteRequestMessage
  | VoteResponseMessage
  | InstallSnapshotMessage
  | TimeoutNowMessage
  | ReadIndexMessage
  | ReadIndexResponseMessage;

/** The `type` tags of {@link Message}. */
export type MessageType = Message["type"];

// ---------------------------------------------------------------------------
// The Ready batch
// ---------------------------------------------------------------------------

/** A linearizable read may be served once the state machine has applied `index` (§6.4). */
export interface ReadState {
  readonly index: number;
  /** The caller's request id, as given to `readIndex`. */
  readonly requestCtx: string;
}

/**
 * Everything the driver must do, in this order (fields are declared in that
 * order). It is the shared Ready contract of every Heck core (@heck/sim's
 * ready.ts) with Raft's contents: the records are log entries, and the hard
 * state is persisted beside them.
 * 1. persist `hardState` (if not null) and `records`, the new log entries
 *    (first discarding any stored entry with index >= records[0].index);
 *    persist `snapshot` (if not null: it replaces the whole log and the
 *    state machine); fsync when `mustSync`;
 * 2. send `messages` (only now: a vote or an acknowledgement must be durable
 *    before it leaves, Figure 2 "updated on stable storage before responding");
 * 3. restore the state machine from `snapshot` if present, then apply
 *    `committedEntries` in order;
 * 4. serve `readStates` once applied >= their index;
 * 5. note `softState` / `confState` if not null;
 * 6. call `advance()`.
 */
export interface Ready extends CoreReady<Message, Entry, Snapshot> {
  readonly hardState: HardState | null;
  /** Log entries to append (Figure 2's log[]), in index order. */
  readonly records: readonly Entry[];
  readonly snapshot: Snapshot | null;
  /** True when term, vote or entries changed: only a commit-only change may skip fsync. */
  readonly mustSync: boolean;
  readonly messages: readonly Message[];
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
  readonly softState: SoftState | null;
  /** The membership after the conf changes applied at the previous `advance()`, if it changed. */
  readonly confState: ConfState | null;
}

/** What a restarted node reads back from its disk. */
export interface PersistedState {
  readonly hardState: HardState;
  /** The latest snapshot (data included, so the leader can send it to laggards), or null. */
  readonly snapshot: Snapshot | null;
  /** Every persisted entry after the snapshot, in index order. */
  readonly entries: readonly Entry[];
}

// ---------------------------------------------------------------------------
// Results and status
// ---------------------------------------------------------------------------

/** Why a request to the core was refused. */
export type RaftErrorCode =
  | "notLeader"
  | "transferInProgress"
  | "confChangePending"
  | "invalidConfChange"
  | "learnerNotCaughtUp"
  | "tooManyUncommitted"
  | "invalidArgument"
  | "compacted"
  | "unavailable";

/** A refusal: a code for programs, a sentence for people, and the leader hint for redirects. */
export interface RaftError {
  readonly code: RaftErrorCode;
  readonly message: string;
  /** The leader this node knows of, so a client can be redirected; null if none. */
  readonly leader: NodeId | null;
}

/** Either a value or a {@link RaftError}; the core never throws on a refused request. */
export type RaftResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: RaftError };

/** Where an accepted proposal landed; it is committed iff an entry with this index and term is later applied. */
export interface ProposalPosition {
  readonly index: number;
  readonly term: number;
}

/** How the leader replicates to one follower, as in etcd's tracker (probe/replicate/snapshot). */
export type ProgressState = "probe" | "replicate" | "snapshot";

/** The leader's view of one peer (matchIndex and nextIndex of Figure 2, plus flow control). */
export interface ProgressStatus {
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  /** Append messages sent and not yet acknowledged. */
  readonly inflight: number;
  /** Heard from within the last election timeout (CheckQuorum, §6.2). */
  readonly recentActive: boolean;
  readonly learner: boolean;
  /** In "snapshot" state: the index of the snapshot sent. */
  readonly pendingSnapshot: number;
}

/** A node's state for `GET /v1/status`. `progress` is set only on the leader. */
export interface RaftStatus {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId | null;
  readonly commit: number;
  readonly applied: number;
  readonly leader: NodeId | null;
  readonly role: Role;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  readonly confState: ConfState;
  /** The node a leadership transfer is under way to, or null. */
  readonly leadTransferee: NodeId | null;
  readonly progress: Readonly<Record<NodeId, ProgressStatus>> | null;
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/** How leaders serve ReadIndex requests (§6.4). */
export type ReadOnlyOption = "safe" | "leaseBased";

/**
 * Knobs of the core. Times are in logical ticks: the driver calls `tick()`
 * every `tickMs` of its own choosing (e.g. 100 ms, as etcd does).
 */
export interface RaftConfig {
  /** This node's id. */
  readonly id: NodeId;
  /** Randomness for election timeouts (§5.2); fork one stream per node. */
  readonly prng: Prng;
  /**
   * Base election timeout in ticks. A follower that hears nothing for a
   * random timeout in [electionTick, 2*electionTick - 1] campaigns (§5.2).
   * Trade-off: lower means faster failover, more spurious elections.
   * Default 10 (= 1 s at etcd's 100 ms tick; heartbeats 10x faster, §5.6).
   */
  readonly electionTick?: number;
  /** Ticks between leader heartbeats (§5.2). Must be < electionTick. Default 1. */
  readonly heartbeatTick?: number;
  /** Run a PreVote round before a real election (dissertation §9.6). Default true. */
  readonly preVote?: boolean;
  /**
   * Leaders step down when they have not heard from a quorum for an election
   * timeout, and followers ignore votes while they hear from a leader
   * (dissertation §6.2, §4.2.3). Default true; required by "leaseBased" reads.
   */
  readonly checkQuorum?: boolean;
  /**
   * "safe": ReadIndex confirms leadership with a heartbeat round (§6.4).
   * "leaseBased": trusts the CheckQuorum lease instead (§6.4.1), which relies
   * on bounded clock drift. Default "safe".
   */
  readonly readOnlyOption?: ReadOnlyOption;
  /** Soft byte limit of entry data per append message; at least one entry is always sent. Default 1 MiB. */
  readonly maxSizePerMsg?: number;
  /** Append messages in flight per follower in "replicate" state (pipelining). Default 256. */
  readonly maxInflightMsgs?: number;
  /**
   * Refuse proposals while the leader holds more than this many bytes of
   * uncommitted entry data (back-pressure). 0 = no limit. Default 64 MiB.
   */
  readonly maxUncommittedEntriesSize?: number;
  /**
   * A learner may be promoted to voter (§4.2.1: new servers catch up before
   * they count toward a quorum) once the leader streams to it ("replicate")
   * and it trails the leader's last index by at most this many entries.
   * Trade-off: 0 may never be reached under load; a large lag makes the new
   * voter slow down commits until it catches up. Default 100.
   */
  readonly promoteMaxLagEntries?: number;
  /**
   * How followers learn that the commit index advanced. "immediate" (etcd's
   * behaviour): the leader sends an empty append to each follower as soon as
   * an entry commits. "lazy": the new commit index rides on the next append
   * or heartbeat, or goes out when the driver calls `broadcastCommit()`.
   * Trade-off: when writes come one at a time, the next write's append
   * carries the commit, which saves the leader two messages out and two
   * acknowledgements in per write, and each follower a Ready; followers
   * apply (and serve serializable reads and watches) a little later, by at
   * most the driver's flush delay. Safety does not depend on it: commitIndex
   * is volatile state (Figure 2), and a follower only applies what a leader
   * told it is committed. Default "immediate".
   */
  readonly commitBroadcast?: "immediate" | "lazy";
  /**
   * The index the state machine has already applied when restarting (at
   * least the snapshot index). Committed entries after it are handed out
   * again. Default: the snapshot's index.
   */
  readonly applied?: number;
}
