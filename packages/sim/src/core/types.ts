/**
 * The contracts every distributed stage builds on. Protocol code (swim,
 * raft-kv, crdt-kv, v2) depends on these types only; the simulated and the
 * real implementations live beside them (src/core for the simulated network
 * and runner, src/io for UDP/TCP and the system clock).
 *
 * Contract: four packages import these shapes; a change to one changes every
 * stage that implements it, in the same commit.
 */

import type { ProtocolCore, Ready } from "./ready.ts";

/** A node's name in a cluster ("n1", "a"), unique within the cluster. */
export type NodeId = string;

/** A transport address, "host:port" for real transports, the node id in simulation. */
export type Address = string;

/**
 * A seeded pseudo-random stream. Everything random in a protocol (timeouts,
 * peer choice, shuffles) draws from one of these, never from Math.random, so
 * a seed replays a run exactly.
 */
export interface Prng {
  /** A uniform integer in [0, 2^32). */
  nextUint32(): number;
  /** A uniform float in [0, 1). */
  nextFloat(): number;
  /** A uniform integer in [minInclusive, maxInclusive]. */
  nextInt(minInclusive: number, maxInclusive: number): number;
  /** True with probability p (p <= 0 never, p >= 1 always). */
  chance(p: number): boolean;
  /** One element of a non-empty array, uniformly. Throws on an empty array. */
  pick<T>(items: readonly T[]): T;
  /** Shuffles in place (Fisher-Yates) and returns the same array. */
  shuffle<T>(items: T[]): T[];
  /** An exponentially distributed float with the given mean. */
  exponential(mean: number): number;
  /**
   * An independent stream derived from this stream's seed and `name` only
   * (not from how much of this stream was consumed), so adding a node or a
   * draw elsewhere does not change any other named stream.
   */
  fork(name: string): Prng;
  /** The seed this stream was created from (for printing and replay). */
  readonly seed: number;
}

/** An opaque handle returned by {@link Clock.setTimer}. */
export interface TimerHandle {
  readonly id: number;
}

/**
 * Time as the io drivers see it. Cores never hold a Clock: they receive
 * `nowMs` as an argument and report their next deadline; drivers own the
 * Clock and turn deadlines into timers.
 */
export interface Clock {
  /** Milliseconds on a monotonic timeline (simulated, or since process start). */
  nowMs(): number;
  /** Calls `callback` once, `delayMs` from now. */
  setTimer(delayMs: number, callback: () => void): TimerHandle;
  /** Cancels a timer; cancelling a fired or cancelled timer is a no-op. */
  clearTimer(handle: TimerHandle): void;
}

/**
 * Best-effort packets (UDP-like): may be lost, duplicated or reordered; never
 * larger than `maxPacketBytes`. In the spirit of memberlist's Transport.
 */
export interface PacketTransport {
  /** The address peers use to reach this node. */
  readonly localAddress: Address;
  /** Largest payload `sendPacket` accepts; larger payloads throw a RangeError. */
  readonly maxPacketBytes: number;
  /** Sends one packet; never throws for an unreachable peer (the packet is just lost). */
  sendPacket(to: Address, payload: Uint8Array): void;
  /** Registers the one handler for incoming packets (replaces any previous one). */
  onPacket(handler: (from: Address, payload: Uint8Array) => void): void;
}

/** One end of a reliable, ordered, message-framed connection (TCP-like). */
export interface Stream {
  readonly remoteAddress: Address;
  /** Queues one frame; frames arrive whole and in order, or the stream closes. */
  send(frame: Uint8Array): void;
  /** Registers the handler for incoming frames. */
  onFrame(handler: (frame: Uint8Array) => void): void;
  /** Registers the handler called once when the stream closes, with the reason if it broke. */
  onClose(handler: (error?: Error) => void): void;
  /** Closes the stream (idempotent). */
  close(): void;
}

/**
 * Runtime fault switches that real transports (and the sim) expose, so a test
 * or an admin command can partition real processes without root.
 */
export interface FaultControl {
  /** Probability in [0, 1] that an outgoing or incoming packet is dropped. */
  setDropRate(rate: number): void;
  /** Blocks all traffic (packets and new/existing streams) to and from these addresses. */
  block(addresses: readonly Address[]): void;
  /** Unblocks these addresses, or all when omitted. */
  unblock(addresses?: readonly Address[]): void;
  /** The current settings, for status endpoints. */
  faults(): { dropRate: number; blocked: Address[] };
}

// ---------------------------------------------------------------------------
// Simulation: nodes as pure state machines
// ---------------------------------------------------------------------------

/** How a message travels in simulation: a lossy packet or a reliable ordered stream. */
export type Channel = "packet" | "stream";

/** One message a simulated node wants sent. */
export interface Outbound<M> {
  to: NodeId;
  message: M;
  /** Defaults to "packet". Stream messages are ordered per link and dropped only by partitions and crashes. */
  channel?: Channel;
}

/**
 * A node as the simulation runner drives it: a protocol core with the shared
 * Ready contract (ready.ts). The runner calls `tick` when simulated time
 * reaches `nextDeadlineMs()` (or on its own fixed tick cadence, see
 * SimulationConfig), `receive` for each delivered message, and after every
 * step drains the node's Ready exactly as a real driver does: the snapshot
 * and records go to the node's simulated disk (synced when `mustSync`), then
 * the messages to the network, then `advance()`.
 *
 * `R` and `S` are the node's persisted record and snapshot types. On a crash
 * the runner throws the node away and keeps its disk; a restart calls the
 * factory with that disk's image, and the node recovers from it with the
 * same code its real driver runs on the records it wrote.
 */
export interface SimProcess<M, R = never, S = never> extends ProtocolCore<M, SimReady<M, R, S>> {
  readonly id: NodeId;
  /** Called when a stream message to `to` could not be delivered (partition, crash). Optional. */
  streamFailed?(to: NodeId, message: M, nowMs: number): void;
}

/**
 * A Ready as the runner drains it: messages are {@link Outbound} (a
 * destination and a channel), plus optional protocol events ("elected",
 * "suspect") that the runner adds to its trace with the node's id and the
 * current time.
 */
export interface SimReady<M, R = never, S = never> extends Ready<Outbound<M>, R, S> {
  readonly trace?: ReadonlyArray<{ event: string; msg?: unknown }>;
}

/** What a node finds on its disk when it restarts: the last snapshot and the records appended after it, oldest first. */
export interface DiskImage<R, S = never> {
  readonly snapshot: S | null;
  readonly records: readonly R[];
}

/** Creates (or, after a crash, re-creates from its disk) the node `id`. */
export type SimProcessFactory<M, R = never, S = never> = (args: {
  id: NodeId;
  /** The node's own stream, forked from the run's seed by node id. */
  prng: Prng;
  /** Every node id in the initial cluster, this one included. */
  peers: readonly NodeId[];
  /** Undefined on first start; after a crash, what survived on the node's simulated disk. */
  disk: DiskImage<R, S> | undefined;
  nowMs: number;
}) => SimProcess<M, R, S>;

/** One line of an event trace: JSON lines, shared by every stage's logs. */
export interface TraceEvent {
  /** Simulated or real milliseconds. */
  t: number;
  /** The node the event happened on, or "net" / "runner". */
  node: string;
  /** A short verb: "send", "deliver", "drop", "crash", "restart", "partition", "heal", or a protocol event ("elected", "suspect"). */
  event: string;
  /** Free-form details (peer, message type, term...). Must be JSON-serialisable. */
  msg?: unknown;
}
