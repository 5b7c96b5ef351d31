/**
 * The node driver: one raft-kv server's replica (Raft core + key-value state
 * machine, `src/core/replica`) wired to a disk, a network and a real clock.
 *
 * It runs the replica's Ready loop: for each Ready, persist (WAL, fsync) →
 * send → `advance` (apply, release reads, leadership). Because nothing in a
 * Ready that promises something about this node's disk leaves before the
 * fsync, and every client answer comes after its entry was committed by a
 * quorum that had fsynced it (Raft Figure 2), a `kill -9` at any moment
 * loses no acknowledged write. Time is one timer, armed for the replica's
 * next deadline (a Raft tick, a request timeout, a commit announcement).
 *
 * Client operations are promises over the replica's callbacks: writes
 * resolve when their entry is applied here; linearizable reads wait at the
 * read barrier (ReadIndex, §6.4); serializable reads read the local state.
 */
import crypto from "node:crypto";
import { createPrng } from "@heck/sim";
import type { Message, Ready } from "../core/raft/index.ts";
import type { ApplyResult, KvCommand, KvCommandInput, KvEvent, KvStore, MemberAttrs, RangeRequest, RangeResponse, RenewResult, SessionTag, WriteOp } from "../core/kv/index.ts";
import { Replica, mayLeaveBeforePersist, type ReplicaStart, type WatchHandle, type WatchOptions } from "../core/replica/index.ts";
import { ServerError, kvErrorToServer } from "../core/replica/errors.ts";
import type { Envelope } from "../core/replica/envelope.ts";
import { DiskStorage } from "./storage.ts";
import { PeerNetwork } from "./peer-network.ts";
import { hops } from "./hop-trace.ts";
import { PeerCalls } from "./peer-calls.ts";
import { resolveNodeOptions, type RaftKvNodeOptions, type ResolvedNodeOptions, type WriteResult } from "./node-options.ts";
import { clusterId, memberId, memberList, nodeStatus, type HeaderInfo, type MemberInfo, type NodeIdentity, type NodeStatus } from "./node-info.ts";

export type { WatchOptions, WatchHandle, RaftKvNodeOptions, WriteResult };


/** The replica's clock: monotonic milliseconds, so a wall-clock step never fires or stalls a timeout. */
const monotonicMs = (): number => performance.now();

/** One raft-kv server: replica + WAL + peer network. Create with {@link RaftKvNode.start}. */
export class RaftKvNode {
  private readonly replica: Replica;
  private readonly storage: DiskStorage;
  private readonly network: PeerNetwork;
  private readonly opts: ResolvedNodeOptions;
  private readonly log: (line: string) => void;
  private timer: NodeJS.Timeout | null = null;
  private timerAtMs = Infinity;
  private scheduled = false;
  /** Replica.ticksMissed when last reported (see reportClockJump). */
  private ticksMissedSeen = 0;
  private stopped = false;
  private processing = false;
  private snapshotting = false;
  private publishing = false;
  private publishRetryAtMs = 0;
  private readonly clusterIdValue: bigint;
  private readonly memberIdValue: bigint;
  private readonly leaderListeners = new Set<(leader: string | null) => void>();
  /** Calls to this node's services from peers (lease keep-alives and membership changes passed to the leader). */
  readonly calls: PeerCalls;

