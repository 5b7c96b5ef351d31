/**
 * The Raft state machine (Raft paper §5, Ongaro's dissertation chapters 3-6
 * and 9), in the shape of etcd-io/raft's RawNode: synchronous, no I/O, no
 * timers, randomness from an injected Prng. The driver calls `tick()`,
 * `step(message)` and the request methods, then drains `ready()` and calls
 * `advance()`.
 *
 * Reading order: the fields (grouped as in Figure 2), the constructors, the
 * role transitions (becomeFollower/Candidate/Leader), `tick`, `step` and its
 * per-role handlers, replication (sendAppend and the response handler),
 * reads, membership, and finally the Ready/advance bookkeeping. As in
 * etcd-io/raft, two concerns have files of their own: the reads a leader
 * holds while it confirms its leadership (`read-only.ts`) and the
 * configuration with its change rules (`membership.ts`); this file decides
 * when to use them.
 */
import { decodeConfChange, encodeConfChange, validateConfChange } from "./codec.ts";
import { RaftLog, entrySize, snapshotConf } from "./log.ts";
import { Progress, committedIndex, quorumSize, voteResult } from "./progress.ts";
import { Membership } from "./membership.ts";
import { ReadOnly, leaseValid, type ReadRequest } from "./read-only.ts";
import type {
  AppendMessage,
  AppendResponseMessage,
  ConfChange,
  Entry,
  HardState,
  HeartbeatMessage,
  HeartbeatResponseMessage,
  InstallSnapshotMessage,
  Message,
  NodeId,
  PersistedState,
  ProgressStatus,
  ProposalPosition,
  RaftConfig,
  RaftError,
  RaftErrorCode,
  RaftResult,
  RaftStatus,
  ReadOnlyOption,
  ReadState,
  Ready,
  Role,
  Snapshot,
  SnapshotMetadata,
  SoftState,
  VoteRequestMessage,
} from "./types.ts";
import type { Prng } from "@heck/sim";

/** Defaults, each with its reason (see RaftConfig for the trade-offs). */
export const DEFAULT_RAFT_CONFIG = {
  /** 10 ticks: etcd's default; at a 100 ms tick, 1-2 s timeouts, 10x the heartbeat (§5.6: broadcastTime << electionTimeout). */
  electionTick: 10,
  /** 1 tick: a heartbeat every tick keeps followers far from their timeout. */
  heartbeatTick: 1,
  /** On: a node that was partitioned away cannot bump everyone's term when it returns (dissertation §9.6). */
  preVote: true,
  /** On: a leader cut off from its quorum steps down instead of serving stale reads (§6.2). */
  checkQuorum: true,
  /** Safe: a heartbeat round per read batch costs one round trip but does not trust clocks (§6.4). */
  readOnlyOption: "safe" as ReadOnlyOption,
  /** 1 MiB: big enough to amortise per-message cost, small enough to not stall heartbeats behind it. */
  maxSizePerMsg: 1024 * 1024,
  /** 256 appends in flight: enough to keep a LAN pipe full (etcd uses 256 too). */
  maxInflightMsgs: 256,
  /** 64 MiB of uncommitted proposals before the leader pushes back. */
  maxUncommittedEntriesSize: 64 * 1024 * 1024,
  /** 100 entries: a learner this close catches up within a round trip of pipelined appends. */
  promoteMaxLagEntries: 100,
  /** Immediate, as etcd: followers learn a commit at once; a driver that batches its own flushes picks "lazy". */
  commitBroadcast: "immediate" as "immediate" | "lazy",
};

/** What a Ready handed out, remembered until advance(). */
interface Outstanding {
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | null;
  readonly committedEntries: readonly Entry[];
  readonly appliedTo: number;
}

const EMPTY = new Uint8Array(0);

function raftError(code: RaftErrorCode, message: string, leader: NodeId | null): { ok: false; error: RaftError } {
  return { ok: false, error: { code, message, leader } };
}

function checkInt(name: string, v: number, min: number): void {
  if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`RaftConfig.${name} must be an integer >= ${min}, got ${v}`);
}

/**
 * One Raft server's consensus module. Create it with `bootstrap` (a founding
 * member), `join` (a member to be added later) or `restart` (from disk).
 */
export class RaftNode {
  // --- configuration -------------------------------------------------------
  private readonly myId: NodeId;
  private readonly prng: Prng;
  private readonly electionTimeout: number;
  private readonly heartbeatTimeout: number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly readOnlyOption: ReadOnlyOption;
  private readonly maxSizePerMsg: number;
  private readonly maxInflightMsgs: number;
  private readonly maxUncommittedSize: number;
  private readonly promoteMaxLag: number;
  private readonly lazyCommit: boolean;

  // --- persistent state on all servers (Figure 2) --------------------------
  private currentTerm = 0;
  private votedFor: NodeId | null = null;
  private readonly log: RaftLog;

  // --- volatile state on all servers ---------------------------------------
  private state: Role = "follower";
  private lead: NodeId | null = null;
  /** Ticks since the last valid contact from a leader (follower) or since the last CheckQuorum round (leader). */
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  /** This term's timeout, drawn from [electionTimeout, 2*electionTimeout - 1] (§5.2, "randomized election timeouts"). */
  private randomizedElectionTimeout = 0;
  private readonly votes = new Map<NodeId, boolean>();

  // --- membership (§4, membership.ts) ---------------------------------------
  private readonly conf: Membership;

  // --- volatile state on leaders (Figure 2, plus etcd's flow control) ------
  private readonly progress = new Map<NodeId, Progress>();
  /** A conf change at an index > applied is in flight: no other may be proposed (§4.1 "one at a time"). */
  private pendingConfIndex = 0;
  private leadTransferee: NodeId | null = null;
  private uncommittedSize = 0;
  /** Proposals or commit changes since the last flush: broadcast once per Ready (batching). */
  private needBroadcast = false;
  /** Linearizable reads waiting for their read index (§6.4, read-only.ts). */
  private readonly reads = new ReadOnly();
  /** Ticks since this node became leader: the clock of its lease (§6.4.1). */
  private leaderTicks = 0;
  /** Set once this leader sent TimeoutNow: another leader may be elected inside our lease, so it is void. */
  private leaseRevoked = false;

