/**
 * A replica: the Raft core and the key-value state machine, with everything
 * between them and the clients that is not I/O. It is what the server
 * (`src/io/kv-node.ts`), the test harness and the comparison's simulated
 * store each drive, so the Ready loop below is written once.
 *
 * The replica takes the same verbs as the core: `tick(nowMs)` (Raft ticks and
 * every deadline: request timeouts, read retries, commit announcements),
 * `receive(envelope, nowMs)`, client calls (`propose`, `readBarrier`,
 * `watch`, `proposeConfChange`), then the Ready loop:
 *
 *     rd = replica.ready()        // the core's Ready
 *     1. persist rd.hardState, rd.records, rd.snapshot (fsync if rd.mustSync)
 *     2. send rd.messages
 *     replica.advance(rd, nowMs)  // 3. apply, 4. release reads, 5. leadership and membership
 *
 * Steps 1 and 2 are the driver's (a WAL or memory; sockets or a simulated
 * network); `advance` does the rest in the documented order. Proposals a
 * follower forwards to the leader and the leader's answers are sent at once
 * through the `send` hook: they promise nothing about this node's disk, so
 * they need not wait for a Ready.
 */
import { DEFAULT_RAFT_CONFIG, RaftNode, decodeConfChange, type ConfChange, type ConfState, type Entry, type Message, type NodeId, type PersistedState, type RaftConfig, type Ready, type Role, type Snapshot } from "../raft/index.ts";
import { KvStore, encodeCommand, type ApplyResult, type KvCommand, type KvStoreConfig, type RenewResult } from "../kv/index.ts";
import type { Envelope } from "./envelope.ts";
import { ServerError, raftErrorToServer } from "./errors.ts";
import { Proposals, type ConfChangeOutcome, type ProposalOutcome } from "./proposals.ts";
import { ReadBarrier } from "./read-barrier.ts";
import { MemberAdmin } from "./member-admin.ts";
import { WatchHub, type WatchHandle, type WatchListener, type WatchOptions, type WatchStart } from "./watch-hub.ts";
import { LeaseKeeper, type LeaseExpiry } from "./leases.ts";

/** How a replica starts: a founding member, a member to be added later, or a restart from what it persisted. */
export type ReplicaStart = { bootstrap: readonly NodeId[] } | { join: true } | { persisted: PersistedState };

/** Timing of a replica, in the driver's milliseconds. */
export interface ReplicaTiming {
  /** Milliseconds per Raft tick (the core counts elections and heartbeats in ticks). */
  tickMs: number;
  /** When the first Raft tick is due. Default: one tick after the replica is created. */
  firstTickMs?: number;
  /** Client requests (proposals, reads, membership changes) fail with "timeout" after this long. Infinity: never. */
  requestTimeoutMs: number;
  /** Ask for a read index again when the leader has not answered for this long. Infinity: never. */
  readRetryMs: number;
  /**
   * How long a leader may hold back telling followers of a new commit index,
   * hoping the next append carries it (the core's `commitBroadcast: "lazy"`);
   * negative: at once (the core's "immediate"). See RaftKvNodeOptions.
   */
  commitBroadcastDelayMs: number;
  /** Fail refused proposals at once instead of holding them for a leader (see ProposalsTiming.failFast). Default false. */
  failFast?: boolean;
  /**
   * How much longer than its TTL every lease lives after this node becomes
   * leader (LeaseClock.promote). It must cover how long a deposed leader can
   * go on renewing leases before CheckQuorum makes it step down; two election
   * timeouts do. Default: 2 * electionTick * tickMs.
   */
  leaseExtendMs?: number;
  /** One read index request per read, none held for a leader (see ReadBarrierTiming.unbatched). Default false. */
  unbatchedReads?: boolean;
  /** Who decides that a lease expired (see LeaseExpiry): "leader", the default, is the only safe choice. */
  leaseExpiry?: LeaseExpiry;
}

