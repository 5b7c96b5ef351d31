/**
 * One replica of the store as a pure state machine (STYLE.md): inputs are
 * `tick(nowMs)`, `receive(from, message, channel, nowMs)` with a decoded
 * {@link KvMessage}, and client calls (put/get/delete/list); output is one
 * {@link KvReady} batch at a time (`ready()`, then `advance()`, the contract
 * every Heck core shares, @heck/sim's ready.ts): WAL lines and snapshots to
 * make durable first, messages to send, change events. No timers, no I/O,
 * no wall clock: the same code runs under the simulator and the real
 * driver, and both recover through the same constructor from the lines the
 * Readies wrote.
 *
 * Anti-entropy (src/core/sync/delta-sync.ts): every `syncIntervalMs` the
 * node picks `fanout` random peers and sends each the delta-interval it has
 * not acknowledged, BP+RR by default. A peer whose acknowledged point fell
 * out of the delta log gets the full state when the state is small, else a
 * digest exchange that ships only the buckets that differ:
 *
 *   asker i                                 answerer j
 *   digest{seq_i, bucket hashes, cc_i} ──▶
 *                                      ◀──  diff stage 2 {seq_j, buckets B, cc_j,
 *                                            j's versions in B + removals i lacks}
 *   diff stage 3 {i's versions in B +  ──▶
 *     removals j lacks}                ◀──  ack{seq_i}          (j now has all of i up to seq_i)
 *                                      ◀──  delta{seq_j, removals of i's B versions}
 *   ack{seq_j}                         ──▶                      (i now has all of j up to seq_j)
 *
 * Why removals need care: the store keeps no tombstones, so "j removed dot
 * d" is only visible as "d in j's context, not in j's store". A diff's
 * context may therefore contain only dots known dead at the sender (plus the
 * dots of the versions it carries), never a live dot it left out.
 */
import { NONE, utf8Length, type Channel, type Outbound, type Prng, type Ready, type SimProcess } from "@heck/sim";
import { CausalContext } from "../causality/causal-context.ts";
import { dotKey, isValidNodeId, type Dot } from "../causality/dot.ts";
import { isJson, type Json } from "../json.ts";
import { DeltaSync, type LogEntry, type SyncAlgorithm, type SyncReplica } from "../sync/delta-sync.ts";
import {
  checkKey,
  deltaBytes,
  entryContext,
  isEmptyDelta,
  joinDeltas,
  KvState,
  MAX_DIGEST_BITS,
  primeVersionText,
  versionBytes,
  type KvDelta,
  type ReadResult,
} from "./kv-state.ts";
import { wireOf, type DiffMessage, type DigestMessage, type KvMessage } from "./messages.ts";
import { decodeRecord, decodeSnapshot, encodeRecord, encodeSnapshot, walLine, type KvDisk } from "./persistence.ts";
import type { Mode, Version } from "./version.ts";

/** Configuration of one replica. Defaults in {@link DEFAULT_NODE_CONFIG}. */
export interface KvNodeConfig {
  /** Replica id: names this node's dots. Must stay the same across restarts and be unique in the cluster. */
  id: string;
  /** The address peers reach this node at (host:port, or the node id in simulation). */
  address: string;
  /** Peer addresses: a static list, or a provider asked every round (e.g. SWIM's live members). */
  peers: readonly string[] | (() => readonly string[]);
  /** This node's random stream (peer choice, first-round jitter). */
  prng: Prng;
  /** Synchronisation algorithm; "bprr" except when measuring the others. */
  algorithm: SyncAlgorithm;
  /**
   * Peers contacted per round. Dissemination takes about log_{fanout+1}(N)
   * rounds; each round costs fanout messages per node. 3 reaches 64 nodes in
   * about 3-4 rounds while keeping per-node traffic small.
   */
  fanout: number;
  /** Period of anti-entropy rounds. 1000 ms as in Enes et al.'s experiments; lower converges sooner, costs more messages. */
  syncIntervalMs: number;
  /** Write mode when a write names none and the key has no versions yet. */
  defaultMode: Mode;
  /** Largest gossip message sent or accepted; bigger incoming ones are refused unread. 4 MiB (the stream transport's frame limit). */
  maxMessageBytes: number;
  /** Messages up to this size go as packets (UDP), larger ones over a stream (TCP). Below the 65507-byte UDP limit. */
  maxPacketBytes: number;
  /** A lagging peer gets the full state up to this size, a digest exchange above it. 32 KiB: below it the digest's round trips cost more than they save. */
  fullStateMaxBytes: number;
  /** Delta log bound; a peer absent for longer falls back to full state or digest. */
  maxLogEntries: number;
  /**
   * A digest exchange with no answer by then is retried (an answer to one
   * of the last few attempts still completes it). Default two rounds (2 x
   * syncIntervalMs): long enough for the three messages of an exchange,
   * short enough that one lost to a partition does not delay the rejoin
   * much.
   */
  digestTimeoutMs?: number;
  /**
   * Every this many rounds a node with nothing to send still re-acknowledges
   * to the peers it picked: one ~100-byte message that carries its
   * incarnation, so a peer that came back with an empty disk is noticed (and
   * resent everything) even when nobody is writing. 10: a tenth of a message
   * per peer per round, a restart noticed within ten rounds.
   */
  heartbeatEveryRounds: number;
  /** Write a snapshot (and truncate the WAL) after this many records. */
  snapshotEveryRecords: number;
  /** Largest value a client may write, in bytes of JSON. */
  maxValueBytes: number;
  /**
   * BP+RR only: carry this replica's causal context (`seen`) on acks and
   * deltas, and run each round as probe -> answer -> push: a replica with
   * something for a peer first asks it what it has seen, then sends the
   * delta-interval without the versions the answer covers (`trimFor`). On a
   * fully connected cluster (apps/v2) each update otherwise reached every
   * replica from nearly every other one (7.5 copies at 10 replicas); with
   * this, 1.05 (bench part 6). Costs one small round trip per target per
   * round with data to send. On by default; off gives Enes et al.'s BP+RR.
   */
  peerVectors: boolean;
  /** Queue change events for subscribers (the driver turns this on; simulations leave it off). */
  emitEvents: boolean;
  /** Called with the delta of every accepted local write or delete (a tap for tests and replication tools). */
  onLocalUpdate?: (delta: KvDelta) => void;
}

