/**
 * The simulation runner, in the style of TigerBeetle's VOPR.
 *
 * ## API contract
 *
 * A protocol under test is a set of pure state machines ({@link SimProcess})
 * with the shared Ready contract (ready.ts): `tick(nowMs)`, `receive(from,
 * message, channel, nowMs)`, `nextDeadlineMs()`, `hasReady()`, `ready()`,
 * `advance()`. The runner owns everything else:
 *
 * - **Time.** One {@link SimNetwork} event queue is the clock. A *step* is one
 *   event: a message delivery, a tick (at a node's `nextDeadlineMs()`, or every
 *   `tickIntervalMs` for every node), or a scheduled action. Between steps no
 *   time passes and nothing else runs, so a seed replays exactly.
 * - **Randomness.** `createPrng(seed)` forks named streams: `node:<id>` for
 *   each node (handed to the factory), `net` for the network (latency and
 *   packet faults), `faults` for the fault schedule, `workload` for clients.
 *   Adding a node, a fault or a client request changes no other stream.
 * - **After every step** the runner drains the stepped node's Readies, until
 *   it has none, as a real driver does: the snapshot and records onto the
 *   node's simulated disk ({@link SimDisk}; synced when `mustSync`), then the
 *   messages into the network (through `codec.encode` / `codec.decode` when
 *   a codec is given, so serialisation bugs surface and bytes are counted),
 *   then `advance()`.
 *   With `disk.syncLatency`, a sync takes simulated time, as an fsync on the
 *   thread pool does: the messages of a batch that must be synced wait for
 *   it, later batches' messages wait behind them in order, and later
 *   records wait for the next sync (group commit). `beforeSend` sees every
 *   message as it leaves, with the sender's durable disk, so a test can
 *   check that what a message promises was persisted first.
 *   It refreshes the node's deadline, appends to the trace, then checks
 *   every invariant. A violated invariant throws a {@link SimulationFailure}
 *   whose message contains `HECK_SEED=<seed>`, the invariant's name and
 *   report, and the trace tail.
 * - **Crash and restart.** `crash(id)` drops the node and keeps its disk:
 *   messages to it are lost, its streams break, messages it held for a sync
 *   are lost, and with `disk.faults` a power loss may take part of its
 *   unsynced records and tear the first of them. `restart(id)` calls the
 *   factory again with the disk's image (the node recovers through its own
 *   recovery code) and a fresh stream (`node:<id>` forked by restart count).
 * - **Faults.** `partition(...groups)`, `cutOneWay`, `isolate`, `bridge`,
 *   `heal()`, `setDropRate`, `setFaults` (see {@link SimNetwork}).
 * - **Clients.** `schedule(atMs, sim => ...)` runs an action as a step; touch
 *   nodes through `sim.node(id)` there (or between run calls): the runner
 *   drains every outbox after an action and at the start of every run call.
 *
 * `runSeeded` (in `seeded-run.ts`) builds the VOPR loop on top: a random
 * fault schedule during a safety phase, then heal, restart everything and
 * require `converged(sim)` within a liveness budget; on failure it shrinks
 * the schedule by delta debugging and throws a report you can replay with
 * `HECK_SEED=<n>`.
 *
 * ```ts
 * const sim = new Simulation({ seed: 7, nodeIds: ["n1", "n2", "n3"], factory, tickIntervalMs: 10,
 *   invariants: [{ name: "one leader per term", check: (s) => atMostOneLeader(s.up) }] });
 * sim.runFor(1_000);
 * sim.partition(["n1"], ["n2", "n3"]);
 * expect(sim.runUntil((s) => leaderOf(s.up) !== "n1", 5_000)).toBe(true);
 * ```
 */
import { createPrng } from "./prng.ts";
import { replayHint } from "./replay-hint.ts";
import { SimNetwork, type EndpointSink, type LatencyOptions, type NetworkFaultOptions, type NetworkStats } from "./sim-network.ts";
import { formatTraceEvent, TraceRing } from "./trace.ts";
import type { PartitionSpec } from "./partitions.ts";
import { SimDisk, type DiskFaultOptions } from "./sim-disk.ts";
import type { Channel, DiskImage, NodeId, Outbound, Prng, SimProcess, TraceEvent } from "./types.ts";

/** Encodes every message on send and decodes it on delivery (e.g. the protocol's wire codec). */
export interface MessageCodec<M> {
  encode(message: M): Uint8Array;
  /** May throw on bytes it cannot decode: in simulation that is a bug worth a failing seed. */
  decode(bytes: Uint8Array): M;
}

/**
 * A property that must hold after every step. `check` returns nothing (or
 * true) when it holds, and false or a description of the violation when not.
 */
