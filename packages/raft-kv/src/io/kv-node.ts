/**
 * The node driver: one raft-kv server's Raft core, disk, network and
 * key-value state machine, wired together with a real clock.
 *
 * It runs etcd's Ready loop (see the core's `Ready`): tick every `tickMs`,
 * feed peer messages to `step`, then for each Ready persist (WAL, fsync) →
 * send → apply committed entries to the {@link KvStore} → release reads →
 * `advance()`. Because the disk write and the fsync are synchronous, nothing
 * in a Ready leaves the node before it is durable (Raft Figure 2), and every
 * client answer comes after its entry was committed by a quorum that had
 * fsynced it: a `kill -9` at any moment loses no acknowledged write.
 *
 * Client operations are promises: writes are proposed (forwarded to the
 * leader from followers) and resolve when their entry is applied here;
 * linearizable reads take a ReadIndex (§6.4) and resolve once this node has
 * applied up to it; serializable reads read the local state at once.
 */
import fs from "node:fs";
import path from "node:path";
import crypto from "node:crypto";
import type { FaultControl, StreamTransport } from "@heck/sim";
import { createPrng } from "@heck/sim";
import {
  RaftNode,
  decodeConfChange,
  type ConfChange,
  type ConfState,
  type Entry,
  type Message,
  type RaftConfig,
  type RaftError,
  type RaftStatus,
  type Ready,
  type Role,
} from "../core/raft/index.ts";
import {
  KvStore,
  DEFAULT_KV_STORE_CONFIG,
  encodeCommand,
  inRange,
  toByteString,
  type ApplyResult,
  type KvCommand,
  type KvEvent,
  type KvStoreConfig,
  type MemberAttrs,
  type RangeRequest,
  type RangeResponse,
  type SessionTag,
  type WriteOp,
  type WriteResponse,
} from "../core/kv/index.ts";
import { DiskStorage } from "./storage.ts";
import { PeerNetwork } from "./peer-network.ts";
import type { Envelope } from "./envelope.ts";
import { ServerError } from "./errors.ts";
import { hops } from "./hop-trace.ts";

/** Everything a node needs to start. */
export interface RaftKvNodeOptions {
  /** This node's id, e.g. "n1". Must match its data dir once written. */
  id: string;
  /** Founding members' peer addresses by id (this node included); used to bootstrap and to find peers. */
  peers: Record<string, string>;
  /** Where the WAL, snapshots and meta.json live. */
  dataDir: string;
  /** The peer transport, already listening on this node's peer address. */
  transport: StreamTransport & Partial<FaultControl> & { close(): Promise<void> };
  /** Start empty and wait to be added with `members add` (etcd's --initial-cluster-state=existing). */
  join?: boolean;
  /**
   * Milliseconds per Raft tick. Election timeout = electionTick..2*electionTick-1
   * ticks, heartbeats every heartbeatTick ticks. Default 50 ms with electionTick 10
   * (0.5-1 s timeouts, heartbeats every 50 ms): failover well under a second on
   * loopback, while a 50 ms stall of the event loop does not trigger elections.
   */
  tickMs?: number;
  /** See tickMs. Default 10. */
  electionTick?: number;
  /** See tickMs. Default 1. */
  heartbeatTick?: number;
  /**
   * How long a leader may hold back telling followers about a new commit
   * index, hoping the next write's append carries it for free (the core's
   * `commitBroadcast: "lazy"`). Writes forwarded by a follower and membership
   * changes are announced at once, since someone waits on a follower for
   * them. Trade-off: one client writing in a loop saves two peer messages and
   * two acknowledgements per write (the next write arrives sooner than this);
   * followers' serializable reads and watches lag by up to this much.
   * Default 2 ms: longer than a client's round trip on loopback, shorter
   * than anything a person notices. -1 = tell them at once (etcd's behaviour).
   */
  commitBroadcastDelayMs?: number;
  /** Take a snapshot and compact the log after this many applied entries. Default 10,000 (etcd's SnapshotCount is 100,000; ours restarts faster). */
  snapshotEntries?: number;
  /** Client requests fail with "timeout" after this long. Default 5,000 ms, etcd's request timeout. */
  requestTimeoutMs?: number;
  /** How linearizable reads confirm leadership (§6.4): a heartbeat round ("safe") or the lease. Default "safe". */
  readOnlyOption?: "safe" | "leaseBased";
  /** gRPC URLs clients use (published to members, shown by `etcdctl member list`). */
  clientUrls?: string[];
  /** The JSON HTTP API address host:port (published so followers can forward admin calls). */
  httpAddress?: string;
  /** Groups members into one cluster; hashed into etcd's cluster id. Default "heck-raft". */
  clusterToken?: string;
  /** State machine tuning; all members must agree. */
  kvConfig?: KvStoreConfig;
  /** Log lines go here. Default: stderr with the node id. */
  log?: (line: string) => void;
  /** WAL segment size (tests use small ones). */
  walSegmentBytes?: number;
  /** Seed for the election-timeout PRNG. Default: random. */
  seed?: number;
  /** Called once when a committed configuration no longer includes this node (etcd members exit then). */
  onRemoved?: () => void;
}

/** A write's answer. */
export interface WriteResult {
  revision: number;
  response: WriteResponse;
  /** True when a session retry was answered from the cache instead of applying again (§6.3). */
  duplicate: boolean;
}

/** Options of one watch (etcd's WatchCreateRequest). */
export interface WatchOptions {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  /** Replay events from this revision; 0 or absent = from now. */
  startRevision?: number;
  prevKv?: boolean;
  noPut?: boolean;
  noDelete?: boolean;
}

/** A live watch; call cancel() to stop it. */
export interface WatchHandle {
  readonly id: number;
  cancel(): void;
}

/** What etcd's ResponseHeader needs. */
export interface HeaderInfo {
  clusterId: bigint;
  memberId: bigint;
  revision: number;
  raftTerm: number;
}

