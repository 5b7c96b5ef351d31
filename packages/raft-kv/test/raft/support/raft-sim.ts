/**
 * Raft nodes as @heck/sim SimProcesses, with everything a simulation test
 * needs around the core: an in-memory "disk" persisted in Ready order, a tiny
 * key-value state machine (registers with put, cas and linearizable get),
 * snapshots every N applied entries, clients that record a history, and the
 * Raft safety properties (Figure 3) checked as the run goes.
 */
import type { Channel, KvOperation, MessageCodec, NodeFactoryArgs, NodeId, Outbound, Prng, SimProcess, Simulation } from "@heck/sim";
import { RaftNode } from "../../../src/core/raft/raft-node.ts";
import { decodeMessage, encodeMessage } from "../../../src/core/raft/codec.ts";
import type { Entry, HardState, Message, RaftConfig, Snapshot } from "../../../src/core/raft/types.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** What a simulated node keeps across a crash: exactly what a Ready told it to persist. */
export interface Disk {
  hardState: HardState;
  snapshot: Snapshot | null;
  entries: Entry[];
}

/** The wire codec, so every simulated message also round-trips through encode/decode. */
export const raftCodec: MessageCodec<Message> = {
  encode: encodeMessage,
  decode(bytes) {
    const r = decodeMessage(bytes);
    if (!r.ok) throw new Error(`decode failed: ${r.error.message}`);
    return r.value;
  },
};

// ---------------------------------------------------------------------------
// A tiny replicated state machine: registers
// ---------------------------------------------------------------------------

/** A command in the log. */
export type KvCommand = { op: "put"; key: string; value: string } | { op: "cas"; key: string; expect: string | null; value: string };

/** Registers keyed by name; `put` returns nothing, `cas` returns whether it swapped. */
export class KvMachine {
  readonly data = new Map<string, string>();

  apply(cmd: KvCommand): boolean {
    if (cmd.op === "put") {
      this.data.set(cmd.key, cmd.value);
      return true;
    }
    const cur = this.data.get(cmd.key) ?? null;
    if (cur !== cmd.expect) return false;
    this.data.set(cmd.key, cmd.value);
    return true;
  }

  snapshot(): Uint8Array {
    return enc.encode(JSON.stringify([...this.data.entries()]));
  }

  restore(bytes: Uint8Array): void {
    this.data.clear();
    if (bytes.length === 0) return;
    for (const [k, v] of JSON.parse(dec.decode(bytes)) as [string, string][]) this.data.set(k, v);
  }
}

// ---------------------------------------------------------------------------
// Safety properties (Raft paper Figure 3), checked incrementally
// ---------------------------------------------------------------------------

function fingerprint(e: Entry): string {
  return `${e.type}:${dec.decode(e.data)}`;
}

/**
 * Records what every node persists, commits and applies, and remembers the
 * first violation of:
 * - Log Matching: an (index, term) pair names one entry with one predecessor
 *   term, on every node (inductively: same prefix);
 * - State Machine Safety: no two nodes apply different entries at an index;
 * - committed entries never change term.
 * Election Safety and Leader Completeness need the live nodes, so they are
 * checked by {@link raftInvariants}.
 */
export class SafetyRecorder {
  violation: string | null = null;
  private readonly entries = new Map<string, string>();
  /** committed[i] = term of the committed entry at index i. */
  readonly committedTerm: number[] = [0];
  /** commitObservedTerm[i] = the smallest current term of a node that saw index i committed. */
  readonly commitObservedTerm: number[] = [0];
  private readonly applied = new Map<number, string>();
  readonly leaders = new Map<number, NodeId>();
  /** Highest applied index across nodes (for workload progress checks). */
  maxApplied = 0;

  fail(msg: string): void {
    if (this.violation === null) this.violation = msg;
  }

  onPersist(node: NodeId, e: Entry, prevTerm: number | undefined): void {
    const key = `${e.index}:${e.term}`;
    const value = `${fingerprint(e)}|prev=${prevTerm ?? "?"}`;
    const seen = this.entries.get(key);
    if (seen === undefined) this.entries.set(key, value);
    else if (seen !== value && !(prevTerm === undefined || seen.endsWith("|prev=?"))) {
      this.fail(`log matching: ${node} holds entry (index ${e.index}, term ${e.term}) as ${value}, another node as ${seen}`);
    }
  }