export interface Invariant<S> {
  name: string;
  check(sim: S): string | boolean | undefined | void;
}

/** What the factory receives (the same shape as {@link SimProcessFactory}'s argument). */
export interface NodeFactoryArgs<R = never, S = never> {
  id: NodeId;
  prng: Prng;
  peers: readonly NodeId[];
  /** Undefined on first start; after a crash, what survived on the node's simulated disk (recover from it). */
  disk: DiskImage<R, S> | undefined;
  nowMs: number;
}

/** Network settings for a simulation (the PRNG is forked from the seed). */
export interface SimulationNetworkOptions {
  latency?: Partial<LatencyOptions>;
  faults?: Partial<NetworkFaultOptions>;
  maxPacketBytes?: number;
}

/** The simulated disks: how long a sync takes, and what a crash may do to them. */
export interface SimulationDiskOptions<R> {
  /**
   * How long an fsync takes, drawn uniformly per sync from the run's "disk"
   * stream. While one runs, the messages of the batches it covers wait,
   * later batches' messages wait behind them in order, and records written
   * meanwhile wait for the next sync (group commit), as crdt-kv's and
   * raft-kv's drivers do. Omit for instant syncs (a batch's messages leave
   * in the step that made them).
   */
  syncLatency?: { minMs: number; maxMs: number };
  /** Power-loss faults at a crash: lost unsynced records, a torn record. Default none (a crash is a kill -9). */
  faults?: Partial<DiskFaultOptions>;
  /** How a record looks when a crash cut its write short (text records: `tearText`). Without it, records are never torn. */
  tear?: (record: R, prng: Prng) => R;
}

/** One message as it leaves a node, for {@link SimulationConfig.beforeSend}. */
export interface Departure<M, R, S, N> {
  from: N;
  to: NodeId;
  message: M;
  /** What is durable on the sender's disk now (valid only during the call). */
  durable: DiskImage<R, S>;
}

/** A node whose `advance()` keeps making work would stall the run: one step drains at most this many Readies. */
const MAX_READIES_PER_STEP = 1000;

/** The invariant name a failed {@link SimulationConfig.beforeSend} check is reported under. */
export const PERSIST_BEFORE_SEND = "persist before send";

/** Configuration of a {@link Simulation}. */
export interface SimulationConfig<M, R, S, N extends SimProcess<M, R, S>> {
  /** The one number a run is a function of. Folded to 32 bits. */
  seed: number;
  /** The initial cluster, in a fixed order (ticks at the same time run in this order). */
  nodeIds: readonly NodeId[];
  /** Builds a node; called again with its disk's image on restart. */
  factory: (args: NodeFactoryArgs<R, S>) => N;
  network?: SimulationNetworkOptions;
  /** When given, every message is encoded on send and decoded on delivery; bytes are counted. */
  codec?: MessageCodec<M>;
  /** Message size for `stats.bytes` when there is no codec. */
  sizeOf?: (message: M) => number;
  /**
   * Ticks every up node every `tickIntervalMs` (etcd-raft style logical
   * ticks), besides the ticks at `nextDeadlineMs()`. Omit for deadline-only nodes.
   */
  tickIntervalMs?: number;
  /** Checked after every step. */
  invariants?: ReadonlyArray<Invariant<Simulation<M, R, S, N>>>;
  /** Sync latency and crash faults of the nodes' simulated disks. Default: instant syncs, no faults. */
  disk?: SimulationDiskOptions<R>;
  /**
   * Called for every message as it leaves its node, after the persistence
   * its Ready asked for (and any sync it waited for): return a description
   * of what the message promises that is not durable on the sender's disk
   * yet, and the run fails with the invariant {@link PERSIST_BEFORE_SEND}.
   */
  beforeSend?: (departure: Departure<M, R, S, N>) => string | undefined | void;
  /** How many trace events to keep (the tail shown on failure). Default 500; 0 disables tracing (fastest). */
  traceLimit?: number;
  /** Also record every tick in the trace (noisy). Default false. */
  traceTicks?: boolean;
  /** Receives every trace event as it happens (e.g. a JSONL writer), even when traceLimit is 0. */
  onTrace?: (event: TraceEvent) => void;
}

/** Counters of a run. */
export interface SimulationStats extends NetworkStats {
  /** Steps taken (deliveries, ticks and actions). */
  steps: number;
  ticks: number;
  /** Messages delivered to a node (= `delivered`). */
  deliveries: number;
  /** Messages lost (= `dropped`). */
  drops: number;
  /** Extra copies made by the duplicate fault (= `duplicated`). */
  duplicates: number;
  /** Bytes delivered, when a codec or sizeOf is given (= `bytesDelivered`). */
  bytes: number;
  crashes: number;
  restarts: number;
  /** Records and snapshots the nodes' Readies persisted, and syncs they asked for. */
  recordsPersisted: number;
  snapshotsPersisted: number;
  syncs: number;
  /** Unsynced records that power-loss crashes took, and how many of them stayed on disk torn for recovery to drop. */
  recordsLost: number;
  recordsTorn: number;
}

