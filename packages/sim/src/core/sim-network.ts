/**
 * The simulated network: one event queue that is both the clock and the wire.
 *
 * Every message becomes an event due at `now + latency`, where latency is a
 * minimum plus an exponential tail, drawn from the network's own PRNG stream
 * (fork "net" of the run's seed). The same stream decides the faults: drops,
 * duplicates, reordering and delay spikes. Partitions cut directed links;
 * packets on a cut link are lost, and a stream whose link is cut breaks (the
 * sender hears about it, as a TCP sender sees a reset or a timeout).
 *
 * Two kinds of user share one network and one timeline:
 * - the simulation runner ({@link Simulation}), which attaches pure
 *   {@link SimProcess} nodes through {@link SimNetwork.attach} and sends with
 *   {@link SimNetwork.send} on the hot path (integer endpoint indices, no
 *   copies, pooled events);
 * - driver-style code and the transport contract suite, which open a
 *   `SimTransport` (src/io/sim-transport.ts: the promise-returning
 *   `Transport` over a {@link SimEndpoint} from {@link SimNetwork.endpoint})
 *   per address, and use the network itself as their {@link Clock}.
 *
 * Time only moves when the owner calls `step`, `runFor`, `runUntil` or
 * `advanceTo`: a run is a pure function of the seed and the calls made.
 */
import { EventQueue, type Timed } from "./event-queue.ts";
import { cutLinks, describePartition, type PartitionSpec } from "./partitions.ts";
import type {
  Address,
  Channel,
  Clock,
  FaultControl,
  Prng,
  Stream,
  TimerHandle,
  TraceEvent,
  PacketTransport,
} from "./types.ts";

/** Latency model: `minMs + Exp(meanTailMs)`, the shape of real one-way delays (a floor plus a long tail). */
export interface LatencyOptions {
  /** The floor: no message arrives sooner (propagation + serialisation). Default 1 ms. */
  minMs: number;
  /** Mean of the exponential tail added to the floor (queueing). Default 1 ms; 0 gives a fixed latency. */
  meanTailMs: number;
}

/** Random faults, each a probability per message, drawn from the network's stream. */
export interface NetworkFaultOptions {
  /** Probability a packet is lost. Streams never lose single messages (they break instead). Default 0. */
  dropRate: number;
  /** Probability a packet is delivered twice (the copy gets its own latency). Default 0. */
  duplicateRate: number;
  /** Probability a packet is held back by up to `reorderWindowMs`, so later packets overtake it. Default 0. */
  reorderRate: number;
  /** The longest hold-back for a reordered packet. Default 20 ms. */
  reorderWindowMs: number;
  /** Probability a message (packet or stream) suffers a delay spike (a GC pause, a congested switch). Default 0. */
  spikeRate: number;
  /** Size of a spike: the extra delay is uniform in [spikeMs/2, 3*spikeMs/2]. Default 200 ms. */
  spikeMs: number;
}

/** Options for {@link SimNetwork}. */
export interface SimNetworkOptions {
  /** The network's own stream (fork "net" of the run's seed). Required: randomness is always injected. */
  prng: Prng;
  latency?: Partial<LatencyOptions>;
  faults?: Partial<NetworkFaultOptions>;
  /** Largest packet a {@link SimEndpoint} accepts. Default 65507 (the largest UDP/IPv4 payload). */
  maxPacketBytes?: number;
  /** Largest stream frame a {@link SimEndpoint} accepts. Default 4 MiB. */
  maxFrameBytes?: number;
  /** Simulated time at creation. Default 0. */
  startMs?: number;
}

/** Counters since the network was created. */
export interface NetworkStats {
  /** Messages handed to the network (packets and stream messages; duplicates not counted). */
  sent: number;
  /** Messages handed to a receiver (duplicates counted). */
  delivered: number;
  /** Messages lost for any reason (random drop, partition, crashed receiver, broken stream). */
  dropped: number;
  /** Of `dropped`: lost on a cut link. */
  droppedByPartition: number;
  /** Of `dropped`: the receiver was down (crashed or closed). */
  droppedByCrash: number;
  /** Extra copies created by the duplicate fault. */
  duplicated: number;
  /** Packets held back by the reorder fault. */
  reordered: number;
  /** Messages that suffered a delay spike. */
  spiked: number;
  /** Stream messages that failed (the sender's `streamFailed` was called or the stream broke). */
  streamFailures: number;
  /** Sum of the sizes of delivered messages, as given to `send` (0 when sizes are unknown). */
  bytesDelivered: number;
}

/** What an attached endpoint (a runner node) receives. Indices are endpoint indices. */
export interface EndpointSink {
  deliver(from: number, payload: unknown, channel: Channel): void;
  /** A stream message this endpoint sent to `to` was lost (partition or crash). */
  streamFailed(to: number, payload: unknown): void;
}