/** What the replica reports to its driver. */
export interface ReplicaHooks {
  /** Sends a forwarding envelope (never a Raft message: those leave in a Ready). */
  send(to: NodeId, envelope: Envelope): void;
  /** A line worth logging. */
  log?(line: string): void;
  /** Opt-in latency tracing: a proposal entered the log at `index` ("prop"). */
  trace?(stage: string, index: number): void;
  /** A Ready carried a new soft state: the leader this node follows (null: none known) or its role changed. */
  softState?(leader: NodeId | null, role: Role): void;
  /** A committed configuration no longer includes this node; called once. */
  removed?(): void;
  /** An entry was applied to the state machine (`command` and `result` for commands, undefined otherwise). */
  applied?(entry: Entry, command: KvCommand | undefined, result: ApplyResult | undefined): void;
  /** A snapshot from the leader replaced the state machine. */
  snapshotInstalled?(snapshot: Snapshot): void;
}

/** Everything a replica needs. */
export interface ReplicaOptions {
  /** The core's configuration (`applied` is the state machine's, so the replica sets it). */
  raft: Omit<RaftConfig, "applied" | "commitBroadcast">;
  start: ReplicaStart;
  /** State machine tuning; all members must agree. */
  kvConfig: KvStoreConfig;
  /**
   * Names this run of the node in request ids and read contexts, so a
   * restarted node's ids never collide with its previous run's (the server
   * uses random bytes; a simulation, the restart count). May be empty.
   */
  incarnation: string;
  timing: ReplicaTiming;
  /** Take a snapshot and compact the log after this many applied entries; 0: never. */
  snapshotEntries: number;
  /** Or sooner, once the entries applied since the last snapshot hold this many bytes of commands (unset: no bound). */
  snapshotBytes?: number;
  hooks: ReplicaHooks;
  /** This node's HTTP API address, as it publishes it (redirect hints in errors name the leader's). */
  httpAddress?: string;
  /** The current time, in the same milliseconds as `timing`. */
  nowMs: number;
}

/** Raft core + state machine + request waiters, forwarding, read barrier and watches. */
export class Replica {
  readonly id: NodeId;
  readonly raft: RaftNode;
  private store: KvStore;
  private readonly kvConfig: KvStoreConfig;
  private readonly hooks: ReplicaHooks;
  private readonly timing: ReplicaTiming;
  private readonly snapshotEntries: number;
  private readonly snapshotBytes: number;
  /** Bytes of the entries applied since the last snapshot (taken or installed). */
  private appliedBytesSinceSnapshot = 0;
  private readonly idPrefix: string;
  private readonly httpAddress: string;
  private seq = 0;
  private readonly proposals: Proposals;
  private readonly reads: ReadBarrier;
  private readonly watches = new WatchHub();
  private readonly admin: MemberAdmin;
  private readonly leaseKeeper: LeaseKeeper;

  private softLeader: NodeId | null = null;
  private softRole: Role = "follower";
  private conf: ConfState = { voters: [], learners: [] };
  private isRemoved = false;
  /** Ids that were in the configuration and left it: one still writing to us missed its own removal. */
  private readonly formerMembers = new Set<NodeId>();
  private confChangeApplied = false;
  private lastSnapshotIndex = 0;
  private nextTickMs: number;
  /** Set by a Ready that committed entries on the leader: announce the commit after advance(), now or after the delay. */
  private commitNews: "none" | "later" | "now" = "none";
  private commitAtMs = Infinity;
  private missedTicks = 0;