/** Why a run failed. */
export type FailureKind = "invariant" | "liveness" | "exception" | "nondeterminism";

/**
 * A failed run. The message is the whole report: `HECK_SEED=<n>`, what was
 * violated, the (shrunk) fault schedule, and the trace tail.
 */
export class SimulationFailure extends Error {
  override readonly name = "SimulationFailure";
  constructor(
    message: string,
    readonly seed: number,
    readonly kind: FailureKind,
    /** The invariant's name, "converged" for liveness, or the error's name. */
    readonly what: string,
    readonly atMs: number,
    readonly trace: TraceEvent[],
    readonly detail: string,
  ) {
    super(message);
  }
}

/** Raised inside a run when an invariant fails; turned into a report by the caller. */
export class InvariantViolation extends Error {
  override readonly name = "InvariantViolation";
  constructor(
    readonly invariant: string,
    readonly detail: string,
    readonly atMs: number,
  ) {
    super(`invariant "${invariant}" violated at t=${atMs.toFixed(3)} ms: ${detail}`);
  }
}

/**
 * A deterministic cluster of {@link SimProcess} nodes on a {@link SimNetwork}.
 * See the file comment for the full contract.
 */
export class Simulation<M, R = never, S = never, N extends SimProcess<M, R, S> = SimProcess<M, R, S>> {
  readonly seed: number;
  /** The run's root stream; fork it by name for anything else random in a test. */
  readonly prng: Prng;
  readonly network: SimNetwork;
  readonly nodeIds: readonly NodeId[];

  private readonly factory: (args: NodeFactoryArgs<R, S>) => N;
  private readonly codec: MessageCodec<M> | undefined;
  private readonly sizeOf: ((message: M) => number) | undefined;
  private readonly invariants: ReadonlyArray<Invariant<Simulation<M, R, S, N>>>;
  private readonly nodes: (N | undefined)[];
  private readonly disks: SimDisk<R, S>[];
  /** Per node: message batches waiting for a sync, oldest first, each with the disk position it needs durable. */
  private readonly held: Array<Array<{ mark: number; messages: readonly Outbound<M>[] }>>;
  private readonly syncing: boolean[];
  /** Per node: the disk position every later batch's messages wait for (the end of the last batch that had to be synced). */
  private readonly syncRequired: number[];
  /** Per node: bumped at every crash, so a sync that was running when it crashed does nothing. */
  private readonly epochs: number[];
  private readonly diskPrng: Prng;
  private readonly syncLatency: { minMs: number; maxMs: number } | undefined;
  private readonly diskFaults: DiskFaultOptions;
  private readonly tear: ((record: R, prng: Prng) => R) | undefined;
  private readonly beforeSend: ((departure: Departure<M, R, S, N>) => string | undefined | void) | undefined;
  private readonly restartCount: number[];
  private readonly sinks: EndpointSink[];
  private readonly indexById = new Map<NodeId, number>();
  private readonly deadlines: Float64Array;
  private minDeadline = Infinity;
  private minDeadlineIndex = -1;
  private upCache: N[] | undefined;
  private readonly ring: TraceRing | undefined;
  private readonly onTrace: ((event: TraceEvent) => void) | undefined;
  private readonly tracing: boolean;
  private readonly traceTicks: boolean;
  private readonly maxPacketBytes: number;
  private steps = 0;
  private ticks = 0;
  private crashes = 0;
  private restarts = 0;