/** Digest attempts kept per peer whose answers still complete the exchange (see `digests`). */
const DIGEST_ATTEMPTS_KEPT = 8;

/** Defaults, each explained on its field. */
export const DEFAULT_NODE_CONFIG: Omit<KvNodeConfig, "id" | "address" | "peers" | "prng"> = {
  algorithm: "bprr",
  fanout: 3,
  syncIntervalMs: 1000,
  defaultMode: "lww",
  maxMessageBytes: 4 << 20,
  maxPacketBytes: 60_000,
  fullStateMaxBytes: 32 << 10,
  maxLogEntries: 4096,
  heartbeatEveryRounds: 10,
  snapshotEveryRecords: 512,
  maxValueBytes: 1 << 20,
  peerVectors: true,
  emitEvents: false,
};

/** A change to a key, local or merged from a peer. */
export interface ChangeEvent {
  readonly key: string;
  readonly result: ReadResult;
  /** "local" for this node's writes, else the peer address it came from. */
  readonly origin: string;
}

/** Options of a write. */
export interface WriteOptions {
  /** "lww" or "mv"; default: the mode of the key's current versions, else the node's default. */
  mode?: Mode;
  /** MV: the context of a read; the write replaces exactly those versions. Omitted: a new sibling. */
  context?: CausalContext;
  /** LWW: the timestamp (e.g. epoch ms, or a check time); default the node's clock. */
  ts?: number;
}

/** One write of {@link KvNode.putMany}: a put of `value`, or a delete when `delete` is true. */
export interface BatchWrite extends WriteOptions {
  key: string;
  /** The value (ignored for a delete). */
  value?: Json;
  delete?: boolean;
}

/** Result of a write or delete. */
export type WriteResult =
  /** `dot` names the new version (null for an MV delete, which adds none); `context` is what to send back to overwrite it. */
  | { ok: true; applied: true; key: string; dot: Dot | null; context: CausalContext }
  /** Nothing changed: an LWW write that already lost, or an MV delete with nothing to remove. */
  | { ok: true; applied: false; key: string; reason: string }
  | { ok: false; error: string };

/** Per-peer status. */
export interface PeerStatus {
  address: string;
  id: string | null;
  /** Highest sequence number the peer acknowledged. */
  acked: number;
  lastHeardMs: number | null;
}

/** Counters since start. */
export interface NodeStats {
  bytesSent: number;
  bytesReceived: number;
  messagesSent: number;
  messagesReceived: number;
  /** Bytes of delta/state payloads sent (what the transmission experiment counts). */
  payloadBytesSent: number;
  fullStatesSent: number;
  digestsSent: number;
  /** Messages refused by validation. */
  rejected: number;
  lastRejection: string | null;
  /** Deltas joined (local and remote). */
  merges: number;
  /** Versions left out of delta-intervals because the peer's vector showed it had them. */
  versionsTrimmed: number;
  /** Delta-intervals not sent at all because the peer had seen everything in them. */
  intervalsSkipped: number;
  /** Versions received from peers, and how many of them were new here: their ratio is the copies of each update a replica receives. */
  versionsReceived: number;
  versionsNew: number;
  /** Anti-entropy rounds run: the unit in which convergence is bounded (`convergenceRounds`). */
  syncRounds: number;
}

/**
 * One batch of a replica's work, in the shared order: write `snapshot`
 * atomically (it replaces the WAL) and append `records` (WAL lines,
 * `<crc32> <json>`), synced (`mustSync` whenever there is either); send
 * `messages`; then notify `events`, the changed keys (when `emitEvents` is
 * on). Messages wait for the sync because an ack or a delta promises data
 * (its dots, what was joined) that a crash must not take back, and a
 * client's write is acknowledged only once its record is durable.
 */
export interface KvReady extends Ready<Outbound<KvMessage>, string, string> {
  readonly events: readonly ChangeEvent[];
}

/** Wraps KvState for the sync engine; counts merges and queues change events. */
class StoreReplica implements SyncReplica<KvDelta> {
  origin = "local";
  merges = 0;
  constructor(
    readonly kv: KvState,
    private readonly onChange: (keys: Set<string>, origin: string) => void,
  ) {}
  join(d: KvDelta): void {
    this.merges++;
    const changed = this.kv.join(d);
    if (changed.size > 0) this.onChange(changed, this.origin);
  }
  novelty(d: KvDelta): KvDelta {
    return this.kv.novelty(d);
  }
  isBottom(d: KvDelta): boolean {
    return isEmptyDelta(d);
  }
  joinAll(ds: readonly KvDelta[]): KvDelta {
    return joinDeltas(ds);
  }
  full(): KvDelta {
    return this.kv.toDelta();
  }
  sizeOf(d: KvDelta): number {
    return deltaBytes(d);
  }
}