  constructor(options: ReplicaOptions) {
    this.id = options.raft.id;
    this.kvConfig = options.kvConfig;
    this.hooks = options.hooks;
    this.timing = options.timing;
    this.snapshotEntries = options.snapshotEntries;
    this.snapshotBytes = options.snapshotBytes ?? Infinity;
    this.httpAddress = options.httpAddress ?? "";
    this.idPrefix = options.incarnation ? `${this.id}.${options.incarnation}` : this.id;
    this.nextTickMs = options.timing.firstTickMs ?? options.nowMs + options.timing.tickMs;
    const start = options.start;
    const snapshot = "persisted" in start ? start.persisted.snapshot : null;
    this.store = snapshot ? KvStore.restore(snapshot.data, this.kvConfig) : new KvStore(this.kvConfig);
    const config: RaftConfig = { ...options.raft, commitBroadcast: options.timing.commitBroadcastDelayMs < 0 ? "immediate" : "lazy", applied: this.store.appliedIndex };
    if ("persisted" in start) {
      this.raft = RaftNode.restart(config, start.persisted);
      this.lastSnapshotIndex = snapshot?.metadata.index ?? 0;
      this.conf = snapshot?.metadata.confState ?? this.conf;
    } else if ("join" in start) {
      this.raft = RaftNode.join(config);
    } else {
      this.raft = RaftNode.bootstrap(config, start.bootstrap);
    }
    this.proposals = new Proposals(
      {
        id: this.id,
        leader: () => this.softLeader,
        propose: (data) => this.raft.propose(data),
        send: (to, env) => this.hooks.send(to, env),
        appliedIndex: () => this.store.appliedIndex,
        trace: this.hooks.trace,
      },
      { requestTimeoutMs: options.timing.requestTimeoutMs, forwardRetryMs: options.timing.tickMs, failFast: options.timing.failFast },
    );
    this.reads = new ReadBarrier(
      {
        readIndex: (ctx) => this.raft.readIndex(ctx).ok,
        nextContext: () => `${this.idPrefix}.r${++this.seq}`,
        leader: () => this.softLeader,
      },
      { timeoutMs: options.timing.requestTimeoutMs, retryMs: options.timing.readRetryMs, unbatched: options.timing.unbatchedReads },
    );
    this.leaseKeeper = new LeaseKeeper(
      {
        leases: () => this.store.leases(),
        lease: (id) => this.store.lease(id),
        // Answered by nobody: a revocation lost in a leader change is proposed again by the clock's retry.
        proposeRevoke: (id, nowMs) => this.propose({ type: "lease-revoke", requestId: this.nextRequestId(), id, expired: true }, false, nowMs, () => {}),
      },
      options.timing.leaseExtendMs ?? 2 * (options.raft.electionTick ?? DEFAULT_RAFT_CONFIG.electionTick) * options.timing.tickMs,
      options.timing.leaseExpiry,
    );
    this.admin = new MemberAdmin(
      {
        id: this.id,
        confState: () => this.conf,
        leader: () => this.softLeader,
        proposeConfChange: (change, nowMs, done) => this.proposeConfChange(change, nowMs, done),
        transferLeadership: (to) => this.raft.transferLeadership(to),
        httpAddressOf: (id) => this.httpAddressOf(id),
      },
      {
        requestTimeoutMs: options.timing.requestTimeoutMs,
        promoteRetryMs: options.timing.tickMs * 2,
        // A learner may need a while to catch up on a long log: at least 30 s.
        promoteTimeoutMs: Math.max(options.timing.requestTimeoutMs, 30_000),
      },
    );
  }

  // --- state ---------------------------------------------------------------------------

  /** The state machine (replaced when a snapshot is installed: do not keep it). */
  get kv(): KvStore {
    return this.store;
  }
  /** The leader this node follows per its last Ready (itself when leading), or null. */
  get leader(): NodeId | null {
    return this.softLeader;
  }
  /** This node's role per its last Ready. */
  get role(): Role {
    return this.softRole;
  }
  /** The membership in force here. */
  get confState(): ConfState {
    return this.conf;
  }
  /** True once a committed configuration no longer includes this node. */
  get removed(): boolean {
    return this.isRemoved;
  }
  /** Client requests and reads waiting for an answer. */
  get pending(): { proposals: number; reads: number; watches: number } {
    return { proposals: this.proposals.pending, reads: this.reads.pending, watches: this.watches.size };
  }

