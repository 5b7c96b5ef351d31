/**
 * A raft-kv member as a simulation process: the package's own Raft core
 * (`RaftNode`) and key-value state machine (`KvStore`), driven the way the
 * real server (`packages/raft-kv/src/io/kv-node.ts`) drives them:
 *
 * 1. persist the Ready's hard state, entries and snapshot (to an in-memory
 *    "disk" that survives a simulated crash), 2. send its messages, 3. apply
 *    committed entries to the KvStore, 4. serve ReadIndex reads once applied,
 *    5. advance. A follower forwards a client's write to the leader in an
 *    envelope beside the Raft messages, as the real driver does, because the
 *    core's `propose` is leader-only.
 *
 * Nothing of the protocol lives here: this file only plays the driver. It
 * also reports to the run's {@link Meter}: bytes per message (the core's
 * binary wire codec, `encodeMessage`), payload bytes (record values inside
 * append entries) and every applied record version.
 */
import type { Channel, NodeFactoryArgs, Outbound, SimProcess } from "@heck/sim";
import {
  DEFAULT_KV_STORE_CONFIG,
  KvStore,
  RaftNode,
  encodeCommand,
  encodeMessage,
  fromUtf8,
  utf8,
  type Entry,
  type HardState,
  type Message,
  type RaftConfig,
  type Snapshot,
} from "@heck/raft-kv";
import type { Meter } from "./meter.ts";
import { compareVersion, parseRecord, type HealthRecord } from "./records.ts";

/** What travels between simulated raft-kv members: Raft messages, and forwarded client writes. */
export type RaftEnvelope =
  | { k: "raft"; m: Message }
  /** A follower hands a client's write to the leader it knows. */
  | { k: "fwd"; id: number; data: Uint8Array }
  /** The leader's answer: where the write landed (committed iff that index is applied with that term), or a refusal. */
  | { k: "fwdAck"; id: number; ok: boolean; index: number; term: number };

/** What survives a crash: exactly what the Ready batches told the node to persist. */
export interface RaftDisk {
  hardState: HardState;
  snapshot: Snapshot | null;
  entries: Entry[];
}

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
/** Outcome of one proposal: committed at its index and term, and whether its compare held. */
type AttemptCallback = (committed: boolean, swapped: boolean) => void;
/** Outcome of a linearizable read. */
export type ReadCallback = (result: { ok: true; record: HealthRecord | undefined } | { ok: false }) => void;

/** Value bytes of each command, so a message's payload can be told from its metadata without decoding. */
const payloadOfData = new WeakMap<Uint8Array, number>();

/** A raft-kv member driven by the simulation runner. */
export class RaftStoreNode implements SimProcess<RaftEnvelope, RaftDisk> {
  readonly id: string;
  readonly raft: RaftNode;
  private store: KvStore;
  private disk: RaftDisk;
  private outbox: Outbound<RaftEnvelope>[] = [];
  private readonly opts: RaftStoreOptions;
  private readonly meterIndex: number;
  private nextTickMs: number;
  private now: number;
  private writeSeq = 0;
  private readSeq = 0;
  private readonly pendingWrites = new Map<number, { term: number; cb: AttemptCallback }>();
  private readonly pendingForwards = new Map<number, AttemptCallback>();
  private readonly pendingReads = new Map<string, { key: string; cb: ReadCallback }>();
  private readyReads: { index: number; key: string; cb: ReadCallback }[] = [];
  private readyTerm = 0;
  /** Outcomes of recently applied entries, for a forwarded write whose answer arrives after its entry was applied. */
  private readonly recentApplied = new Map<number, { term: number; swapped: boolean }>();

