/**
 * Raft replicas as @heck/sim SimProcesses, with everything a simulation test
 * needs around them: the package's own replica behind the shared Ready
 * contract (`src/core/replica/replica-node.ts`: its Readies ask to persist
 * the write-ahead log's own records and snapshot files, onto the runner's
 * simulated disk, and a restart recovers through the WAL's replay),
 * snapshots every N applied entries, clients that record a history of
 * register operations (put, compare-and-set, linearizable get), and the
 * Raft safety properties (Figure 3) checked as the run goes.
 */
import type { Channel, DiskImage, KvOperation, MessageCodec, NodeFactoryArgs, NodeId, Prng, SimProcess, Simulation } from "@heck/sim";
import type { Entry, RaftConfig } from "../core/raft/types.ts";
import { DEFAULT_KV_STORE_CONFIG, fromUtf8, utf8, type WriteOp } from "../core/kv/index.ts";
import { ReplicaNode, decodeEnvelope, encodeEnvelope, recoverStorage, type Envelope, type LeaseExpiry, type ReplicaNodeReady, type SnapshotImage } from "../core/replica/index.ts";
import type { RaftNode } from "../core/raft/raft-node.ts";

export type { SnapshotImage } from "../core/replica/index.ts";

/** One write-ahead log record, as the server writes it to its WAL file and the simulation to its simulated disk. */
export type WalRecord = Uint8Array;

/** What a simulated node's disk holds: its last snapshot image and the WAL records written after it. */
export type Disk = DiskImage<WalRecord, SnapshotImage>;

/** The peer wire codec, so every simulated message also round-trips through encode/decode. */
export const raftCodec: MessageCodec<Envelope> = {
  encode: encodeEnvelope,
  decode(bytes) {
    const r = decodeEnvelope(bytes);
    if (!r.ok) throw new Error(`decode failed: ${r.error}`);
    return r.value;
  },
};

/** A register operation in the log: `put`, or `cas` (swap only if the value is `expect`; null = absent). */
export type KvCommand = { op: "put"; key: string; value: string } | { op: "cas"; key: string; expect: string | null; value: string };

/** The register operation as the key-value state machine's write: a put, or a transaction comparing the value (or absence). */
function toWriteOp(cmd: KvCommand): WriteOp {
  const put = { type: "put" as const, key: utf8(cmd.key), value: utf8(cmd.value) };
  if (cmd.op === "put") return put;
  const key = utf8(cmd.key);
  return {
    type: "txn",
    compare: [cmd.expect === null ? { key, target: "version", result: "equal", value: 0 } : { key, target: "value", result: "equal", value: utf8(cmd.expect) }],
    success: [put],
    failure: [],
  };
}

// ---------------------------------------------------------------------------
// Safety properties (Raft paper Figure 3), checked incrementally
// ---------------------------------------------------------------------------

/** An entry as text (its type and its bytes in hex), so two copies compare as strings; plain code, so it runs in a browser too. */
function fingerprint(e: Entry): string {
  let hex = "";
  for (const b of e.data) hex += (b < 16 ? "0" : "") + b.toString(16);
  return `${e.type}:${hex}`;
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
  /** Client writes answered "ok", with the log position of the entry that carried each. */
  readonly acknowledged: { node: NodeId; index: number; term: number }[] = [];

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
  /** The core's configuration; `commitBroadcast: "lazy"` announces commits at the next tick, as the server's delay does. */
  raft?: Partial<Omit<RaftConfig, "id" | "prng" | "applied">>;
  /** Compact the log once this many entries are applied past the snapshot (0: never). */
  compactEvery?: number;
  channel?: Channel;
  recorder: SafetyRecorder;
  /** Who decides that a lease expired (the replica's LeaseExpiry); default "leader". */
  leaseExpiry?: LeaseExpiry;
}

type WriteCallback = (outcome: "ok" | "fail", result: boolean) => void;
type ReadCallback = (value: string | null) => void;

/** The simulation's tick: the runner ticks every node every 10 ms (tickIntervalMs), one Raft tick each. */
const TICK_MS = 10;

/**
 * A replica driven like a real server (persist, send, apply, advance) by
 * the simulation runner, with what the tests observe: every entry and commit
 * it persists goes to the recorder, the messages it receives are counted,
 * and its role changes go to the trace.
 */
