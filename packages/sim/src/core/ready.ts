/**
 * The one output contract of every protocol core in Heck (swim, raft-kv,
 * crdt-kv, v2's agent), after etcd-io/raft's `RawNode`.
 *
 * A core is a synchronous state machine. Its inputs are the same verbs in
 * every stage: `tick(nowMs)` when its deadline comes, `receive(from,
 * message, channel, nowMs)` for every decoded message, and the stage's own
 * client calls (put, join, propose...). It never does I/O: it queues what
 * must happen, and the caller drains it as one batch:
 *
 * ```ts
 * core.receive(from, message, "packet", nowMs);   // or tick, or a client call
 * while (core.hasReady()) {                        // advance() may make more work
 *   const rd = core.ready();
 *   persist(rd.snapshot, rd.records, rd.mustSync); // 1. first, fsync if mustSync
 *   for (const m of rd.messages) send(m);          // 2. only then send
 *   applyAndNotify(rd);                            // 3. the stage's own fields
 *   core.advance();                                // 4. done: the next batch may start
 * }
 * ```
 *
 * The order of duties is the lesson: a message may promise something (a
 * vote, an acknowledgement, a version with a fresh dot, an incarnation) that
 * a crash must not take back, so what the promise rests on reaches the disk
 * before the message leaves (Raft Figure 2: "updated on stable storage
 * before responding to RPCs"). The real drivers (src/io in each stage) and
 * the simulation runner (simulation.ts, with its simulated disk) drain
 * Readies the same way, so a seeded crash replays the records a real node
 * writes.
 *
 * What differs per stage is only the content: the type of the messages, of
 * a persisted record and of a snapshot (the type parameters), and the
 * stage's apply/notify fields, which each stage adds by extending
 * {@link Ready} and explains in its README.
 */
import type { Channel, NodeId } from "./types.ts";

/**
 * One batch of work from a core, fields in the order the caller must do
 * them: persist (`snapshot`, then `records`, fsynced when `mustSync`), then
 * send `messages`; a stage's own apply/notify fields come third.
 *
 * `Msg` is the stage's outgoing message envelope (it names its destination),
 * `R` a persisted record, `S` a snapshot. Arrays may be shared with the core
 * until `advance()`: read them, do not keep or mutate them.
 */
export interface Ready<Msg, R = never, S = never> {
  /** A snapshot to write atomically before the records; it replaces every snapshot and record persisted before it. Null when none. */
  readonly snapshot: S | null;
  /** Records to append, in order, after the snapshot (a WAL's records, an incarnation...). */
  readonly records: readonly R[];
  /**
   * True when the snapshot and records must reach stable storage (fsync)
   * before any message of this batch leaves or any write it completes is
   * acknowledged. False only when nothing in the batch depends on them.
   */
  readonly mustSync: boolean;
  /** Messages to send, in order, once the persistence above is done. */
  readonly messages: readonly Msg[];
}

/**
 * A state machine that reports its work as {@link Ready} batches: every
 * Heck core implements this, with `Rd` its stage's Ready.
 */
export interface ReadyCore<Rd> {
  /** Advances the core's time: runs whatever is due at `nowMs`. */
  tick(nowMs: number): void;
  /** The earliest time at which `tick` has work; Infinity when idle. Drivers arm one timer for it. */
  nextDeadlineMs(): number;
  /** Whether `ready()` would return any work; cheap, and false while a Ready is outstanding. */
  hasReady(): boolean;
  /** Hands out everything queued since the last Ready; throws if the last one was not advanced. */
  ready(): Rd;
  /** Acknowledges the last Ready: its duties are done (or queued, in order, by the driver). */
  advance(): void;
}

/** A {@link ReadyCore} that peers talk to: messages arrive typed, decoded at the edge. */
export interface ProtocolCore<M, Rd> extends ReadyCore<Rd> {
  /** One decoded message from `from`, on the channel it came by. */
  receive(from: NodeId, message: M, channel: Channel, nowMs: number): void;
}

/** An empty, frozen list: Ready fields with nothing in them share it instead of allocating. */
export const NONE: readonly never[] = Object.freeze([]);