const DEFAULT_LATENCY: LatencyOptions = { minMs: 1, meanTailMs: 1 };
const DEFAULT_FAULTS: NetworkFaultOptions = {
  dropRate: 0,
  duplicateRate: 0,
  reorderRate: 0,
  reorderWindowMs: 20,
  spikeRate: 0,
  spikeMs: 200,
};

// Event kinds. Numbers, not strings, so the dispatch switch stays monomorphic.
const KIND_MESSAGE = 0;
const KIND_CALLBACK = 1;

/** A message on its way, as {@link SimNetwork.messagesInFlight} lists it. */
export interface MessageInFlight {
  from: Address;
  to: Address;
  sentMs: number;
  /** When it is due: delivered then, or lost then if its link or receiver is down. */
  dueMs: number;
  channel: Channel;
  payload: unknown;
}

/**
 * One queued event. A single class for every kind keeps V8's inline caches
 * monomorphic on the hot path; message events are pooled and reused.
 */
class NetEvent implements Timed {
  t = 0;
  seq = 0;
  kind = KIND_MESSAGE;
  src = 0;
  dst = 0;
  /** Sender's incarnation at send time: a restarted sender must not hear about its predecessor's streams. */
  srcIncarnation = 0;
  /** Link epoch at send time (streams): a stream survives only if its link was never cut meanwhile. */
  epoch = 0;
  stream = false;
  size = 0;
  /** When a message was sent (messages only). */
  sentT = 0;
  payload: unknown = undefined;
  callback: (() => void) | undefined = undefined;
  cancelled = false;
  timerId = 0;
}

// Bits of the per-link `cut` matrix.
const CUT_PARTITION = 1;

function checkRate(name: string, v: number): void {
  if (!(v >= 0 && v <= 1)) throw new RangeError(`${name} must be a probability in [0, 1], got ${v}`);
}

function checkNonNegative(name: string, v: number): void {
  if (!(v >= 0) || !Number.isFinite(v)) throw new RangeError(`${name} must be a finite number >= 0, got ${v}`);
}

/**
 * A deterministic simulated network and clock. See the file comment for the
 * model; every random decision comes from `options.prng`.
 */
export class SimNetwork implements Clock {
  /** Counters; read them, never write them. */
  readonly stats: NetworkStats = {
    sent: 0,
    delivered: 0,
    dropped: 0,
    droppedByPartition: 0,
    droppedByCrash: 0,
    duplicated: 0,
    reordered: 0,
    spiked: 0,
    streamFailures: 0,
    bytesDelivered: 0,
  };
  /** When set, drops, duplicates, partitions and heals are reported here (the runner's trace). */
  tracer: ((event: TraceEvent) => void) | undefined = undefined;
  readonly maxPacketBytes: number;
  readonly maxFrameBytes: number;

  private readonly prng: Prng;
  private readonly queue = new EventQueue<NetEvent>();
  private readonly pool: NetEvent[] = [];
  private now: number;
  private latency: LatencyOptions;
  private faults: NetworkFaultOptions;

  // Endpoint registry: index -> address, plus per-endpoint state in flat arrays.
  private readonly indexByAddress = new Map<Address, number>();
  private readonly addresses: Address[] = [];
  private readonly sinks: (EndpointSink | undefined)[] = [];
  private up: Uint8Array = new Uint8Array(8);
  private incarnation: Int32Array = new Int32Array(8);
  private dropOut: Float64Array = new Float64Array(8);
  private dropIn: Float64Array = new Float64Array(8);

  // Per directed link (from * cap + to).
  private cap = 8;
  private cut: Uint8Array = new Uint8Array(64);
  /** Number of endpoint blocks (FaultControl.block) covering the link. */
  private blocks: Uint8Array = new Uint8Array(64);
  private epoch: Int32Array = new Int32Array(64);
  private streamTail: Float64Array = new Float64Array(64);

  private nextTimerId = 1;
  private readonly timers = new Map<number, NetEvent>();
  private readonly transports = new Map<number, SimEndpoint>();
  private readonly connections = new Set<SimConnection>();
  private partitions: PartitionSpec[] = [];

  constructor(options: SimNetworkOptions) {
    if (options === undefined || options.prng === undefined) throw new TypeError("SimNetwork: options.prng is required");
    this.prng = options.prng;
    this.now = options.startMs ?? 0;
    this.latency = { ...DEFAULT_LATENCY };
    this.faults = { ...DEFAULT_FAULTS };
    this.setLatency(options.latency ?? {});
    this.setFaults(options.faults ?? {});
    this.maxPacketBytes = options.maxPacketBytes ?? 65507;
    this.maxFrameBytes = options.maxFrameBytes ?? 4 * 1024 * 1024;
  }

  // -------------------------------------------------------------------------
  // Clock
  // -------------------------------------------------------------------------

  /** Current simulated time in milliseconds. */
  nowMs(): number {
    return this.now;
  }