  constructor(args: NodeFactoryArgs<RaftDisk>, opts: RaftStoreOptions) {
    this.id = args.id;
    this.opts = opts;
    this.meterIndex = opts.meter.indexOf(args.id);
    this.now = args.nowMs;
    // Ticks start at a random phase, as independent processes' timers do.
    this.nextTickMs = args.nowMs + args.prng.nextFloat() * opts.tickMs;
    const config: RaftConfig = { id: args.id, prng: args.prng, electionTick: opts.electionTick, heartbeatTick: opts.heartbeatTick };
    const p = args.persisted;
    if (p === undefined) {
      this.disk = { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] };
      this.store = new KvStore(STORE_CONFIG);
      this.raft = opts.founders.includes(args.id) ? RaftNode.bootstrap(config, opts.founders) : RaftNode.join(config);
    } else {
      // A copy: the crashed incarnation's arrays must not be shared.
      this.disk = { hardState: p.hardState, snapshot: p.snapshot, entries: [...p.entries] };
      this.store = p.snapshot ? KvStore.restore(p.snapshot.data, STORE_CONFIG) : new KvStore(STORE_CONFIG);
      this.raft = RaftNode.restart(config, this.disk);
    }
    this.process();
  }

  // --- SimProcess --------------------------------------------------------------------

  tick(nowMs: number): void {
    this.now = nowMs;
    while (this.nextTickMs <= nowMs) {
      this.raft.tick();
      this.nextTickMs += this.opts.tickMs;
    }
    this.process();
  }

  receive(_from: string, env: RaftEnvelope, _channel: Channel, nowMs: number): void {
    this.now = nowMs;
    this.opts.meter.received(this.meterIndex, sizeOf(env));
    switch (env.k) {
      case "raft":
        this.raft.step(env.m);
        break;
      case "fwd": {
        const r = this.raft.propose(env.data);
        this.send(_from, r.ok ? { k: "fwdAck", id: env.id, ok: true, index: r.value.index, term: r.value.term } : { k: "fwdAck", id: env.id, ok: false, index: 0, term: 0 });
        break;
      }
      case "fwdAck":
        this.onForwardAck(env);
        break;
    }
    this.process();
  }

  streamFailed(_to: string, env: RaftEnvelope, nowMs: number): void {
    this.now = nowMs;
    // A forwarded write that never reached the leader certainly did nothing.
    if (env.k === "fwd") {
      const cb = this.pendingForwards.get(env.id);
      this.pendingForwards.delete(env.id);
      cb?.(false, false);
    }
  }

  takeOutbox(): Outbound<RaftEnvelope>[] {
    const o = this.outbox;
    this.outbox = [];
    return o;
  }

  nextDeadlineMs(): number {
    return this.nextTickMs;
  }

  persisted(): RaftDisk {
    return { hardState: this.disk.hardState, snapshot: this.disk.snapshot, entries: [...this.disk.entries] };
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
      const cur = this.store.get(keyBytes);
      const stored = cur === undefined ? undefined : parseRecord(fromUtf8(cur.value));
      if (stored !== undefined && compareVersion(stored, record) >= 0) return cb(true, false);
      const data = encodeCommand({
        type: "write",
        requestId: `${this.id}.${++this.writeSeq}`,
        // The proposer's clock travels with the command, as raft-kv's server sends it (session expiry, §6.3).
        timeMs: Math.round(this.now),
        op: { type: "txn", compare: [{ key: keyBytes, target: "mod", result: "equal", value: cur?.modRevision ?? 0 }], success: [{ type: "put", key: keyBytes, value }], failure: [] },
      });
      payloadOfData.set(data, value.byteLength);
      this.submit(data, (committed, swapped) => {
        if (!committed) return cb(false, false);
        if (swapped) return cb(true, true);
        // Someone wrote the key between our read and our commit: we have applied their write by now, so read again.
        if (retriesLeft > 0) attempt(retriesLeft - 1);
        else cb(false, false);
      });
    };
    attempt(3);
  }

  /** Proposes a command here if leading, else forwards it to the leader; refuses with no known leader. */
  private submit(data: Uint8Array, cb: AttemptCallback): void {
    if (this.raft.role === "leader") {
      const r = this.raft.propose(data);
      if (!r.ok) return cb(false, false);
      this.pendingWrites.set(r.value.index, { term: r.value.term, cb });
      this.process();
      return;
    }
    const leader = this.raft.leader;
    if (leader === null || leader === this.id) return cb(false, false);
    const id = ++this.writeSeq;
    this.pendingForwards.set(id, cb);
    this.send(leader, { k: "fwd", id, data });
  }

  /** A linearizable read through ReadIndex (§6.4): answered once this node has applied the read point. */
  readLinearizable(key: string, cb: ReadCallback): void {
    this.opts.meter.op(this.meterIndex);
    const ctx = `${this.id}.r${++this.readSeq}`;
    const r = this.raft.readIndex(ctx);
    if (!r.ok) return cb({ ok: false });
    this.pendingReads.set(ctx, { key, cb });
    this.process();
  }

  /** Forgets a read the client gave up on (its answer, if any, is dropped). */
  abandonRead(cb: ReadCallback): void {
    for (const [ctx, r] of this.pendingReads) if (r.cb === cb) this.pendingReads.delete(ctx);
    this.readyReads = this.readyReads.filter((r) => r.cb !== cb);
  }

  /** A serializable read: this node's applied state, possibly stale, never blocked. */
  readLocal(key: string): HealthRecord | undefined {
    const kv = this.store.get(utf8(key));
    return kv === undefined ? undefined : parseRecord(fromUtf8(kv.value));
  }

  /** The node's applied index (for convergence checks). */
  appliedIndex(): number {
    return this.store.appliedIndex;
  }

  // --- the Ready loop -------------------------------------------------------------------

  private process(): void {
    while (this.raft.hasReady()) {
      const rd = this.raft.ready();
      // 1. Persist.
      if (rd.snapshot) {
        this.disk.snapshot = rd.snapshot;
        this.disk.entries = [];
      }
      if (rd.entries.length > 0) {
        const base = this.disk.snapshot?.metadata.index ?? 0;
        this.disk.entries.length = Math.max(0, rd.entries[0]!.index - base - 1);
        for (const e of rd.entries) this.disk.entries.push(e);
      }
      if (rd.hardState) this.disk.hardState = rd.hardState;
      // 2. Send.
      for (const m of rd.messages) this.send(m.to, { k: "raft", m });
      // 3. Apply.
      if (rd.snapshot) {
        this.store = KvStore.restore(rd.snapshot.data, STORE_CONFIG);
        for (const index of [...this.pendingWrites.keys()]) if (index <= rd.snapshot.metadata.index) this.pendingWrites.delete(index);
        this.observeAll();
      }
      for (const e of rd.committedEntries) this.apply(e);
      // 4. Reads wait for their index.
      for (const rs of rd.readStates) {
        const r = this.pendingReads.get(rs.requestCtx);
        if (r === undefined) continue;
        this.pendingReads.delete(rs.requestCtx);
        this.readyReads.push({ index: rs.index, key: r.key, cb: r.cb });
      }
      if (rd.softState) this.opts.meter.event(this.now, this.id, rd.softState.role === "leader" ? "leader" : "role", rd.softState.role);
      this.raft.advance();
      this.serveReads();
    }
    this.maybeCompact();
  }

  private apply(e: Entry): void {
    if (e.index <= this.store.appliedIndex) return;
    let swapped = false;
    if (e.type === "normal" && e.data.length > 0) {
      const { command, result } = this.store.applyEntry(e.index, e.data);
      if (command?.type === "write" && result.ok && "response" in result) {
        const op = command.op;
        const puts = op.type === "put" ? [op] : op.type === "txn" && result.response.type === "txn" && result.response.succeeded ? op.success : [];
        for (const p of puts) {
          if (p.type !== "put") continue;
          swapped = true;
          const record = parseRecord(fromUtf8(p.value));
          if (record === undefined) continue;
          this.opts.meter.applied(this.meterIndex);
          this.opts.meter.observe(this.id, fromUtf8(p.key), record, this.now);
        }
      }
    } else {
      this.store.skip(e.index);
    }
    this.recentApplied.set(e.index, { term: e.term, swapped });
    if (this.recentApplied.size > 4_096) this.recentApplied.delete(this.recentApplied.keys().next().value!);
    const w = this.pendingWrites.get(e.index);
    if (w !== undefined) {
      this.pendingWrites.delete(e.index);
      // Committed iff the entry at our index carries our term (the core's propose contract).
      const committed = w.term === e.term;
      w.cb(committed, committed && swapped);
    }
    if (this.raft.role === "leader" && e.term === this.raft.term && this.readyTerm !== e.term) {
      this.readyTerm = e.term;
      this.opts.meter.event(this.now, this.id, "leader-ready", `term ${e.term}`);
      this.opts.onLeaderReady?.(this.now, this.id, e.term);
    }
  }

  /** After a snapshot replaced the state: every record it holds is now visible here. */
  private observeAll(): void {
    const res = this.store.range({ key: utf8("health/"), rangeEnd: utf8("health0") });
    if (!res.ok) return;
    for (const kv of res.response.kvs) {
      const record = parseRecord(fromUtf8(kv.value));
      if (record !== undefined) this.opts.meter.observe(this.id, fromUtf8(kv.key), record, this.now);
    }
  }

  private onForwardAck(env: Extract<RaftEnvelope, { k: "fwdAck" }>): void {
    const cb = this.pendingForwards.get(env.id);
    if (cb === undefined) return;
    this.pendingForwards.delete(env.id);
    if (!env.ok) return cb(false, false);
    if (env.index <= this.store.appliedIndex) {
      // Applied before the answer came back (rare): look the outcome up; beyond the window it stays unknown.
      const done = this.recentApplied.get(env.index);
      if (done !== undefined) cb(done.term === env.term, done.term === env.term && done.swapped);
      return;
    }
    this.pendingWrites.set(env.index, { term: env.term, cb });
  }

  private serveReads(): void {
    if (this.readyReads.length === 0) return;
    const applied = this.store.appliedIndex;
    const keep: typeof this.readyReads = [];
    for (const r of this.readyReads) {
      if (r.index <= applied) r.cb({ ok: true, record: this.readLocal(r.key) });
      else keep.push(r);
    }
    this.readyReads = keep;
  }

  private maybeCompact(): void {
    const every = this.opts.compactEvery;
    // Cheap test first: status() walks every peer's progress on a leader.
    if (every <= 0 || this.store.appliedIndex - (this.disk.snapshot?.metadata.index ?? 0) < every) return;
    const s = this.raft.status();
    if (this.store.appliedIndex !== s.applied) return;
    const data = this.store.snapshot();
    const res = this.raft.compact(s.applied, data);
    if (!res.ok) return;
    payloadOfData.set(data, this.storedValueBytes());
    this.disk.snapshot = { metadata: res.value, data };
    this.disk.entries = this.disk.entries.filter((e) => e.index > res.value.index);
  }

  private storedValueBytes(): number {
    const res = this.store.range({ key: utf8("health/"), rangeEnd: utf8("health0") });
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
  switch (env.k) {
    case "raft":
      return encodeMessage(env.m).byteLength + FRAME_BYTES;
    case "fwd":
      return env.data.byteLength + 8 + FRAME_BYTES;
    case "fwdAck":
      return 20 + FRAME_BYTES;
  }
}

/** Record-value bytes an envelope carries. */
function payloadOf(env: RaftEnvelope): number {
  if (env.k === "fwd") return payloadOfData.get(env.data) ?? 0;
  if (env.k !== "raft") return 0;
  const m = env.m;
  if (m.type === "append") {
    let n = 0;
    for (const e of m.entries) n += payloadOfData.get(e.data) ?? 0;
    return n;
  }
  if (m.type === "installSnapshot") return payloadOfData.get(m.snapshot.data) ?? 0;
  return 0;
}

/** A factory for the simulation runner. */
export function raftStoreFactory(opts: RaftStoreOptions): (args: NodeFactoryArgs<RaftDisk>) => RaftStoreNode {
  return (args) => new RaftStoreNode(args, opts);
}