export class RaftSimNode extends ReplicaNode implements SimProcess<Envelope, WalRecord, SnapshotImage> {
  private readonly recorder: SafetyRecorder;
  /** Messages received by type, and the distinct back-tracking hints received (one per probe round trip). */
  readonly received = new Map<string, number>();
  readonly rejectionHints = new Set<string>();
  /** Writes whose answer went out while their entry was being applied: the `applied` hook that follows names the entry. */
  private readonly answered = new Set<string>();

  constructor(args: NodeFactoryArgs<WalRecord, SnapshotImage>, opts: RaftSimOptions) {
    const { commitBroadcast, ...raft } = opts.raft ?? {};
    // A restart reads the disk back as the server reads its data dir: nothing durable on it means a fresh start.
    const persisted = args.disk === undefined ? null : recoverStorage(args.disk);
    const id = args.id;
    super(
      {
        raft: { id, prng: args.prng, ...raft },
        start: persisted !== null ? { persisted } : opts.founders.includes(id) ? { bootstrap: opts.founders } : { join: true },
        kvConfig: DEFAULT_KV_STORE_CONFIG,
        // Each (re)start draws its own stream, so request ids never repeat an earlier run's.
        incarnation: args.prng.fork("incarnation").nextUint32().toString(16),
        timing: {
          tickMs: TICK_MS,
          // The first runner tick after this start is a Raft tick, and so is every one after it.
          firstTickMs: args.nowMs,
          // The clients give up on their own; the replica keeps waiting.
          requestTimeoutMs: Infinity,
          readRetryMs: Infinity,
          commitBroadcastDelayMs: commitBroadcast === "lazy" ? TICK_MS : -1,
          ...(opts.leaseExpiry ? { leaseExpiry: opts.leaseExpiry } : {}),
        },
        snapshotEntries: opts.compactEvery ?? 0,
        nowMs: args.nowMs,
        hooks: {
          applied: (e, command) => {
            opts.recorder.onApply(id, e);
            if (command !== undefined && this.answered.delete(command.requestId)) opts.recorder.acknowledged.push({ node: id, index: e.index, term: e.term });
          },
        },
      },
      (m) => opts.channel ?? (m.type === "installSnapshot" ? "stream" : "packet"),
    );
    this.recorder = opts.recorder;
  }

  /** The Raft core. */
  get raft(): RaftNode {
    return this.replica.raft;
  }

  /** The registers this node has applied, by key. */
  get kv(): { data: Map<string, string> } {
    const res = this.replica.kv.range({ key: utf8("\0"), rangeEnd: utf8("\0") });
    const data = new Map<string, string>();
    if (res.ok) for (const kv of res.response.kvs) data.set(fromUtf8(kv.key), fromUtf8(kv.value));
    return { data };
  }

  // --- SimProcess -------------------------------------------------------------

  override receive(from: NodeId, envelope: Envelope, channel: Channel, nowMs: number): void {
    if (envelope.kind === "raft") {
      const message = envelope.message;
      this.received.set(message.type, (this.received.get(message.type) ?? 0) + 1);
      if (message.type === "appendResponse" && message.reject) {
        // Pipelined appends behind a gap are all rejected with the same hint; count distinct hints = probe round trips.
        this.rejectionHints.add(`${message.from}:${message.term}:${message.rejectHint}:${message.logTerm}`);
      }
    }
    super.receive(from, envelope, channel, nowMs);
  }

  /** The replica's Ready (WAL records, snapshot image, envelopes), reported to the recorder, with role changes for the trace. */
  override ready(): ReplicaNodeReady & { trace?: { event: string; msg?: unknown }[] } {
    const rd = super.ready();
    const core = rd.raft;
    if (core !== null) {
      for (const e of core.records) this.recorder.onPersist(this.id, e, this.storedTermAt(e.index - 1));
      if (core.hardState) {
        for (let i = this.recorder.committedTerm.length; i <= core.hardState.commit; i++) {
          const t = this.storedTermAt(i);
          if (t === undefined) break;
          this.recorder.onCommit(this.id, i, t, core.hardState.term);
        }
      }
    }
    // Leadership changes, as trace events.
    const ss = core?.softState;
    return ss ? { ...rd, trace: [{ event: ss.role === "leader" ? "elected" : "role", msg: { term: this.raft.term, leader: ss.leader, role: ss.role } }] } : rd;
  }

  /** Infinity: the runner ticks every node every 10 ms, and the replica's deadlines are checked then. */
  override nextDeadlineMs(): number {
    return Infinity;
  }

