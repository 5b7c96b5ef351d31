/**
 * A raft-kv member as a simulation process: the package's own replica
 * (`Replica`: Raft core, `KvStore` state machine, request waiters, follower
 * forwarding, read barrier), the same code the real server
 * (`packages/raft-kv/src/io/kv-node.ts`) drives. This file only plays the
 * driver: each Ready is persisted to an in-memory disk (`MemoryStorage`,
 * handed to the runner's simulated disk whole, as a snapshot, whenever it
 * changed), its messages are sent, then the replica applies it.
 *
 * It also reports to the run's {@link Meter}: bytes per message (the core's
 * binary wire codec, `encodeMessage`), payload bytes (record values inside
 * append entries) and every applied record version.
 */
import { NONE, type Channel, type NodeFactoryArgs, type Outbound, type SimProcess, type SimReady } from "@heck/sim";
import {
  DEFAULT_KV_STORE_CONFIG,
  MemoryStorage,
  Replica,
  encodeCommand,
  encodeMessage,
  fromUtf8,
  processReadies,
  utf8,
  type ApplyResult,
  type Entry,
  type Envelope,
  type KvCommand,
  type Message,
  type PersistedState,
  type RaftNode,
} from "@heck/raft-kv";
import type { Meter } from "./meter.ts";
import { compareVersion, parseRecord, type HealthRecord } from "./records.ts";

/** What travels between simulated raft-kv members: raft-kv's peer envelopes (Raft messages, forwarded writes and their answers). */
export type RaftEnvelope = Envelope;

/** What survives a crash: exactly what the Ready batches told the node to persist. */
export type RaftDisk = PersistedState;

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
export class RaftStoreNode implements SimProcess<RaftEnvelope, never, RaftDisk> {
  readonly id: string;
  readonly replica: Replica;
  private readonly storage: MemoryStorage;
  private outbox: Outbound<RaftEnvelope>[] = [];
  /** The storage's change count when it last went to the runner's disk. */
  private handedOut = 0;
  private readonly opts: RaftStoreOptions;
  private readonly meterIndex: number;
  private now: number;
  private writeSeq = 0;
  private readonly pendingReads = new Map<ReadCallback, () => void>();
  private readyTerm = 0;

  constructor(args: NodeFactoryArgs<never, RaftDisk>, opts: RaftStoreOptions) {
    this.id = args.id;
    this.opts = opts;
    this.meterIndex = opts.meter.indexOf(args.id);
    this.now = args.nowMs;
    // Ticks start at a random phase, as independent processes' timers do.
    const firstTickMs = args.nowMs + args.prng.nextFloat() * opts.tickMs;
    // A node that crashed before its first Ready left an empty disk: it restarts from nothing, it does not bootstrap again.
    const p = args.disk === undefined ? undefined : (args.disk.snapshot ?? { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] });
    this.storage = new MemoryStorage(p);
    this.replica = new Replica({
      raft: { id: args.id, prng: args.prng, electionTick: opts.electionTick, heartbeatTick: opts.heartbeatTick },
      start: p !== undefined ? { persisted: this.storage.persisted() } : opts.founders.includes(args.id) ? { bootstrap: opts.founders } : { join: true },
      kvConfig: STORE_CONFIG,
      incarnation: "",
      // The workload gives up on its own (and counts the outcome as unknown); the replica never times out.
      timing: { tickMs: opts.tickMs, firstTickMs, requestTimeoutMs: Infinity, readRetryMs: Infinity, commitBroadcastDelayMs: -1, failFast: true, unbatchedReads: true },
      snapshotEntries: opts.compactEvery,
      nowMs: args.nowMs,
      hooks: {
        send: (to, env) => this.send(to, env),
        applied: (e, command, result) => this.onApplied(e, command, result),
        snapshotInstalled: () => this.observeAll(),
        softState: (_leader, role) => this.opts.meter.event(this.now, this.id, role === "leader" ? "leader" : "role", role),
      },
    });
    this.process();
  }

  /** The Raft core. */
  get raft(): RaftNode {
    return this.replica.raft;
  }

  // --- SimProcess --------------------------------------------------------------------

  tick(nowMs: number): void {
    this.now = nowMs;
    this.replica.tick(nowMs);
    this.process();
  }

  receive(_from: string, env: RaftEnvelope, _channel: Channel, nowMs: number): void {
    this.now = nowMs;
    this.opts.meter.received(this.meterIndex, sizeOf(env));
    this.replica.receive(env, nowMs);
    this.process();
  }

  streamFailed(_to: string, env: RaftEnvelope, nowMs: number): void {
    this.now = nowMs;
    // A forwarded write that never reached the leader certainly did nothing.
    if (env.kind === "forward") this.replica.forwardLost(env.requestId, nowMs);
    this.process();
  }

  hasReady(): boolean {
    return this.outbox.length > 0 || this.storage.changes !== this.handedOut;
  }

  /** The storage when it changed (the runner's disk keeps it as a snapshot, synced), then the envelopes. */
  ready(): SimReady<RaftEnvelope, never, RaftDisk> {
    const changed = this.storage.changes !== this.handedOut;
    this.handedOut = this.storage.changes;
    const rd = { snapshot: changed ? this.storage : null, records: NONE, mustSync: changed, messages: this.outbox };
    this.outbox = [];
    return rd;
  }

  advance(): void {}

  nextDeadlineMs(): number {
    return this.replica.nextDeadlineMs();
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
    this.process();
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
    this.process();
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

  // --- the Ready loop -------------------------------------------------------------------

  private process(): void {
    const snapshot = processReadies(this.replica, this.storage, (m: Message) => this.send(m.to, { kind: "raft", message: m }), this.now);
    if (snapshot) payloadOfData.set(snapshot.data, this.storedValueBytes());
  }

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

  private send(to: string, env: RaftEnvelope): void {
    // Raft-kv's peer network runs over TCP: every envelope is a stream frame.
    this.outbox.push({ to, message: env, channel: "stream" });
    this.opts.meter.sent(this.meterIndex, sizeOf(env), payloadOf(env));
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
export function raftStoreFactory(opts: RaftStoreOptions): (args: NodeFactoryArgs<never, RaftDisk>) => RaftStoreNode {
  return (args) => new RaftStoreNode(args, opts);
}