/** Digest bits for a state of `keys` keys: about 8 keys per bucket, between 16 and 1024 buckets. */
export function digestBits(keys: number): number {
  return Math.max(4, Math.min(MAX_DIGEST_BITS, Math.ceil(Math.log2(Math.max(1, keys / 8)))));
}

/** A store replica. Implements the simulation runner's SimProcess contract. */
export class KvNode implements SimProcess<KvMessage, string, string> {
  readonly id: string;
  readonly config: KvNodeConfig;
  readonly stats: NodeStats = {
    bytesSent: 0,
    bytesReceived: 0,
    messagesSent: 0,
    messagesReceived: 0,
    payloadBytesSent: 0,
    fullStatesSent: 0,
    digestsSent: 0,
    rejected: 0,
    lastRejection: null,
    merges: 0,
    versionsTrimmed: 0,
    intervalsSkipped: 0,
    versionsReceived: 0,
    versionsNew: 0,
    syncRounds: 0,
  };
  private readonly kv = new KvState();
  private readonly replica: StoreReplica;
  private readonly sync: DeltaSync<KvDelta>;
  private now = 0;
  private nextSyncMs: number;
  private outbox: Array<Outbound<KvMessage>> = [];
  private events: ChangeEvent[] = [];
  private pendingRecords: string[] = [];
  private pendingSnapshot: string | null = null;
  /** WAL records since the last snapshot (recovered ones included): drives snapshotEveryRecords. */
  private walLength = 0;
  /** A Ready was handed out and not yet advanced. */
  private outstanding = false;
  private staticPeers: readonly string[];
  private readonly peerInfo = new Map<string, { id: string | null; inc: string | null; lastHeardMs: number | null }>();
  /** This replica's incarnation (see messages.ts). */
  readonly incarnation: string;
  /** Rounds run so far (for heartbeats). */
  private rounds = 0;
  /** peer -> the highest seq of theirs we joined and acknowledged (re-sent as a heartbeat). */
  private readonly ackedFrom = new Map<string, number>();
  /** peer -> the causal context it last reported (it has seen at least those dots). */
  private readonly peerVectors = new Map<string, CausalContext>();
  /**
   * Digest exchanges this node started and not yet completed: peer -> the
   * latest few (when, and its seq at the time), newest last. A retry does
   * not void the attempts before it: when round trips outlast the timeout
   * (event loops running late) and writes move the seq on, only an answer
   * to an earlier attempt ever arrives in time to be used.
   */
  private readonly digests = new Map<string, Array<{ startedMs: number; seq: number }>>();

  /**
   * A replica, fresh or recovered from `disk` (its snapshot and checked WAL
   * records, as the real driver reads them from its data directory and the
   * simulation from the lines its Readies wrote). A replica that has to
   * choose its own incarnation (no data directory gave one, no snapshot
   * holds one) persists it in a snapshot with its first Ready.
   */
  constructor(config: Partial<KvNodeConfig> & Pick<KvNodeConfig, "id" | "address" | "peers" | "prng">, nowMs = 0, disk?: KvDisk) {
    this.config = { ...DEFAULT_NODE_CONFIG, ...config };
    checkConfig(this.config);
    this.id = this.config.id;
    this.now = nowMs;
    this.staticPeers = typeof this.config.peers === "function" ? [] : this.config.peers;
    this.replica = new StoreReplica(this.kv, (keys, origin) => this.changed(keys, origin));
    this.sync = new DeltaSync<KvDelta>(
      this.replica,
      { algorithm: this.config.algorithm, maxIntervalBytes: this.config.maxMessageBytes >> 1, maxLogEntries: this.config.maxLogEntries, exactIntervalBytes: false },
      (joined, entry) => this.record(joined, entry),
    );
    const snapshotIncarnation = disk !== undefined ? this.restore(disk) : undefined;
    const recoveredIncarnation = disk?.incarnation ?? snapshotIncarnation;
    this.incarnation = recoveredIncarnation ?? this.config.prng.nextUint32().toString(36);
    if (recoveredIncarnation === undefined) this.takeSnapshot();
    // Start the first round at a random point of the interval so nodes started together do not gossip in lockstep.
    this.nextSyncMs = nowMs + Math.floor(this.config.prng.nextFloat() * this.config.syncIntervalMs);
  }

  // ---------------------------------------------------------------------------
  // Client API
  // ---------------------------------------------------------------------------

  /** Writes `value` under `key`. Durable once the records of the next `ready()` are persisted. */
  put(key: string, value: Json, options: WriteOptions = {}): WriteResult {
    return this.applyLocal(this.putDelta(key, value, options));
  }