  /** Runs `callback` at `now + delayMs` (simulated), in order with messages due at the same time. */
  setTimer(delayMs: number, callback: () => void): TimerHandle {
    const id = this.nextTimerId++;
    const ev = this.callbackAt(this.now + Math.max(0, delayMs), callback);
    ev.timerId = id;
    this.timers.set(id, ev);
    return { id };
  }

  /** Cancels a timer; a fired or cancelled timer is a no-op. */
  clearTimer(handle: TimerHandle): void {
    const ev = this.timers.get(handle.id);
    if (ev !== undefined) {
      ev.cancelled = true;
      this.timers.delete(handle.id);
    }
  }

  /** Schedules `callback` at absolute simulated time `atMs` (not before now). */
  at(atMs: number, callback: () => void): void {
    this.callbackAt(Math.max(this.now, atMs), callback);
  }

  private callbackAt(t: number, callback: () => void): NetEvent {
    const ev = new NetEvent();
    ev.kind = KIND_CALLBACK;
    ev.t = t;
    ev.callback = callback;
    this.queue.push(ev);
    return ev;
  }

  // -------------------------------------------------------------------------
  // Running
  // -------------------------------------------------------------------------

  /** Due time of the next event, or Infinity when nothing is queued. */
  peekTime(): number {
    // Cancelled timers stay in the heap until popped; skip them here so
    // callers never advance to a time where nothing happens.
    for (;;) {
      const top = this.queue.peek();
      if (top === undefined) return Infinity;
      if (!top.cancelled) return top.t;
      this.queue.pop();
    }
  }

  /** Number of queued events (including cancelled timers not yet popped). */
  get pendingEvents(): number {
    return this.queue.size;
  }

  /** Processes the next event, moving time to it. Returns false when the queue is empty. */
  step(): boolean {
    const ev = this.queue.pop();
    if (ev === undefined) return false;
    if (ev.cancelled) return true;
    if (ev.t > this.now) this.now = ev.t;
    if (ev.kind === KIND_MESSAGE) {
      this.deliver(ev);
    } else {
      if (ev.timerId !== 0) this.timers.delete(ev.timerId);
      const cb = ev.callback!;
      ev.callback = undefined;
      cb();
    }
    return true;
  }

  /** Processes every event due at or before `targetMs`, then sets the time to `targetMs`. */
  advanceTo(targetMs: number): void {
    if (targetMs < this.now) throw new RangeError(`advanceTo: ${targetMs} is before now (${this.now})`);
    while (this.peekTime() <= targetMs) this.step();
    this.now = targetMs;
  }

  /** Advances simulated time by `ms`, processing everything due on the way. */
  runFor(ms: number): void {
    checkNonNegative("runFor ms", ms);
    this.advanceTo(this.now + ms);
  }

  /**
   * Steps until `predicate()` holds (checked before each step) or `budgetMs`
   * of simulated time passes. Returns whether the predicate held.
   */
  runUntil(predicate: () => boolean, budgetMs: number): boolean {
    checkNonNegative("runUntil budgetMs", budgetMs);
    const limit = this.now + budgetMs;
    for (;;) {
      if (predicate()) return true;
      if (this.peekTime() > limit) break;
      this.step();
    }
    this.now = limit;
    return predicate();
  }

  /**
   * Moves time forward to `t` when no event is due before it. The runner uses
   * this to tick a node at its deadline between network events.
   */
  idleTo(t: number): void {
    if (t < this.now) return;
    if (this.peekTime() < t) throw new RangeError(`idleTo(${t}): an event is due at ${this.peekTime()}`);
    this.now = t;
  }

  // -------------------------------------------------------------------------
  // Endpoints
  // -------------------------------------------------------------------------

  /** The index of `address`, registering it (down, with no sink) if it is new. */
  indexOf(address: Address): number {
    const known = this.indexByAddress.get(address);
    if (known !== undefined) return known;
    if (typeof address !== "string" || address.length === 0) throw new TypeError(`address must be a non-empty string, got ${String(address)}`);
    const i = this.addresses.length;
    if (i >= this.cap) this.grow();
    this.addresses.push(address);
    this.sinks.push(undefined);
    this.indexByAddress.set(address, i);
    return i;
  }

  /** The address registered at `index`. */
  addressOf(index: number): Address {
    const a = this.addresses[index];
    if (a === undefined) throw new RangeError(`no endpoint at index ${index}`);
    return a;
  }

  /** Every registered address, in registration order. */
  allAddresses(): Address[] {
    return [...this.addresses];
  }

  /** Whether the endpoint at `address` is up (attached and not crashed). */
  isUp(address: Address): boolean {
    const i = this.indexByAddress.get(address);
    return i !== undefined && this.up[i] === 1;
  }

