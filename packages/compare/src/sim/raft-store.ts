/**
 * A raft-kv member as a simulation process: the package's own replica
 * (`Replica`: Raft core, `KvStore` state machine, request waiters, follower
 * forwarding, read barrier), the same code the real server
 * (`packages/raft-kv/src/io/kv-node.ts`) drives, behind raft-kv's
 * `ReplicaNode`: each Ready asks the runner to write the write-ahead log's
 * own records and snapshot files to the node's simulated disk, then to send
 * its messages, then to let the replica apply it. A crashed member restarts
 * by replaying that disk through the WAL's own recovery (`recoverStorage`),
 * as the server replays its data directory.
 *
 * This file adds the workload's client operations and reports to the run's
 * {@link Meter}: bytes per message (the core's binary wire codec,
 * `encodeMessage`), payload bytes (record values inside append entries) and
 * every applied record version.
 */
import type { Channel, NodeFactoryArgs, SimProcess } from "@heck/sim";
import {
  DEFAULT_KV_STORE_CONFIG,
  ReplicaNode,
  encodeCommand,
  encodeMessage,
  fromUtf8,
  recoverStorage,
  utf8,
  type ApplyResult,
  type Entry,
  type Envelope,
  type KvCommand,
  type PersistedState,
  type RaftNode,
  type ReplicaNodeReady,
  type Snapshot,
  type SnapshotImage,
  type StorageImage,
} from "@heck/raft-kv";
import type { Meter } from "./meter.ts";
import { compareVersion, parseRecord, type HealthRecord } from "./records.ts";

/** What travels between simulated raft-kv members: raft-kv's peer envelopes (Raft messages, forwarded writes and their answers). */
export type RaftEnvelope = Envelope;

/** One record on a member's simulated disk: a write-ahead log record, in the bytes raft-kv's WAL writes. */
export type RaftRecord = Uint8Array;

/** What survives a crash: the snapshot image and WAL records the Ready batches told the node to persist. */
export type RaftDisk = StorageImage;

/** Settings of a simulated raft-kv cluster (defaults are raft-kv's server defaults). */
export interface RaftStoreOptions {
  /** The founding voters (bootstrap); other ids start empty and join through a conf change. */
  founders: readonly string[];
  meter: Meter;
  /** Milliseconds per Raft tick. raft-kv's server default: 50 ms. */
  tickMs: number;
  /** Election timeout in ticks (raft-kv default 10: 500-950 ms at 50 ms ticks). */
  electionTick: number;
  heartbeatTick: number;
  /** Compact the log once this many entries are applied past the snapshot. */
  compactEvery: number;
  /** Called when a leader has committed an entry of its own term: the cluster can take writes again. */
  onLeaderReady?: (nowMs: number, id: string, term: number) => void;
}

/** Bytes a stream frame adds around a message (length prefix and envelope tag, as raft-kv's peer network frames). */
const FRAME_BYTES = 5;

/** The KvStore tuning every member uses: watch history bounded to keep 65 simulated members in memory. */
const STORE_CONFIG = { ...DEFAULT_KV_STORE_CONFIG, historyRevisions: 1_000 };

/** The state a member restarts from when its disk holds nothing durable: empty, never bootstrapped again. */
const EMPTY_STATE: PersistedState = { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] };

/**
 * Outcome of a write: `ok` true = the store now holds this record or a newer
 * observation (`applied` says whether this write is the one that put it
 * there), false = certainly not written. Never called when the outcome stays
 * unknown.
 */
export type WriteCallback = (ok: boolean, applied: boolean) => void;
/** Outcome of one proposal: committed, and whether its compare held. */
type AttemptCallback = (committed: boolean, swapped: boolean) => void;
/** Outcome of a linearizable read. */
export type ReadCallback = (result: { ok: true; record: HealthRecord | undefined } | { ok: false }) => void;

/** Value bytes of each command, so a message's payload can be told from its metadata without decoding. */
const payloadOfData = new WeakMap<Uint8Array, number>();

/** A raft-kv member driven by the simulation runner. */
export class RaftStoreNode extends ReplicaNode implements SimProcess<RaftEnvelope, RaftRecord, SnapshotImage> {
  private readonly opts: RaftStoreOptions;
  private readonly meterIndex: number;
  private writeSeq = 0;
  private readonly pendingReads = new Map<ReadCallback, () => void>();
  private readyTerm = 0;