  /**
   * Several writes and deletes as one step (group commit): each applies as if
   * written alone in order (a later write of the same key sees the earlier
   * one), but together they make one delta, one log entry, one WAL record and
   * one piece of the next delta-interval. Invalid or superseded writes get
   * their own result and do not stop the others. Durable, like `put`, once
   * the records of the next `ready()` are persisted.
   */
  putMany(writes: readonly BatchWrite[]): WriteResult[] {
    const results: WriteResult[] = [];
    const deltas: KvDelta[] = [];
    this.replica.origin = "local";
    for (const w of writes) {
      const r = w.delete === true ? this.deleteDelta(w.key, w) : this.putDelta(w.key, w.value as Json, w);
      if ("delta" in r) {
        this.sync.joinOnly(r.delta);
        deltas.push(r.delta);
        results.push(r.result);
      } else results.push(r);
    }
    if (deltas.length > 0) {
      const joined = deltas.length === 1 ? deltas[0]! : joinDeltas(deltas);
      this.sync.localJoined(joined);
      this.config.onLocalUpdate?.(joined);
      this.maybeSnapshot();
    }
    return results;
  }

  /** A write's delta and result, not yet applied; or why there is none. */
  private putDelta(key: string, value: Json, options: WriteOptions): { delta: KvDelta; result: WriteResult } | WriteResult {
    const keyError = checkKey(key);
    if (keyError !== undefined) return { ok: false, error: keyError };
    if (!isJson(value)) return { ok: false, error: "value must be JSON (finite numbers, strings, booleans, null, arrays, plain objects)" };
    const text = JSON.stringify(value);
    const bytes = utf8Length(text);
    if (bytes > this.config.maxValueBytes) return { ok: false, error: `value is ${bytes} bytes, over the limit of ${this.config.maxValueBytes}` };
    const mode = this.modeFor(key, options.mode);
    let delta: KvDelta | null;
    if (mode === "lww") {
      const ts = options.ts ?? this.now;
      if (!Number.isFinite(ts)) return { ok: false, error: "ts must be a finite number" };
      delta = this.kv.writeLww(key, value, false, ts, this.id);
      if (delta === null) return { ok: true, applied: false, key, reason: "superseded: a version with a later timestamp is already stored" };
    } else delta = this.kv.writeMv(key, value, this.id, options.context);
    const version = delta.entries.get(key)![0]!;
    primeVersionText(version, text);
    const dot = version.dot;
    return { delta, result: { ok: true, applied: true, key, dot, context: CausalContext.fromDots([dot]) } };
  }

  /** A delete's delta and result, not yet applied; or why there is none. */
  private deleteDelta(key: string, options: WriteOptions): { delta: KvDelta; result: WriteResult } | WriteResult {
    const keyError = checkKey(key);
    if (keyError !== undefined) return { ok: false, error: keyError };
    const mode = this.modeFor(key, options.mode);
    if (mode === "lww") {
      const ts = options.ts ?? this.now;
      if (!Number.isFinite(ts)) return { ok: false, error: "ts must be a finite number" };
      const delta = this.kv.writeLww(key, null, true, ts, this.id);
      if (delta === null) return { ok: true, applied: false, key, reason: "superseded: a version with a later timestamp is already stored" };
      const dot = delta.entries.get(key)![0]!.dot;
      return { delta, result: { ok: true, applied: true, key, dot, context: CausalContext.fromDots([dot]) } };
    }
    const delta = this.kv.removeObserved(key, options.context);
    if (delta.cc.isEmpty()) return { ok: true, applied: false, key, reason: "nothing to remove" };
    return { delta, result: { ok: true, applied: true, key, dot: null, context: new CausalContext() } };
  }

  /** Deletes `key`: LWW writes a timestamped delete marker; MV removes the versions in `context` (all seen, if omitted). */
  delete(key: string, options: WriteOptions = {}): WriteResult {
    return this.applyLocal(this.deleteDelta(key, options));
  }

  /** What a reader of `key` sees here now. */
  get(key: string): ReadResult {
    return this.kv.read(key);
  }

  /** Keys with a live value, by prefix, sorted. */
  list(prefix = "", limit = Infinity): string[] {
    return this.kv.list(prefix, limit);
  }

  /** This replica's compact version vector. */
  vector(): Map<string, number> {
    return this.kv.cc.vector();
  }

  /** The full causal context (vector plus cloud). */
  context(): CausalContext {
    return this.kv.cc.clone();
  }

  /** The whole state as a delta (tests compare replicas with it). */
  state(): KvDelta {
    return this.kv.toDelta();
  }

  /** Sizes of the state and log. */
  sizes(): { keys: number; versions: number; approxBytes: number; logEntries: number; seq: number } {
    return { keys: this.kv.keyCount, versions: this.kv.versionCount, approxBytes: this.kv.approxBytes, logEntries: this.sync.logLength, seq: this.sync.seq };
  }

  /** Peers and what they acknowledged. */
  peers(): PeerStatus[] {
    return this.currentPeers().map((address) => {
      const info = this.peerInfo.get(address);
      return { address, id: info?.id ?? null, acked: this.sync.ackOf(address), lastHeardMs: info?.lastHeardMs ?? null };
    });
  }

  /** Replaces the static peer list (for callers that push membership instead of providing it). */
  setPeers(peers: readonly string[]): void {
    this.staticPeers = [...peers];
  }

  // ---------------------------------------------------------------------------
  // State machine
  // ---------------------------------------------------------------------------

  tick(nowMs: number): void {
    this.now = nowMs;
    if (nowMs < this.nextSyncMs) return;
    this.nextSyncMs = nowMs + this.config.syncIntervalMs;
    this.syncRound();
  }

