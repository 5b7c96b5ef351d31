/**
 * Two tiny protocols for tests and the benchmark. They are examples of the
 * SimProcess shape as much as fixtures: a pure state machine, an outbox, a
 * deadline, and a persisted value.
 */
import type { Channel, NodeId, Outbound, Prng, SimProcess } from "../../src/core/types.ts";

/** Ping-pong: every node keeps one ping in flight to every peer, forever. */
export type EchoMessage = { type: "ping"; seq: number } | { type: "pong"; seq: number };

/**
 * The benchmark protocol: on start a node pings every peer; a ping is
 * answered with a pong, a pong with the next ping. So n*(n-1) messages are
 * always in flight and every delivery causes exactly one send.
 */
export class EchoNode implements SimProcess<EchoMessage, number> {
  received = 0;
  private outbox: Outbound<EchoMessage>[] = [];

  constructor(
    readonly id: NodeId,
    peers: readonly NodeId[],
    readonly channel: Channel = "packet",
  ) {
    for (const p of peers) if (p !== id) this.outbox.push({ to: p, message: { type: "ping", seq: 0 }, channel });
  }

  tick(): void {}

  receive(from: NodeId, message: EchoMessage): void {
    this.received++;
    const reply: EchoMessage = message.type === "ping" ? { type: "pong", seq: message.seq } : { type: "ping", seq: message.seq + 1 };
    this.outbox.push({ to: from, message: reply, channel: this.channel });
  }

  takeOutbox(): Outbound<EchoMessage>[] {
    const out = this.outbox;
    this.outbox = [];
    return out;
  }

  nextDeadlineMs(): number {
    return Infinity;
  }

  persisted(): number {
    return this.received;
  }
}

/** A gossip message carrying a unique id, so tests can count deliveries per message. */
export interface TaggedMessage {
  id: string;
  hops: number;
}

/**
 * Sends a uniquely tagged packet to a random peer every `periodMs` (its own
 * deadline, drawn from its own stream) and records every id it receives.
 * `persisted()` is the count of packets it has sent, so a restarted node
 * continues its id sequence (ids stay unique across crashes).
 */
export class TaggingNode implements SimProcess<TaggedMessage, number> {
  readonly seen = new Map<string, number>();
  /** The most recent delivery, so invariants can check just the last step in O(1). */
  lastReceived: { id: string; count: number } | undefined;
  readonly streamFailures: string[] = [];
  private sent: number;
  private next: number;
  private outbox: Outbound<TaggedMessage>[] = [];

  constructor(
    readonly id: NodeId,
    private readonly peers: readonly NodeId[],
    private readonly prng: Prng,
    persisted: number | undefined,
    nowMs: number,
    private readonly periodMs = 10,
    private readonly channel: Channel = "packet",
  ) {
    this.sent = persisted ?? 0;
    this.next = nowMs + prng.nextFloat() * periodMs;
  }

  tick(nowMs: number): void {
    if (nowMs < this.next) return;
    const others = this.peers.filter((p) => p !== this.id);
    const to = this.prng.pick(others);
    this.outbox.push({ to, message: { id: `${this.id}#${this.sent++}`, hops: 0 }, channel: this.channel });
    this.next = nowMs + this.periodMs * (0.5 + this.prng.nextFloat());
  }

  receive(_from: NodeId, message: TaggedMessage): void {
    const count = (this.seen.get(message.id) ?? 0) + 1;
    this.seen.set(message.id, count);
    this.lastReceived = { id: message.id, count };
  }

  streamFailed(_to: NodeId, message: TaggedMessage): void {
    this.streamFailures.push(message.id);
  }

  takeOutbox(): Outbound<TaggedMessage>[] {
    const out = this.outbox;
    this.outbox = [];
    return out;
  }

  nextDeadlineMs(): number {
    return this.next;
  }

  persisted(): number {
    return this.sent;
  }
}