  constructor(args: NodeFactoryArgs<RaftRecord, SnapshotImage>, opts: RaftStoreOptions) {
    // Ticks start at a random phase, as independent processes' timers do.
    const firstTickMs = args.nowMs + args.prng.nextFloat() * opts.tickMs;
    // A restart replays the disk as the server replays its data dir. A node that crashed before its first
    // Ready left nothing durable: it restarts from nothing, it does not bootstrap again.
    const persisted = args.disk === undefined ? undefined : (recoverStorage(args.disk) ?? EMPTY_STATE);
    const id = args.id;
    super({
      raft: { id, prng: args.prng, electionTick: opts.electionTick, heartbeatTick: opts.heartbeatTick },
      start: persisted !== undefined ? { persisted } : opts.founders.includes(id) ? { bootstrap: opts.founders } : { join: true },
      kvConfig: STORE_CONFIG,
      incarnation: "",
      // The workload gives up on its own (and counts the outcome as unknown); the replica never times out.
      timing: { tickMs: opts.tickMs, firstTickMs, requestTimeoutMs: Infinity, readRetryMs: Infinity, commitBroadcastDelayMs: -1, failFast: true, unbatchedReads: true },
      snapshotEntries: opts.compactEvery,
      nowMs: args.nowMs,
      hooks: {
        applied: (e, command, result) => this.onApplied(e, command, result),
        snapshotInstalled: () => this.observeAll(),
        softState: (_leader, role) => opts.meter.event(this.now, id, role === "leader" ? "leader" : "role", role),
      },
    });
    // Raft-kv's peer network runs over TCP: every envelope is a stream frame (ReplicaNode's default).
    this.opts = opts;
    this.meterIndex = opts.meter.indexOf(id);
  }

  /** The Raft core. */
  get raft(): RaftNode {
    return this.replica.raft;
  }

  // --- SimProcess (the rest is ReplicaNode's) ------------------------------------------------

  override receive(from: string, env: RaftEnvelope, channel: Channel, nowMs: number): void {
    this.opts.meter.received(this.meterIndex, sizeOf(env));
    super.receive(from, env, channel, nowMs);
  }

  streamFailed(_to: string, env: RaftEnvelope, nowMs: number): void {
    this.now = nowMs;
    // A forwarded write that never reached the leader certainly did nothing.
    if (env.kind === "forward") this.replica.forwardLost(env.requestId, nowMs);
  }

  /** The replica's Ready, with every envelope it sends metered as it leaves. */
  override ready(): ReplicaNodeReady {
    const rd = super.ready();
    for (const o of rd.messages) this.opts.meter.sent(this.meterIndex, sizeOf(o.message), payloadOf(o.message));
    return rd;
  }

  /** A snapshot's payload is the record values it holds, counted when an installSnapshot carries it. */
  protected override compacted(snapshot: Snapshot): void {
    payloadOfData.set(snapshot.data, this.storedValueBytes());
  }

  // --- client operations ------------------------------------------------------------

  /**
   * Writes a record so that a stale observer never overwrites a newer one
   * (as apps/v2's etcd and raft stores do): read the current record locally; if it is already as new,
   * there is nothing to write; else propose a transaction "put if the key's
   * mod revision is still the one read" (etcd's compare-and-swap), and on a
   * lost race read again and retry. Proposed on the leader, forwarded from a
   * follower, refused at once with no known leader.
   */
  write(key: string, record: HealthRecord, cb: WriteCallback): void {
    this.opts.meter.op(this.meterIndex);
    const keyBytes = utf8(key);
    const value = utf8(JSON.stringify(record));
    const attempt = (retriesLeft: number): void => {
      const cur = this.replica.kv.get(keyBytes);
      const stored = cur === undefined ? undefined : parseRecord(fromUtf8(cur.value));
      if (stored !== undefined && compareVersion(stored, record) >= 0) return cb(true, false);
      const command: KvCommand = {
        type: "write",
        requestId: `${this.id}.${++this.writeSeq}`,
        // The proposer's clock travels with the command, as raft-kv's server sends it (session expiry, §6.3).
        timeMs: Math.round(this.now),
        op: { type: "txn", compare: [{ key: keyBytes, target: "mod", result: "equal", value: cur?.modRevision ?? 0 }], success: [{ type: "put", key: keyBytes, value }], failure: [] },
      };
      this.submit(command, encodeCommand(command), value.byteLength, (committed, swapped) => {
        if (!committed) return cb(false, false);
        if (swapped) return cb(true, true);
        // Someone wrote the key between our read and our commit: we have applied their write by now, so read again.
        if (retriesLeft > 0) attempt(retriesLeft - 1);
        else cb(false, false);
      });
    };
    attempt(3);
  }

  /** Proposes a command (here if leading, else forwarded to the leader); refuses with no known leader. */
  private submit(command: KvCommand, data: Uint8Array, payloadBytes: number, cb: AttemptCallback): void {
    if (this.replica.leader === null) return cb(false, false);
    payloadOfData.set(data, payloadBytes);
    this.replica.proposeEncoded(command.requestId, data, false, this.now, (outcome) => {
      if (!outcome.ok) return cb(false, false);
      const r = outcome.result;
      cb(true, r.ok && "response" in r && r.response.type === "txn" && r.response.succeeded);
    });
  }

