/**
 * Rung 2: gossip-style heartbeats (van Renesse, Minsky, Hayden, "A
 * Gossip-Style Failure Detection Service", Middleware 1998, §2). Each member
 * keeps a heartbeat counter for every member and the local time it last went
 * up. Every gossip interval it raises its own counter and sends its whole
 * table to one member picked at random; a receiver keeps the larger counter
 * of each entry. A member whose counter has not gone up for `failAfterMs` is
 * declared dead (alive again if it ever does).
 *
 * This fixes rung 1's traffic: one message per member per period, whatever
 * n is. What breaks instead is speed, and size. A counter reaches everyone
 * only after the epidemic has run its O(log n) rounds, and its slowest path
 * is what the timeout must outwait, so `failAfterMs` has to grow with log n
 * to keep mistakes rare (§3 of the paper works out how far); and every message
 * carries all n entries, so bytes per member still grow with n.
 */
import type { Address, Channel, Prng } from "@heck/sim";
import { nameBytes, ReadyBuffer, type Detector, type DetectorReady } from "./detector.ts";

/**
 * The sender's whole table. `counters[i]` is the heartbeat of `members[i]` of
 * the cluster's member list, which every member of this fixed cluster holds
 * in the same order; a real message names each entry's member, and
 * {@link gossipBytes} counts it so.
 */
export interface GossipMessage {
  type: "gossip";
  from: string;
  counters: Int32Array;
}

/** Timing of the gossip-heartbeat detector. */
export interface GossipHeartbeatConfig {
  /** Gossip interval: raise our own counter and send our table to one random member. Default 1 s, SWIM's protocol period. */
  gossipIntervalMs: number;
  /**
   * Silence after which a member is declared dead, as a function of the
   * cluster size. Default `3 log2 n + 6` gossip intervals
   * ({@link gossipFailAfterMs}): a counter spreads in about log2 n + ln n
   * rounds of push gossip (Pittel 1987), and the timeout must outwait the
   * stalest of all n(n - 1) entries. Measured in this simulation at 10% loss,
   * the stalest entry was 9.8 s old at n = 10 and 17.1 s at n = 100 (five
   * minutes each) and 21.6 s at n = 1,000 (30 s): the default gives 16, 26
   * and 36 s.
   */
  failAfterMs: (n: number) => number;
  /** How often a member scans its table for silent members (an O(n) scan). Default 100 ms. */
  checkIntervalMs: number;
}

/** `3 log2 n + 6` gossip intervals, rounded up: see {@link GossipHeartbeatConfig.failAfterMs}. */
export function gossipFailAfterMs(gossipIntervalMs: number, n: number): number {
  return Math.ceil(3 * Math.log2(Math.max(2, n)) + 6) * gossipIntervalMs;
}

/** The defaults, each explained on its field. */
export const GOSSIP_HEARTBEAT_DEFAULTS: GossipHeartbeatConfig = {
  gossipIntervalMs: 1000,
  failAfterMs: (n) => gossipFailAfterMs(1000, n),
  checkIntervalMs: 100,
};

/** Wire size: type byte, sender name, and per entry the member's name and a 4-byte counter. */
export function gossipBytes(message: GossipMessage, members: readonly string[]): number {
  let bytes = 1 + nameBytes(message.from);
  for (const m of members) bytes += nameBytes(m) + 4;
  return bytes;
}

/** One member of a gossip-style heartbeat cluster. */
export class GossipHeartbeatNode implements Detector<GossipMessage> {
  private readonly out = new ReadyBuffer<GossipMessage>();
  private readonly self: number;
  private readonly counters: Int32Array;
  private readonly raisedAtMs: Float64Array;
  private readonly dead: Uint8Array;
  private readonly failAfterMs: number;
  private nextGossipMs: number;
  private nextCheckMs: number;

  constructor(
    readonly id: string,
    /** Every member, this one included, in the order all members share. */
    readonly members: readonly string[],
    private readonly prng: Prng,
    nowMs: number,
    readonly config: GossipHeartbeatConfig = GOSSIP_HEARTBEAT_DEFAULTS,
  ) {
    this.self = members.indexOf(id);
    if (this.self < 0) throw new RangeError(`${id} is not in the member list`);
    const n = members.length;
    this.counters = new Int32Array(n);
    this.raisedAtMs = new Float64Array(n).fill(nowMs);
    this.dead = new Uint8Array(n);
    this.failAfterMs = config.failAfterMs(n);
    // A random phase, so members do not all gossip at the same instant.
    this.nextGossipMs = nowMs + prng.nextFloat() * config.gossipIntervalMs;
    this.nextCheckMs = nowMs + config.checkIntervalMs;
  }

  tick(nowMs: number): void {
    if (nowMs >= this.nextGossipMs) {
      this.nextGossipMs += this.config.gossipIntervalMs;
      if (this.nextGossipMs <= nowMs) this.nextGossipMs = nowMs + this.config.gossipIntervalMs;
      this.gossip(nowMs);
    }
    if (nowMs >= this.nextCheckMs) this.check(nowMs);
  }

  private gossip(nowMs: number): void {
    const n = this.members.length;
    if (n < 2) return;
    this.counters[this.self]!++;
    this.raisedAtMs[this.self] = nowMs;
    // One member at random, any but ourselves (the paper gossips to any member in the list).
    let to = this.prng.nextInt(0, n - 2);
    if (to >= this.self) to++;
    this.out.send(this.members[to]!, { type: "gossip", from: this.id, counters: this.counters.slice() });
  }

  receive(_from: Address, message: GossipMessage, _channel: Channel, nowMs: number): void {
    const theirs = message.counters;
    if (theirs.length !== this.counters.length) return;
    for (let i = 0; i < theirs.length; i++) {
      if (theirs[i]! <= this.counters[i]!) continue;
      this.counters[i] = theirs[i]!;
      this.raisedAtMs[i] = nowMs;
      if (this.dead[i] === 1) {
        this.dead[i] = 0;
        this.out.verdict(this.members[i]!, "alive", nowMs);
      }
    }
  }

  /** Declares dead every member whose counter has not gone up for failAfterMs. */
  private check(nowMs: number): void {
    this.nextCheckMs = nowMs + this.config.checkIntervalMs;
    const silentSinceMs = nowMs - this.failAfterMs;
    for (let i = 0; i < this.members.length; i++) {
      if (i === this.self || this.dead[i] === 1 || this.raisedAtMs[i]! > silentSinceMs) continue;
      this.dead[i] = 1;
      this.out.verdict(this.members[i]!, "dead", nowMs);
    }
  }

  nextDeadlineMs(): number {
    return Math.min(this.nextGossipMs, this.nextCheckMs);
  }

  ready(): DetectorReady<GossipMessage> {
    return this.out.ready();
  }

  advance(): void {
    this.out.advance();
  }
}