  onCommit(node: NodeId, index: number, term: number, nodeTerm: number): void {
    const known = this.committedTerm[index];
    if (known === undefined) {
      if (index !== this.committedTerm.length) return; // only extend contiguously
      this.committedTerm.push(term);
      this.commitObservedTerm.push(nodeTerm);
    } else {
      if (known !== term) this.fail(`committed entry changed: index ${index} committed with term ${known}, ${node} commits term ${term}`);
      if (nodeTerm < this.commitObservedTerm[index]!) this.commitObservedTerm[index] = nodeTerm;
    }
  }

  onApply(node: NodeId, e: Entry): void {
    const v = `${e.term}:${fingerprint(e)}`;
    const seen = this.applied.get(e.index);
    if (seen === undefined) this.applied.set(e.index, v);
    else if (seen !== v) this.fail(`state machine safety: ${node} applied ${v} at index ${e.index}, another node applied ${seen}`);
    if (e.index > this.maxApplied) this.maxApplied = e.index;
  }
}

// ---------------------------------------------------------------------------
// The simulated node
// ---------------------------------------------------------------------------

/** Settings shared by every node of a simulated cluster. */
export interface RaftSimOptions {
  /** The founding voters (bootstrap); other node ids start with join(). */
  founders: readonly NodeId[];
  raft?: Partial<Omit<RaftConfig, "id" | "prng" | "applied">>;
  /** Compact the log once this many entries are applied past the snapshot (0: never). */
  compactEvery?: number;
  channel?: Channel;
  recorder: SafetyRecorder;
}

type WriteCallback = (outcome: "ok" | "fail", result: boolean) => void;
type ReadCallback = (value: string | null) => void;

/** A RaftNode driven like a real server: persist, send, apply, advance. */
export class RaftSimNode implements SimProcess<Message, Disk> {
  readonly id: NodeId;
  readonly raft: RaftNode;
  readonly kv = new KvMachine();
  private disk: Disk;
  private outbox: Outbound<Message>[] = [];
  private events: { event: string; msg?: unknown }[] = [];
  private readonly pendingWrites = new Map<number, { term: number; cb: WriteCallback }>();
  private readonly pendingReads = new Map<string, { key: string; cb: ReadCallback }>();
  private readonly readyReads: { index: number; key: string; cb: ReadCallback }[] = [];
  private readSeq = 0;
  private readonly opts: RaftSimOptions;
  private readonly recorder: SafetyRecorder;
  /** Messages received by type, and the distinct back-tracking hints received (one per probe round trip). */
  readonly received = new Map<string, number>();
  readonly rejectionHints = new Set<string>();
  /** Simulated time of the last step. */
  now = 0;