  /** Runs one anti-entropy round now (the bench and tests call it directly). */
  syncRound(): void {
    const peers = this.currentPeers();
    const fanout = this.config.fanout;
    const targets = fanout >= peers.length ? peers : this.config.prng.shuffle([...peers]).slice(0, fanout);
    this.rounds++;
    this.stats.syncRounds++;
    const heartbeat = this.rounds % this.config.heartbeatEveryRounds === 0;
    for (const peer of targets) {
      if (this.probing() && this.sync.ackOf(peer) < this.sync.seq) {
        // Something to send: probe first, push on the answer, so the interval is trimmed by what the peer
        // has seen now, not one or two rounds ago (see `trimFor`). Costs one small round trip per target.
        this.send(peer, { type: "ack", from: this.config.address, id: this.id, inc: this.incarnation, seq: this.ackedFrom.get(peer) ?? 0, seen: this.knownContext(), probe: true });
        continue;
      }
      if (!this.syncWith(peer) && heartbeat) this.send(peer, { type: "ack", from: this.config.address, id: this.id, inc: this.incarnation, seq: this.ackedFrom.get(peer) ?? 0, seen: this.knownContext() });
    }
    this.sync.collect(peers);
    this.maybeSnapshot();
  }

  /** One decoded gossip message (the edge decodes: see `receiveWire`). Messages from our own address are ignored. */
  receive(_from: string, m: KvMessage, _channel: Channel, nowMs: number): void {
    this.now = nowMs;
    this.stats.messagesReceived++;
    this.stats.bytesReceived += wireBytes(wireOf(m));
    if (m.from === this.config.address) return;
    const info = this.peerInfo.get(m.from) ?? { id: null, inc: null, lastHeardMs: null };
    if ((info.id !== null && info.id !== m.id) || (info.inc !== null && info.inc !== m.inc)) {
      // A different replica (or one that lost its disk) now answers at this
      // address: what the old one acknowledged says nothing about this one.
      this.sync.forget(m.from);
      this.digests.delete(m.from);
      this.peerVectors.delete(m.from);
    }
    if ((m.type === "ack" || m.type === "delta") && m.seen !== undefined) this.peerVectors.set(m.from, m.seen);
    info.id = m.id;
    info.inc = m.inc;
    info.lastHeardMs = nowMs;
    this.peerInfo.set(m.from, info);
    switch (m.type) {
      case "delta":
        this.merge(m.from, m.state);
        if (this.config.algorithm !== "state") {
          this.ackedFrom.set(m.from, Math.max(this.ackedFrom.get(m.from) ?? 0, m.seq));
          this.send(m.from, { type: "ack", from: this.config.address, id: this.id, inc: this.incarnation, seq: m.seq, seen: this.knownContext() });
        }
        break;
      case "ack":
        this.sync.ack(m.from, m.seq);
        if (m.probe === true) this.send(m.from, { type: "ack", from: this.config.address, id: this.id, inc: this.incarnation, seq: this.ackedFrom.get(m.from) ?? 0, seen: this.knownContext(), answer: true });
        if (m.answer === true && this.probing()) this.syncWith(m.from);
        break;
      case "digest":
        this.answerDigest(m);
        break;
      case "diff":
        if (m.stage === 2) this.completeDigest(m);
        else this.finishDigest(m);
        break;
    }
    this.maybeSnapshot();
  }

  /**
   * Counts a message the edge could not decode (its size, and why): it
   * changes nothing else, and gets no answer.
   */
  refuse(bytes: number, reason: string, nowMs: number): void {
    this.now = nowMs;
    this.stats.messagesReceived++;
    this.stats.bytesReceived += bytes;
    this.stats.rejected++;
    this.stats.lastRejection = reason;
  }

  /** Whether {@link ready} has work. False while a Ready is outstanding. */
  hasReady(): boolean {
    return !this.outstanding && (this.outbox.length > 0 || this.pendingRecords.length > 0 || this.pendingSnapshot !== null || this.events.length > 0);
  }

  /** Hands out everything since the last batch, in the order to carry it out (see {@link KvReady}). */
  ready(): KvReady {
    if (this.outstanding) throw new Error("KvNode.ready: call advance() for the previous Ready first");
    const snapshot = this.pendingSnapshot;
    const records = this.pendingRecords.length > 0 ? this.pendingRecords : NONE;
    const rd: KvReady = { snapshot, records, mustSync: snapshot !== null || records.length > 0, messages: this.outbox, events: this.events.length > 0 ? this.events : NONE };
    this.pendingRecords = [];
    this.pendingSnapshot = null;
    this.outbox = [];
    if (this.events.length > 0) this.events = [];
    this.outstanding = true;
    return rd;
  }

  /** Acknowledges the last Ready: its lines are durable (or queued, in order, behind an fsync), its messages sent or held. */
  advance(): void {
    if (!this.outstanding) throw new Error("KvNode.advance: no Ready outstanding");
    this.outstanding = false;
  }

  nextDeadlineMs(): number {
    return this.nextSyncMs;
  }

  // ---------------------------------------------------------------------------
  // Anti-entropy
  // ---------------------------------------------------------------------------