  // --- client operations --------------------------------------------------------

  /**
   * Proposes a register operation on the leader; the callback fires when it
   * is applied (ok, with whether a cas swapped) or known lost (fail).
   * Returns false, doing nothing, when this node does not lead.
   */
  write(cmd: KvCommand, cb: WriteCallback): boolean {
    if (this.raft.role !== "leader") return false;
    const requestId = this.replica.nextRequestId();
    this.replica.propose({ type: "write", requestId, op: toWriteOp(cmd), timeMs: Math.round(this.now) }, false, this.now, (outcome) => {
      if (!outcome.ok) {
        // Overwritten by a new leader or refused: certainly not applied. (A snapshot may cover it: then no answer.)
        cb("fail", false);
        return;
      }
      this.answered.add(requestId);
      const r = outcome.result;
      cb("ok", r.ok && "response" in r && (r.response.type !== "txn" || r.response.succeeded));
    });
    return true;
  }

  /** Starts an election now (a PreVote round first when PreVote is on), as if this node's timeout fired. */
  campaign(): void {
    this.raft.campaign();
  }

  /** A linearizable read through the read barrier (ReadIndex); false, doing nothing, when no leader is known. */
  read(key: string, cb: ReadCallback): boolean {
    if (this.raft.leader === null) return false;
    this.replica.readBarrier(this.now, (error) => {
      if (error) return;
      const kv = this.replica.kv.get(utf8(key));
      cb(kv === undefined ? null : fromUtf8(kv.value));
    });
    return true;
  }

  /** The terms of the persisted log, for describing state. */
  describe(): string {
    const s = this.raft.status();
    return `${this.id}: ${s.role} term=${s.term} lead=${s.leader} commit=${s.commit} applied=${s.applied} snap=${s.snapshotIndex} last=${s.lastIndex} voters=${s.confState.voters.join(",")} learners=${s.confState.learners.join(",")}`;
  }

  /** Term at `index` in this node's persisted log (undefined if compacted or absent). */
  termAt(index: number): number | undefined {
    return this.storedTermAt(index);
  }

  snapshotIndex(): number {
    return this.storedSnapshotIndex();
  }
}

/** A factory for Simulation / runSeeded. */
export function raftFactory(opts: RaftSimOptions): (args: NodeFactoryArgs<WalRecord, SnapshotImage>) => RaftSimNode {
  return (args) => new RaftSimNode(args, opts);
}

/**
 * For runSeeded, which builds a fresh Simulation for every (re)run of a seed
 * from the same options: a new SafetyRecorder per run. A run starts when the
 * first node id is created at time 0 from nothing persisted.
 */
export class PerRunRecorder {
  current = new SafetyRecorder();

  factory(
    firstId: NodeId,
    opts: Omit<RaftSimOptions, "recorder">,
    make: (args: NodeFactoryArgs<WalRecord, SnapshotImage>, opts: RaftSimOptions) => RaftSimNode = (a, o) => new RaftSimNode(a, o),
  ): (args: NodeFactoryArgs<WalRecord, SnapshotImage>) => RaftSimNode {
    return (args) => {
      if (args.id === firstId && args.nowMs === 0 && args.disk === undefined) this.current = new SafetyRecorder();
      return make(args, { ...opts, recorder: this.current });
    };
  }
}

/** The cluster view every invariant and scenario uses. */
export type RaftSim = Simulation<Envelope, WalRecord, SnapshotImage, RaftSimNode>;

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

/**
 * The first client write answered "ok" whose entry the leader no longer
 * holds, described, or null: an acknowledged write must survive every crash
 * and power loss (§5.4.2: a committed entry is in every later leader's log).
 * Entries under the leader's snapshot are checked against the terms
 * committed there.
 */
export function lostAcknowledgedWrite(sim: RaftSim, recorder: SafetyRecorder): string | null {
  const l = leaderOf(sim);
  if (!l) return null;
  const base = l.snapshotIndex();
  for (const a of recorder.acknowledged) {
    const held = a.index <= base ? recorder.committedTerm[a.index] : l.termAt(a.index);
    if (a.index <= base && held === undefined) continue;
    if (held !== a.term) return `${a.node} acknowledged the write at index ${a.index} (term ${a.term}); leader ${l.id} holds ${held === undefined ? "nothing" : `term ${held}`} there`;
  }
  return null;
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