  constructor(args: NodeFactoryArgs<Disk>, opts: RaftSimOptions) {
    this.id = args.id;
    this.opts = opts;
    this.recorder = opts.recorder;
    this.now = args.nowMs;
    const config: RaftConfig = { id: args.id, prng: args.prng, ...opts.raft };
    const p = args.persisted;
    if (p === undefined) {
      this.disk = { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] };
      this.raft = opts.founders.includes(args.id) ? RaftNode.bootstrap(config, opts.founders) : RaftNode.join(config);
    } else {
      // Copy: the crashed incarnation's object must not be shared.
      this.disk = { hardState: p.hardState, snapshot: p.snapshot, entries: [...p.entries] };
      this.raft = RaftNode.restart(config, this.disk);
      if (p.snapshot) this.kv.restore(p.snapshot.data);
    }
    this.process();
  }

  // --- SimProcess -------------------------------------------------------------

  tick(nowMs: number): void {
    this.now = nowMs;
    this.raft.tick();
    // A lazy leader announces commits it has not announced yet once per tick, as the real driver's timer does.
    if (this.opts.raft?.commitBroadcast === "lazy") this.raft.broadcastCommit();
    this.process();
  }

  receive(_from: NodeId, message: Message, _channel: Channel, nowMs: number): void {
    this.now = nowMs;
    this.received.set(message.type, (this.received.get(message.type) ?? 0) + 1);
    if (message.type === "appendResponse" && message.reject) {
      // Pipelined appends behind a gap are all rejected with the same hint; count distinct hints = probe round trips.
      this.rejectionHints.add(`${message.from}:${message.term}:${message.rejectHint}:${message.logTerm}`);
    }
    this.raft.step(message);
    this.process();
  }

  takeOutbox(): Outbound<Message>[] {
    const o = this.outbox;
    this.outbox = [];
    return o;
  }

  takeEvents(): { event: string; msg?: unknown }[] {
    const e = this.events;
    this.events = [];
    return e;
  }

  nextDeadlineMs(): number {
    return Infinity;
  }

  persisted(): Disk {
    return { hardState: this.disk.hardState, snapshot: this.disk.snapshot, entries: [...this.disk.entries] };
  }

  // --- client operations --------------------------------------------------------

  /** Proposes a command; the callback fires when it is applied (ok) or known lost (fail). Returns false if refused at once. */
  write(cmd: KvCommand, cb: WriteCallback): boolean {
    const res = this.raft.propose(enc.encode(JSON.stringify(cmd)));
    if (!res.ok) return false;
    this.pendingWrites.set(res.value.index, { term: res.value.term, cb });
    this.process();
    return true;
  }

  /** Starts an election now (a PreVote round first when PreVote is on), as if this node's timeout fired. */
  campaign(): void {
    this.raft.campaign();
    this.process();
  }

  /** A linearizable read through ReadIndex; the callback fires once the read point is applied. */
  read(key: string, cb: ReadCallback): boolean {
    const ctx = `${this.id}.${++this.readSeq}`;
    const res = this.raft.readIndex(ctx);
    if (!res.ok) return false;
    this.pendingReads.set(ctx, { key, cb });
    this.process();
    return true;
  }

  /** The terms of the persisted log, for describing state. */
  describe(): string {
    const s = this.raft.status();
    return `${this.id}: ${s.role} term=${s.term} lead=${s.leader} commit=${s.commit} applied=${s.applied} snap=${s.snapshotIndex} last=${s.lastIndex} voters=${s.confState.voters.join(",")} learners=${s.confState.learners.join(",")}`;
  }

  // --- the Ready loop, in the documented order ----------------------------------------

  private process(): void {
    while (this.raft.hasReady()) {
      const rd = this.raft.ready();
      // 1. Persist: hard state, entries (truncating what they replace), snapshot.
      if (rd.snapshot) {
        this.disk.snapshot = rd.snapshot;
        this.disk.entries = [];
      }
      if (rd.entries.length > 0) {
        const first = rd.entries[0]!.index;
        const base = this.disk.snapshot?.metadata.index ?? 0;
        this.disk.entries.length = Math.max(0, first - base - 1);
        for (const e of rd.entries) {
          this.disk.entries.push(e);
          this.recorder.onPersist(this.id, e, this.diskTerm(e.index - 1));
        }
      }
      if (rd.hardState) {
        this.disk.hardState = rd.hardState;
        for (let i = this.recorder.committedTerm.length; i <= rd.hardState.commit; i++) {
          const t = this.diskTerm(i);
          if (t === undefined) break;
          this.recorder.onCommit(this.id, i, t, rd.hardState.term);
        }
      }
      // 2. Send, now that everything the messages promise is durable.
      for (const m of rd.messages) {
        this.outbox.push({ to: m.to, message: m, channel: this.opts.channel ?? (m.type === "installSnapshot" ? "stream" : "packet") });
      }
      // 3. Apply.
      if (rd.snapshot) {
        this.kv.restore(rd.snapshot.data);
        // Writes proposed here at or before the snapshot have unknown fate now.
        for (const index of [...this.pendingWrites.keys()]) if (index <= rd.snapshot.metadata.index) this.pendingWrites.delete(index);
      }
      for (const e of rd.committedEntries) this.applyEntry(e);
      // 4. Reads wait until their index is applied.
      for (const rs of rd.readStates) {
        const r = this.pendingReads.get(rs.requestCtx);
        if (!r) continue;
        this.pendingReads.delete(rs.requestCtx);
        this.readyReads.push({ index: rs.index, key: r.key, cb: r.cb });
      }
      // 5. Soft state.
      if (rd.softState) {
        this.events.push({ event: rd.softState.role === "leader" ? "elected" : "role", msg: { term: this.raft.term, ...rd.softState } });
      }
      this.raft.advance();
      this.serveReads();
    }
    this.maybeCompact();
  }

  private applyEntry(e: Entry): void {
    this.recorder.onApply(this.id, e);
    let result = true;
    if (e.type === "normal" && e.data.length > 0) result = this.kv.apply(JSON.parse(dec.decode(e.data)) as KvCommand);
    const w = this.pendingWrites.get(e.index);
    if (w) {
      this.pendingWrites.delete(e.index);
      // Committed iff the entry at our index carries our term (see propose's contract).
      w.cb(w.term === e.term ? "ok" : "fail", result);
    }
  }

  private serveReads(): void {
    const applied = this.raft.status().applied;
    for (let i = 0; i < this.readyReads.length; ) {
      const r = this.readyReads[i]!;
      if (r.index <= applied) {
        this.readyReads.splice(i, 1);
        r.cb(this.kv.data.get(r.key) ?? null);
      } else i++;
    }
  }

  private maybeCompact(): void {
    const every = this.opts.compactEvery ?? 0;
    if (every <= 0) return;
    const s = this.raft.status();
    if (s.applied - s.snapshotIndex < every) return;
    // The state machine is at `applied`; the snapshot must describe exactly that.
    const res = this.raft.compact(s.applied, this.kv.snapshot());
    if (!res.ok) return;
    this.disk.snapshot = { metadata: res.value, data: this.kv.snapshot() };
    this.disk.entries = this.disk.entries.filter((e) => e.index > res.value.index);
  }

  private diskTerm(index: number): number | undefined {
    const snap = this.disk.snapshot?.metadata;
    const base = snap?.index ?? 0;
    if (index === base) return snap?.term ?? 0;
    if (index < base) return undefined;
    return this.disk.entries[index - base - 1]?.term;
  }

  /** Term at `index` in this node's persisted log (undefined if compacted or absent). */
  termAt(index: number): number | undefined {
    return this.diskTerm(index);
  }

  snapshotIndex(): number {
    return this.disk.snapshot?.metadata.index ?? 0;
  }
}