/** One member as status and member lists show it. */
export interface MemberInfo {
  id: string;
  memberId: bigint;
  peerAddress: string;
  clientUrls: string[];
  httpAddress: string;
  learner: boolean;
}

/** A node's status for GET /v1/status and Maintenance.Status. */
export interface NodeStatus {
  id: string;
  memberId: string;
  clusterId: string;
  role: Role | "removed";
  leader: string | null;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  snapshotIndex: number;
  revision: number;
  compactRevision: number;
  keys: number;
  sessions: number;
  members: Array<Omit<MemberInfo, "memberId"> & { memberId: string }>;
  progress: RaftStatus["progress"];
  faults: { blocked: string[]; dropRate: number };
  walSegments: number;
  malformedFrames: number;
  dbSizeBytes: number;
}

interface Waiter {
  resolve(result: ApplyResult): void;
  reject(error: ServerError): void;
  timer: NodeJS.Timeout;
  /** Where the proposal landed, once known (to detect a proposal overwritten by a new leader). */
  position?: { index: number; term: number };
  sent: boolean;
  data: Uint8Array;
  /** Retried proposals may be re-sent only when the command carries a session (applies once). */
  idempotent: boolean;
}

interface ConfWaiter {
  index: number;
  term: number;
  resolve(): void;
  reject(error: ServerError): void;
  timer: NodeJS.Timeout;
}

interface ReadWaiter {
  resolve(): void;
  reject(error: ServerError): void;
  timer: NodeJS.Timeout;
}

interface Watcher {
  id: number;
  start: string;
  end: string | undefined;
  nextRevision: number;
  options: WatchOptions;
  onEvents(events: KvEvent[], revision: number): void;
  onCancel(reason: string, compactRevision: number): void;
}

/** A uint64 from a name (SHA-256, first 8 bytes): etcd member and cluster ids are uint64; ours are stable across restarts. */
export function hash64(text: string): bigint {
  return crypto.createHash("sha256").update(text).digest().readBigUInt64BE(0);
}

function raftErrorToServer(e: RaftError, leaderHttp: string | null): ServerError {
  switch (e.code) {
    case "notLeader":
      return new ServerError(e.leader ? "not_leader" : "no_leader", e.message, { leader: e.leader, leaderHttp });
    case "tooManyUncommitted":
      return new ServerError("busy", e.message);
    case "invalidConfChange":
    case "invalidArgument":
      return new ServerError("invalid_argument", e.message);
    default:
      return new ServerError("conf_change_failed", `${e.code}: ${e.message}`, { leader: e.leader, leaderHttp });
  }
}

/** One raft-kv server: Raft core + WAL + peer network + KV state machine. Create with {@link RaftKvNode.start}. */
export class RaftKvNode {
  private raft!: RaftNode;
  private kv: KvStore;
  private readonly storage: DiskStorage;
  private readonly network: PeerNetwork;
  private readonly opts: Required<Omit<RaftKvNodeOptions, "join" | "seed" | "walSegmentBytes" | "log" | "onRemoved">> & { join: boolean };
  private readonly log: (line: string) => void;
  private readonly onRemoved: (() => void) | undefined;
  private tickTimer: NodeJS.Timeout | null = null;
  private scheduled = false;
  private stopped = false;
  private removed = false;
  private processing = false;
  private snapshotting = false;
  private readonly bootId = crypto.randomBytes(4).toString("hex");
  private seq = 0;
  private readonly waiters = new Map<string, Waiter>();
  /** requestId by log index, for proposals whose position we know. */
  private readonly positions = new Map<number, string>();
  private readonly confWaiters: ConfWaiter[] = [];
  private readBatch: ReadWaiter[] = [];
  private readonly readsByCtx = new Map<string, { waiters: ReadWaiter[]; issuedTerm: number; timer: NodeJS.Timeout }>();
  private readonly readsByIndex: Array<{ index: number; waiters: ReadWaiter[] }> = [];
  private readonly watchers = new Map<number, Watcher>();
  private nextWatchId = 1;
  private lastSnapshotIndex = 0;
  private softLeader: string | null = null;
  private softRole: Role = "follower";
  private confState: ConfState = { voters: [], learners: [] };
  private publishing = false;
  private confChangeApplied = false;
  private publishRetryAt = 0;
  /** Leader: log indexes of proposals forwarded by followers, not yet applied (their commit is announced at once). */
  private readonly forwardedIndexes = new Set<number>();
  /** Set by a Ready that committed entries: announce the commit after advance(), now or after the delay. */
  private commitNews: "none" | "later" | "now" = "none";
  private commitTimer: NodeJS.Timeout | null = null;
  private readonly clusterIdValue: bigint;
  private readonly memberIdValue: bigint;
  private readonly leaderListeners = new Set<(leader: string | null) => void>();

  private constructor(options: RaftKvNodeOptions, storage: DiskStorage, kv: KvStore) {
    this.opts = {
      id: options.id,
      peers: options.peers,
      dataDir: options.dataDir,
      transport: options.transport,
      join: options.join ?? false,
      tickMs: options.tickMs ?? 50,
      electionTick: options.electionTick ?? 10,
      heartbeatTick: options.heartbeatTick ?? 1,
      commitBroadcastDelayMs: options.commitBroadcastDelayMs ?? 10,
      snapshotEntries: options.snapshotEntries ?? 10_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 5_000,
      readOnlyOption: options.readOnlyOption ?? "safe",
      clientUrls: options.clientUrls ?? [],
      httpAddress: options.httpAddress ?? "",
      clusterToken: options.clusterToken ?? "heck-raft",
      kvConfig: options.kvConfig ?? DEFAULT_KV_STORE_CONFIG,
    };
    this.log = options.log ?? ((line) => process.stderr.write(`[${options.id}] ${line}\n`));
    this.storage = storage;
    this.onRemoved = options.onRemoved;
    this.kv = kv;
    this.clusterIdValue = hash64(`cluster:${this.opts.clusterToken}`);
    this.memberIdValue = hash64(`member:${this.opts.clusterToken}:${options.id}`);
    this.network = new PeerNetwork(options.id, options.transport, {
      resolve: (id) => this.peerAddress(id),
      onEnvelope: (env) => this.onEnvelope(env),
      onUnreachable: (id) => {
        if (!this.stopped) this.raft.reportUnreachable(id);
      },
      log: (m) => this.log(m),
    });
  }