  constructor(config: SimulationConfig<M, R, S, N>) {
    if (config === undefined || typeof config !== "object") throw new TypeError("Simulation: config is required");
    if (!Number.isFinite(config.seed)) throw new RangeError(`Simulation: seed must be a finite number, got ${config.seed}`);
    if (!Array.isArray(config.nodeIds) || config.nodeIds.length === 0) throw new RangeError("Simulation: nodeIds must be a non-empty array");
    if (new Set(config.nodeIds).size !== config.nodeIds.length) throw new RangeError(`Simulation: nodeIds must be unique, got ${config.nodeIds.join(",")}`);
    if (typeof config.factory !== "function") throw new TypeError("Simulation: factory must be a function");
    if (config.tickIntervalMs !== undefined && !(config.tickIntervalMs > 0)) throw new RangeError(`Simulation: tickIntervalMs must be > 0, got ${config.tickIntervalMs}`);
    const traceLimit = config.traceLimit ?? 500;
    if (!Number.isInteger(traceLimit) || traceLimit < 0) throw new RangeError(`Simulation: traceLimit must be an integer >= 0, got ${traceLimit}`);

    this.prng = createPrng(config.seed);
    this.seed = this.prng.seed;
    this.nodeIds = [...config.nodeIds];
    this.factory = config.factory;
    this.codec = config.codec;
    this.sizeOf = config.sizeOf;
    this.invariants = config.invariants ?? [];
    this.ring = traceLimit > 0 ? new TraceRing(traceLimit) : undefined;
    this.onTrace = config.onTrace;
    this.tracing = this.ring !== undefined || this.onTrace !== undefined;
    this.traceTicks = config.traceTicks ?? false;
    this.network = new SimNetwork({
      prng: this.prng.fork("net"),
      ...(config.network?.latency ? { latency: config.network.latency } : {}),
      ...(config.network?.faults ? { faults: config.network.faults } : {}),
      ...(config.network?.maxPacketBytes ? { maxPacketBytes: config.network.maxPacketBytes } : {}),
    });
    this.maxPacketBytes = this.network.maxPacketBytes;
    if (this.tracing) this.network.tracer = (e) => this.record(e);

    const n = this.nodeIds.length;
    this.nodes = new Array<N | undefined>(n).fill(undefined);
    this.disks = Array.from({ length: n }, () => new SimDisk<R, S>());
    this.held = Array.from({ length: n }, () => []);
    this.syncing = new Array<boolean>(n).fill(false);
    this.syncRequired = new Array<number>(n).fill(0);
    this.epochs = new Array<number>(n).fill(0);
    this.diskPrng = this.prng.fork("disk");
    const latency = config.disk?.syncLatency;
    if (latency !== undefined && !(latency.minMs >= 0 && latency.maxMs >= latency.minMs)) {
      throw new RangeError(`Simulation: disk.syncLatency needs 0 <= minMs <= maxMs, got ${JSON.stringify(latency)}`);
    }
    this.syncLatency = latency !== undefined && latency.maxMs > 0 ? latency : undefined;
    this.diskFaults = { lostUnsyncedRate: 0, tornRecordRate: 0, ...config.disk?.faults };
    this.tear = config.disk?.tear;
    this.beforeSend = config.beforeSend;
    this.restartCount = new Array<number>(n).fill(0);
    this.deadlines = new Float64Array(n).fill(Infinity);
    this.sinks = [];
    for (let i = 0; i < n; i++) {
      const id = this.nodeIds[i]!;
      this.indexById.set(id, i);
      this.sinks.push({
        deliver: (from, payload, channel) => this.onDeliver(i, from, payload, channel),
        streamFailed: (to, payload) => this.onStreamFailed(i, to, payload),
      });
    }
    for (let i = 0; i < n; i++) this.start(i, undefined, this.prng.fork(`node:${this.nodeIds[i]}`));
    if (config.tickIntervalMs !== undefined) this.scheduleCadence(config.tickIntervalMs);
    // The factory may already have queued messages (e.g. a join): send them.
    this.guard(() => {
      for (let i = 0; i < n; i++) this.drain(i);
      this.checkInvariants();
    });
  }

  // -------------------------------------------------------------------------
  // Reading the cluster
  // -------------------------------------------------------------------------

  /** Current simulated time. */
  get nowMs(): number {
    return this.network.nowMs();
  }

  /** The live node `id`; throws if it is unknown or crashed. */
  node(id: NodeId): N {
    const node = this.nodes[this.indexOfNode(id)];
    if (node === undefined) throw new Error(`Simulation.node: ${id} is crashed`);
    return node;
  }

  /** The live node `id`, or undefined if it is crashed. */
  tryNode(id: NodeId): N | undefined {
    return this.nodes[this.indexOfNode(id)];
  }

  /** Whether `id` is up (not crashed). */
  isUp(id: NodeId): boolean {
    return this.nodes[this.indexOfNode(id)] !== undefined;
  }

  /** Every live node, in nodeIds order (cached between crashes and restarts: cheap for invariants). */
  get up(): readonly N[] {
    if (this.upCache === undefined) this.upCache = this.nodes.filter((x): x is N => x !== undefined);
    return this.upCache;
  }

  /**
   * What is on node `id`'s simulated disk now, crashed or up (not copied:
   * read it, do not keep it across steps). A node restarted now would
   * recover from exactly this.
   */
  diskOf(id: NodeId): DiskImage<R, S> {
    return this.disks[this.indexOfNode(id)]!.view();
  }