  private grow(): void {
    const oldCap = this.cap;
    const cap = oldCap * 2;
    const remap = <T extends Uint8Array | Int32Array | Float64Array>(old: T, make: (n: number) => T): T => {
      const next = make(cap * cap);
      for (let a = 0; a < oldCap; a++) next.set(old.subarray(a * oldCap, (a + 1) * oldCap), a * cap);
      return next;
    };
    this.cut = remap(this.cut, (n) => new Uint8Array(n));
    this.blocks = remap(this.blocks, (n) => new Uint8Array(n));
    this.epoch = remap(this.epoch, (n) => new Int32Array(n));
    this.streamTail = remap(this.streamTail, (n) => new Float64Array(n));
    const up = new Uint8Array(cap);
    up.set(this.up);
    this.up = up;
    const inc = new Int32Array(cap);
    inc.set(this.incarnation);
    this.incarnation = inc;
    const dOut = new Float64Array(cap);
    dOut.set(this.dropOut);
    this.dropOut = dOut;
    const dIn = new Float64Array(cap);
    dIn.set(this.dropIn);
    this.dropIn = dIn;
    this.cap = cap;
  }

  /**
   * Attaches a receiver at `address` and marks it up; returns its index for
   * {@link send}. Re-attaching (a restart) starts a new incarnation: stream
   * messages to or from the old one fail.
   */
  attach(address: Address, sink: EndpointSink): number {
    const i = this.indexOf(address);
    if (this.up[i] === 1) this.setDown(i);
    this.sinks[i] = sink;
    this.up[i] = 1;
    this.incarnation[i]!++;
    return i;
  }

  /**
   * Takes an endpoint down (a crash): messages to it are lost from now on, and
   * every stream to or from it breaks.
   */
  detach(address: Address): void {
    const i = this.indexByAddress.get(address);
    if (i !== undefined && this.up[i] === 1) this.setDown(i);
  }

  private setDown(i: number): void {
    this.up[i] = 0;
    this.sinks[i] = undefined;
    this.incarnation[i]!++;
    const n = this.addresses.length;
    const cap = this.cap;
    // Bump the epoch of every link touching i: in-flight stream messages on
    // them fail when they come due, as a connection reset would make them.
    for (let j = 0; j < n; j++) {
      this.epoch[i * cap + j]!++;
      this.epoch[j * cap + i]!++;
    }
    for (const c of [...this.connections]) {
      if (c.a.index === i || c.b.index === i) c.break(new Error(`connection reset: ${this.addresses[i]} went down`));
    }
  }

  // -------------------------------------------------------------------------
  // Sending (the runner's hot path)
  // -------------------------------------------------------------------------

  /** One latency draw: floor + exponential tail, maybe a spike. */
  private drawLatency(): number {
    const lat = this.latency;
    let d = lat.minMs;
    if (lat.meanTailMs > 0) d += this.prng.exponential(lat.meanTailMs);
    const f = this.faults;
    if (f.spikeRate > 0 && this.prng.chance(f.spikeRate)) {
      d += f.spikeMs * (0.5 + this.prng.nextFloat());
      this.stats.spiked++;
    }
    return d;
  }

  private newMessage(src: number, dst: number, payload: unknown, stream: boolean, size: number, t: number): NetEvent {
    const ev = this.pool.pop() ?? new NetEvent();
    ev.kind = KIND_MESSAGE;
    ev.t = t;
    ev.src = src;
    ev.dst = dst;
    ev.srcIncarnation = this.incarnation[src]!;
    ev.stream = stream;
    ev.size = size;
    ev.sentT = this.now;
    ev.payload = payload;
    return ev;
  }

  /**
   * Every message queued for delivery, in no particular order: what a viewer
   * draws as dots on their links. Read-only; the payload is what was sent
   * (encoded bytes when the runner has a codec).
   */
  messagesInFlight(): MessageInFlight[] {
    const out: MessageInFlight[] = [];
    this.queue.forEach((ev) => {
      if (ev.kind !== KIND_MESSAGE || ev.cancelled) return;
      out.push({ from: this.addresses[ev.src]!, to: this.addresses[ev.dst]!, sentMs: ev.sentT, dueMs: ev.t, channel: ev.stream ? "stream" : "packet", payload: ev.payload });
    });
    return out;
  }