  private constructor(options: RaftKvNodeOptions, storage: DiskStorage, start: ReplicaStart) {
    this.opts = resolveNodeOptions(options);
    const log = options.log ?? ((line: string) => process.stderr.write(`[${options.id}] ${line}\n`));
    this.log = log;
    this.storage = storage;
    this.clusterIdValue = clusterId(this.opts.clusterToken);
    this.memberIdValue = memberId(this.opts.clusterToken, options.id);
    const onRemoved = options.onRemoved;
    this.calls = new PeerCalls(options.id, (to, env) => this.network.send(to, env));
    this.replica = new Replica({
      raft: {
        id: options.id,
        prng: createPrng(options.seed ?? crypto.randomInt(0, 2 ** 31)).fork(options.id),
        electionTick: this.opts.electionTick,
        heartbeatTick: this.opts.heartbeatTick,
        preVote: true,
        checkQuorum: true,
        readOnlyOption: this.opts.readOnlyOption,
      },
      start,
      kvConfig: this.opts.kvConfig,
      incarnation: crypto.randomBytes(4).toString("hex"),
      timing: {
        tickMs: this.opts.tickMs,
        requestTimeoutMs: this.opts.requestTimeoutMs,
        readRetryMs: this.opts.tickMs * this.opts.electionTick,
        commitBroadcastDelayMs: this.opts.commitBroadcastDelayMs,
      },
      snapshotEntries: this.opts.snapshotEntries,
      snapshotBytes: this.opts.snapshotBytes,
      httpAddress: this.opts.httpAddress,
      nowMs: monotonicMs(),
      hooks: {
        send: (to, env) => this.network.send(to, env),
        log,
        trace: hops ? (stage, index) => hops!.mark(stage, index) : undefined,
        softState: (leader) => {
          for (const l of [...this.leaderListeners]) l(leader);
        },
        removed: () => {
          if (onRemoved) setImmediate(onRemoved);
        },
      },
    });
    this.network = new PeerNetwork(options.id, options.transport, {
      resolve: (id) => this.replica.kv.member(id)?.peerAddress || this.opts.peers[id],
      onEnvelope: (env) => this.onEnvelope(env),
      onUnreachable: (id) => {
        if (!this.stopped) this.replica.raft.reportUnreachable(id);
      },
      log: (m) => this.log(m),
      isRemoved: (id) => this.replica.isFormerMember(id),
    });
  }