  /** Counters of the run so far. */
  get stats(): SimulationStats {
    const s = this.network.stats;
    let recordsPersisted = 0;
    let snapshotsPersisted = 0;
    let syncs = 0;
    let recordsLost = 0;
    let recordsTorn = 0;
    for (const d of this.disks) {
      recordsPersisted += d.recordsWritten;
      snapshotsPersisted += d.snapshotsWritten;
      syncs += d.syncs;
      recordsLost += d.recordsLost;
      recordsTorn += d.recordsTorn;
    }
    return {
      ...s,
      steps: this.steps,
      ticks: this.ticks,
      deliveries: s.delivered,
      drops: s.dropped,
      duplicates: s.duplicated,
      bytes: s.bytesDelivered,
      crashes: this.crashes,
      restarts: this.restarts,
      recordsPersisted,
      snapshotsPersisted,
      syncs,
      recordsLost,
      recordsTorn,
    };
  }

  /** The kept tail of the trace, oldest first (empty when tracing is off). */
  get trace(): TraceEvent[] {
    return this.ring?.toArray() ?? [];
  }

  /** Adds an event to the trace (for tests and workloads: "client-put", ...). */
  record(event: TraceEvent): void {
    this.ring?.push(event);
    this.onTrace?.(event);
  }

  private indexOfNode(id: NodeId): number {
    const i = this.indexById.get(id);
    if (i === undefined) throw new RangeError(`unknown node id ${JSON.stringify(id)}; nodes are ${this.nodeIds.join(",")}`);
    return i;
  }

  // -------------------------------------------------------------------------
  // Running
  // -------------------------------------------------------------------------