  /** Sends `peer` what it lacks; false when there was nothing to send. */
  private syncWith(peer: string): boolean {
    const vv = this.config.algorithm === "bprr" && this.config.peerVectors ? this.peerVectors.get(peer) : undefined;
    const ackedBefore = this.sync.ackOf(peer);
    const plan = this.sync.plan(peer, vv === undefined ? undefined : (d) => this.trimFor(vv, d));
    if (plan.kind === "nothing") {
      // The peer had seen all of it (its vector said so): acknowledged on its behalf, as BP does for its own entries.
      if (this.sync.ackOf(peer) > ackedBefore) this.stats.intervalsSkipped++;
      return false;
    }
    if (plan.kind === "send") {
      this.sendDelta(peer, plan.seq, plan.delta, plan.full);
      return true;
    }
    // Lagging beyond the log: full state while it is small, else a digest exchange.
    if (this.kv.approxBytes <= this.config.fullStateMaxBytes) {
      const full = this.sync.fullState();
      this.stats.fullStatesSent++;
      this.sendDelta(peer, full.seq, full.delta, true);
    } else this.startDigest(peer);
    return true;
  }

  /**
   * The part of a log entry a peer lacks, by the causal context it last
   * reported (`seen`, fresh from the answer to this round's probe): BP and
   * RR (Enes et al.) stop a delta from going back where it came from and
   * from being stored twice, but on a fully connected cluster every replica
   * still forwards every update to every peer that has not acknowledged it
   * *from this replica*. A version whose dot the peer has seen is a no-op
   * there (join skips seen dots), so it is left out together with its dot
   * in the context (a dot left in the context without its version would
   * read as a removal). Dots of versions the delta removes stay: the peer
   * may hold them live. Returns null when nothing is left. A peer's context
   * only grows while its incarnation stays the same (a new one forgets it),
   * so an older report is merely less precise, never wrong.
   */
  private trimFor(seen: CausalContext, delta: KvDelta): KvDelta | null {
    let dropped: CausalContext | null = null;
    let entries: Map<string, readonly Version[]> | null = null;
    for (const [key, versions] of delta.entries) {
      let keep: Version[] | null = null;
      for (let i = 0; i < versions.length; i++) {
        const v = versions[i]!;
        if (seen.has(v.dot.node, v.dot.counter)) {
          if (keep === null) keep = versions.slice(0, i);
          (dropped ??= new CausalContext()).add(v.dot);
        } else keep?.push(v);
      }
      if (keep === null) {
        entries?.set(key, versions);
        continue;
      }
      if (entries === null) {
        entries = new Map();
        for (const [k, vs] of delta.entries) {
          if (k === key) break;
          entries.set(k, vs);
        }
      }
      if (keep.length > 0) entries.set(key, keep);
    }
    if (dropped === null || entries === null) return delta;
    const cc = delta.cc.difference(dropped);
    if (entries.size === 0 && cc.isEmpty()) return null;
    this.stats.versionsTrimmed += dropped.dotCount();
    return { entries, cc };
  }

  /** True when rounds probe before pushing (BP+RR with peerVectors). */
  private probing(): boolean {
    return this.config.algorithm === "bprr" && this.config.peerVectors;
  }

  /** What this replica has seen, as sent on deltas and acks (bprr with peerVectors only; the other algorithms stay as in the papers). Encoded at once by `send`. */
  private knownContext(): CausalContext | undefined {
    if (this.config.algorithm !== "bprr" || !this.config.peerVectors) return undefined;
    // A context with a large cloud (a replica that learned scattered dots, e.g. from a partial digest
    // exchange) would weigh on every ack: send its compact vector then, a subset and so still true.
    let runs = 0;
    for (const node of this.kv.cc.nodes()) runs += this.kv.cc.dotsOf(node)!.runCount;
    return runs <= 1024 ? this.kv.cc : CausalContext.fromVector(this.kv.cc.vector());
  }

  private sendDelta(peer: string, seq: number, state: KvDelta, full: boolean): void {
    const bytes = this.send(peer, { type: "delta", from: this.config.address, id: this.id, inc: this.incarnation, seq, full, state, seen: this.knownContext() });
    this.stats.payloadBytesSent += bytes;
  }

  private startDigest(peer: string): void {
    const attempts = this.digests.get(peer) ?? [];
    const latest = attempts[attempts.length - 1];
    if (latest !== undefined && this.now - latest.startedMs < (this.config.digestTimeoutMs ?? 2 * this.config.syncIntervalMs)) return;
    const bits = digestBits(this.kv.keyCount);
    const seq = this.sync.seq;
    attempts.push({ startedMs: this.now, seq });
    if (attempts.length > DIGEST_ATTEMPTS_KEPT) attempts.shift();
    this.digests.set(peer, attempts);
    this.stats.digestsSent++;
    this.send(peer, { type: "digest", from: this.config.address, id: this.id, inc: this.incarnation, seq, bits, hashes: this.kv.bucketHashes(bits), cc: this.kv.cc.clone() });
  }

  /** Stage 2 (answerer): the buckets that differ, our versions in them, and the removals the asker has not seen. */
  private answerDigest(m: DigestMessage): void {
    const mine = this.kv.bucketHashes(m.bits);
    const differing: number[] = [];
    for (let b = 0; b < 1 << m.bits; b++) if (mine.slice(b * 16, b * 16 + 16) !== m.hashes.slice(b * 16, b * 16 + 16)) differing.push(b);
    const dead = this.kv.deadDots().difference(m.cc);
    const { buckets, state, partial } = this.bucketsDelta(differing, m.bits, dead);
    this.send(m.from, { type: "diff", from: this.config.address, id: this.id, inc: this.incarnation, stage: 2, seq: this.sync.seq, echo: m.seq, bits: m.bits, buckets, cc: this.kv.cc.clone(), state, partial });
    this.stats.payloadBytesSent += deltaBytes(state);
  }