  /** A request id no other request of this node (in this or an earlier run) used. */
  nextRequestId(): string {
    return `${this.idPrefix}.${++this.seq}`;
  }

  // --- inputs ----------------------------------------------------------------------------

  /** Time has reached `nowMs`: expire what is due, then run a Raft tick if one is due. */
  tick(nowMs: number): void {
    this.observeClock(nowMs);
    this.proposals.expire(nowMs);
    this.reads.expire(nowMs);
    this.admin.expire(nowMs);
    this.leaseKeeper.tick(nowMs);
    if (this.commitAtMs <= nowMs) {
      this.commitAtMs = Infinity;
      // A no-op for followers that heard of it meanwhile (the next append or heartbeat carried it).
      this.raft.broadcastCommit();
    }
    if (nowMs >= this.nextTickMs) {
      this.raft.tick();
      this.nextTickMs += this.timing.tickMs;
    }
  }

  /** Ticks that were due but never ran because the clock jumped past them (a paused or stalled process), since start. */
  get ticksMissed(): number {
    return this.missedTicks;
  }

  /**
   * Every input checks the monotonic clock against the next tick's deadline:
   * more than a tick past it means ticks were missed (SIGSTOP, a stalled
   * event loop). They are skipped rather than run in a burst (a burst would
   * fire elections and heartbeats at once), but Raft counts them toward the
   * leader's lease, so a leader that was paused longer than its lease cannot
   * serve a lease read from before the pause (etcd's docs warn of the same
   * for clock drift). It runs before the input itself: a client read that
   * arrives first after a pause already sees the lease aged.
   */
  private observeClock(nowMs: number): void {
    const late = nowMs - this.nextTickMs;
    if (late < this.timing.tickMs) return;
    const missed = Math.floor(late / this.timing.tickMs);
    this.missedTicks += missed;
    this.raft.ticksMissed(missed);
    this.nextTickMs += missed * this.timing.tickMs;
  }

  /** The earliest time `tick` has something to do. */
  nextDeadlineMs(): number {
    return Math.min(this.nextTickMs, this.commitAtMs, this.proposals.nextDeadlineMs(), this.reads.nextDeadlineMs(), this.admin.nextDeadlineMs(), this.leaseKeeper.nextDeadlineMs());
  }

  /** One envelope from a peer. Raft messages addressed to another node are ignored. */
  receive(envelope: Envelope, nowMs: number): void {
    this.observeClock(nowMs);
    switch (envelope.kind) {
      case "raft":
        if (envelope.message.to === this.id) this.raft.step(envelope.message);
        return;
      case "forward":
        this.proposals.onForward(envelope);
        return;
      case "forwardReply":
        this.proposals.onForwardReply(envelope, nowMs);
        return;
      case "removed":
        // The removal committed while this node could not hear it (partitioned, or the leader stopped
        // sending to it once it left). Without this it would campaign from its old configuration forever.
        if (envelope.member === this.id && !this.isRemoved) {
          this.isRemoved = true;
          this.hooks.log?.(`${envelope.from} reports that this node was removed from the cluster while it could not hear it; it no longer serves requests`);
          this.hooks.removed?.();
        }
        return;
    }
  }

  /** True for a node this replica saw leave the configuration (and not come back). */
  isFormerMember(id: NodeId): boolean {
    return this.formerMembers.has(id);
  }

  /**
   * Proposes a command (encoded as given: set its `timeMs`); `done` is called
   * once it is applied here, or with why it failed. Proposed here when this
   * node leads, forwarded to the leader otherwise, held until a leader is known.
   */
  propose(command: KvCommand, idempotent: boolean, nowMs: number, done: (outcome: ProposalOutcome) => void): void {
    this.proposeEncoded(command.requestId, encodeCommand(command), idempotent, nowMs, done);
  }

  /** {@link propose} for a command already encoded (`encodeCommand`) under `requestId`. */
  proposeEncoded(requestId: string, data: Uint8Array, idempotent: boolean, nowMs: number, done: (outcome: ProposalOutcome) => void): void {
    this.proposals.add(requestId, data, idempotent, nowMs, done);
  }