  /**
   * Opens the data dir (recovering the WAL; throws on corruption), creates
   * or restarts the Raft core, and starts ticking. Resolves once running;
   * use {@link RaftKvNode.waitForLeader} to wait for an election.
   */
  static async start(options: RaftKvNodeOptions): Promise<RaftKvNode> {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(options.id)) throw new ServerError("invalid_argument", `id: ${JSON.stringify(options.id)} must be 1-64 letters, digits, '.', '_' or '-'`, { field: "id" });
    if (!options.join && !(options.id in options.peers)) throw new ServerError("invalid_argument", `peers: must include this node's id ${options.id}`, { field: "peers" });
    checkMeta(options.dataDir, options.id, options.clusterToken ?? "heck-raft");
    const log = options.log ?? ((line: string) => process.stderr.write(`[${options.id}] ${line}\n`));
    const opened = DiskStorage.open(options.dataDir, { segmentBytes: options.walSegmentBytes, onWarning: log });
    let kv = new KvStore(options.kvConfig ?? DEFAULT_KV_STORE_CONFIG);
    const persisted = opened.persisted;
    if (persisted?.snapshot) kv = KvStore.restore(persisted.snapshot.data, options.kvConfig ?? DEFAULT_KV_STORE_CONFIG);
    const node = new RaftKvNode(options, opened.storage, kv);
    const config: RaftConfig = {
      id: options.id,
      prng: createPrng(options.seed ?? crypto.randomInt(0, 2 ** 31)).fork(options.id),
      electionTick: node.opts.electionTick,
      heartbeatTick: node.opts.heartbeatTick,
      preVote: true,
      checkQuorum: true,
      readOnlyOption: node.opts.readOnlyOption,
      commitBroadcast: node.opts.commitBroadcastDelayMs < 0 ? "immediate" : "lazy",
      applied: kv.appliedIndex,
    };
    if (persisted) {
      node.raft = RaftNode.restart(config, persisted);
      node.lastSnapshotIndex = persisted.snapshot?.metadata.index ?? 0;
      node.confState = persisted.snapshot?.metadata.confState ?? node.confState;
      log(`restarted: term ${persisted.hardState.term}, commit ${persisted.hardState.commit}, ${persisted.entries.length} entries after snapshot ${node.lastSnapshotIndex}${opened.tornBytes ? `, cut a torn tail of ${opened.tornBytes} bytes` : ""}`);
    } else if (options.join) {
      node.raft = RaftNode.join(config);
      log("joining: waiting to be added by the leader");
    } else {
      node.raft = RaftNode.bootstrap(config, Object.keys(options.peers).sort());
      log(`bootstrapping a cluster of ${Object.keys(options.peers).length}`);
    }
    node.tickTimer = setInterval(() => node.onTick(), node.opts.tickMs);
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
    return this.softLeader;
  }

  /** True while this node is the leader. */
  get isLeader(): boolean {
    return this.softRole === "leader";
  }

  /** The header etcd responses carry. */
  header(): HeaderInfo {
    return { clusterId: this.clusterIdValue, memberId: this.memberIdValue, revision: this.kv.revision, raftTerm: this.stopped ? 0 : this.raft.term };
  }

  /** The HTTP address of a member, from what it published. */
  httpAddressOf(id: string | null): string | null {
    if (!id) return null;
    if (id === this.opts.id) return this.opts.httpAddress || null;
    return this.kv.member(id)?.httpAddress || null;
  }

  /** Resolves when a leader is known (or rejects after `timeoutMs`). */
  waitForLeader(timeoutMs = 10_000): Promise<string> {
    if (this.softLeader) return Promise.resolve(this.softLeader);
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

  /** Proposes a write (put, delete, txn); resolves once applied here. Followers forward to the leader. */
  async write(op: WriteOp, session?: SessionTag): Promise<WriteResult> {
    const result = await this.propose(session ? { type: "write", requestId: this.nextRequestId(), session, op } : { type: "write", requestId: this.nextRequestId(), op }, session !== undefined);
    if (!result.ok) throw kvErrorToServer(result.error.code, result.error.message);
    if (!("response" in result)) throw new Error("write produced no response");
    return { revision: result.revision, response: result.response, duplicate: result.duplicate };
  }

  /** Registers a client session (dissertation §6.3); the id is the register entry's log index. */
  async registerSession(): Promise<number> {
    const result = await this.propose({ type: "register", requestId: this.nextRequestId() }, false);
    if (!result.ok || !("registered" in result)) throw new ServerError("conf_change_failed", "session registration failed");
    return result.registered;
  }

  /** A range read. Linearizable (default) waits for a ReadIndex (§6.4); serializable reads local state now. */
  async range(q: RangeRequest, linearizable = true): Promise<{ revision: number; response: RangeResponse }> {
    if (linearizable) await this.readBarrier();
    this.assertRunning();
    const r = this.kv.range(q);
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
      const waiter: ReadWaiter = {
        resolve: () => {
          clearTimeout(waiter.timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(waiter.timer);
          reject(e);
        },
        timer: setTimeout(() => {
          this.readBatch = this.readBatch.filter((w) => w !== waiter);
          for (const r of this.readsByCtx.values()) r.waiters = r.waiters.filter((w) => w !== waiter);
          for (const r of this.readsByIndex) r.waiters = r.waiters.filter((w) => w !== waiter);
          reject(new ServerError(this.softLeader ? "timeout" : "no_leader", `linearizable read timed out after ${this.opts.requestTimeoutMs} ms${this.softLeader ? "" : " (no leader)"}`, { leader: this.softLeader }));
        }, this.opts.requestTimeoutMs),
      };
      this.readBatch.push(waiter);
      this.issueReadIndex();
    });
  }

  /** Starts a watch (etcd semantics: replay from startRevision, then live events). Events arrive in revision order. */
  watch(options: WatchOptions, onEvents: (events: KvEvent[], revision: number) => void, onCancel: (reason: string, compactRevision: number) => void): WatchHandle {
    this.assertRunning();
    const id = this.nextWatchId++;
    const w: Watcher = {
      id,
      start: toByteString(options.key),
      end: options.rangeEnd && options.rangeEnd.length > 0 ? toByteString(options.rangeEnd) : undefined,
      nextRevision: this.kv.revision + 1,
      options,
      onEvents,
      onCancel,
    };
    const start = options.startRevision ?? 0;
    if (start > 0 && start <= this.kv.revision) {
      const past = this.kv.eventsSince(start, options.key, options.rangeEnd);
      if (!past.ok) {
        queueMicrotask(() => onCancel(`required revision ${start} has been compacted (compact revision ${past.compactRevision})`, past.compactRevision));
        return { id, cancel: () => {} };
      }
      const events = this.filterEvents(w, past.events);
      if (events.length > 0) {
        const rev = this.kv.revision;
        queueMicrotask(() => onEvents(events, rev));
      }
    } else if (start > this.kv.revision) {
      w.nextRevision = start;
    }
    this.watchers.set(id, w);
    return { id, cancel: () => this.watchers.delete(id) };
  }

  /** Status of this node (role, indexes, members, faults). */
  status(): NodeStatus {
    const s = this.stopped ? null : this.raft.status();
    const members = this.members().map((m) => ({ ...m, memberId: m.memberId.toString(16) }));
    return {
      id: this.opts.id,
      memberId: this.memberIdValue.toString(16),
      clusterId: this.clusterIdValue.toString(16),
      role: this.removed ? "removed" : (s?.role ?? "follower"),
      leader: s?.leader ?? null,
      term: s?.term ?? 0,
      commitIndex: s?.commit ?? 0,
      appliedIndex: this.kv.appliedIndex,
      lastIndex: s?.lastIndex ?? 0,
      snapshotIndex: s?.snapshotIndex ?? 0,
      revision: this.kv.revision,
      compactRevision: this.kv.compactRevision,
      keys: this.kv.size,
      sessions: this.kv.sessionCount,
      members,
      progress: s?.progress ?? null,
      faults: this.network.faults(),
      walSegments: this.storage.walSegments,
      malformedFrames: this.network.malformedFrames,
      dbSizeBytes: dirSize(this.opts.dataDir),
    };
  }

  /** Members (voters and learners) with their published addresses, in id order. */
  members(): MemberInfo[] {
    const attrs = this.kv.members();
    const ids = [...new Set([...this.confState.voters, ...this.confState.learners])].sort();
    return ids.map((id) => {
      const a = attrs.get(id);
      return {
        id,
        memberId: hash64(`member:${this.opts.clusterToken}:${id}`),
        peerAddress: a?.peerAddress || this.opts.peers[id] || "",
        clientUrls: id === this.opts.id && this.opts.clientUrls.length > 0 ? this.opts.clientUrls : (a?.clientUrls ?? []),
        httpAddress: id === this.opts.id ? this.opts.httpAddress : (a?.httpAddress ?? ""),
        learner: this.confState.learners.includes(id),
      };
    });
  }

  /**
   * Adds a member (leader only): first as a learner that receives the log
   * without voting (§4.2.1), then, unless `learner`, promotes it once it
   * has caught up, so the quorum never waits on an empty newcomer.
   */
  async addMember(id: string, peerAddress: string, learner = false): Promise<MemberInfo[]> {
    this.assertRunning();
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(id)) throw new ServerError("invalid_argument", "id: must be 1-64 letters, digits, '.', '_' or '-'", { field: "id" });
    if (!/^[^\s:]+:\d{1,5}$/.test(peerAddress)) throw new ServerError("invalid_argument", "peerAddress: must be host:port", { field: "peerAddress" });
    const isMember = this.confState.voters.includes(id) || this.confState.learners.includes(id);
    if (this.confState.voters.includes(id)) throw new ServerError("member_exists", `member ${id} is already a voter`);
    if (!isMember) await this.confChange({ type: "addLearner", nodeId: id, context: peerAddress });
    if (!learner) {
      const deadline = Date.now() + Math.max(this.opts.requestTimeoutMs, 30_000);
      for (;;) {
        try {
          await this.confChange({ type: "promoteLearner", nodeId: id });
          break;
        } catch (error) {
          if (!(error instanceof ServerError) || !/learnerNotCaughtUp|confChangePending/.test(error.message) || Date.now() > deadline) throw error;
          await sleep(this.opts.tickMs * 2);
        }
      }
    }
    return this.members();
  }

  /** Removes a member (leader only). Removing the leader itself hands leadership over first (§3.10). */
  async removeMember(id: string): Promise<MemberInfo[]> {
    this.assertRunning();
    if (!this.confState.voters.includes(id) && !this.confState.learners.includes(id)) throw new ServerError("unknown_member", `no member with id ${id}`, { field: "id" });
    if (id === this.opts.id && this.isLeader) {
      const other = this.confState.voters.find((v) => v !== id);
      if (!other) throw new ServerError("invalid_argument", "cannot remove the last voter");
      await this.transferLeadership(other);
      throw new ServerError("not_leader", `handed leadership to ${other}; send the removal there`, { leader: other, leaderHttp: this.httpAddressOf(other) });
    }
    await this.confChange({ type: "removeVoter", nodeId: id });
    return this.members();
  }

  /** Hands leadership to `to` (§3.10) and resolves once it leads (or rejects on timeout). */
  async transferLeadership(to: string): Promise<void> {
    this.assertRunning();
    const r = this.raft.transferLeadership(to);
    if (!r.ok) throw raftErrorToServer(r.error, this.httpAddressOf(r.error.leader));
    this.schedule();
    const deadline = Date.now() + this.opts.requestTimeoutMs;
    while (this.softLeader !== to) {
      if (Date.now() > deadline) throw new ServerError("timeout", `leadership did not move to ${to}`);
      await sleep(this.opts.tickMs);
    }
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

  /** Stops ticking, fails pending requests, closes the network, transport and WAL. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.commitTimer) clearTimeout(this.commitTimer);
    const err = new ServerError("stopped", "node stopped");
    for (const w of this.waiters.values()) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.waiters.clear();
    for (const c of this.confWaiters.splice(0)) {
      clearTimeout(c.timer);
      c.reject(err);
    }
    for (const r of [...this.readBatch, ...[...this.readsByCtx.values()].flatMap((x) => x.waiters), ...this.readsByIndex.flatMap((x) => x.waiters)]) r.reject(err);
    for (const r of this.readsByCtx.values()) clearTimeout(r.timer);
    this.readBatch = [];
    this.readsByCtx.clear();
    this.readsByIndex.length = 0;
    for (const w of this.watchers.values()) w.onCancel("node stopped", 0);
    this.watchers.clear();
    this.network.close();
    await this.opts.transport.close();
    // Never close the WAL under an fsync in flight on the thread pool.
    await this.storage.idle();
    this.storage.close();
  }

  // --- the Ready loop --------------------------------------------------------------

  private onTick(): void {
    if (this.stopped) return;
    this.raft.tick();
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.process();
    });
  }

  /**
   * Runs Readies until there are none. A Ready that must be fsynced is
   * written at once and finished (send, apply, advance) when the fsync
   * completes on the thread pool; until then `processing` stays true, so no
   * second Ready starts, while messages and proposals keep arriving (the core
   * allows step and propose between ready() and advance()), and the next
   * Ready batches all of them.
   */
  private process(): void {
    if (this.stopped || this.processing) return;
    this.processing = true;
    this.runReadies();
  }

  private runReadies(): void {
    try {
      while (!this.stopped && this.raft.hasReady()) {
        const rd = this.raft.ready();
        // Opt-in latency tracing (bench/profile.ts --hops), by the Ready's last new entry.
        const lastNew = hops && rd.entries.length > 0 ? rd.entries[rd.entries.length - 1]!.index : 0;
        // 1. Persist before anything leaves the node, with one exception: a leader's appends and heartbeats
        // go out before its own fsync, so the followers write in parallel (dissertation §10.2.1). Safe: they
        // acknowledge nothing about the leader's disk, and the core counts the leader's own entries toward a
        // quorum only after advance(), i.e. after this fsync.
        for (const m of rd.messages) if (isEarly(m)) this.sendRaft(m);
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
        });
        inline = false;
        if (lastNew) hops?.mark("written", lastNew);
        if (!finishedInline) return; // the fsync's callback finishes this Ready and continues the loop
        this.finishReady(rd);
      }
    } catch (error) {
      return this.fatal(error);
    }
    this.processing = false;
  }

  /** Steps 2-6 of a Ready, once its persistent part is durable. */
  private finishReady(rd: Ready): void {
    this.handleReady(rd);
    this.raft.advance();
    this.afterAdvance();
  }

  /** A failed write or fsync leaves us unsure what is durable: stop rather than acknowledge anything more. */
  private fatal(error: unknown): void {
    this.log(`fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    this.processing = false;
    void this.stop();
  }

  /** Steps 2-5 of a Ready (its entries and hard state are durable by now). */
  private handleReady(rd: Ready): void {
    // 2. Send what had to wait for the disk: votes and acknowledgements (Figure 2).
    if (hops && rd.committedEntries.length > 0) hops.mark("commitReady", rd.committedEntries[rd.committedEntries.length - 1]!.index);
    for (const m of rd.messages) if (!isEarly(m)) this.sendRaft(m);
    if (hops && rd.entries.length > 0 && !this.isLeader) hops.mark("acked", rd.entries[rd.entries.length - 1]!.index);
    // 3. Apply: an installed snapshot replaces the state machine, then committed entries in order.
    if (rd.snapshot && rd.snapshot.metadata.index > this.kv.appliedIndex) {
      this.kv = KvStore.restore(rd.snapshot.data, this.opts.kvConfig);
      this.lastSnapshotIndex = rd.snapshot.metadata.index;
      this.confState = rd.snapshot.metadata.confState;
      this.log(`installed snapshot at index ${rd.snapshot.metadata.index} (revision ${this.kv.revision})`);
      this.resyncWatchers();
    }
    for (const e of rd.committedEntries) this.applyEntry(e);
    if (rd.committedEntries.length > 0 && this.isLeader) this.noteCommitted(rd.committedEntries);
    if (hops && rd.committedEntries.length > 0) hops.mark("applied", rd.committedEntries[rd.committedEntries.length - 1]!.index);
    // 4. Reads whose index is now known.
    for (const rs of rd.readStates) this.onReadState(rs.requestCtx, rs.index);
    this.releaseReads();
    // 5. Leadership and membership.
    if (rd.softState) this.onSoftState(rd.softState.leader, rd.softState.role);
    if (rd.confState) this.onConfState(rd.confState);
  }

  /** Decides when followers hear of entries this leader just committed (see commitBroadcastDelayMs). */
  private noteCommitted(entries: readonly Entry[]): void {
    let urgent = this.commitNews === "now";
    for (const e of entries) {
      if (e.type === "confChange" || this.forwardedIndexes.delete(e.index)) urgent = true;
    }
    this.commitNews = urgent ? "now" : "later";
  }

  private announceCommit(): void {
    const news = this.commitNews;
    this.commitNews = "none";
    if (news === "none" || this.opts.commitBroadcastDelayMs < 0) return;
    if (news === "now" || this.opts.commitBroadcastDelayMs === 0) {
      // Goes out with the next Ready of this loop.
      this.raft.broadcastCommit();
      return;
    }
    if (this.commitTimer) return;
    this.commitTimer = setTimeout(() => {
      this.commitTimer = null;
      if (this.stopped) return;
      // A no-op for followers that heard of it meanwhile (the next append or heartbeat carried it).
      this.raft.broadcastCommit();
      this.schedule();
    }, this.opts.commitBroadcastDelayMs);
  }

  private afterAdvance(): void {
    this.announceCommit();
    // The core applies conf changes at advance(); read the new membership at once rather than wait for the next Ready.
    if (this.confChangeApplied) {
      this.confChangeApplied = false;
      this.onConfState(this.raft.status().confState);
    }
    if (this.kv.appliedIndex - this.lastSnapshotIndex >= this.opts.snapshotEntries) this.takeSnapshot();
    this.maybePublishAttrs();
  }

  private takeSnapshot(): void {
    // One at a time: the next is due thousands of entries later anyway.
    if (this.snapshotting) return;
    const started = performance.now();
    const index = this.kv.appliedIndex;
    const data = this.kv.snapshot();
    const serializedMs = performance.now() - started;
    const r = this.raft.compact(index, data);
    if (!r.ok) {
      this.log(`compaction at ${index} refused: ${r.error.message}`);
      this.lastSnapshotIndex = index;
      return;
    }
    this.lastSnapshotIndex = index;
    // The core's compaction is only in memory, so persisting after it is safe: until the snapshot file is
    // durable and marked in the WAL, the WAL still holds every entry and a crash replays them. The file is
    // written on the thread pool (megabytes take tens of ms), so only the serialization stops the event loop.
    this.snapshotting = true;
    this.storage.saveLocalSnapshotAsync({ metadata: r.value, data }).then(
      () => {
        this.snapshotting = false;
        this.log(`snapshot at index ${index}: ${data.length} bytes, event loop held ${serializedMs.toFixed(1)} ms, durable after ${(performance.now() - started).toFixed(1)} ms`);
      },
      (error: unknown) => {
        this.snapshotting = false;
        if (!this.stopped) this.fatal(error);
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
          this.raft.reportSnapshot(to, true);
          this.schedule();
        }
      });
    }
  }

  private applyEntry(e: Entry): void {
    if (e.index <= this.kv.appliedIndex) return;
    const expected = this.positions.get(e.index);
    let appliedRequest: string | undefined;
    if (e.type === "confChange") {
      this.confChangeApplied = true;
      const cc = decodeConfChange(e.data);
      if (cc.ok && (cc.value.type === "addVoter" || cc.value.type === "addLearner") && cc.value.context) {
        this.kv.applyMembership(e.index, cc.value.nodeId, { peerAddress: cc.value.context, clientUrls: [], httpAddress: "" });
      } else if (cc.ok && cc.value.type === "removeVoter") {
        this.kv.applyMembership(e.index, cc.value.nodeId, undefined);
      } else {
        this.kv.skip(e.index);
      }
      for (let i = this.confWaiters.length - 1; i >= 0; i--) {
        const w = this.confWaiters[i]!;
        if (w.index !== e.index) continue;
        this.confWaiters.splice(i, 1);
        clearTimeout(w.timer);
        if (w.term === e.term) w.resolve();
        else w.reject(new ServerError("proposal_dropped", "membership change was overwritten by a new leader; retry"));
      }
    } else if (e.data.length === 0) {
      this.kv.skip(e.index);
    } else {
      const { command, result } = this.kv.applyEntry(e.index, e.data);
      if (result.ok && "events" in result && result.events.length > 0) this.notifyWatchers(result.events, result.revision);
      if (command) {
        appliedRequest = command.requestId;
        const w = this.waiters.get(command.requestId);
        if (w) {
          this.waiters.delete(command.requestId);
          clearTimeout(w.timer);
          w.resolve(result);
        }
      }
    }
    if (expected !== undefined) {
      this.positions.delete(e.index);
      if (expected !== appliedRequest) {
        // Another entry took our proposal's index: a new leader overwrote it, so it can never commit (§5.3).
        const w = this.waiters.get(expected);
        if (w) {
          this.waiters.delete(expected);
          clearTimeout(w.timer);
          w.reject(new ServerError("proposal_dropped", "the proposal was lost in a leader change and not applied; it is safe to retry"));
        }
      }
    }
  }

  private onSoftState(leader: string | null, role: Role): void {
    const changed = leader !== this.softLeader;
    if (role !== "leader") this.forwardedIndexes.clear();
    if (changed) this.log(`leader is now ${leader ?? "unknown"} (this node: ${role}, term ${this.raft.term})`);
    this.softLeader = leader;
    this.softRole = role;
    if (changed) {
      for (const l of [...this.leaderListeners]) l(leader);
      if (leader) {
        this.flushUnsent();
        // Reads issued to a leader that is gone will not come back: re-issue them.
        for (const [ctx, r] of this.readsByCtx) {
          this.readsByCtx.delete(ctx);
          clearTimeout(r.timer);
          this.readBatch.push(...r.waiters);
        }
        this.issueReadIndex();
      }
    }
  }

  private onConfState(cs: ConfState): void {
    this.confState = cs;
    const member = cs.voters.includes(this.opts.id) || cs.learners.includes(this.opts.id);
    if (!member && (cs.voters.length > 0 || cs.learners.length > 0) && !this.removed) {
      this.removed = true;
      this.log("this node was removed from the cluster; it no longer serves requests");
      if (this.onRemoved) setImmediate(this.onRemoved);
    }
  }

  // --- proposals ---------------------------------------------------------------------

  private nextRequestId(): string {
    return `${this.opts.id}.${this.bootId}.${++this.seq}`;
  }

  private propose(command: KvCommand, idempotent: boolean): Promise<ApplyResult> {
    this.assertRunning();
    // Our clock travels in the entry: the state machine's only notion of time, the same on every replica (§6.3).
    const data = encodeCommand({ ...command, timeMs: Date.now() });
    const requestId = command.requestId;
    return new Promise<ApplyResult>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        data,
        sent: false,
        idempotent,
        timer: setTimeout(() => {
          this.waiters.delete(requestId);
          reject(new ServerError(this.softLeader ? "timeout" : "no_leader", `request timed out after ${this.opts.requestTimeoutMs} ms${this.softLeader ? "" : " (no leader)"}; its outcome is unknown`, { leader: this.softLeader }));
        }, this.opts.requestTimeoutMs),
      };
      this.waiters.set(requestId, waiter);
      this.sendProposal(requestId, waiter);
    });
  }

  private sendProposal(requestId: string, w: Waiter): void {
    if (this.isLeader) {
      const r = this.raft.propose(w.data);
      if (r.ok) {
        hops?.mark("prop", r.value.index);
        w.sent = true;
        w.position = r.value;
        this.positions.set(r.value.index, requestId);
        this.schedule();
        return;
      }
      if (r.error.code === "tooManyUncommitted") {
        this.waiters.delete(requestId);
        clearTimeout(w.timer);
        w.reject(raftErrorToServer(r.error, null));
        return;
      }
      // Not leader after all, or a transfer in progress: wait for the next leader.
      return;
    }
    if (this.softLeader && this.softLeader !== this.opts.id) {
      w.sent = true;
      this.network.send(this.softLeader, { kind: "forward", requestId, from: this.opts.id, data: w.data });
    }
  }

  /** Sends proposals that never left (no leader at the time), and idempotent ones that may have been lost. */
  private flushUnsent(): void {
    for (const [requestId, w] of this.waiters) {
      if (!w.sent || (w.idempotent && !w.position)) this.sendProposal(requestId, w);
    }
  }

  private onEnvelope(env: Envelope): void {
    if (this.stopped) return;
    switch (env.kind) {
      case "raft":
        if (env.message.to !== this.opts.id) return;
        if (hops) traceArrival(env.message);
        this.raft.step(env.message);
        this.schedule();
        return;
      case "forward": {
        const r = this.isLeader ? this.raft.propose(env.data) : null;
        if (r?.ok) this.forwardedIndexes.add(r.value.index);
        this.network.send(env.from, {
          kind: "forwardReply",
          from: this.opts.id,
          requestId: env.requestId,
          ok: r?.ok ?? false,
          index: r?.ok ? r.value.index : 0,
          term: r?.ok ? r.value.term : 0,
          code: r ? (r.ok ? "" : r.error.code) : "notLeader",
          message: r ? (r.ok ? "" : r.error.message) : "not the leader",
          leader: this.softLeader ?? "",
        });
        this.schedule();
        return;
      }
      case "forwardReply": {
        const w = this.waiters.get(env.requestId);
        if (!w) return;
        if (env.ok) {
          w.position = { index: env.index, term: env.term };
          if (env.index > this.kv.appliedIndex) this.positions.set(env.index, env.requestId);
          return;
        }
        if (env.code === "tooManyUncommitted") {
          this.waiters.delete(env.requestId);
          clearTimeout(w.timer);
          w.reject(new ServerError("busy", env.message));
          return;
        }
        // Refused without appending anything, so it is safe to send again: at once if we already know a newer
        // leader, else when the next leader is known (onSoftState), with a short delay so a stale hint cannot spin.
        w.sent = false;
        setTimeout(() => {
          if (!this.stopped && this.waiters.get(env.requestId) === w && !w.sent) this.sendProposal(env.requestId, w);
        }, this.opts.tickMs);
        return;
      }
    }
  }

  private confChange(change: ConfChange): Promise<void> {
    if (!this.isLeader) {
      return Promise.reject(new ServerError(this.softLeader ? "not_leader" : "no_leader", "membership changes go to the leader", { leader: this.softLeader, leaderHttp: this.httpAddressOf(this.softLeader) }));
    }
    const r = this.raft.proposeConfChange(change);
    if (!r.ok) return Promise.reject(raftErrorToServer(r.error, this.httpAddressOf(r.error.leader)));
    this.schedule();
    return new Promise<void>((resolve, reject) => {
      const w: ConfWaiter = {
        index: r.value.index,
        term: r.value.term,
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.confWaiters.indexOf(w);
          if (i >= 0) this.confWaiters.splice(i, 1);
          reject(new ServerError("timeout", `membership change ${change.type} ${change.nodeId} not applied within ${this.opts.requestTimeoutMs} ms`));
        }, this.opts.requestTimeoutMs),
      };
      this.confWaiters.push(w);
    });
  }

  /** Publishes this node's client addresses through the log, as etcd members publish their attributes at start. */
  private maybePublishAttrs(): void {
    if (this.publishing || this.removed || !this.softLeader || Date.now() < this.publishRetryAt) return;
    if (!this.confState.voters.includes(this.opts.id) && !this.confState.learners.includes(this.opts.id)) return;
    const mine: MemberAttrs = { peerAddress: this.opts.transport.localAddress, clientUrls: this.opts.clientUrls, httpAddress: this.opts.httpAddress };
    const cur = this.kv.member(this.opts.id);
    if (cur && cur.peerAddress === mine.peerAddress && cur.httpAddress === mine.httpAddress && cur.clientUrls.join(",") === mine.clientUrls.join(",")) return;
    this.publishing = true;
    this.propose({ type: "member-attrs", requestId: this.nextRequestId(), nodeId: this.opts.id, attrs: mine }, true).then(
      () => {
        this.publishing = false;
      },
      () => {
        this.publishing = false;
        this.publishRetryAt = Date.now() + 1_000;
      },
    );
  }

  // --- reads ---------------------------------------------------------------------------

  private issueReadIndex(): void {
    if (this.stopped || this.readBatch.length === 0) return;
    // One round in flight at a time; reads arriving meanwhile wait for the next round (they need a fresh index).
    if (this.readsByCtx.size > 0) return;
    const ctx = `${this.opts.id}.${this.bootId}.r${++this.seq}`;
    const r = this.raft.readIndex(ctx);
    if (!r.ok) return; // no leader yet: onSoftState re-issues
    const waiters = this.readBatch;
    this.readBatch = [];
    const timer = setTimeout(() => {
      // The leader may have dropped it (leader change, partition): ask again.
      const pending = this.readsByCtx.get(ctx);
      if (!pending) return;
      this.readsByCtx.delete(ctx);
      this.readBatch.push(...pending.waiters);
      this.issueReadIndex();
    }, this.opts.tickMs * this.opts.electionTick);
    this.readsByCtx.set(ctx, { waiters, issuedTerm: this.raft.term, timer });
    this.schedule();
  }

  private onReadState(ctx: string, index: number): void {
    const pending = this.readsByCtx.get(ctx);
    if (!pending) return;
    this.readsByCtx.delete(ctx);
    clearTimeout(pending.timer);
    if (index < 0) {
      this.readBatch.push(...pending.waiters);
    } else {
      this.readsByIndex.push({ index, waiters: pending.waiters });
    }
    this.issueReadIndex();
  }

  private releaseReads(): void {
    for (let i = this.readsByIndex.length - 1; i >= 0; i--) {
      const r = this.readsByIndex[i]!;
      if (r.index > this.kv.appliedIndex) continue;
      this.readsByIndex.splice(i, 1);
      for (const w of r.waiters) w.resolve();
    }
  }

  // --- watch -------------------------------------------------------------------------

  private filterEvents(w: Watcher, events: KvEvent[]): KvEvent[] {
    const out: KvEvent[] = [];
    for (const e of events) {
      if (e.type === "put" && w.options.noPut) continue;
      if (e.type === "delete" && w.options.noDelete) continue;
      if (!inRange(toByteString(e.kv.key), w.start, w.end)) continue;
      out.push(w.options.prevKv || !e.prevKv ? e : { type: e.type, kv: e.kv });
    }
    return out;
  }

  private notifyWatchers(events: KvEvent[], revision: number): void {
    for (const w of this.watchers.values()) {
      if (revision < w.nextRevision) continue;
      w.nextRevision = revision + 1;
      const mine = this.filterEvents(w, events);
      if (mine.length > 0) w.onEvents(mine, revision);
    }
  }

  /** After a snapshot install, catch watchers up from the new history (or cancel them if it is gone). */
  private resyncWatchers(): void {
    for (const w of [...this.watchers.values()]) {
      const past = this.kv.eventsSince(w.nextRevision, w.options.key, w.options.rangeEnd);
      if (!past.ok) {
        this.watchers.delete(w.id);
        w.onCancel(`events from revision ${w.nextRevision} were compacted by a snapshot`, past.compactRevision);
        continue;
      }
      const events = this.filterEvents(w, past.events);
      w.nextRevision = this.kv.revision + 1;
      if (events.length > 0) w.onEvents(events, this.kv.revision);
    }
  }

  // --- helpers -----------------------------------------------------------------------

  private peerAddress(id: string): string | undefined {
    return this.kv.member(id)?.peerAddress || this.opts.peers[id];
  }

  private assertRunning(): void {
    if (this.stopped) throw new ServerError("stopped", "node stopped");
    if (this.removed) throw new ServerError("removed", `node ${this.opts.id} was removed from the cluster`);
  }
}

/** Hop tracing (bench/profile.ts --hops): when a follower gets new entries, when the leader gets an acknowledgement. */
function traceArrival(m: Message): void {
  if (m.type === "append" && m.entries.length > 0) hops?.mark("recv", m.entries[m.entries.length - 1]!.index);
  if (m.type === "appendResponse" && !m.reject) hops?.mark(`ack:${m.from}`, m.index);
}

/** Messages only a leader sends, which promise nothing about its own disk: they may leave before its fsync. */
function isEarly(m: Message): boolean {
  return m.type === "append" || m.type === "heartbeat";
}

function kvErrorToServer(code: string, message: string): ServerError {
  switch (code) {
    case "session_expired":
    case "stale_request":
    case "compacted":
    case "future_revision":
      return new ServerError(code, message);
    case "key_not_found":
      return new ServerError("not_found", message);
    default:
      return new ServerError("invalid_argument", message);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function dirSize(dir: string): number {
  let total = 0;
  const walk = (d: string) => {
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const n of names) {
      const p = path.join(d, n.name);
      if (n.isDirectory()) walk(p);
      else {
        try {
          total += fs.statSync(p).size;
        } catch {
          // A segment deleted between readdir and stat: skip it.
        }
      }
    }
  };
  walk(dir);
  return total;
}

/** Refuses a data dir written by another node or cluster: starting on it would corrupt both. */
function checkMeta(dataDir: string, id: string, clusterToken: string): void {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, "meta.json");
  if (fs.existsSync(file)) {
    let meta: { id?: unknown; clusterToken?: unknown };
    try {
      meta = JSON.parse(fs.readFileSync(file, "utf8")) as typeof meta;
    } catch (error) {
      throw new ServerError("invalid_argument", `data dir ${dataDir}: meta.json is unreadable (${error instanceof Error ? error.message : String(error)})`, { field: "dataDir" });
    }
    if (meta.id !== id) throw new ServerError("invalid_argument", `data dir ${dataDir} belongs to node ${String(meta.id)}, not ${id}`, { field: "dataDir" });
    if (meta.clusterToken !== clusterToken) throw new ServerError("invalid_argument", `data dir ${dataDir} belongs to cluster ${String(meta.clusterToken)}, not ${clusterToken}`, { field: "dataDir" });
    return;
  }
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify({ id, clusterToken }) + "\n");
  fs.renameSync(tmp, file);
}