  /** Runs every step due in the next `ms` of simulated time. */
  runFor(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`runFor: ms must be a finite number >= 0, got ${ms}`);
    this.runTo(this.nowMs + ms, undefined);
  }

  /**
   * Steps until `predicate(sim)` holds (checked before every step) or
   * `budgetMs` of simulated time has passed. Returns whether it held.
   */
  runUntil(predicate: (sim: this) => boolean, budgetMs: number): boolean {
    if (!(budgetMs >= 0) || !Number.isFinite(budgetMs)) throw new RangeError(`runUntil: budgetMs must be a finite number >= 0, got ${budgetMs}`);
    return this.runTo(this.nowMs + budgetMs, () => predicate(this));
  }

  /** Takes exactly one step (the earliest event). Returns false when nothing is left to do. */
  step(): boolean {
    try {
      return this.stepUnguarded();
    } catch (e) {
      throw this.toFailure(e);
    }
  }

  private stepUnguarded(): boolean {
    this.flushAll();
    const tn = this.network.peekTime();
    const td = this.minDeadline;
    if (td === Infinity && tn === Infinity) return false;
    if (td <= tn) {
      this.network.idleTo(td);
      this.tickNode(this.minDeadlineIndex);
    } else {
      this.network.step();
    }
    return true;
  }

  private runTo(limit: number, predicate: (() => boolean) | undefined): boolean {
    try {
      return this.runToUnguarded(limit, predicate);
    } catch (e) {
      throw this.toFailure(e);
    }
  }

  private runToUnguarded(limit: number, predicate: (() => boolean) | undefined): boolean {
    this.flushAll();
    const net = this.network;
    for (;;) {
      if (predicate !== undefined && predicate()) return true;
      const tn = net.peekTime();
      const td = this.minDeadline;
      if (td <= tn) {
        if (td > limit) break;
        net.idleTo(td);
        this.tickNode(this.minDeadlineIndex);
      } else {
        if (tn > limit) break;
        net.step();
      }
    }
    net.idleTo(limit);
    return predicate !== undefined ? predicate() : true;
  }

  /** Runs `action` at simulated time `atMs` as one step (e.g. a client request). */
  schedule(atMs: number, action: (sim: this) => void): void {
    if (!Number.isFinite(atMs) || atMs < this.nowMs) throw new RangeError(`schedule: atMs must be >= now (${this.nowMs}), got ${atMs}`);
    this.network.at(atMs, () => {
      action(this);
      this.steps++;
      this.flushAll();
      this.checkInvariants();
    });
  }

  // -------------------------------------------------------------------------
  // Faults
  // -------------------------------------------------------------------------

  /** Symmetric partition: nodes in different groups cannot talk; unlisted nodes form one more group. */
  partition(...groups: NodeId[][]): void {
    this.network.partition(...groups);
  }

  /** Applies any partition shape (adds to existing cuts). */
  applyPartition(spec: PartitionSpec): void {
    this.network.applyPartition(spec);
  }

  /** Messages from `from` to `to` are lost; the reverse direction works. */
  cutOneWay(from: NodeId[], to: NodeId[]): void {
    this.network.cutOneWay(from, to);
  }

  /** Cuts one node off from all others. */
  isolate(id: NodeId): void {
    this.indexOfNode(id);
    this.network.isolate(id);
  }

  /** Two halves that reach each other only through `bridge`. */
  bridge(left: NodeId[], bridge: NodeId, right: NodeId[]): void {
    this.network.bridge(left, bridge, right);
  }

  /** Removes every partition. */
  heal(): void {
    this.network.heal();
  }

  /** Probability that a packet is lost. */
  setDropRate(rate: number): void {
    this.network.setDropRate(rate);
  }

  /** Changes packet faults (drop, duplicate, reorder, spikes). */
  setFaults(faults: Partial<NetworkFaultOptions>): void {
    this.network.setFaults(faults);
  }

  /** Crashes `id`: keeps what its Readies persisted on its disk, loses everything else. No-op if already down. */
  crash(id: NodeId): void {
    const i = this.indexOfNode(id);
    const node = this.nodes[i];
    if (node === undefined) return;
    this.nodes[i] = undefined;
    this.upCache = undefined;
    this.setDeadline(i, Infinity);
    this.network.detach(id);
    this.crashes++;
    // Messages waiting for a sync never left; a sync in flight never finishes.
    this.held[i] = [];
    this.syncing[i] = false;
    this.epochs[i]!++;
    const damage = this.disks[i]!.crash(this.diskPrng, this.diskFaults, this.tear);
    this.syncRequired[i] = this.disks[i]!.written;
    if (this.tracing) this.record({ t: this.nowMs, node: id, event: "crash", ...(damage.lost > 0 ? { msg: damage } : {}) });
    this.guard(() => this.checkInvariants());
  }

  /** Restarts a crashed node from what is on its disk. No-op if it is up. */
  restart(id: NodeId): void {
    const i = this.indexOfNode(id);
    if (this.nodes[i] !== undefined) return;
    const k = ++this.restartCount[i]!;
    this.restarts++;
    if (this.tracing) this.record({ t: this.nowMs, node: id, event: "restart", msg: { restart: k } });
    this.guard(() => {
      const disk = this.disks[i]!;
      this.start(i, disk.image(), this.prng.fork(`node:${id}`).fork(`restart:${k}`));
      disk.recovered();
      this.drain(i);
      this.checkInvariants();
    });
  }

  /** Restarts every crashed node. */
  restartAll(): void {
    for (const id of this.nodeIds) this.restart(id);
  }

  // -------------------------------------------------------------------------
  // Internals: the hot path
  // -------------------------------------------------------------------------

  private start(i: number, disk: DiskImage<R, S> | undefined, prng: Prng): void {
    const id = this.nodeIds[i]!;
    const node = this.factory({ id, prng, peers: this.nodeIds, disk, nowMs: this.nowMs });
    if (node === undefined || node === null || typeof node.receive !== "function") throw new TypeError(`factory returned no SimProcess for ${id}`);
    if (node.id !== id) throw new Error(`factory built a node with id ${node.id} for ${id}`);
    this.nodes[i] = node;
    this.upCache = undefined;
    const index = this.network.attach(id, this.sinks[i]!);
    if (index !== i) throw new Error(`internal: endpoint index ${index} != node index ${i}`);
  }

  private scheduleCadence(intervalMs: number): void {
    const fire = (): void => {
      for (let i = 0; i < this.nodes.length; i++) {
        if (this.nodes[i] !== undefined) this.tickNode(i);
      }
      this.network.at(this.nowMs + intervalMs, fire);
    };
    this.network.at(this.nowMs + intervalMs, fire);
  }

  private tickNode(i: number): void {
    const node = this.nodes[i]!;
    const now = this.network.nowMs();
    this.ticks++;
    if (this.traceTicks) this.record({ t: now, node: node.id, event: "tick" });
    node.tick(now);
    this.afterStep(i, node);
    if (this.deadlines[i]! <= now) {
      throw new Error(`node ${node.id}: nextDeadlineMs() is ${this.deadlines[i]} right after tick(${now}); a deadline must lie in the future or be Infinity`);
    }
  }

  private onDeliver(i: number, from: number, payload: unknown, channel: Channel): void {
    const node = this.nodes[i]!;
    const message = this.codec !== undefined ? this.codec.decode(payload as Uint8Array) : (payload as M);
    const fromId = this.nodeIds[from]!;
    if (this.tracing) this.record({ t: this.network.nowMs(), node: node.id, event: "deliver", msg: { from: fromId, channel, message } });
    node.receive(fromId, message, channel, this.network.nowMs());
    this.afterStep(i, node);
  }

  private onStreamFailed(i: number, to: number, payload: unknown): void {
    const node = this.nodes[i];
    if (node === undefined || node.streamFailed === undefined) return;
    const message = this.codec !== undefined ? this.codec.decode(payload as Uint8Array) : (payload as M);
    node.streamFailed(this.nodeIds[to]!, message, this.network.nowMs());
    this.afterStep(i, node);
  }

  private afterStep(i: number, node: N): void {
    this.steps++;
    this.drainNode(i, node);
    this.setDeadline(i, node.nextDeadlineMs());
    if (this.invariants.length > 0) this.checkInvariants();
  }

  private drain(i: number): void {
    const node = this.nodes[i];
    if (node === undefined) return;
    this.drainNode(i, node);
    this.setDeadline(i, node.nextDeadlineMs());
  }

  /**
   * Carries out the node's Readies until it has none left, as a real
   * driver's loop does: a core whose `advance()` produces more work (Raft
   * applies committed entries there, and what they answer goes out in the
   * next Ready) finishes it in the same step. Cores that hand out all their
   * work in one Ready take one turn.
   */
  private drainNode(i: number, node: N): void {
    for (let turn = 0; node.hasReady(); turn++) {
      if (turn === MAX_READIES_PER_STEP) throw new Error(`node ${node.id} still has a Ready after ${MAX_READIES_PER_STEP} in one step; its advance() keeps making work`);
      this.drainReady(i, node);
    }
  }

  /**
   * Does what one Ready asks, in the contract's order: persist onto the
   * node's disk (and sync), then send, then advance. A real driver does the
   * same, which is what lets a crash here replay what a real node wrote.
   * With a sync latency, messages that must wait for the sync are held.
   */
  private drainReady(i: number, node: N): void {
    const rd = node.ready();
    const net = this.network;
    if (rd.trace !== undefined && this.tracing) for (const e of rd.trace) this.record({ t: net.nowMs(), node: node.id, event: e.event, msg: e.msg });
    const disk = this.disks[i]!;
    if (rd.snapshot !== null || rd.records.length > 0) {
      disk.write(rd.snapshot, rd.records);
      if (this.tracing) this.record({ t: net.nowMs(), node: node.id, event: "persist", msg: { records: rd.records.length, snapshot: rd.snapshot !== null, sync: rd.mustSync } });
    }
    // A batch's messages wait for every record that had to be synced so far,
    // this batch's and earlier ones' alike: a message may rest on either.
    if (rd.mustSync) {
      if (this.syncLatency === undefined) disk.sync();
      this.syncRequired[i] = disk.written;
    }
    const mark = this.syncRequired[i]!;
    const held = this.held[i]!;
    if (held.length === 0 && mark <= disk.synced) this.sendAll(i, node, rd.messages);
    else {
      if (rd.messages.length > 0) held.push({ mark, messages: rd.messages });
      this.startSync(i);
    }
    node.advance();
  }

  /** Starts a sync of everything written so far, unless one is running or there is nothing to sync. */
  private startSync(i: number): void {
    const disk = this.disks[i]!;
    const latency = this.syncLatency!;
    if (this.syncing[i] || disk.unsynced === 0) return;
    this.syncing[i] = true;
    const target = disk.written;
    const epoch = this.epochs[i];
    const delayMs = latency.minMs + this.diskPrng.nextFloat() * (latency.maxMs - latency.minMs);
    this.network.at(this.network.nowMs() + delayMs, () => {
      if (this.epochs[i] !== epoch) return;
      this.syncing[i] = false;
      disk.sync(target);
      this.steps++;
      if (this.tracing) this.record({ t: this.network.nowMs(), node: this.nodeIds[i]!, event: "synced", msg: { upTo: target } });
      this.releaseHeld(i);
      this.startSync(i);
      const node = this.nodes[i];
      if (node !== undefined) this.setDeadline(i, node.nextDeadlineMs());
      if (this.invariants.length > 0) this.checkInvariants();
    });
  }

  /** Sends the held batches whose records are now durable, in order. */
  private releaseHeld(i: number): void {
    const held = this.held[i]!;
    const node = this.nodes[i];
    const synced = this.disks[i]!.synced;
    while (held.length > 0 && held[0]!.mark <= synced) {
      const batch = held.shift()!;
      if (node !== undefined) this.sendAll(i, node, batch.messages);
    }
  }

  /** Hands a batch's messages to the network (through the codec), after the `beforeSend` check. */
  private sendAll(i: number, node: N, out: readonly Outbound<M>[]): void {
    const net = this.network;
    const codec = this.codec;
    const sizeOf = this.sizeOf;
    for (let k = 0; k < out.length; k++) {
      const o = out[k]!;
      const dst = this.indexById.get(o.to);
      if (dst === undefined) throw new Error(`node ${node.id} sent a message to unknown node ${JSON.stringify(o.to)}`);
      const channel: Channel = o.channel ?? "packet";
      let payload: unknown = o.message;
      let size = 0;
      if (codec !== undefined) {
        const bytes = codec.encode(o.message);
        size = bytes.length;
        payload = bytes;
        if (channel === "packet" && size > this.maxPacketBytes) {
          throw new RangeError(`node ${node.id} sent a ${size}-byte packet to ${o.to}, over maxPacketBytes ${this.maxPacketBytes}`);
        }
      } else if (sizeOf !== undefined) {
        size = sizeOf(o.message);
      }
      if (this.beforeSend !== undefined) {
        const problem = this.beforeSend({ from: node, to: o.to, message: o.message, durable: this.disks[i]!.durableView() });
        if (typeof problem === "string") {
          if (this.tracing) this.record({ t: net.nowMs(), node: "runner", event: "violation", msg: { invariant: PERSIST_BEFORE_SEND, detail: problem } });
          throw new InvariantViolation(PERSIST_BEFORE_SEND, `${node.id} sent ${describeMessage(o.message)} to ${o.to}: ${problem}`, net.nowMs());
        }
      }
      if (this.tracing) this.record({ t: net.nowMs(), node: node.id, event: "send", msg: { to: o.to, channel, message: o.message } });
      net.send(i, dst, payload, channel, size);
    }
  }

  private flushAll(): void {
    for (let i = 0; i < this.nodes.length; i++) this.drain(i);
  }

  private setDeadline(i: number, d: number): void {
    const deadlines = this.deadlines;
    deadlines[i] = d;
    if (d < this.minDeadline) {
      this.minDeadline = d;
      this.minDeadlineIndex = i;
    } else if (i === this.minDeadlineIndex && d !== this.minDeadline) {
      // The earliest deadline moved later: rescan (n is small; this is rare).
      let min = Infinity;
      let idx = -1;
      for (let j = 0; j < deadlines.length; j++) {
        const x = deadlines[j]!;
        if (x < min) {
          min = x;
          idx = j;
        }
      }
      this.minDeadline = min;
      this.minDeadlineIndex = idx;
    }
  }

  /** Checks every invariant now; throws {@link InvariantViolation} on the first that fails. */
  checkInvariants(): void {
    const invs = this.invariants;
    for (let k = 0; k < invs.length; k++) {
      const inv = invs[k]!;
      const r = inv.check(this);
      if (r === undefined || r === true) continue;
      const detail = r === false ? "check returned false" : String(r);
      if (this.tracing) this.record({ t: this.nowMs, node: "runner", event: "violation", msg: { invariant: inv.name, detail } });
      throw new InvariantViolation(inv.name, detail, this.nowMs);
    }
  }

  /**
   * Turns an error thrown by a run into a {@link SimulationFailure} report
   * (seed, what failed, trace tail). Scripted tests get this from
   * {@link Simulation.guard}; `runSeeded` builds a richer report itself.
   */
  failureReport(error: unknown, traceTail = 40): SimulationFailure {
    const trace = this.trace.slice(-traceTail);
    const kind: FailureKind = error instanceof InvariantViolation ? "invariant" : "exception";
    const what = error instanceof InvariantViolation ? error.invariant : error instanceof Error ? error.name : "error";
    const detail = error instanceof InvariantViolation ? error.detail : error instanceof Error ? error.message : String(error);
    const lines = [
      `HECK_SEED=${this.seed}: ${error instanceof Error ? error.message : String(error)}`,
      `Replay: ${replayHint(this.seed)}`,
      ...(trace.length > 0 ? [`Last ${trace.length} events:`, ...trace.map((e) => formatTraceEvent(e))] : []),
    ];
    if (!(error instanceof InvariantViolation) && error instanceof Error && error.stack) lines.push("Stack:", error.stack);
    return new SimulationFailure(lines.join("\n"), this.seed, kind, what, this.nowMs, trace, detail);
  }

  /**
   * Runs `body` and rethrows any failure as a {@link SimulationFailure} with
   * `HECK_SEED` and the trace tail: wrap scripted scenario tests in it.
   */
  guard<R>(body: (sim: this) => R): R {
    try {
      return body(this);
    } catch (e) {
      throw this.toFailure(e);
    }
  }

  private toFailure(e: unknown): SimulationFailure {
    return e instanceof SimulationFailure ? e : this.failureReport(e);
  }
}

/** A message's `type` when it has one, for reports. */
function describeMessage(message: unknown): string {
  const type = typeof message === "object" && message !== null ? (message as { type?: unknown }).type : undefined;
  return typeof type === "string" ? `a ${type} message` : "a message";
}