  /** A forward envelope this node sent never reached the leader (the transport says so): the proposal will be sent again. */
  forwardLost(requestId: string, nowMs: number): void {
    this.proposals.forwardLost(requestId, nowMs);
  }

  /** Waits until this node has applied every write committed before the call (ReadIndex, §6.4). Returns a cancel function. */
  readBarrier(nowMs: number, done: (error: ServerError | undefined) => void): () => void {
    this.observeClock(nowMs);
    return this.reads.wait(nowMs, done);
  }

  /** Starts a watch on the current state; deliver `start` to the listener after handing out the handle. */
  watch(options: WatchOptions, listener: WatchListener): { handle: WatchHandle; start: WatchStart } {
    return this.watches.watch(this.store, options, listener);
  }

  /** Leader only: proposes one membership change (§4.1); `done` is called once it is applied here, or with why it failed. */
  proposeConfChange(change: ConfChange, nowMs: number, done: (outcome: ConfChangeOutcome) => void): void {
    if (this.softRole !== "leader") {
      done(new ServerError(this.softLeader ? "not_leader" : "no_leader", "membership changes go to the leader", { leader: this.softLeader, leaderHttp: this.httpAddressOf(this.softLeader) }));
      return;
    }
    const r = this.raft.proposeConfChange(change);
    if (!r.ok) {
      done(raftErrorToServer(r.error, this.httpAddressOf(r.error.leader)));
      return;
    }
    this.proposals.addConfChange(r.value, `${change.type} ${change.nodeId}`, nowMs, done);
  }

  /** Adds a member as a learner, then (unless `learner`) promotes it once caught up (see MemberAdmin). */
  addMember(id: NodeId, peerAddress: string, learner: boolean, nowMs: number, done: (error: ServerError | undefined) => void): void {
    this.admin.add(id, peerAddress, learner, nowMs, done);
  }

  /** Promotes learner `id` to voter once, failing if it has not caught up (see MemberAdmin). */
  promoteMember(id: NodeId, nowMs: number, done: (error: ServerError | undefined) => void): void {
    this.admin.promote(id, nowMs, done);
  }

  /** Removes a member; a leader removing itself hands leadership over first (see MemberAdmin). */
  removeMember(id: NodeId, nowMs: number, done: (error: ServerError | undefined) => void): void {
    this.admin.remove(id, nowMs, done);
  }

  /** Leader only: hands leadership to `to` (§3.10); `done` is called once this node follows it. */
  transferLeadership(to: NodeId, nowMs: number, done: (error: ServerError | undefined) => void): void {
    this.admin.transfer(to, nowMs, done);
  }

  /** A lease keep-alive: on the leader renews lease `id` and answers its TTL; see RenewResult for the refusals elsewhere. */
  renewLease(id: number, nowMs: number): RenewResult {
    return this.leaseKeeper.renew(id, nowMs);
  }

  /** Milliseconds lease `id` has left by this leader's clock; undefined when this node does not lead or knows no such lease. */
  leaseRemainingMs(id: number, nowMs: number): number | undefined {
    return this.leaseKeeper.remainingMs(id, nowMs);
  }

  /** The HTTP address a member published through the log, or null. */
  httpAddressOf(id: NodeId | null): string | null {
    if (!id) return null;
    if (id === this.id) return this.httpAddress || null;
    return this.store.member(id)?.httpAddress || null;
  }

  /** Fails every waiting request and cancels every watch (the node stops). */
  close(): void {
    const stopped = new ServerError("stopped", "node stopped");
    this.proposals.failAll(stopped);
    this.reads.failAll(stopped);
    this.admin.failAll(stopped);
    this.watches.cancelAll("node stopped");
  }

  // --- the Ready loop --------------------------------------------------------------------------

  /** Whether `ready()` has anything to do. */
  hasReady(): boolean {
    return this.raft.hasReady();
  }