/** A factory for Simulation / runSeeded. */
export function raftFactory(opts: RaftSimOptions): (args: NodeFactoryArgs<Disk>) => RaftSimNode {
  return (args) => new RaftSimNode(args, opts);
}

/**
 * For runSeeded, which builds a fresh Simulation for every (re)run of a seed
 * from the same options: a new SafetyRecorder per run. A run starts when the
 * first node id is created at time 0 from nothing persisted.
 */
export class PerRunRecorder {
  current = new SafetyRecorder();

  factory(firstId: NodeId, opts: Omit<RaftSimOptions, "recorder">): (args: NodeFactoryArgs<Disk>) => RaftSimNode {
    return (args) => {
      if (args.id === firstId && args.nowMs === 0 && args.persisted === undefined) this.current = new SafetyRecorder();
      return new RaftSimNode(args, { ...opts, recorder: this.current });
    };
  }
}

/** The cluster view every invariant and scenario uses. */
export type RaftSim = Simulation<Message, Disk, RaftSimNode>;

/**
 * The safety invariants, checked after every simulation step:
 * Election Safety (one leader per term), Log Matching and State Machine
 * Safety (through the recorder), and Leader Completeness (every leader of a
 * later term holds every committed entry).
 */
export function raftInvariants(recorderOrHolder: SafetyRecorder | PerRunRecorder) {
  let checked = new Map<string, number>();
  let seen: SafetyRecorder | null = null;
  const current = (): SafetyRecorder => {
    const r = recorderOrHolder instanceof PerRunRecorder ? recorderOrHolder.current : recorderOrHolder;
    if (r !== seen) {
      seen = r;
      checked = new Map();
    }
    return r;
  };
  return [
    {
      name: "election safety",
      check: (sim: RaftSim) => {
        const recorder = current();
        for (const n of sim.up) {
          if (n.raft.role !== "leader") continue;
          const prev = recorder.leaders.get(n.raft.term);
          if (prev === undefined) recorder.leaders.set(n.raft.term, n.id);
          else if (prev !== n.id) return `two leaders in term ${n.raft.term}: ${prev} and ${n.id}`;
        }
        return undefined;
      },
    },
    {
      name: "log matching and state machine safety",
      check: () => current().violation ?? undefined,
    },
    {
      name: "leader completeness",
      check: (sim: RaftSim) => {
        const recorder = current();
        for (const n of sim.up) {
          if (n.raft.role !== "leader") continue;
          const term = n.raft.term;
          const key = `${n.id}@${term}`;
          let i = checked.get(key) ?? Math.max(1, n.snapshotIndex() + 1);
          for (; i < recorder.committedTerm.length; i++) {
            if (recorder.commitObservedTerm[i]! >= term) continue;
            if (i <= n.snapshotIndex()) continue;
            const t = n.termAt(i);
            if (t !== recorder.committedTerm[i]) {
              return `leader ${n.id} of term ${term} lacks committed entry ${i} (term ${recorder.committedTerm[i]}), has ${t}`;
            }
          }
          checked.set(key, i);
        }
        return undefined;
      },
    },
  ];
}