  /**
   * Sends `payload` from endpoint `src` to endpoint `dst` (indices from
   * {@link attach} or {@link indexOf}). Packets may be dropped, duplicated,
   * reordered or delayed; stream messages arrive in order per link or fail.
   * `size` only feeds `stats.bytesDelivered`.
   */
  send(src: number, dst: number, payload: unknown, channel: Channel, size = 0): void {
    const stats = this.stats;
    stats.sent++;
    const link = src * this.cap + dst;
    const f = this.faults;
    if (channel === "stream") {
      // Ordered per link: never earlier than the previous stream message on it.
      let t = this.now + this.drawLatency();
      const tail = this.streamTail[link]!;
      if (t < tail) t = tail;
      this.streamTail[link] = t;
      const ev = this.newMessage(src, dst, payload, true, size, t);
      // Sent into a cut link: it can never arrive, even if the link heals first.
      ev.epoch = this.cut[link] !== 0 || this.blocks[link] !== 0 ? -1 : this.epoch[link]!;
      this.queue.push(ev);
      return;
    }
    if (this.cut[link] !== 0 || this.blocks[link] !== 0) {
      this.drop(src, dst, payload, "partition");
      return;
    }
    if (f.dropRate > 0 && this.prng.chance(f.dropRate)) {
      this.drop(src, dst, payload, "random");
      return;
    }
    const dOut = this.dropOut[src]!;
    if (dOut > 0 && this.prng.chance(dOut)) {
      this.drop(src, dst, payload, "sender-fault");
      return;
    }
    let t = this.now + this.drawLatency();
    if (f.reorderRate > 0 && this.prng.chance(f.reorderRate)) {
      t += this.prng.nextFloat() * f.reorderWindowMs;
      stats.reordered++;
    }
    this.queue.push(this.newMessage(src, dst, payload, false, size, t));
    if (f.duplicateRate > 0 && this.prng.chance(f.duplicateRate)) {
      stats.duplicated++;
      this.queue.push(this.newMessage(src, dst, payload, false, size, this.now + this.drawLatency()));
      if (this.tracer !== undefined) this.trace("net", "duplicate", { from: this.addresses[src], to: this.addresses[dst], message: payload });
    }
  }

  private drop(src: number, dst: number, payload: unknown, reason: string): void {
    const stats = this.stats;
    stats.dropped++;
    if (reason === "partition") stats.droppedByPartition++;
    else if (reason === "crashed") stats.droppedByCrash++;
    if (this.tracer !== undefined) this.trace("net", "drop", { from: this.addresses[src], to: this.addresses[dst], reason, message: payload });
  }

  private deliver(ev: NetEvent): void {
    const src = ev.src;
    const dst = ev.dst;
    const payload = ev.payload;
    const link = src * this.cap + dst;
    const stats = this.stats;
    if (ev.stream) {
      const broken = this.epoch[link] !== ev.epoch || this.cut[link] !== 0 || this.blocks[link] !== 0 || this.up[dst] === 0;
      const srcAlive = this.up[src] === 1 && this.incarnation[src] === ev.srcIncarnation;
      this.release(ev);
      if (broken) {
        stats.dropped++;
        stats.streamFailures++;
        if (this.up[dst] === 0) stats.droppedByCrash++;
        else stats.droppedByPartition++;
        if (this.tracer !== undefined) this.trace("net", "stream-fail", { from: this.addresses[src], to: this.addresses[dst], message: payload });
        if (srcAlive) this.sinks[src]!.streamFailed(dst, payload);
        return;
      }
      stats.delivered++;
      stats.bytesDelivered += ev.size;
      this.sinks[dst]!.deliver(src, payload, "stream");
      return;
    }
    if (this.up[dst] === 0) {
      this.release(ev);
      this.drop(src, dst, payload, "crashed");
      return;
    }
    if (this.cut[link] !== 0 || this.blocks[link] !== 0) {
      this.release(ev);
      this.drop(src, dst, payload, "partition");
      return;
    }
    const dIn = this.dropIn[dst]!;
    if (dIn > 0 && this.prng.chance(dIn)) {
      this.release(ev);
      this.drop(src, dst, payload, "receiver-fault");
      return;
    }
    stats.delivered++;
    stats.bytesDelivered += ev.size;
    this.release(ev);
    this.sinks[dst]!.deliver(src, payload, "packet");
  }

  private release(ev: NetEvent): void {
    ev.payload = undefined;
    if (this.pool.length < 4096) this.pool.push(ev);
  }

  // -------------------------------------------------------------------------
  // Faults
  // -------------------------------------------------------------------------

  /** Replaces some random-fault settings (others keep their value). */
  setFaults(faults: Partial<NetworkFaultOptions>): void {
    const next = { ...this.faults, ...faults };
    checkRate("faults.dropRate", next.dropRate);
    checkRate("faults.duplicateRate", next.duplicateRate);
    checkRate("faults.reorderRate", next.reorderRate);
    checkRate("faults.spikeRate", next.spikeRate);
    checkNonNegative("faults.reorderWindowMs", next.reorderWindowMs);
    checkNonNegative("faults.spikeMs", next.spikeMs);
    this.faults = next;
  }

  /** The current random-fault settings. */
  currentFaults(): NetworkFaultOptions {
    return { ...this.faults };
  }

  /** Sets the probability that any packet is lost. */
  setDropRate(rate: number): void {
    this.setFaults({ dropRate: rate });
  }

  /** Replaces some latency settings. */
  setLatency(latency: Partial<LatencyOptions>): void {
    const next = { ...this.latency, ...latency };
    checkNonNegative("latency.minMs", next.minMs);
    checkNonNegative("latency.meanTailMs", next.meanTailMs);
    this.latency = next;
  }