  // --- output -----------------------------------------------------------------
  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  private prevHardState: HardState;
  private prevSoftState: SoftState = { leader: null, role: "follower" };
  private confChanged = false;
  private outstanding: Outstanding | null = null;

  private constructor(config: RaftConfig, persisted: PersistedState, bootstrapVoters: readonly NodeId[] | null) {
    if (typeof config.id !== "string" || config.id.length === 0) throw new RangeError("RaftConfig.id must be a non-empty string");
    this.myId = config.id;
    this.prng = config.prng;
    this.electionTimeout = config.electionTick ?? DEFAULT_RAFT_CONFIG.electionTick;
    this.heartbeatTimeout = config.heartbeatTick ?? DEFAULT_RAFT_CONFIG.heartbeatTick;
    checkInt("electionTick", this.electionTimeout, 2);
    checkInt("heartbeatTick", this.heartbeatTimeout, 1);
    if (this.heartbeatTimeout >= this.electionTimeout) {
      throw new RangeError(`RaftConfig.heartbeatTick (${this.heartbeatTimeout}) must be < electionTick (${this.electionTimeout})`);
    }
    this.preVote = config.preVote ?? DEFAULT_RAFT_CONFIG.preVote;
    this.checkQuorum = config.checkQuorum ?? DEFAULT_RAFT_CONFIG.checkQuorum;
    this.readOnlyOption = config.readOnlyOption ?? DEFAULT_RAFT_CONFIG.readOnlyOption;
    if (this.readOnlyOption !== "safe" && this.readOnlyOption !== "leaseBased") {
      throw new RangeError(`RaftConfig.readOnlyOption must be "safe" or "leaseBased", got ${String(this.readOnlyOption)}`);
    }
    if (this.readOnlyOption === "leaseBased" && !this.checkQuorum) {
      // The lease is the CheckQuorum guarantee: without it a deposed leader could serve stale reads (§6.4.1).
      throw new RangeError('RaftConfig.readOnlyOption "leaseBased" requires checkQuorum');
    }
    this.maxSizePerMsg = config.maxSizePerMsg ?? DEFAULT_RAFT_CONFIG.maxSizePerMsg;
    checkInt("maxSizePerMsg", this.maxSizePerMsg, 0);
    this.maxInflightMsgs = config.maxInflightMsgs ?? DEFAULT_RAFT_CONFIG.maxInflightMsgs;
    checkInt("maxInflightMsgs", this.maxInflightMsgs, 1);
    this.maxUncommittedSize = config.maxUncommittedEntriesSize ?? DEFAULT_RAFT_CONFIG.maxUncommittedEntriesSize;
    checkInt("maxUncommittedEntriesSize", this.maxUncommittedSize, 0);
    this.promoteMaxLag = config.promoteMaxLagEntries ?? DEFAULT_RAFT_CONFIG.promoteMaxLagEntries;
    checkInt("promoteMaxLagEntries", this.promoteMaxLag, 0);
    const commitBroadcast = config.commitBroadcast ?? DEFAULT_RAFT_CONFIG.commitBroadcast;
    if (commitBroadcast !== "immediate" && commitBroadcast !== "lazy") {
      throw new RangeError(`RaftConfig.commitBroadcast must be "immediate" or "lazy", got ${String(commitBroadcast)}`);
    }
    this.lazyCommit = commitBroadcast === "lazy";

    // Restore what was persisted, checking it is a log at all.
    const hs = persisted.hardState;
    const snap = persisted.snapshot;
    const snapIndex = snap?.metadata.index ?? 0;
    checkInt("hardState.term", hs.term, 0);
    checkInt("hardState.commit", hs.commit, 0);
    persisted.entries.forEach((e, i) => {
      if (e.index !== snapIndex + 1 + i) throw new RangeError(`PersistedState.entries[${i}].index must be ${snapIndex + 1 + i}, got ${e.index}`);
      if (e.term > hs.term) throw new RangeError(`PersistedState.entries[${i}].term ${e.term} exceeds hardState.term ${hs.term}`);
    });
    const lastIndex = snapIndex + persisted.entries.length;
    if (hs.commit > lastIndex) throw new RangeError(`PersistedState.hardState.commit ${hs.commit} exceeds the last index ${lastIndex}`);
    const commit = Math.max(hs.commit, snapIndex);
    const applied = config.applied ?? snapIndex;
    if (!Number.isSafeInteger(applied) || applied < snapIndex || applied > commit) {
      throw new RangeError(`RaftConfig.applied must be in [${snapIndex}, ${commit}] (snapshot index .. commit), got ${applied}`);
    }
    this.log = new RaftLog(snap, persisted.entries, commit, applied);
    this.currentTerm = hs.term;
    this.votedFor = hs.vote;
    this.prevHardState = { term: hs.term, vote: hs.vote, commit };

    // Membership: the snapshot's, then every conf change the state machine already applied.
    this.conf = new Membership(snapshotConf(snap));
    for (const e of persisted.entries) {
      if (e.index > applied) break;
      if (e.type === "confChange") this.applyConfEntry(e);
    }

    if (bootstrapVoters !== null) {
      const unique = new Set(bootstrapVoters);
      if (unique.size === 0 || unique.size !== bootstrapVoters.length) throw new RangeError("bootstrap: voters must be a non-empty list of distinct ids");
      if (!unique.has(this.myId)) throw new RangeError(`bootstrap: voters must include this node (${this.myId})`);
      if (lastIndex !== 0 || hs.term !== 0) throw new RangeError("bootstrap: the node already has state; use restart");
      // As etcd's Bootstrap: the founding membership is log entries 1..n of
      // term 1, identical on every founder and hence committed by definition.
      const entries: Entry[] = bootstrapVoters.map((v, i) => ({
        index: i + 1,
        term: 1,
        type: "confChange" as const,
        data: encodeConfChange({ type: "addVoter", nodeId: v }),
      }));
      this.log.append(entries);
      this.log.commitTo(entries.length);
      this.currentTerm = 1;
      this.conf.set({ voters: [...bootstrapVoters], learners: [] });
    }
    this.becomeFollower(this.currentTerm, null);
    // Let the driver learn the membership it starts with from the first Ready.
    this.confChanged = this.conf.voters.size > 0 || this.conf.learners.size > 0;
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

  /** A node restarted from what it persisted (hard state, snapshot, entries after the snapshot). Throws a RangeError on inconsistent state. */
  static restart(config: RaftConfig, persisted: PersistedState): RaftNode {
    return new RaftNode(config, persisted, null);
  }

  /** This node's id. */
  get id(): NodeId {
    return this.myId;
  }
  /** The current term (§5.1). */
  get term(): number {
    return this.currentTerm;
  }
  /** The leader this node follows, or null. */
  get leader(): NodeId | null {
    return this.lead;
  }
  /** follower, preCandidate, candidate or leader. */
  get role(): Role {
    return this.state;
  }
  /** The highest index known committed (Figure 2's commitIndex); cheaper than {@link status} for a per-step read. */
  get commitIndex(): number {
    return this.log.committed;
  }
  /** The index of the last entry in the log (0 when empty). */
  get lastIndex(): number {
    return this.log.lastIndex();
  }

  // ---------------------------------------------------------------------------
  // Role transitions (§5.2)
  // ---------------------------------------------------------------------------

  private reset(term: number): void {
    if (this.currentTerm !== term) {
      this.currentTerm = term;
      this.votedFor = null;
    }
    this.lead = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTimeout + this.prng.nextInt(0, this.electionTimeout - 1);
    this.votes.clear();
    this.leadTransferee = null;
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.needBroadcast = false;
    // Reads waiting on this node's leadership die with it; clients retry elsewhere.
    this.reads.reset();
    this.progress.clear();
    this.leaderTicks = 0;
    this.leaseRevoked = false;
  }

  private becomeFollower(term: number, leader: NodeId | null): void {
    this.reset(term);
    this.state = "follower";
    this.lead = leader;
  }

  /** PreVote (dissertation §9.6): ask first whether we could win, without touching anyone's term. */
  private becomePreCandidate(): void {
    this.state = "preCandidate";
    this.lead = null;
    this.votes.clear();
  }

  /** §5.2: increment currentTerm, vote for self. */
  private becomeCandidate(): void {
    this.reset(this.currentTerm + 1);
    this.votedFor = this.myId;
    this.state = "candidate";
  }

  /**
   * §5.2 and §5.3: initialise nextIndex to last log index + 1 for each peer,
   * then append a no-op entry of the new term (§8), whose commitment commits
   * everything before it and lets ReadIndex proceed (§6.4).
   */
  private becomeLeader(): void {
    this.reset(this.currentTerm);
    this.state = "leader";
    this.lead = this.myId;
    const last = this.log.lastIndex();
    for (const id of this.members()) {
      const pr = new Progress(last + 1, this.maxInflightMsgs, this.conf.learners.has(id));
      if (id === this.myId) {
        pr.match = last;
        pr.becomeReplicate();
      }
      // Everyone starts "recently active": the votes just received are contact.
      pr.recentActive = true;
      this.progress.set(id, pr);
    }
    // Single-server changes are unsafe across leader changes unless the new
    // leader commits an entry of its own term first (Ongaro, raft-dev 2015):
    // block conf changes until everything up to the no-op is applied.
    this.pendingConfIndex = last + 1;
    this.appendEntries([{ type: "normal", data: EMPTY }]);
  }

  private members(): NodeId[] {
    return this.conf.members();
  }

  /** Whether this node may campaign: only voters do (learners and removed nodes never start elections). */
  private promotable(): boolean {
    return this.conf.voters.has(this.myId);
  }

  // ---------------------------------------------------------------------------
  // Time
  // ---------------------------------------------------------------------------

  /** Advances logical time by one tick: election timeouts on followers, heartbeats and CheckQuorum on leaders. */
  tick(): void {
    if (this.state === "leader") this.tickLeader();
    else this.tickElection();
  }

  /**
   * The caller's clock passed `ticks` ticks it never ran (the process was
   * paused, or its event loop stalled). They are not replayed, but they age
   * the lease: §6.4.1's lease is a span of time during which the other
   * members' election timers cannot fire, and those timers kept running.
   * A gap as long as the lease drops it, so the next read takes a heartbeat
   * round (and finds out whether this node is still leader).
   */
  ticksMissed(ticks: number): void {
    if (ticks > 0 && this.state === "leader") this.leaderTicks += ticks;
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickLeader(): void {
    this.leaderTicks++;
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) {
        // §6.2: a leader that has not heard from a majority within an election timeout steps down.
        if (!this.quorumActive()) {
          this.becomeFollower(this.currentTerm, null);
          return;
        }
        for (const [id, pr] of this.progress) if (id !== this.myId) pr.recentActive = false;
      }
      // §3.10: a transfer that did not complete within an election timeout is abandoned.
      if (this.leadTransferee !== null) this.leadTransferee = null;
    }
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat(null);
    }
  }

  private quorumActive(): boolean {
    let active = 0;
    for (const v of this.conf.voters) {
      if (v === this.myId || this.progress.get(v)?.recentActive) active++;
    }
    return active >= quorumSize(this.conf.voters.size);
  }

  // ---------------------------------------------------------------------------
  // Elections (§5.2, PreVote §9.6)
  // ---------------------------------------------------------------------------

  /** Starts an election now (PreVote first if enabled), as if the election timeout fired. */
  campaign(): void {
    this.hup(false);
  }

  private hup(transfer: boolean): void {
    if (this.state === "leader" || !this.promotable()) return;
    // A committed but unapplied conf change may change who we are; campaigning on a stale membership is unsafe.
    if (this.hasUnappliedConfChange()) return;
    if (this.preVote && !transfer) this.runElection("pre", false);
    else this.runElection("real", transfer);
  }

  private hasUnappliedConfChange(): boolean {
    for (const e of this.log.slice(this.log.applied + 1, this.log.committed + 1)) if (e.type === "confChange") return true;
    return false;
  }

  private runElection(kind: "pre" | "real", transfer: boolean): void {
    let term: number;
    if (kind === "pre") {
      this.becomePreCandidate();
      term = this.currentTerm + 1;
    } else {
      this.becomeCandidate();
      term = this.currentTerm;
    }
    this.votes.set(this.myId, true);
    if (voteResult([...this.conf.voters], this.votes) === "won") {
      // A cluster of one wins outright.
      if (kind === "pre") this.runElection("real", transfer);
      else this.becomeLeader();
      return;
    }
    const lastLogIndex = this.log.lastIndex();
    const lastLogTerm = this.log.lastTerm();
    for (const v of this.conf.voters) {
      if (v === this.myId) continue;
      this.send({ type: kind === "pre" ? "requestPreVote" : "requestVote", from: this.myId, to: v, term, lastLogIndex, lastLogTerm, transfer });
    }
  }

  // ---------------------------------------------------------------------------
  // Step: every incoming message
  // ---------------------------------------------------------------------------

  /** Feeds one message from a peer. Stale, misaddressed or nonsensical messages are ignored, never thrown on. */
  step(m: Message): void {
    if (m.to !== this.myId || m.from === this.myId) return;

    // §5.1: terms act as a logical clock.
    if (m.term > this.currentTerm) {
      if (m.type === "requestVote" || m.type === "requestPreVote") {
        // §4.2.3 (disruptive servers) with CheckQuorum: while we hear from a
        // leader, refuse to help depose it, unless the leader itself asked
        // (TimeoutNow, §3.10).
        const inLease = this.checkQuorum && this.lead !== null && this.electionElapsed < this.electionTimeout;
        if (!m.transfer && inLease) return;
      }
      if (m.type === "requestPreVote") {
        // A pre-vote never changes our term (§9.6).
      } else if (m.type === "preVoteResponse" && m.granted) {
        // A granted pre-vote carries the term we would campaign in, not a newer leader's.
      } else {
        const isLeaderMsg = m.type === "append" || m.type === "heartbeat" || m.type === "installSnapshot";
        this.becomeFollower(m.term, isLeaderMsg ? m.from : null);
      }
    } else if (m.term < this.currentTerm) {
      if ((this.checkQuorum || this.preVote) && (m.type === "append" || m.type === "heartbeat")) {
        // A stale leader that cannot learn of the new term would never step
        // down: with PreVote/CheckQuorum nobody votes it out, so tell it (etcd does the same).
        this.send({ type: "appendResponse", from: this.myId, to: m.from, term: this.currentTerm, reject: false, index: 0, rejectHint: 0, logTerm: 0 });
      } else if (m.type === "requestPreVote") {
        this.send({ type: "preVoteResponse", from: this.myId, to: m.from, term: this.currentTerm, granted: false });
      }
      return;
    }

    if (m.type === "requestVote" || m.type === "requestPreVote") {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.state) {
      case "leader":
        this.stepLeader(m);
        break;
      case "candidate":
      case "preCandidate":
        this.stepCandidate(m);
        break;
      case "follower":
        this.stepFollower(m);
        break;
    }
  }

  /**
   * RequestVote receiver (Figure 2): grant if we have not voted for someone
   * else this term and the candidate's log is at least as up-to-date (§5.4.1).
   */
  private handleVoteRequest(m: VoteRequestMessage): void {
    const canVote =
      this.votedFor === m.from ||
      (this.votedFor === null && this.lead === null) ||
      (m.type === "requestPreVote" && m.term > this.currentTerm);
    const respType = m.type === "requestVote" ? "voteResponse" : "preVoteResponse";
    if (canVote && this.log.isUpToDate(m.lastLogIndex, m.lastLogTerm)) {
      this.send({ type: respType, from: this.myId, to: m.from, term: m.term, granted: true });
      if (m.type === "requestVote") {
        this.electionElapsed = 0;
        this.votedFor = m.from;
      }
    } else {
      this.send({ type: respType, from: this.myId, to: m.from, term: this.currentTerm, granted: false });
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case "append":
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        break;
      case "heartbeat":
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        break;
      case "installSnapshot":
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        break;
      case "timeoutNow":
        // §3.10: the leader asks us to start an election at once, skipping PreVote.
        this.hup(true);
        break;
      case "readIndex":
        this.send({ type: "readIndexResponse", from: this.myId, to: m.from, term: this.currentTerm, context: m.context, index: -1 });
        break;
      case "readIndexResponse":
        if (m.index >= 0) this.readStates.push({ index: m.index, requestCtx: m.context });
        break;
      default:
        break;
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case "append":
      case "heartbeat":
      case "installSnapshot":
        // §5.2: a leader of our term exists; return to follower.
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        break;
      case "voteResponse":
      case "preVoteResponse": {
        if ((m.type === "voteResponse") !== (this.state === "candidate")) return;
        if (!this.conf.voters.has(m.from)) return;
        this.votes.set(m.from, m.granted);
        const result = voteResult([...this.conf.voters], this.votes);
        if (result === "won") {
          if (this.state === "preCandidate") this.runElection("real", false);
          else {
            this.becomeLeader();
            this.needBroadcast = true;
          }
        } else if (result === "lost") {
          this.becomeFollower(this.currentTerm, null);
        }
        break;
      }
      case "readIndex":
        this.send({ type: "readIndexResponse", from: this.myId, to: m.from, term: this.currentTerm, context: m.context, index: -1 });
        break;
      default:
        break;
    }
  }

  private stepLeader(m: Message): void {
    const pr = this.progress.get(m.from);
    switch (m.type) {
      case "appendResponse":
        if (pr) this.handleAppendResponse(m, pr);
        break;
      case "heartbeatResponse":
        if (pr) this.handleHeartbeatResponse(m, pr);
        break;
      case "readIndex":
        this.handleReadRequest({ from: m.from, ctx: m.context });
        break;
      default:
        // Another leader of our term cannot exist (Election Safety, §5.2); anything else is stale.
        break;
    }
  }

  // ---------------------------------------------------------------------------
  // Follower side of replication
  // ---------------------------------------------------------------------------

  /** AppendEntries receiver (Figure 2) with the fast back-tracking hint (§5.3). */
  private handleAppend(m: AppendMessage): void {
    const base = { from: this.myId, to: m.from, term: this.currentTerm } as const;
    if (m.prevLogIndex < this.log.committed) {
      // Everything up to our commit index already matches; report it so the leader skips ahead.
      this.send({ type: "appendResponse", ...base, reject: false, index: this.log.committed, rejectHint: 0, logTerm: 0 });
      return;
    }
    const lastNew = this.log.maybeAppend(m.prevLogIndex, m.prevLogTerm, m.commit, m.entries);
    if (lastNew !== null) {
      this.send({ type: "appendResponse", ...base, reject: false, index: lastNew, rejectHint: 0, logTerm: 0 });
      return;
    }
    const hint = this.log.findConflictByTerm(Math.min(m.prevLogIndex, this.log.lastIndex()), m.prevLogTerm);
    this.send({ type: "appendResponse", ...base, reject: true, index: m.prevLogIndex, rejectHint: hint.index, logTerm: hint.term });
  }

  private handleHeartbeat(m: HeartbeatMessage): void {
    // The leader sends min(our match, its commit), so everything up to it is in our log and matches.
    this.log.commitTo(m.commit);
    this.send({ type: "heartbeatResponse", from: this.myId, to: m.from, term: this.currentTerm, context: m.context });
  }

  /** InstallSnapshot receiver (dissertation Figure 5.3). */
  private handleSnapshot(m: InstallSnapshotMessage): void {
    const s = m.snapshot;
    const base = { type: "appendResponse", from: this.myId, to: m.from, term: this.currentTerm, reject: false, rejectHint: 0, logTerm: 0 } as const;
    if (this.restore(s)) {
      this.send({ ...base, index: this.log.lastIndex() });
    } else {
      this.send({ ...base, index: this.log.committed });
    }
  }

  private restore(s: Snapshot): boolean {
    const { index, term } = s.metadata;
    if (index <= this.log.committed) return false;
    if (this.log.snapshotPending()) return false;
    if (this.log.matchTerm(index, term)) {
      // Rule 6: we already hold the snapshot's last entry; keep the log after it and just commit.
      this.log.commitTo(index);
      return false;
    }
    // Rule 7: discard the entire log and take the snapshot's state and membership.
    this.log.restore(s);
    this.conf.restore(s.metadata.confState);
    this.confChanged = true;
    return true;
  }

  // ---------------------------------------------------------------------------
  // Leader side of replication (§5.3) with etcd-style flow control
  // ---------------------------------------------------------------------------

  /** Leader only: appends a command; it is committed iff an entry with the returned index and term is applied. */
  propose(data: Uint8Array): RaftResult<ProposalPosition> {
    if (!(data instanceof Uint8Array)) return raftError("invalidArgument", "propose: data must be a Uint8Array", this.lead);
    const refused = this.checkProposal(data.length);
    if (refused) return refused;
    const e = this.appendEntries([{ type: "normal", data }]);
    return { ok: true, value: { index: e.index, term: e.term } };
  }

  private checkProposal(size: number): { ok: false; error: RaftError } | null {
    if (this.state !== "leader") return raftError("notLeader", `node ${this.myId} is not the leader`, this.lead);
    if (this.leadTransferee !== null) {
      // §3.10: the old leader stops accepting client requests during a transfer.
      return raftError("transferInProgress", `leadership is being transferred to ${this.leadTransferee}`, this.lead);
    }
    if (this.maxUncommittedSize > 0 && this.uncommittedSize > 0 && this.uncommittedSize + size > this.maxUncommittedSize) {
      return raftError("tooManyUncommitted", `${this.uncommittedSize} bytes of proposals are uncommitted; retry later`, this.lead);
    }
    return null;
  }

  private appendEntries(items: { type: Entry["type"]; data: Uint8Array }[]): Entry {
    let index = this.log.lastIndex();
    const entries: Entry[] = items.map((it) => ({ index: ++index, term: this.currentTerm, type: it.type, data: it.data }));
    this.log.append(entries);
    for (const e of entries) this.uncommittedSize += entrySize(e);
    // The leader's own log counts toward the majority (its copy is persisted before any ack it sends out).
    this.progress.get(this.myId)?.maybeUpdate(index);
    this.maybeCommit();
    this.needBroadcast = true;
    return entries[entries.length - 1]!;
  }

  /** §5.3/§5.4.2: advance commitIndex to the majority's match if that entry is from our term. */
  private maybeCommit(): boolean {
    const matches: number[] = [];
    for (const v of this.conf.voters) matches.push(this.progress.get(v)?.match ?? 0);
    const before = this.log.committed;
    if (!this.log.maybeCommit(committedIndex(matches), this.currentTerm)) return false;
    for (const e of this.log.slice(before + 1, this.log.committed + 1)) this.uncommittedSize -= entrySize(e);
    if (this.uncommittedSize < 0) this.uncommittedSize = 0;
    // Lazy: the news rides on the next append or heartbeat, or on broadcastCommit().
    if (!this.lazyCommit) this.needBroadcast = true;
    if (this.reads.awaiting && this.committedInCurrentTerm()) {
      for (const r of this.reads.takeAwaitingCommit()) this.handleReadRequest(r);
    }
    return true;
  }

  private committedInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.currentTerm;
  }

  /**
   * Sends every follower what it lacks: as many batches as its flow control
   * allows, and an empty append when only the commit index is news to it.
   */
  private bcastAppend(): void {
    for (const [id, pr] of this.progress) {
      if (id === this.myId) continue;
      if (!this.sendAppend(id, pr.sentCommit < this.log.committed)) continue;
      while (this.sendAppend(id, false)) {
        /* one more batch per call until the window or the log is exhausted */
      }
    }
  }

  /**
   * Sends the next entries to `to` if its progress allows: in "replicate"
   * optimistically (pipelining up to maxInflightMsgs), in "probe" one at a
   * time. Falls back to InstallSnapshot when the entries are compacted.
   */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevLogIndex = pr.next - 1;
    const prevLogTerm = this.log.term(prevLogIndex);
    if (prevLogTerm === undefined) return this.sendSnapshot(to, pr);
    const entries = this.log.slice(pr.next, this.log.lastIndex() + 1, this.maxSizePerMsg);
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({ type: "append", from: this.myId, to, term: this.currentTerm, prevLogIndex, prevLogTerm, entries, commit: this.log.committed });
    pr.sentCommit = Math.max(pr.sentCommit, Math.min(this.log.committed, prevLogIndex + entries.length));
    if (entries.length > 0) {
      if (pr.state === "replicate") {
        const last = entries[entries.length - 1]!.index;
        pr.optimisticUpdate(last);
        pr.inflights.add(last);
      } else {
        pr.probeSent = true;
      }
    } else if (pr.state === "probe") {
      pr.probeSent = true;
    }
    return true;
  }

  /**
   * With `commitBroadcast: "lazy"`: sends the current commit index now to
   * every follower that has not been sent it (an empty append, or the
   * entries it still lacks). A no-op on followers and when everyone knows.
   */
  broadcastCommit(): void {
    if (this.state !== "leader") return;
    for (const [id, pr] of this.progress) {
      if (id !== this.myId && pr.sentCommit < this.log.committed) this.sendAppend(id, true);
    }
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    const snap = this.log.snapshot;
    if (snap === null) return false;
    this.send({ type: "installSnapshot", from: this.myId, to, term: this.currentTerm, snapshot: snap });
    pr.becomeSnapshot(snap.metadata.index);
    return true;
  }

  private handleAppendResponse(m: AppendResponseMessage, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      // Fast back-tracking (§5.3): jump to the last index where our log can match the follower's hint.
      let nextProbe = m.rejectHint;
      if (m.logTerm > 0) nextProbe = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
      if (pr.maybeDecrTo(m.index, nextProbe)) {
        if (pr.state === "replicate") pr.becomeProbe();
        this.sendAppend(m.from, true);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === "probe")) {
      if (pr.state === "probe") {
        pr.becomeReplicate();
      } else if (pr.state === "snapshot" && pr.match + 1 >= this.log.firstIndex()) {
        // The follower installed the snapshot (or caught up otherwise): resume from the log.
        pr.becomeProbe();
        pr.becomeReplicate();
      } else if (pr.state === "replicate") {
        pr.inflights.freeLE(m.index);
      }
      // A follower that was paused (probing) gets an append now either way, so it can be unpaused;
      // the others hear of a new commit from the broadcast (immediate) or later (lazy).
      if ((!this.maybeCommit() || this.lazyCommit) && wasPaused) this.sendAppend(m.from, true);
      // Keep the pipe full while the window allows.
      while (this.sendAppend(m.from, false)) {
        /* each call sends one more batch */
      }
      if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
        // §3.10 step 2: the target is caught up; tell it to start an election now.
        this.sendTimeoutNow(m.from);
      }
    }
  }

  private handleHeartbeatResponse(m: HeartbeatResponseMessage, pr: Progress): void {
    pr.recentActive = true;
    pr.probeSent = false;
    if (pr.state === "snapshot") {
      // The follower is alive but has not acknowledged the snapshot for about
      // an election timeout: assume it was lost and probe again (which
      // re-sends it if still needed).
      pr.snapshotHeartbeats++;
      if (pr.snapshotHeartbeats >= Math.ceil(this.electionTimeout / this.heartbeatTimeout)) pr.becomeProbe();
    }
    // If the whole window of appends was lost (the follower crashed, say),
    // nothing would ever be acknowledged again: the follower is alive, so let
    // one append through; if it lands past a gap, its rejection resets the
    // pipeline to probing (as etcd does).
    if (pr.state === "replicate" && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.log.lastIndex() || pr.state === "probe") this.sendAppend(m.from, true);
    if (m.context !== null) {
      if (m.context.startsWith("@")) {
        const sent = Number(m.context.slice(1));
        if (Number.isSafeInteger(sent) && sent <= this.leaderTicks && sent > pr.leaseAckTick) pr.leaseAckTick = sent;
      } else {
        for (const c of this.reads.ack(m.context, m.from, pr, this.conf.voters)) this.respondRead(c.request, c.index);
      }
    }
  }

  /**
   * Heartbeats to every follower. A heartbeat carries either a read round's
   * key or "@<leader tick>", so its answer tells the leader when the
   * follower last heard from it, measured on the leader's own clock (the
   * lease, §6.4.1).
   */
  private bcastHeartbeat(context: string | null): void {
    const ctx = context ?? `@${this.leaderTicks}`;
    for (const [id, pr] of this.progress) {
      if (id === this.myId) continue;
      // min(match, commit): a heartbeat carries no log check, so never tell a follower to commit past what it is known to hold.
      const commit = Math.min(pr.match, this.log.committed);
      pr.sentCommit = Math.max(pr.sentCommit, commit);
      this.send({ type: "heartbeat", from: this.myId, to: id, term: this.currentTerm, commit, context: ctx });
    }
  }

  // ---------------------------------------------------------------------------
  // Reads (§6.4)
  // ---------------------------------------------------------------------------

  /**
   * Requests a linearizable read point (§6.4). Later a Ready carries a
   * ReadState with this `requestCtx` and the index to wait for. Followers
   * forward to the leader.
   */
  readIndex(requestCtx: string): RaftResult<void> {
    if (typeof requestCtx !== "string" || requestCtx.length === 0 || requestCtx.length > 1024) {
      return raftError("invalidArgument", "readIndex: requestCtx must be a non-empty string of at most 1024 characters", this.lead);
    }
    if (this.state === "leader") {
      this.handleReadRequest({ from: this.myId, ctx: requestCtx });
      return { ok: true, value: undefined };
    }
    if (this.state === "follower" && this.lead !== null) {
      this.send({ type: "readIndex", from: this.myId, to: this.lead, term: this.currentTerm, context: requestCtx });
      return { ok: true, value: undefined };
    }
    return raftError("unavailable", `node ${this.myId} knows no leader to serve reads`, this.lead);
  }

  private handleReadRequest(req: ReadRequest): void {
    if (!this.committedInCurrentTerm()) {
      // §6.4 step 1: until our no-op commits we do not know the latest commit index.
      this.reads.awaitCommit(req);
      return;
    }
    if (quorumSize(this.conf.voters.size) === 1 || (this.readOnlyOption === "leaseBased" && leaseValid(this.myId, this.conf.voters, this.progress, this.leaderTicks, this.electionTimeout, this.leaseRevoked))) {
      // A cluster of one needs no round; §6.4.1: within the lease no other leader can exist.
      this.respondRead(req, this.log.committed);
      return;
    }
    this.reads.add(req);
  }

  private respondRead(req: ReadRequest, index: number): void {
    if (req.from === this.myId) this.readStates.push({ index, requestCtx: req.ctx });
    else this.send({ type: "readIndexResponse", from: this.myId, to: req.from, term: this.currentTerm, context: req.ctx, index });
  }

  // ---------------------------------------------------------------------------
  // Leadership transfer (§3.10)
  // ---------------------------------------------------------------------------

  /** Leader only: hands leadership to `to` (§3.10): catch it up, then send TimeoutNow. */
  transferLeadership(to: NodeId): RaftResult<void> {
    if (this.state !== "leader") return raftError("notLeader", `node ${this.myId} is not the leader`, this.lead);
    if (to === this.myId) return { ok: true, value: undefined };
    if (!this.conf.voters.has(to)) return raftError("invalidArgument", `transferLeadership: ${to} is not a voter`, this.lead);
    if (this.leadTransferee === to) return { ok: true, value: undefined };
    this.leadTransferee = to;
    // The transfer must finish within an election timeout (tickLeader aborts it).
    this.electionElapsed = 0;
    const pr = this.progress.get(to)!;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to, true);
    return { ok: true, value: undefined };
  }

  private sendTimeoutNow(to: NodeId): void {
    this.leaseRevoked = true;
    this.send({ type: "timeoutNow", from: this.myId, to, term: this.currentTerm });
  }

  // ---------------------------------------------------------------------------
  // Membership (§4, single-server changes)
  // ---------------------------------------------------------------------------

  /** Leader only: proposes one membership change (§4.1); refused while another is uncommitted or unapplied. */
  proposeConfChange(change: ConfChange): RaftResult<ProposalPosition> {
    const valid = validateConfChange(change);
    if (!valid.ok) return raftError("invalidArgument", valid.error.message, this.lead);
    const cc = valid.value;
    const data = encodeConfChange(cc);
    const refused = this.checkProposal(data.length);
    if (refused) return refused;
    if (this.pendingConfIndex > this.log.applied) {
      return raftError("confChangePending", `a membership change at index ${this.pendingConfIndex} is not applied yet (§4.1: one at a time)`, this.lead);
    }
    const refusal = this.conf.refusal(cc, (id) => this.progress.get(id), this.log.lastIndex(), this.promoteMaxLag);
    if (refusal) return raftError(refusal.code, refusal.message, this.lead);
    const e = this.appendEntries([{ type: "confChange", data }]);
    this.pendingConfIndex = e.index;
    return { ok: true, value: { index: e.index, term: e.term } };
  }

  /**
   * Applies a committed conf-change entry once the driver has applied it
   * (as etcd does). Changes that no longer make sense (they raced with
   * another) are ignored, identically on every server.
   */
  private applyConfEntry(e: Entry): void {
    const decoded = decodeConfChange(e.data);
    this.conf.apply(e.index, decoded.ok ? decoded.value : null);
    this.confChanged = true;
    if (this.state === "leader") this.syncProgressWithConf();
  }

  /** On the leader, after a membership change: track new members, forget removed ones, re-evaluate the quorum. */
  private syncProgressWithConf(): void {
    const members = new Set(this.members());
    for (const id of [...this.progress.keys()]) if (!members.has(id)) this.progress.delete(id);
    for (const id of members) {
      const existing = this.progress.get(id);
      if (existing) existing.isLearner = this.conf.learners.has(id);
      else {
        const pr = new Progress(this.log.lastIndex() + 1, this.maxInflightMsgs, this.conf.learners.has(id));
        pr.recentActive = true;
        this.progress.set(id, pr);
        this.needBroadcast = true;
      }
    }
    if (this.leadTransferee !== null && !this.conf.voters.has(this.leadTransferee)) this.leadTransferee = null;
    if (!this.conf.voters.has(this.myId)) {
      // §4.2.2: a leader removed from the configuration steps down once the
      // change is committed. Handing over with TimeoutNow to the most
      // up-to-date voter avoids waiting out an election timeout.
      let best: NodeId | null = null;
      let bestMatch = -1;
      for (const v of this.conf.voters) {
        const m = this.progress.get(v)?.match ?? 0;
        if (m > bestMatch) {
          best = v;
          bestMatch = m;
        }
      }
      if (best !== null && bestMatch === this.log.lastIndex()) this.sendTimeoutNow(best);
      this.becomeFollower(this.currentTerm, null);
      return;
    }
    // A smaller quorum may commit at once.
    this.maybeCommit();
  }

  // ---------------------------------------------------------------------------
  // Compaction (dissertation chapter 5)
  // ---------------------------------------------------------------------------

  /**
   * Log compaction (dissertation chapter 5): the state machine's snapshot
   * `data` at `index` (<= applied) replaces the log up to `index`. The caller
   * has already persisted the snapshot and may then drop WAL entries <= index.
   */
  compact(index: number, data: Uint8Array): RaftResult<SnapshotMetadata> {
    if (!Number.isSafeInteger(index) || index > this.log.applied) {
      return raftError("invalidArgument", `compact: index ${index} must be an integer <= applied (${this.log.applied})`, this.lead);
    }
    if (index <= this.log.snapshotIndex()) {
      return raftError("compacted", `compact: index ${index} is already compacted (snapshot at ${this.log.snapshotIndex()})`, this.lead);
    }
    if (!(data instanceof Uint8Array)) return raftError("invalidArgument", "compact: data must be a Uint8Array", this.lead);
    const conf = this.conf.compactTo(index);
    const metadata: SnapshotMetadata = { index, term: this.log.term(index)!, confState: conf };
    this.log.compact({ metadata, data });
    return { ok: true, value: metadata };
  }

  // ---------------------------------------------------------------------------
  // Driver feedback
  // ---------------------------------------------------------------------------

  /** Tells the leader a message to `id` could not be delivered, so it stops pipelining and probes. */
  reportUnreachable(id: NodeId): void {
    const pr = this.state === "leader" ? this.progress.get(id) : undefined;
    if (pr && pr.state === "replicate") pr.becomeProbe();
  }

  /** Tells the leader whether the snapshot sent to `id` was delivered. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    const pr = this.state === "leader" ? this.progress.get(id) : undefined;
    if (!pr || pr.state !== "snapshot") return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the follower's answer (or the next heartbeat) before probing.
    pr.probeSent = true;
  }

  // ---------------------------------------------------------------------------
  // Ready / advance
  // ---------------------------------------------------------------------------

  private send(m: Message): void {
    this.msgs.push(m);
  }

  /** Turns what was batched since the last Ready into messages: one append and one read round per Ready. */
  private flush(): void {
    if (this.state !== "leader") return;
    if (this.needBroadcast) {
      this.needBroadcast = false;
      this.bcastAppend();
    }
    if (this.reads.batched) this.bcastHeartbeat(this.reads.startRound(this.currentTerm, this.log.committed, this.leaderTicks, this.myId));
  }

  private hardState(): HardState {
    return { term: this.currentTerm, vote: this.votedFor, commit: this.log.committed };
  }

  private softState(): SoftState {
    return { leader: this.lead, role: this.state };
  }

  /** Whether `ready()` has anything to do. */
  hasReady(): boolean {
    if (this.outstanding !== null) return false;
    this.flush();
    const hs = this.hardState();
    const ss = this.softState();
    return (
      this.msgs.length > 0 ||
      this.readStates.length > 0 ||
      this.log.hasUnstableEntries() ||
      this.log.hasUnstableSnapshot() ||
      this.log.hasNextCommittedEntries() ||
      this.confChanged ||
      hs.term !== this.prevHardState.term ||
      hs.vote !== this.prevHardState.vote ||
      hs.commit !== this.prevHardState.commit ||
      ss.leader !== this.prevSoftState.leader ||
      ss.role !== this.prevSoftState.role
    );
  }

  /** The next batch of work (see {@link Ready} for the order); call `advance()` when done. Throws if the previous Ready was not advanced. */
  ready(): Ready {
    if (this.outstanding !== null) throw new Error("RaftNode.ready: call advance() for the previous Ready first");
    this.flush();
    const hs = this.hardState();
    const prev = this.prevHardState;
    const hardChanged = hs.term !== prev.term || hs.vote !== prev.vote || hs.commit !== prev.commit;
    const snapshot = this.log.takeUnstableSnapshot();
    const records = this.log.unstableEntries();
    const committedEntries = this.log.nextCommittedEntries();
    const ss = this.softState();
    const softChanged = ss.leader !== this.prevSoftState.leader || ss.role !== this.prevSoftState.role;
    const rd: Ready = {
      hardState: hardChanged ? hs : null,
      records,
      snapshot,
      mustSync: records.length > 0 || snapshot !== null || hs.term !== prev.term || hs.vote !== prev.vote,
      messages: this.msgs,
      committedEntries,
      readStates: this.readStates,
      softState: softChanged ? ss : null,
      confState: this.confChanged ? this.conf.state() : null,
    };
    this.msgs = [];
    this.readStates = [];
    this.confChanged = false;
    this.prevHardState = hs;
    this.prevSoftState = ss;
    const appliedTo = committedEntries.length > 0 ? committedEntries[committedEntries.length - 1]!.index : (snapshot?.metadata.index ?? this.log.applying);
    this.log.applying = Math.max(this.log.applying, appliedTo);
    this.outstanding = {
      entries: records,
      snapshot,
      committedEntries,
      appliedTo,
    };
    return rd;
  }

  /** Acknowledges the last Ready: its entries are durable and its committed entries applied. */
  advance(): void {
    const o = this.outstanding;
    if (o === null) throw new Error("RaftNode.advance: no Ready outstanding");
    this.outstanding = null;
    // Entries handed out may have been truncated since (a new leader's
    // append arrived meanwhile): only the prefix still in the log is durable
    // as handed out. Log Matching (§5.3) makes "same index and term" enough.
    for (let i = o.entries.length - 1; i >= 0; i--) {
      const e = o.entries[i]!;
      if (this.log.matchTerm(e.index, e.term)) {
        this.log.stableTo(e.index, e.term);
        break;
      }
    }
    if (o.snapshot) {
      this.log.stableSnapshot();
      this.log.applied = Math.max(this.log.applied, o.snapshot.metadata.index);
    }
    for (const e of o.committedEntries) {
      if (e.index <= this.log.applied) continue;
      this.log.applied = e.index;
      if (e.type === "confChange") this.applyConfEntry(e);
    }
    if (this.log.applying < this.log.applied) this.log.applying = this.log.applied;
  }

  /** The entries held in [lo, hi) (compacted ones are omitted): a read-only view for debugging and tests. */
  logEntries(lo: number, hi: number): Entry[] {
    return this.log.slice(lo, hi);
  }

  /** The term of the entry at `index`, or undefined if it is compacted or beyond the log's end. */
  termAt(index: number): number | undefined {
    return this.log.term(index);
  }

  /** A read-only view for status endpoints. */
  status(): RaftStatus {
    let progress: Record<NodeId, ProgressStatus> | null = null;
    if (this.state === "leader") {
      progress = {};
      for (const [id, pr] of this.progress) progress[id] = pr.toStatus();
    }
    return {
      id: this.myId,
      term: this.currentTerm,
      vote: this.votedFor,
      commit: this.log.committed,
      applied: this.log.applied,
      leader: this.lead,
      role: this.state,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      snapshotIndex: this.log.snapshotIndex(),
      confState: this.conf.state(),
      leadTransferee: this.leadTransferee,
      progress,
    };
  }
}