  /** A linearizable read through ReadIndex (§6.4): answered once this node has applied the read point. */
  readLinearizable(key: string, cb: ReadCallback): void {
    this.opts.meter.op(this.meterIndex);
    if (this.replica.leader === null) return cb({ ok: false });
    const cancel = this.replica.readBarrier(this.now, (error) => {
      this.pendingReads.delete(cb);
      cb(error ? { ok: false } : { ok: true, record: this.readLocal(key) });
    });
    this.pendingReads.set(cb, cancel);
  }

  /** Forgets a read the client gave up on (its answer, if any, is dropped). */
  abandonRead(cb: ReadCallback): void {
    this.pendingReads.get(cb)?.();
    this.pendingReads.delete(cb);
  }

  /** A serializable read: this node's applied state, possibly stale, never blocked. */
  readLocal(key: string): HealthRecord | undefined {
    const kv = this.replica.kv.get(utf8(key));
    return kv === undefined ? undefined : parseRecord(fromUtf8(kv.value));
  }

  /** The node's applied index (for convergence checks). */
  appliedIndex(): number {
    return this.replica.kv.appliedIndex;
  }

  // --- what the meter sees ---------------------------------------------------------------

  /** Meters every record version an applied write put, and notes when a new leader committed its first entry. */
  private onApplied(e: Entry, command: KvCommand | undefined, result: ApplyResult | undefined): void {
    if (command?.type === "write" && result?.ok && "response" in result) {
      const op = command.op;
      const puts = op.type === "put" ? [op] : op.type === "txn" && result.response.type === "txn" && result.response.succeeded ? op.success : [];
      for (const p of puts) {
        if (p.type !== "put") continue;
        const record = parseRecord(fromUtf8(p.value));
        if (record === undefined) continue;
        this.opts.meter.applied(this.meterIndex);
        this.opts.meter.observe(this.id, fromUtf8(p.key), record, this.now);
      }
    }
    if (this.raft.role === "leader" && e.term === this.raft.term && this.readyTerm !== e.term) {
      this.readyTerm = e.term;
      this.opts.meter.event(this.now, this.id, "leader-ready", `term ${e.term}`);
      this.opts.onLeaderReady?.(this.now, this.id, e.term);
    }
  }

  /** After a snapshot replaced the state: every record it holds is now visible here. */
  private observeAll(): void {
    const res = this.replica.kv.range({ key: utf8("health/"), rangeEnd: utf8("health0") });
    if (!res.ok) return;
    for (const kv of res.response.kvs) {
      const record = parseRecord(fromUtf8(kv.value));
      if (record !== undefined) this.opts.meter.observe(this.id, fromUtf8(kv.key), record, this.now);
    }
  }

  private storedValueBytes(): number {
    const res = this.replica.kv.range({ key: utf8("health/"), rangeEnd: utf8("health0") });
    if (!res.ok) return 0;
    let n = 0;
    for (const kv of res.response.kvs) n += kv.value.byteLength;
    return n;
  }

}

const sizeCache = new WeakMap<RaftEnvelope, number>();

/** Bytes of an envelope on the wire: the core's binary codec plus framing (computed once per envelope). */
export function sizeOf(env: RaftEnvelope): number {
  const cached = sizeCache.get(env);
  if (cached !== undefined) return cached;
  const n = computeSize(env);
  sizeCache.set(env, n);
  return n;
}

function computeSize(env: RaftEnvelope): number {
  switch (env.kind) {
    case "raft":
      return encodeMessage(env.message).byteLength + FRAME_BYTES;
    case "forward":
      // The command and its id: counted as request id + data length prefix.
      return env.data.byteLength + 8 + FRAME_BYTES;
    case "forwardReply":
      return 20 + FRAME_BYTES;
    case "call":
    case "callReply":
      // Calls to the leader's services (lease keep-alives): the store never makes one, but a size is still a size.
      return env.body.byteLength + 20 + FRAME_BYTES;
    case "removed":
      // Two node ids: sent to a removed member that still writes to us.
      return 16 + FRAME_BYTES;
  }
}

/** Record-value bytes an envelope carries. */
function payloadOf(env: RaftEnvelope): number {
  if (env.kind === "forward") return payloadOfData.get(env.data) ?? 0;
  if (env.kind !== "raft") return 0;
  const m = env.message;
  if (m.type === "append") {
    let n = 0;
    for (const e of m.entries) n += payloadOfData.get(e.data) ?? 0;
    return n;
  }
  if (m.type === "installSnapshot") return payloadOfData.get(m.snapshot.data) ?? 0;
  return 0;
}

/** A factory for the simulation runner. */
export function raftStoreFactory(opts: RaftStoreOptions): (args: NodeFactoryArgs<RaftRecord, SnapshotImage>) => RaftStoreNode {
  return (args) => new RaftStoreNode(args, opts);
}