  /**
   * Cuts the links a partition describes (adding to any cuts already made).
   * Nodes named in a spec but never attached are registered so the cut holds
   * when they appear. Streams over newly cut links break.
   */
  applyPartition(spec: PartitionSpec): void {
    const links = cutLinks(spec, this.addresses);
    for (const [a, b] of links) this.cutLink(this.indexOf(a), this.indexOf(b));
    this.partitions.push(spec);
    if (this.tracer !== undefined) this.trace("net", "partition", { spec: describePartition(spec) });
  }

  /** Symmetric partition: nodes in different groups cannot talk; unlisted nodes form one more group. */
  partition(...groups: Address[][]): void {
    this.applyPartition({ kind: "groups", groups });
  }

  /** Asymmetric cut: messages from any of `from` to any of `to` are lost; replies still flow. */
  cutOneWay(from: Address[], to: Address[]): void {
    this.applyPartition({ kind: "one-way", from, to });
  }

  /** Cuts `address` off from every other node, both ways. */
  isolate(address: Address): void {
    this.applyPartition({ kind: "groups", groups: [[address]] });
  }

  /** Two halves that can only reach each other's nodes through `bridge`. */
  bridge(left: Address[], bridge: Address, right: Address[]): void {
    this.applyPartition({ kind: "bridge", left, bridge, right });
  }

  /** Removes every partition cut (endpoint blocks from FaultControl stay). */
  heal(): void {
    this.cut.fill(0);
    this.partitions = [];
    if (this.tracer !== undefined) this.trace("net", "heal", undefined);
  }

  /** The partitions applied since the last heal. */
  activePartitions(): PartitionSpec[] {
    return [...this.partitions];
  }

  /** Whether messages from `from` to `to` are currently lost (partition or block). */
  isCut(from: Address, to: Address): boolean {
    const a = this.indexByAddress.get(from);
    const b = this.indexByAddress.get(to);
    if (a === undefined || b === undefined) return false;
    const link = a * this.cap + b;
    return this.cut[link] !== 0 || this.blocks[link] !== 0;
  }

  private cutLink(a: number, b: number): void {
    const link = a * this.cap + b;
    const wasOpen = this.cut[link] === 0 && this.blocks[link] === 0;
    this.cut[link]! |= CUT_PARTITION;
    if (wasOpen) this.onLinkClosed(a, b);
  }

  private onLinkClosed(a: number, b: number): void {
    this.epoch[a * this.cap + b]!++;
    for (const c of [...this.connections]) {
      if ((c.a.index === a && c.b.index === b) || (c.a.index === b && c.b.index === a)) {
        c.break(new Error(`connection broken: link ${this.addresses[a]} -> ${this.addresses[b]} cut`));
      }
    }
  }

  /** Endpoint-level blocks (FaultControl.block), kept apart from partitions so heal() leaves them. */
  blockLinks(self: number, peer: number, delta: 1 | -1): void {
    for (const link of [self * this.cap + peer, peer * this.cap + self]) {
      const wasOpen = this.cut[link] === 0 && this.blocks[link] === 0;
      this.blocks[link] = Math.max(0, this.blocks[link]! + delta);
      if (wasOpen && this.blocks[link] !== 0) {
        const a = Math.floor(link / this.cap);
        this.onLinkClosed(a, link - a * this.cap);
      }
    }
  }

  /** Per-endpoint drop probability (FaultControl.setDropRate) for packets it sends and receives. */
  setEndpointDropRate(index: number, rate: number): void {
    checkRate("dropRate", rate);
    this.dropOut[index] = rate;
    this.dropIn[index] = rate;
  }

  private trace(node: string, event: string, msg: unknown): void {
    this.tracer!({ t: this.now, node, event, msg });
  }

  // -------------------------------------------------------------------------
  // Transports (driver-style code, the contract suite)
  // -------------------------------------------------------------------------

  /**
   * The packets, streams and {@link FaultControl} of `address`, callback
   * style (`SimTransport` in src/io wraps it as a `Transport`). Opening an
   * endpoint at an address whose previous one was closed is a restart.
   */
  endpoint(address: Address): SimEndpoint {
    const i = this.indexOf(address);
    const existing = this.transports.get(i);
    if (existing !== undefined && !existing.closed) throw new Error(`SimNetwork: an endpoint is already open at ${address}`);
    const t = new SimEndpoint(this, address, i);
    this.transports.set(i, t);
    this.attach(address, t.sink);
    return t;
  }

  /** @internal A transport listening for streams at `index`, if any. */
  listenerAt(index: number): SimEndpoint | undefined {
    const t = this.transports.get(index);
    return t !== undefined && !t.closed && this.up[index] === 1 && t.streamHandler !== undefined ? t : undefined;
  }