  /** The next Ready of the core; persist (step 1) and send (step 2) it, then call {@link advance}. */
  ready(): Ready {
    return this.raft.ready();
  }

  /**
   * Step 3 early: applies those of `rd`'s committed entries that this node
   * already holds durably (below its first new record), while the Ready's
   * own fsync is still running, so their clients are answered one fsync
   * sooner. Safe because such an entry is committed (on a majority of logs)
   * and on this node's disk from an earlier Ready, whose fsync finished
   * before this Ready was taken; applying is all that is left (etcd applies
   * in parallel with its WAL write too). Stops at a membership change and
   * skips a Ready that installs a snapshot: those apply in {@link advance},
   * which skips what was applied here.
   */
  applyDurableCommitted(rd: Ready, nowMs: number): void {
    if (rd.snapshot) return;
    const firstNew = rd.records.length > 0 ? rd.records[0]!.index : Infinity;
    for (const e of rd.committedEntries) {
      if (e.index >= firstNew || e.type === "confChange") return;
      this.applyEntry(e, nowMs);
    }
  }

  /** Steps 3-5 of `rd`, whose entries and hard state are durable and whose messages are sent, then the core's advance. */
  advance(rd: Ready, nowMs: number): void {
    // 3. Apply: an installed snapshot replaces the state machine, then committed entries in order.
    if (rd.snapshot && rd.snapshot.metadata.index > this.store.appliedIndex) {
      this.store = KvStore.restore(rd.snapshot.data, this.kvConfig);
      this.lastSnapshotIndex = rd.snapshot.metadata.index;
      this.appliedBytesSinceSnapshot = 0;
      this.conf = rd.snapshot.metadata.confState;
      this.hooks.log?.(`installed snapshot at index ${rd.snapshot.metadata.index} (revision ${this.store.revision})`);
      this.watches.resync(this.store);
      this.hooks.snapshotInstalled?.(rd.snapshot);
    }
    for (const e of rd.committedEntries) this.applyEntry(e, nowMs);
    if (rd.committedEntries.length > 0 && this.softRole === "leader") this.noteCommitted(rd.committedEntries);
    // 4. Reads whose index is now known, and those the state machine has reached.
    for (const rs of rd.readStates) this.reads.onReadState(rs.requestCtx, rs.index, nowMs);
    this.reads.release(this.store.appliedIndex);
    // 5. Leadership and membership.
    if (rd.softState) this.onSoftState(rd.softState.leader, rd.softState.role, nowMs);
    if (rd.confState) this.onConfState(rd.confState);
    this.raft.advance();
    this.announceCommit(nowMs);
    // The core applies conf changes at advance(); read the new membership at once rather than wait for the next Ready.
    if (this.confChangeApplied) {
      this.confChangeApplied = false;
      this.onConfState(this.raft.status().confState);
    }
  }

  /**
   * Compacts the log when `snapshotEntries` entries, or entries holding
   * `snapshotBytes`, were applied since the last snapshot (dissertation
   * chapter 5): the count bounds the cost of snapshots per write, the bytes
   * bound the memory the log holds and the replay after a restart, whatever
   * the size of the entries. Returns the snapshot for the
   * driver to persist, or null. The core's compaction is only in memory, so
   * persisting after it is safe: until the snapshot is durable, the stored
   * log still holds every entry and a crash replays them.
   */
  compactIfDue(): Snapshot | null {
    if (this.snapshotEntries <= 0) return null;
    if (this.store.appliedIndex - this.lastSnapshotIndex < this.snapshotEntries && this.appliedBytesSinceSnapshot < this.snapshotBytes) return null;
    const index = this.store.appliedIndex;
    const data = this.store.snapshot();
    const r = this.raft.compact(index, data);
    this.lastSnapshotIndex = index;
    this.appliedBytesSinceSnapshot = 0;
    if (!r.ok) {
      this.hooks.log?.(`compaction at ${index} refused: ${r.error.message}`);
      return null;
    }
    return { metadata: r.value, data };
  }