  /**
   * Opens the data dir (recovering the WAL; throws on corruption), creates
   * or restarts the replica, and starts its clock. Resolves once running;
   * use {@link RaftKvNode.waitForLeader} to wait for an election.
   */
  static async start(options: RaftKvNodeOptions): Promise<RaftKvNode> {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(options.id)) throw new ServerError("invalid_argument", `id: ${JSON.stringify(options.id)} must be 1-64 letters, digits, '.', '_' or '-'`, { field: "id" });
    if (!options.join && !(options.id in options.peers)) throw new ServerError("invalid_argument", `peers: must include this node's id ${options.id}`, { field: "peers" });
    DiskStorage.claim(options.dataDir, options.id, options.clusterToken ?? "heck-raft");
    const log = options.log ?? ((line: string) => process.stderr.write(`[${options.id}] ${line}\n`));
    const opened = DiskStorage.open(options.dataDir, { segmentBytes: options.walSegmentBytes, onWarning: log });
    const persisted = opened.persisted;
    const start: ReplicaStart = persisted ? { persisted } : options.join ? { join: true } : { bootstrap: Object.keys(options.peers).sort() };
    const node = new RaftKvNode(options, opened.storage, start);
    if (persisted) {
      const snapshotIndex = persisted.snapshot?.metadata.index ?? 0;
      log(`restarted: term ${persisted.hardState.term}, commit ${persisted.hardState.commit}, ${persisted.entries.length} entries after snapshot ${snapshotIndex}${opened.tornBytes ? `, cut a torn tail of ${opened.tornBytes} bytes` : ""}`);
    } else if (options.join) {
      log("joining: waiting to be added by the leader");
    } else {
      log(`bootstrapping a cluster of ${Object.keys(options.peers).length}`);
    }
    node.schedule();
    return node;
  }

  // --- identity ----------------------------------------------------------------

  /** This node's id. */
  get id(): string {
    return this.opts.id;
  }

  /** The leader this node follows (itself when leader), or null. */
  get leader(): string | null {
    return this.replica.leader;
  }

  /** True while this node is the leader. */
  get isLeader(): boolean {
    return this.replica.role === "leader";
  }

  /** The header etcd responses carry. */
  header(): HeaderInfo {
    return { clusterId: this.clusterIdValue, memberId: this.memberIdValue, revision: this.replica.kv.revision, raftTerm: this.stopped ? 0 : this.replica.raft.term };
  }

  /** The HTTP address of a member, from what it published. */
  httpAddressOf(id: string | null): string | null {
    return this.replica.httpAddressOf(id);
  }

  /** Resolves when a leader is known (or rejects after `timeoutMs`). */
  waitForLeader(timeoutMs = 10_000): Promise<string> {
    if (this.replica.leader) return Promise.resolve(this.replica.leader);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.leaderListeners.delete(listener);
        reject(new ServerError("no_leader", `no leader elected within ${timeoutMs} ms`));
      }, timeoutMs);
      const listener = (leader: string | null) => {
        if (!leader) return;
        clearTimeout(timer);
        this.leaderListeners.delete(listener);
        resolve(leader);
      };
      this.leaderListeners.add(listener);
    });
  }

  // --- client operations ---------------------------------------------------------

  /** The state machine as applied here, for local reads (callers must not change it; it is replaced when a snapshot is installed). */
  get state(): KvStore {
    return this.replica.kv;
  }

  /** The shortest election timeout in ms (electionTick ticks): how long a deposed leader may go on believing it leads, give or take a timeout. */
  get electionTimeoutMs(): number {
    return this.opts.electionTick * this.opts.tickMs;
  }

  /**
   * Proposes any command through the log (leases, auth, compaction...) and
   * resolves with its result once applied here; followers forward it. Not
   * idempotent: a proposal lost in a leader change fails rather than retries.
   */
  submit(command: KvCommandInput): Promise<ApplyResult> {
    return this.propose({ ...command, requestId: this.replica.nextRequestId() } as KvCommand, false);
  }

  /**
   * Proposes a write (put, delete, txn); resolves once applied here. Followers
   * forward to the leader. `user` is the authenticated user it comes from,
   * whose permissions the state machine checks as it applies it.
   */
  async write(op: WriteOp, session?: SessionTag, user?: string): Promise<WriteResult> {
    const requestId = this.replica.nextRequestId();
    const command: KvCommand = session ? { type: "write", requestId, session, op } : { type: "write", requestId, op };
    if (user) command.user = user;
    const result = await this.propose(command, session !== undefined);
    if (!result.ok) throw kvErrorToServer(result.error.code, result.error.message);
    if (!("response" in result)) throw new Error("write produced no response");
    return { revision: result.revision, response: result.response, duplicate: result.duplicate };
  }

  /** A lease keep-alive on this node: renewed if it leads (see Replica.renewLease). */
  renewLease(id: number): RenewResult {
    return this.replica.renewLease(id, monotonicMs());
  }

  /** Milliseconds lease `id` has left by this leader's clock; undefined off the leader or for an unknown lease. */
  leaseRemainingMs(id: number): number | undefined {
    return this.replica.leaseRemainingMs(id, monotonicMs());
  }

  /** Registers a client session (dissertation §6.3); the id is the register entry's log index. */
  async registerSession(): Promise<number> {
    const result = await this.propose({ type: "register", requestId: this.replica.nextRequestId() }, false);
    if (!result.ok || !("registered" in result)) throw new ServerError("conf_change_failed", "session registration failed");
    return result.registered;
  }

  /** A range read. Linearizable (default) waits for a ReadIndex (§6.4); serializable reads local state now. */
  async range(q: RangeRequest, linearizable = true): Promise<{ revision: number; response: RangeResponse }> {
    if (linearizable) await this.readBarrier();
    this.assertRunning();
    const r = this.replica.kv.range(q);
    if (!r.ok) throw kvErrorToServer(r.error.code, r.error.message);
    return r;
  }

  /**
   * Resolves when this node's state reflects every write acknowledged before
   * the call (ReadIndex, §6.4). Concurrent callers share one round.
   */
  readBarrier(): Promise<void> {
    this.assertRunning();
    return new Promise<void>((resolve, reject) => {
      this.replica.readBarrier(monotonicMs(), (error) => (error ? reject(error) : resolve()));
      this.schedule();
    });
  }

  /** Starts a watch (etcd semantics: replay from startRevision, then live events). Events arrive in revision order. */
  watch(options: WatchOptions, onEvents: (events: KvEvent[], revision: number) => void, onCancel: (reason: string, compactRevision: number) => void): WatchHandle {
    this.assertRunning();
    const { handle, start } = this.replica.watch(options, { onEvents, onCancel });
    // Past events (or the news that they are gone) come after the caller holds the handle.
    if (start.kind === "compacted") queueMicrotask(() => onCancel(start.reason, start.compactRevision));
    else if (start.kind === "replay") queueMicrotask(() => onEvents(start.events, start.revision));
    return handle;
  }

  /** Status of this node (role, indexes, members, faults). */
  status(): NodeStatus {
    return nodeStatus(this.replica, this.identity(), this.stopped, {
      faults: this.network.faults(),
      walSegments: this.storage.walSegments,
      malformedFrames: this.network.malformedFrames,
      dbSizeBytes: this.storage.sizeBytes(),
    });
  }

  /** Members (voters and learners) with their published addresses, in id order. */
  members(): MemberInfo[] {
    return memberList(this.replica, this.identity());
  }

  private identity(): NodeIdentity {
    const o = this.opts;
    return { id: o.id, clusterToken: o.clusterToken, peers: o.peers, clientUrls: o.clientUrls, httpAddress: o.httpAddress };
  }

  /** Adds a member (leader only): a learner first, promoted once caught up unless `learner` (§4.2.1). Resolves with the members. */
  async addMember(id: string, peerAddress: string, learner = false): Promise<MemberInfo[]> {
    await this.call((nowMs, done) => this.replica.addMember(id, peerAddress, learner, nowMs, done));
    return this.members();
  }

  /** Promotes learner `id` to voter once (leader only); fails at once if it has not caught up. */
  async promoteMember(id: string): Promise<MemberInfo[]> {
    await this.call((nowMs, done) => this.replica.promoteMember(id, nowMs, done));
    return this.members();
  }

  /** Removes a member (leader only). Removing the leader itself hands leadership over first (§3.10). */
  async removeMember(id: string): Promise<MemberInfo[]> {
    await this.call((nowMs, done) => this.replica.removeMember(id, nowMs, done));
    return this.members();
  }

  /** Hands leadership to `to` (§3.10) and resolves once it leads (or rejects on timeout). */
  transferLeadership(to: string): Promise<void> {
    return this.call((nowMs, done) => this.replica.transferLeadership(to, nowMs, done));
  }

  /** Partitions this node from peers by id through the transport's fault layer (see PeerNetwork.block). */
  block(ids: readonly string[]): void {
    this.network.block(ids);
  }

  /** Heals a partition made by {@link block}. */
  unblock(ids?: readonly string[]): void {
    this.network.unblock(ids);
  }

  /** Random message loss on the transport, when it has a fault layer. */
  setDropRate(rate: number): boolean {
    return this.network.setDropRate(rate);
  }

  /** Stops the clock, fails pending requests, closes the network, transport and WAL. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.replica.close();
    this.calls.close();
    this.network.close();
    await this.opts.transport.close();
    // Never close the WAL under an fsync in flight on the thread pool.
    await this.storage.idle();
    this.storage.close();
  }

  // --- the Ready loop --------------------------------------------------------------

  private propose(command: KvCommand, idempotent: boolean): Promise<ApplyResult> {
    this.assertRunning();
    return new Promise<ApplyResult>((resolve, reject) => {
      // Our wall clock travels in the entry: the state machine's only notion of time, the same on every replica (§6.3).
      this.replica.propose({ ...command, timeMs: Date.now() }, idempotent, monotonicMs(), (outcome) => (outcome.ok ? resolve(outcome.result) : reject(outcome.error)));
      this.schedule();
    });
  }

  /** Runs one replica call that ends with an optional error, as a promise. */
  private async call(start: (nowMs: number, done: (error: ServerError | undefined) => void) => void): Promise<void> {
    this.assertRunning();
    await new Promise<void>((resolve, reject) => {
      start(monotonicMs(), (error) => (error ? reject(error) : resolve()));
      this.schedule();
    });
  }

  private onEnvelope(env: Envelope): void {
    if (this.stopped) return;
    if (env.kind === "call" || env.kind === "callReply") {
      this.calls.receive(env);
      return;
    }
    if (hops && env.kind === "raft" && env.message.to === this.opts.id) traceArrival(env.message);
    this.replica.receive(env, monotonicMs());
    this.schedule();
  }

  /** The replica's next deadline came: expire what is due, tick Raft if a tick is due. */
  private onTimer(): void {
    const at = this.timerAtMs;
    this.timer = null;
    this.timerAtMs = Infinity;
    if (this.stopped) return;
    // A timer may fire a fraction of a millisecond before its deadline by the monotonic clock: it is due.
    this.replica.tick(Math.max(monotonicMs(), at));
    this.schedule();
  }

  /**
   * The replica checks the clock on every input (a tick, a peer message, a
   * read), so after a pause the first input of any kind finds the jump: say
   * so once, whichever it was.
   */
  private reportClockJump(): void {
    const missed = this.replica.ticksMissed - this.ticksMissedSeen;
    this.ticksMissedSeen = this.replica.ticksMissed;
    if (missed >= this.opts.electionTick) this.log(`the clock jumped ${missed} ticks (${missed * this.opts.tickMs} ms) past the last tick: paused or stalled; the lease aged by as much`);
  }

  /** Arms the one timer for the replica's next deadline, unless an earlier one is armed. */
  private arm(): void {
    if (this.stopped) return;
    const at = this.replica.nextDeadlineMs();
    if (at >= this.timerAtMs) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAtMs = at;
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, at - monotonicMs()));
  }

  private schedule(): void {
    this.reportClockJump();
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.process();
    });
  }

  /**
   * Runs Readies until there are none. A Ready that must be fsynced is
   * written at once and finished (send, advance) when the fsync completes on
   * the thread pool; until then `processing` stays true, so no second Ready
   * starts, while messages and proposals keep arriving (the core allows step
   * and propose between ready() and advance()), and the next Ready batches
   * all of them.
   */
  private process(): void {
    if (this.stopped) return;
    if (!this.processing) {
      this.processing = true;
      this.runReadies();
    }
    this.arm();
  }

  private runReadies(): void {
    try {
      while (!this.stopped && this.replica.hasReady()) {
        const rd = this.replica.ready();
        // Opt-in latency tracing (bench/profile.ts --hops), by the Ready's last new entry.
        const lastNew = hops && rd.records.length > 0 ? rd.records[rd.records.length - 1]!.index : 0;
        // 1. Persist before anything leaves the node, with one exception: a leader's appends and heartbeats
        // go out before its own fsync, so the followers write in parallel (dissertation §10.2.1). Safe: they
        // acknowledge nothing about the leader's disk, and the core counts the leader's own entries toward a
        // quorum only after advance(), i.e. after this fsync.
        for (const m of rd.messages) if (mayLeaveBeforePersist(m)) this.sendRaft(m);
        if (lastNew && this.isLeader) hops?.mark("sent", lastNew);
        let inline = true;
        let finishedInline = false;
        this.storage.persistReadyAsync(rd, (error) => {
          if (error) return this.fatal(error);
          if (this.stopped) return;
          if (lastNew) hops?.mark("synced", lastNew);
          if (inline) {
            finishedInline = true;
            return;
          }
          try {
            this.finishReady(rd);
          } catch (e) {
            return this.fatal(e);
          }
          this.runReadies();
          this.arm();
        });
        inline = false;
        if (lastNew) hops?.mark("written", lastNew);
        if (!finishedInline) {
          // While the fsync runs: apply what was durable here before this Ready (the leader answers its clients).
          this.replica.applyDurableCommitted(rd, monotonicMs());
          return; // the fsync's callback finishes this Ready and continues the loop
        }
        this.finishReady(rd);
      }
    } catch (error) {
      return this.fatal(error);
    }
    this.processing = false;
  }

  /** Steps 2-5 of a Ready, once its persistent part is durable. */
  private finishReady(rd: Ready): void {
    const lastCommitted = hops && rd.committedEntries.length > 0 ? rd.committedEntries[rd.committedEntries.length - 1]!.index : 0;
    if (lastCommitted) hops?.mark("commitReady", lastCommitted);
    // 2. Send what had to wait for the disk: votes and acknowledgements (Figure 2).
    for (const m of rd.messages) if (!mayLeaveBeforePersist(m)) this.sendRaft(m);
    if (hops && rd.records.length > 0 && !this.isLeader) hops.mark("acked", rd.records[rd.records.length - 1]!.index);
    // 3-5. Apply, release reads, leadership and membership.
    this.replica.advance(rd, monotonicMs());
    if (lastCommitted) hops?.mark("applied", lastCommitted);
    if (!this.snapshotting) this.takeSnapshot();
    this.maybePublishAttrs();
  }

  /** A failed write or fsync leaves us unsure what is durable: stop rather than acknowledge anything more. */
  private fatal(error: unknown): void {
    this.log(`fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    this.processing = false;
    void this.stop();
  }

  private takeSnapshot(): void {
    const started = performance.now();
    const snapshot = this.replica.compactIfDue();
    if (!snapshot) return;
    const serializedMs = performance.now() - started;
    // The file is written on the thread pool (megabytes take tens of ms), so only the serialization stops the event loop.
    this.snapshotting = true;
    this.storage.saveLocalSnapshotAsync(snapshot).then(
      () => {
        this.snapshotting = false;
        this.log(`snapshot at index ${snapshot.metadata.index}: ${snapshot.data.length} bytes, event loop held ${serializedMs.toFixed(1)} ms, durable after ${(performance.now() - started).toFixed(1)} ms`);
      },
      (error: unknown) => {
        this.snapshotting = false;
        if (!this.stopped) this.fatal(error);
      },
    );
  }

  /** Publishes this node's client addresses through the log, as etcd members publish their attributes at start. */
  private maybePublishAttrs(): void {
    if (this.publishing || this.replica.removed || !this.replica.leader || monotonicMs() < this.publishRetryAtMs) return;
    const conf = this.replica.confState;
    if (!conf.voters.includes(this.opts.id) && !conf.learners.includes(this.opts.id)) return;
    const mine: MemberAttrs = { peerAddress: this.opts.transport.localAddress, clientUrls: this.opts.clientUrls, httpAddress: this.opts.httpAddress };
    const cur = this.replica.kv.member(this.opts.id);
    if (cur && cur.peerAddress === mine.peerAddress && cur.httpAddress === mine.httpAddress && cur.clientUrls.join(",") === mine.clientUrls.join(",")) return;
    this.publishing = true;
    this.propose({ type: "member-attrs", requestId: this.replica.nextRequestId(), nodeId: this.opts.id, attrs: mine }, true).then(
      () => {
        this.publishing = false;
      },
      () => {
        this.publishing = false;
        this.publishRetryAtMs = monotonicMs() + 1_000;
      },
    );
  }

  private sendRaft(m: Message): void {
    this.network.send(m.to, { kind: "raft", message: m });
    if (m.type === "installSnapshot") {
      // Our frames are written whole or the stream breaks (reported as unreachable), so report success now.
      const to = m.to;
      setImmediate(() => {
        if (!this.stopped) {
          this.replica.raft.reportSnapshot(to, true);
          this.schedule();
        }
      });
    }
  }

  private assertRunning(): void {
    if (this.stopped) throw new ServerError("stopped", "node stopped");
    if (this.replica.removed) throw new ServerError("removed", `node ${this.opts.id} was removed from the cluster`);
  }
}

/** Hop tracing (bench/profile.ts --hops): when a follower gets new entries, when the leader gets an acknowledgement. */
function traceArrival(m: Message): void {
  if (m.type === "append" && m.entries.length > 0) hops?.mark("recv", m.entries[m.entries.length - 1]!.index);
  if (m.type === "appendResponse" && !m.reject) hops?.mark(`ack:${m.from}`, m.index);
}

