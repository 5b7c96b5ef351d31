/**
 * Two tiny protocols for tests and the benchmark. They are examples of the
 * SimProcess shape as much as fixtures: a pure state machine, a Ready batch
 * (records to persist, then messages), a deadline, and recovery from what
 * the records left on disk.
 */
import { NONE } from "../../src/core/ready.ts";
import type { Channel, DiskImage, NodeId, Outbound, Prng, SimProcess, SimReady } from "../../src/core/types.ts";

/** Ping-pong: every node keeps one ping in flight to every peer, forever. */
export type EchoMessage = { type: "ping"; seq: number } | { type: "pong"; seq: number };

/**
 * The benchmark protocol: on start a node pings every peer; a ping is
 * answered with a pong, a pong with the next ping. So n*(n-1) messages are
 * always in flight and every delivery causes exactly one send. It persists
 * nothing: the benchmark measures the runner and the network.
 */
export class EchoNode implements SimProcess<EchoMessage> {
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

  hasReady(): boolean {
    return this.outbox.length > 0;
  }

  ready(): SimReady<EchoMessage> {
    const messages = this.outbox;
    this.outbox = [];
    return { snapshot: null, records: NONE, mustSync: false, messages };
  }

  advance(): void {}

  nextDeadlineMs(): number {
    return Infinity;
  }
}

/** A gossip message carrying a unique id, so tests can count deliveries per message. */
export interface TaggedMessage {
  id: string;
  hops: number;
}

/** What a {@link TaggingNode} had sent, recovered from its disk: the newest record (each is a running count). */
export function recoverSentCount(disk: DiskImage<number> | undefined): number {
  if (disk === undefined) return 0;
  return disk.records.length > 0 ? disk.records[disk.records.length - 1]! : 0;
}

/**
 * Sends a uniquely tagged packet to a random peer every `periodMs` (its own
 * deadline, drawn from its own stream) and records every id it receives.
 * Every send persists the new count of packets sent as a record, synced
 * before the packet leaves, so a restarted node continues its id sequence
 * (ids stay unique across crashes). `unsafe` persists the count one Ready
 * late, after the packet left: the bug persist-before-send checks exist for.
 */
export class TaggingNode implements SimProcess<TaggedMessage, number> {
  readonly seen = new Map<string, number>();
  /** The most recent delivery, so invariants can check just the last step in O(1). */
  lastReceived: { id: string; count: number } | undefined;
  readonly streamFailures: string[] = [];
  private sentCount: number;
  private next: number;
  private outbox: Outbound<TaggedMessage>[] = [];
  private records: number[] = [];
  /** With `unsafe`: the records of the previous Ready, persisted with the next one. */
  private late: number[] = [];
  /**
   * True between advance() and the runner's next hasReady(): the runner
   * drains Readies until there are none, so late records wait for the next
   * drain (the next step) rather than go out in this one.
   */
  private justAdvanced = false;

  constructor(
    readonly id: NodeId,
    private readonly peers: readonly NodeId[],
    private readonly prng: Prng,
    disk: DiskImage<number> | undefined,
    nowMs: number,
    private readonly periodMs = 10,
    private readonly channel: Channel = "packet",
    private readonly unsafe = false,
  ) {
    this.sentCount = recoverSentCount(disk);
    this.next = nowMs + prng.nextFloat() * periodMs;
  }

  /** Packets sent since the first start (persisted across crashes). */
  get sent(): number {
    return this.sentCount;
  }

  tick(nowMs: number): void {
    if (nowMs < this.next) return;
    const others = this.peers.filter((p) => p !== this.id);
    const to = this.prng.pick(others);
    this.outbox.push({ to, message: { id: `${this.id}#${this.sentCount++}`, hops: 0 }, channel: this.channel });
    this.records.push(this.sentCount);
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

  hasReady(): boolean {
    const lateDue = this.late.length > 0 && !this.justAdvanced;
    this.justAdvanced = false;
    return this.outbox.length > 0 || this.records.length > 0 || lateDue;
  }

  ready(): SimReady<TaggedMessage, number> {
    let records = this.records;
    if (this.unsafe) {
      records = this.late;
      this.late = this.records;
    }
    this.records = [];
    const messages = this.outbox;
    this.outbox = [];
    return { snapshot: null, records, mustSync: records.length > 0, messages };
  }

  advance(): void {
    this.justAdvanced = true;
  }

  nextDeadlineMs(): number {
    return this.next;
  }
}