  private applyEntry(e: Entry, nowMs: number): void {
    if (e.index <= this.store.appliedIndex) return;
    this.appliedBytesSinceSnapshot += e.data.length;
    let command: KvCommand | undefined;
    let result: ApplyResult | undefined;
    if (e.type === "confChange") {
      this.confChangeApplied = true;
      const cc = decodeConfChange(e.data);
      if (cc.ok && (cc.value.type === "addVoter" || cc.value.type === "addLearner") && cc.value.context) {
        this.store.applyMembership(e.index, cc.value.nodeId, { peerAddress: cc.value.context, clientUrls: [], httpAddress: "" });
      } else if (cc.ok && cc.value.type === "removeVoter") {
        this.store.applyMembership(e.index, cc.value.nodeId, undefined);
      } else {
        this.store.skip(e.index);
      }
      this.proposals.confChangeApplied(e.index, e.term);
    } else if (e.data.length === 0) {
      this.store.skip(e.index);
    } else {
      ({ command, result } = this.store.applyEntry(e.index, e.data));
      if (result.ok && "events" in result && result.events.length > 0) this.watches.notify(result.events, result.revision);
    }
    this.leaseKeeper.applied(command, result, nowMs);
    this.proposals.applied(e.index, command?.requestId, result);
    this.hooks.applied?.(e, command, result);
  }

  private onSoftState(leader: NodeId | null, role: Role, nowMs: number): void {
    const changed = leader !== this.softLeader;
    if (role !== "leader") this.proposals.stoppedLeading();
    if (changed) this.hooks.log?.(`leader is now ${leader ?? "unknown"} (this node: ${role}, term ${this.raft.term})`);
    this.softLeader = leader;
    this.softRole = role;
    this.leaseKeeper.roleChanged(role, nowMs);
    this.hooks.softState?.(leader, role);
    if (!changed) return;
    this.admin.leaderChanged(leader);
    if (leader) {
      this.proposals.flushUnsent();
      this.reads.leaderChanged(nowMs);
    }
  }

  private onConfState(cs: ConfState): void {
    for (const id of [...this.conf.voters, ...this.conf.learners]) if (!cs.voters.includes(id) && !cs.learners.includes(id)) this.formerMembers.add(id);
    for (const id of [...cs.voters, ...cs.learners]) this.formerMembers.delete(id);
    this.conf = cs;
    const member = cs.voters.includes(this.id) || cs.learners.includes(this.id);
    if (!member && (cs.voters.length > 0 || cs.learners.length > 0) && !this.isRemoved) {
      this.isRemoved = true;
      this.hooks.log?.("this node was removed from the cluster; it no longer serves requests");
      this.hooks.removed?.();
    }
  }

  /** Decides when followers hear of entries this leader just committed (see ReplicaTiming.commitBroadcastDelayMs). */
  private noteCommitted(entries: readonly Entry[]): void {
    let urgent = this.commitNews === "now";
    // Someone waits on a follower for a forwarded write or a membership change: tell them at once.
    for (const e of entries) {
      if (e.type === "confChange" || this.proposals.takeForwarded(e.index)) urgent = true;
    }
    this.commitNews = urgent ? "now" : "later";
  }

  private announceCommit(nowMs: number): void {
    const news = this.commitNews;
    this.commitNews = "none";
    const delay = this.timing.commitBroadcastDelayMs;
    if (news === "none" || delay < 0) return;
    if (news === "now" || delay === 0) {
      // Goes out with the next Ready.
      this.raft.broadcastCommit();
      return;
    }
    if (this.commitAtMs === Infinity) this.commitAtMs = nowMs + delay;
  }
}

/** Messages a leader may send before its own fsync (dissertation §10.2.1): they promise nothing about its disk. */
export function mayLeaveBeforePersist(m: Message): boolean {
  return m.type === "append" || m.type === "heartbeat";
}