  /** Stage 3 (asker): join the answer, send our side of the same buckets plus the removals the answerer lacks. */
  private completeDigest(m: DiffMessage): void {
    // An answer to any attempt still kept completes the exchange: it compared buckets against our
    // state at that attempt's seq, and we send our side of those buckets as they are now, a superset.
    const mine = this.digests.get(m.from)?.some((a) => a.seq === m.echo) === true;
    // Computed before joining the answer, so it is our side alone.
    const dead = this.kv.deadDots().difference(m.cc!);
    dead.joinInto(this.kv.deadAmong(entryContext(m.state)));
    const { state, partial } = this.bucketsDelta(m.buckets, m.bits, dead);
    this.merge(m.from, m.state);
    if (!mine) return; // a stale or foreign answer: keep its data, complete nothing
    this.digests.delete(m.from);
    this.send(m.from, { type: "diff", from: this.config.address, id: this.id, inc: this.incarnation, stage: 3, seq: m.echo, echo: m.seq, bits: m.bits, buckets: m.buckets, cc: null, state, partial: partial || m.partial });
    this.stats.payloadBytesSent += deltaBytes(state);
  }

  /** Final step (answerer): join the asker's side, acknowledge it, send the removals of its versions we know of. */
  private finishDigest(m: DiffMessage): void {
    const removals = this.kv.deadAmong(entryContext(m.state));
    this.merge(m.from, m.state);
    if (m.partial) return;
    this.send(m.from, { type: "ack", from: this.config.address, id: this.id, inc: this.incarnation, seq: m.seq, seen: this.knownContext() });
    this.sendDelta(m.from, m.echo, { entries: new Map(), cc: removals }, false);
  }

  /**
   * The versions of the keys in `buckets` with their dots, plus `dead`
   * (dots known removed here) as context. Stops adding buckets once the
   * message would pass half the size limit and reports it as partial.
   */
  private bucketsDelta(
    buckets: readonly number[],
    bits: number,
    dead: CausalContext,
    budget = this.config.maxMessageBytes >> 1,
  ): { buckets: number[]; state: KvDelta; partial: boolean } {
    const entries = new Map<string, Version[]>();
    const cc = dead.clone();
    const included: number[] = [];
    let bytes = deltaBytes({ entries: new Map(), cc: dead });
    let partial = false;
    const byBucket = this.kv.keysByBucket(buckets, bits);
    for (const b of buckets) {
      const keys = byBucket.get(b) ?? [];
      let add = 0;
      for (const k of keys) add += utf8Length(k) + 8 + this.kv.versions(k).reduce((n, v) => n + 1 + versionBytes(v), 0);
      if (included.length > 0 && bytes + add > budget) {
        partial = true;
        break;
      }
      included.push(b);
      bytes += add;
      for (const k of keys) {
        const versions = this.kv.versions(k);
        entries.set(k, versions);
        for (const v of versions) cc.add(v.dot);
      }
    }
    return { buckets: included, state: { entries, cc }, partial };
  }

  private merge(from: string, delta: KvDelta): void {
    this.replica.origin = from;
    const novel = this.sync.receive(from, delta);
    this.replica.origin = "local";
    for (const vs of delta.entries.values()) this.stats.versionsReceived += vs.length;
    for (const vs of novel.entries.values()) this.stats.versionsNew += vs.length;
  }

  private send(to: string, m: KvMessage): number {
    // Encoded now, once: the size picks the channel, and the edge sends this same text (wireOf).
    const wire = wireOf(m);
    const bytes = wireBytes(wire);
    if (bytes > this.config.maxMessageBytes) {
      // Never expected (intervals and diffs are cut to half the limit); refuse rather than send what peers would refuse.
      this.stats.rejected++;
      this.stats.lastRejection = `outgoing ${m.type} of ${bytes} bytes exceeds maxMessageBytes`;
      return 0;
    }
    const channel: Channel = bytes <= this.config.maxPacketBytes ? "packet" : "stream";
    this.outbox.push({ to, message: m, channel });
    this.stats.messagesSent++;
    this.stats.bytesSent += bytes;
    return bytes;
  }

  private currentPeers(): string[] {
    const raw = typeof this.config.peers === "function" ? this.config.peers() : this.staticPeers;
    const out: string[] = [];
    const seen = new Set<string>([this.config.address]);
    for (const p of raw) if (!seen.has(p)) {
      seen.add(p);
      out.push(p);
    }
    return out;
  }

  // ---------------------------------------------------------------------------
  // Local updates, events, persistence
  // ---------------------------------------------------------------------------

  private modeFor(key: string, explicit: Mode | undefined): Mode {
    if (explicit !== undefined) return explicit;
    const versions = this.kv.versions(key);
    if (versions.length === 0) return this.config.defaultMode;
    return versions.every((v) => v.mode === "lww") ? "lww" : "mv";
  }