  /** @internal Whether either direction between a and b is cut. */
  linkDown(a: number, b: number): boolean {
    const cap = this.cap;
    return this.cut[a * cap + b] !== 0 || this.blocks[a * cap + b] !== 0 || this.cut[b * cap + a] !== 0 || this.blocks[b * cap + a] !== 0;
  }

  /** @internal One latency draw for transport streams. */
  streamLatency(): number {
    return this.drawLatency();
  }

  /** @internal */
  registerConnection(c: SimConnection): void {
    this.connections.add(c);
  }

  /** @internal */
  unregisterConnection(c: SimConnection): void {
    this.connections.delete(c);
  }
}

// ---------------------------------------------------------------------------
// SimEndpoint: packets, streams and fault switches at one simulated address
// ---------------------------------------------------------------------------

/** One side of a simulated connection. */
class SimStream implements Stream {
  readonly remoteAddress: Address;
  readonly index: number;
  /** Simulated time of the last frame scheduled from this side (frames stay in order). */
  tail = 0;
  closed = false;
  private frameHandler: ((frame: Uint8Array) => void) | undefined;
  private closeHandler: ((error?: Error) => void) | undefined;
  private pending: Uint8Array[] = [];
  private closeNotified = false;
  private closeError: Error | undefined;
  peer!: SimStream;

  constructor(
    private readonly net: SimNetwork,
    readonly conn: SimConnection,
    index: number,
    remoteAddress: Address,
  ) {
    this.index = index;
    this.remoteAddress = remoteAddress;
  }

  send(frame: Uint8Array): void {
    if (!(frame instanceof Uint8Array)) throw new TypeError("Stream.send: frame must be a Uint8Array");
    if (frame.length > this.net.maxFrameBytes) throw new RangeError(`Stream.send: frame of ${frame.length} bytes exceeds maxFrameBytes ${this.net.maxFrameBytes}`);
    if (this.closed) return;
    const copy = frame.slice();
    const t = Math.max(this.net.nowMs() + this.net.streamLatency(), this.tail);
    this.tail = t;
    this.net.stats.sent++;
    this.net.at(t, () => {
      if (this.conn.broken || this.peer.closed) {
        this.net.stats.dropped++;
        return;
      }
      if (this.net.linkDown(this.index, this.peer.index)) {
        this.conn.break(new Error(`connection broken: link to ${this.peer.remoteAddress} cut`));
        return;
      }
      this.net.stats.delivered++;
      this.net.stats.bytesDelivered += copy.length;
      this.peer.receiveFrame(copy);
    });
  }

  receiveFrame(frame: Uint8Array): void {
    if (this.frameHandler === undefined) this.pending.push(frame);
    else this.frameHandler(frame);
  }

  onFrame(handler: (frame: Uint8Array) => void): void {
    this.frameHandler = handler;
    const pending = this.pending;
    this.pending = [];
    for (const f of pending) handler(f);
  }

  onClose(handler: (error?: Error) => void): void {
    this.closeHandler = handler;
    if (this.closed && this.closeNotified) {
      const err = this.closeError;
      this.net.at(this.net.nowMs(), () => handler(err));
    }
  }

  /** Marks this side closed and tells its handler once (on the event loop, never re-entrantly). */
  markClosed(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.closeError = error;
    this.net.at(this.net.nowMs(), () => {
      this.closeNotified = true;
      this.closeHandler?.(error);
    });
  }

  close(): void {
    if (this.closed || this.conn.broken) return;
    this.markClosed();
    // The peer learns of the close after the frames already sent (a FIN).
    const t = Math.max(this.net.nowMs() + this.net.streamLatency(), this.tail);
    this.net.at(t, () => {
      this.peer.markClosed();
      this.conn.finish();
    });
  }
}

/** @internal A simulated connection between two endpoints. */
export class SimConnection {
  broken = false;
  readonly a: SimStream;
  readonly b: SimStream;

  constructor(
    private readonly net: SimNetwork,
    dialer: number,
    listener: number,
  ) {
    this.a = new SimStream(net, this, dialer, net.addressOf(listener));
    this.b = new SimStream(net, this, listener, net.addressOf(dialer));
    this.a.peer = this.b;
    this.b.peer = this.a;
    net.registerConnection(this);
  }

  /** Both sides close with `error` (partition, crash, block). */
  break(error: Error): void {
    if (this.broken) return;
    this.broken = true;
    this.net.stats.streamFailures++;
    this.net.unregisterConnection(this);
    this.a.markClosed(error);
    this.b.markClosed(error);
  }

  finish(): void {
    if (this.a.closed && this.b.closed) this.net.unregisterConnection(this);
  }
}

/**
 * One address on a {@link SimNetwork}: packets and fault switches as a
 * transport has them, streams dialed with a callback. Synchronous and
 * promise-free like everything in src/core; `SimTransport` (src/io) wraps
 * it as the promise-returning `Transport` drivers use. Obtain one with
 * {@link SimNetwork.endpoint}.
 */