/** The current leader if exactly one live node leads in the highest term among leaders. */
export function leaderOf(sim: RaftSim): RaftSimNode | undefined {
  let best: RaftSimNode | undefined;
  for (const n of sim.up) if (n.raft.role === "leader" && (!best || n.raft.term > best.raft.term)) best = n;
  return best;
}

/** True when a leader exists and every live member has applied everything it committed, in the same term. */
export function converged(sim: RaftSim, members?: readonly NodeId[]): boolean {
  const l = leaderOf(sim);
  if (!l) return false;
  const ls = l.raft.status();
  if (ls.commit < ls.lastIndex) return false;
  const ids = members ?? [...ls.confState.voters, ...ls.confState.learners];
  for (const id of ids) {
    const n = sim.tryNode(id);
    if (!n) return false;
    const s = n.raft.status();
    if (s.term !== ls.term || s.leader !== l.id || s.applied !== ls.commit || s.lastIndex !== ls.lastIndex) return false;
  }
  return true;
}

/** Every node's state, one line each, for failure reports. */
export function describeCluster(sim: RaftSim): string {
  return sim.nodeIds.map((id) => sim.tryNode(id)?.describe() ?? `${id}: down`).join("\n");
}

// ---------------------------------------------------------------------------
// Clients and their history
// ---------------------------------------------------------------------------

/** One operation as a client saw it (simulated ms). `info` = outcome unknown (timed out, or still running). */
export interface HistoryOp {
  client: number;
  f: "read" | "write" | "cas";
  key: string;
  /** write: the value written; cas: the new value; read: the value read (ok only). */
  value: string | null;
  /** cas: the expected value (null = absent). */
  expect?: string | null;
  /** cas with outcome ok: whether it swapped. */
  swapped?: boolean;
  invokeMs: number;
  completeMs: number;
  /** ok: took effect (or read) with the recorded result; fail: certainly took no effect; info: unknown. */
  outcome: "ok" | "fail" | "info";
}

/** Options for {@link startClients}. */
export interface ClientOptions {
  clients: number;
  keys: readonly string[];
  /** Stop invoking new operations after this time. */
  untilMs: number;
  /** Give up on an operation after this long (outcome unknown for writes). */
  timeoutMs?: number;
  /** Pause between operations. */
  thinkMs?: number;
  readFraction?: number;
  casFraction?: number;
  /** Probability an operation goes to a random node instead of the believed leader. Default 0.3. */
  wanderProbability?: number;
}

/**
 * Sequential clients (one operation at a time each, as a linearizability
 * checker expects) that send to the node they believe leads, retrying
 * elsewhere on refusal. Every operation enters the history when invoked
 * (as "info") and is updated when it completes, so the history is a valid
 * input to the checker at any moment.
 */