  private applyLocal(r: { delta: KvDelta; result: WriteResult } | WriteResult): WriteResult {
    if (!("delta" in r)) return r;
    this.replica.origin = "local";
    this.sync.local(r.delta);
    this.config.onLocalUpdate?.(r.delta);
    this.maybeSnapshot();
    return r.result;
  }

  private changed(keys: Set<string>, origin: string): void {
    this.stats.merges++;
    if (!this.config.emitEvents) return;
    for (const key of keys) this.events.push({ key, result: this.kv.read(key), origin });
  }

  private record(joined: KvDelta, entry: LogEntry<KvDelta> | null): void {
    this.pendingRecords.push(walLine(encodeRecord({ seq: entry?.seq ?? null, origin: entry?.origin ?? null, delta: joined })));
    this.walLength++;
  }

  private maybeSnapshot(): void {
    if (this.walLength < this.config.snapshotEveryRecords) return;
    this.takeSnapshot();
  }

  /** Writes a snapshot of everything now; the WAL restarts empty. */
  takeSnapshot(): string {
    const text = encodeSnapshot({
      id: this.id,
      inc: this.incarnation,
      c: this.sync.seq,
      state: this.kv.toDelta(),
      log: this.sync.entries().map((e) => ({ seq: e.seq, origin: e.origin, delta: e.delta })),
      acks: this.sync.ackEntries(),
    });
    this.pendingSnapshot = text;
    // The snapshot covers every record not yet written: the driver writes it instead.
    this.pendingRecords = [];
    this.walLength = 0;
    return text;
  }

  /**
   * Rebuilds the state from a snapshot and the WAL records after it:
   * joins them again (idempotent) and restores the delta log and the
   * acknowledgements. Returns the incarnation the snapshot holds.
   */
  private restore(p: KvDisk): string | undefined {
    let c = 0;
    let inc: string | undefined;
    const log: Array<LogEntry<KvDelta>> = [];
    let acks: Array<[string, number]> = [];
    if (p.snapshot !== null) {
      const s = decodeSnapshot(p.snapshot);
      if (!s.ok) throw new Error(`cannot restore ${this.id}: ${s.error}`);
      if (s.value.id !== this.id) throw new Error(`cannot restore ${this.id}: the snapshot belongs to replica ${s.value.id}`);
      this.kv.join(s.value.state);
      inc = s.value.inc;
      c = s.value.c;
      for (const e of s.value.log) log.push({ ...e, bytes: deltaBytes(e.delta) });
      acks = [...s.value.acks];
    }
    for (const line of p.records) {
      const r = decodeRecord(line);
      if (!r.ok) throw new Error(`cannot restore ${this.id}: ${r.error}`);
      this.kv.join(r.value.delta);
      if (r.value.seq !== null) {
        log.push({ seq: r.value.seq, origin: r.value.origin, delta: r.value.delta, bytes: deltaBytes(r.value.delta) });
        c = Math.max(c, r.value.seq + 1);
      }
    }
    this.sync.restore(c, log, acks);
    this.walLength = p.records.length;
    return inc;
  }
}

function checkConfig(c: KvNodeConfig): void {
  const bad = (field: string, why: string): never => {
    throw new RangeError(`KvNode config.${field}: ${why}`);
  };
  if (!isValidNodeId(c.id)) bad("id", "must match [A-Za-z0-9_.-]{1,64}");
  if (typeof c.address !== "string" || c.address.length === 0) bad("address", "must be a non-empty string");
  if (!Number.isInteger(c.fanout) || c.fanout < 1) bad("fanout", "must be an integer >= 1");
  if (!(c.syncIntervalMs > 0)) bad("syncIntervalMs", "must be > 0");
  if (c.defaultMode !== "lww" && c.defaultMode !== "mv") bad("defaultMode", 'must be "lww" or "mv"');
  if (!(c.maxMessageBytes >= 1024)) bad("maxMessageBytes", "must be >= 1024");
  if (!(c.maxPacketBytes >= 0)) bad("maxPacketBytes", "must be >= 0");
  if (!(c.maxLogEntries >= 1)) bad("maxLogEntries", "must be >= 1");
  if (!(c.snapshotEveryRecords >= 1)) bad("snapshotEveryRecords", "must be >= 1");
  if (!Number.isInteger(c.heartbeatEveryRounds) || c.heartbeatEveryRounds < 1) bad("heartbeatEveryRounds", "must be an integer >= 1");
}

// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;

/** UTF-8 size of a message: its length when it is ASCII (a regex scan runs at native speed), else counted. */
function wireBytes(wire: string): number {
  return NON_ASCII.test(wire) ? utf8Length(wire) : wire.length;
}

/** Keys of the dots of a read, for the HTTP API's opaque context token. */
export function contextToken(cc: CausalContext): string {
  return [...cc.dots()].map(dotKey).join(",");
}

/** Parses a context token ("a:3,b:7"); undefined when malformed. */
export function parseContextToken(token: string): CausalContext | undefined {
  const cc = new CausalContext();
  if (token.trim() === "") return cc;
  for (const part of token.split(",")) {
    const m = /^([A-Za-z0-9_.-]{1,64}):([1-9][0-9]{0,15})$/.exec(part.trim());
    if (m === null) return undefined;
    const counter = Number(m[2]);
    if (!Number.isSafeInteger(counter)) return undefined;
    cc.add({ node: m[1]!, counter });
  }
  return cc;
}