export class SimEndpoint implements PacketTransport, FaultControl {
  readonly localAddress: Address;
  readonly maxPacketBytes: number;
  readonly maxFrameBytes: number;
  closed = false;
  /** @internal */
  streamHandler: ((stream: Stream) => void) | undefined;
  /** @internal */
  readonly sink: EndpointSink;
  private packetHandler: ((from: Address, payload: Uint8Array) => void) | undefined;
  private dropRate = 0;
  private readonly blocked = new Set<Address>();
  private readonly streams = new Set<SimStream>();

  constructor(
    private readonly net: SimNetwork,
    address: Address,
    private readonly index: number,
  ) {
    this.localAddress = address;
    this.maxPacketBytes = net.maxPacketBytes;
    this.maxFrameBytes = net.maxFrameBytes;
    this.sink = {
      deliver: (from, payload) => this.packetHandler?.(net.addressOf(from), payload as Uint8Array),
      streamFailed: () => {},
    };
  }

  sendPacket(to: Address, payload: Uint8Array): void {
    if (!(payload instanceof Uint8Array)) throw new TypeError("sendPacket: payload must be a Uint8Array");
    if (payload.length > this.maxPacketBytes) throw new RangeError(`sendPacket: ${payload.length} bytes exceeds maxPacketBytes ${this.maxPacketBytes}`);
    if (this.closed) return;
    this.net.send(this.index, this.net.indexOf(to), payload.slice(), "packet", payload.length);
  }

  onPacket(handler: (from: Address, payload: Uint8Array) => void): void {
    this.packetHandler = handler;
  }

  onStream(handler: (stream: Stream) => void): void {
    this.streamHandler = handler;
  }

  /** Opens a stream to `to`; `done` is called once, with the stream or why there is none (refused, timed out, reset). */
  dialStream(to: Address, timeoutMs: number, done: (error: Error | undefined, stream?: Stream) => void): void {
    const net = this.net;
    if (this.closed) {
      done(new Error(`dial ${to}: transport closed`));
      return;
    }
    const dst = net.indexOf(to);
    let settled = false;
    const settle = (err: Error | undefined, stream?: SimStream): void => {
      if (settled) return;
      settled = true;
      done(err, stream);
    };
    const timeout = net.setTimer(timeoutMs, () => settle(new Error(`dial ${to}: timed out after ${timeoutMs} ms`)));
    if (net.linkDown(this.index, dst)) return; // SYNs are lost: only the timeout answers.
    const synAt = net.nowMs() + net.streamLatency();
    net.at(synAt, () => {
      if (settled || this.closed) return;
      if (net.linkDown(this.index, dst)) return;
      const listener = net.listenerAt(dst);
      if (listener === undefined || listener.isBlocking(this.localAddress)) {
        // Nothing listens there: a reset comes back after one more hop.
        net.at(net.nowMs() + net.streamLatency(), () => {
          net.clearTimer(timeout);
          settle(new Error(`dial ${to}: connection refused`));
        });
        return;
      }
      const conn = new SimConnection(net, this.index, dst);
      listener.adopt(conn.b);
      // The listener may send at once; its frames must not overtake the SYN-ACK.
      const ackAt = net.nowMs() + net.streamLatency();
      conn.b.tail = ackAt;
      listener.streamHandler!(conn.b);
      net.at(ackAt, () => {
        net.clearTimer(timeout);
        if (settled || this.closed || conn.broken) {
          conn.break(new Error("dial abandoned"));
          if (!settled) settle(new Error(`dial ${to}: connection reset`));
          return;
        }
        this.adopt(conn.a);
        settle(undefined, conn.a);
      });
    });
  }

  /** @internal Tracks a stream so block() and close() can break it. */
  adopt(s: SimStream): void {
    this.streams.add(s);
    if (this.blocked.has(s.remoteAddress)) s.conn.break(new Error(`blocked peer ${s.remoteAddress}`));
  }

  /** @internal */
  isBlocking(address: Address): boolean {
    return this.blocked.has(address);
  }

  /** Stops listening and breaks every stream (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams) s.conn.break(new Error("transport closed"));
    this.streams.clear();
    this.net.detach(this.localAddress);
  }

  setDropRate(rate: number): void {
    this.net.setEndpointDropRate(this.index, rate);
    this.dropRate = rate;
  }

  block(addresses: readonly Address[]): void {
    for (const a of addresses) {
      if (this.blocked.has(a)) continue;
      this.blocked.add(a);
      this.net.blockLinks(this.index, this.net.indexOf(a), 1);
    }
  }

  unblock(addresses?: readonly Address[]): void {
    for (const a of addresses ?? [...this.blocked]) {
      if (!this.blocked.delete(a)) continue;
      this.net.blockLinks(this.index, this.net.indexOf(a), -1);
    }
  }

  faults(): { dropRate: number; blocked: Address[] } {
    return { dropRate: this.dropRate, blocked: [...this.blocked].sort() };
  }
}