export function startClients(sim: RaftSim, prng: Prng, o: ClientOptions): HistoryOp[] {
  const history: HistoryOp[] = [];
  const timeoutMs = o.timeoutMs ?? 400;
  const thinkMs = o.thinkMs ?? 5;
  const readFraction = o.readFraction ?? 0.4;
  const casFraction = o.casFraction ?? 0.2;
  let valueSeq = 0;
  for (let c = 0; c < o.clients; c++) {
    const rng = prng.fork(`client${c}`);
    let target: NodeId = rng.pick(sim.nodeIds);
    const next = (at: number): void => {
      if (at >= o.untilMs) return;
      sim.schedule(at, (s) => invoke(s));
    };
    const invoke = (s: RaftSim): void => {
      // Mostly stick to the node believed to lead, but sometimes ask another:
      // that is how operations reach a new leader while others still talk to a deposed one.
      if (rng.chance(o.wanderProbability ?? 0.3)) target = rng.pick(s.nodeIds);
      const key = rng.pick(o.keys);
      const u = rng.nextFloat();
      const f: HistoryOp["f"] = u < readFraction ? "read" : u < readFraction + casFraction ? "cas" : "write";
      const value = f === "read" ? null : `c${c}v${++valueSeq}`;
      const op: HistoryOp = { client: c, f, key, value, invokeMs: s.nowMs, completeMs: Infinity, outcome: "info" };
      if (f === "cas") op.expect = rng.chance(0.3) ? null : `c${rng.nextInt(0, o.clients - 1)}v${rng.nextInt(1, Math.max(1, valueSeq))}`;
      const node = s.tryNode(target);
      let settled = false;
      const finish = (outcome: HistoryOp["outcome"], patch: Partial<HistoryOp> = {}): void => {
        if (settled) return;
        settled = true;
        Object.assign(op, patch);
        op.outcome = outcome;
        op.completeMs = outcome === "info" ? Infinity : s.nowMs;
        next(s.nowMs + thinkMs);
      };
      const refused = (): void => {
        // Refused at once: nothing happened. Try the hinted leader (or anyone) next.
        const hint = node?.raft.leader;
        target = hint && hint !== target ? hint : rng.pick(s.nodeIds);
        finish("fail");
      };
      history.push(op);
      if (!node) return refused();
      let accepted: boolean;
      if (f === "read") {
        accepted = node.read(key, (v) => finish("ok", { value: v }));
      } else {
        const cmd: KvCommand = f === "write" ? { op: "put", key, value: value! } : { op: "cas", key, expect: op.expect ?? null, value: value! };
        accepted = node.write(cmd, (outcome, result) => {
          if (outcome === "fail") finish("fail");
          else finish("ok", f === "cas" ? { swapped: result } : {});
        });
      }
      if (!accepted) return refused();
      s.schedule(s.nowMs + timeoutMs, () => {
        if (settled) return;
        target = rng.pick(s.nodeIds);
        // A read that never answered did nothing; a write's fate is unknown.
        finish(f === "read" ? "fail" : "info");
      });
    };
    next(rng.nextInt(0, 20));
  }
  return history;
}

/** The history in @heck/sim's checker format: failed operations dropped, unknown ones without output. */
export function toKvOperations(history: readonly HistoryOp[]): KvOperation[] {
  const ops: KvOperation[] = [];
  history.forEach((h, id) => {
    if (h.outcome === "fail") return;
    const input: KvOperation["input"] =
      h.f === "read" ? { type: "get", key: h.key } : h.f === "write" ? { type: "put", key: h.key, value: h.value! } : { type: "cas", key: h.key, expected: h.expect ?? null, value: h.value! };
    const op: KvOperation = { id, client: h.client, input, callMs: h.invokeMs };
    if (h.outcome === "ok") {
      op.returnMs = h.completeMs;
      op.output = h.f === "read" ? { type: "get", value: h.value } : h.f === "write" ? { type: "put" } : { type: "cas", ok: h.swapped === true };
    }
    ops.push(op);
  });
  return ops;
}
