/**
 * Rung 1: all-to-all heartbeats, the first design anyone writes. Every
 * period each member tells every other member "I am alive"; a member not
 * heard from for `failAfterMs` is declared dead, and alive again when a
 * heartbeat arrives.
 *
 * Detection is as fast and as accurate as the timeout makes it, and every
 * member decides alone. What breaks is the cost: each member sends n - 1
 * heartbeats a period and receives as many, so the cluster carries n(n - 1)
 * messages a period (SWIM §1 cites this quadratic load as the reason to look
 * further): 999 per member per second at n = 1,000.
 */
import type { Address, Channel } from "@heck/sim";
import { nameBytes, ReadyBuffer, type Detector, type DetectorReady } from "./detector.ts";

/** "`from` is alive; this is its `seq`-th heartbeat." */
export interface HeartbeatMessage {
  type: "heartbeat";
  from: string;
  seq: number;
}

/** Timing of the all-to-all detector. */
export interface AllToAllConfig {
  /** Heartbeat period: one message to every other member each period. Default 1 s, SWIM's protocol period. */
  periodMs: number;
  /**
   * Silence after which a member is declared dead. Default 5 periods: about
   * SWIM's detection time at n = 10 (its suspicion timeout is 4 s there), so
   * the two are compared at the same speed; at 10% loss five heartbeats in a
   * row go missing with probability 1e-5 per pair and period.
   */
  failAfterMs: number;
  /**
   * How often a member looks for silent peers. A scan costs O(n), so not on
   * every heartbeat; a verdict comes at most this much after the timeout.
   * Default 100 ms.
   */
  checkIntervalMs: number;
}

/** The defaults, each explained on its field. */
export const ALL_TO_ALL_DEFAULTS: AllToAllConfig = { periodMs: 1000, failAfterMs: 5000, checkIntervalMs: 100 };

/** Wire size: type byte, sender name, 4-byte sequence number. */
export function heartbeatBytes(message: HeartbeatMessage): number {
  return 1 + nameBytes(message.from) + 4;
}

/**
 * Name -> position in the member list, built once per list and shared by
 * every member built from it. A private map per member is n maps of n
 * entries: at n = 1,000 each heartbeat's lookup then missed the CPU cache,
 * and the lookups were a third of the rung's running time.
 */
const positionsByList = new WeakMap<readonly string[], ReadonlyMap<string, number>>();

function positionsOf(members: readonly string[]): ReadonlyMap<string, number> {
  let positions = positionsByList.get(members);
  if (positions === undefined) {
    const built = new Map<string, number>();
    members.forEach((m, i) => built.set(m, i));
    positions = built;
    positionsByList.set(members, positions);
  }
  return positions;
}

/** One member of an all-to-all heartbeat cluster. */
export class AllToAllNode implements Detector<HeartbeatMessage> {
  private readonly out = new ReadyBuffer<HeartbeatMessage>();
  /** Everyone but us: whom we send heartbeats to. */
  private readonly peers: string[];
  /** The whole member list (us included) and each name's position in it. */
  private readonly members: readonly string[];
  private readonly indexOf: ReadonlyMap<string, number>;
  private readonly selfIndex: number;
  /** When we last heard from each member, and whether we hold it dead, by position in `members` (our own slot unused). */
  private readonly lastHeardMs: Float64Array;
  private readonly dead: Uint8Array;
  private seq = 0;
  private nextBeatMs: number;
  private nextCheckMs: number;

  constructor(
    readonly id: string,
    peers: readonly string[],
    nowMs: number,
    /** Where in the period this member beats (a fraction of it), so members do not all send at once. */
    phase: number,
    readonly config: AllToAllConfig = ALL_TO_ALL_DEFAULTS,
  ) {
    this.peers = peers.filter((p) => p !== id);
    this.members = peers;
    this.indexOf = positionsOf(peers);
    this.selfIndex = this.indexOf.get(id) ?? -1;
    this.lastHeardMs = new Float64Array(peers.length).fill(nowMs);
    this.dead = new Uint8Array(peers.length);
    this.nextBeatMs = nowMs + phase * config.periodMs;
    this.nextCheckMs = nowMs + config.checkIntervalMs;
  }

  tick(nowMs: number): void {
    if (nowMs >= this.nextBeatMs) {
      this.seq++;
      // One message object for every copy: nothing downstream changes a message.
      const beat: HeartbeatMessage = { type: "heartbeat", from: this.id, seq: this.seq };
      for (const p of this.peers) this.out.send(p, beat);
      this.nextBeatMs += this.config.periodMs;
      if (this.nextBeatMs <= nowMs) this.nextBeatMs = nowMs + this.config.periodMs;
    }
    if (nowMs >= this.nextCheckMs) this.check(nowMs);
  }

  receive(_from: Address, message: HeartbeatMessage, _channel: Channel, nowMs: number): void {
    const i = this.indexOf.get(message.from);
    if (i === undefined || i === this.selfIndex) return;
    this.lastHeardMs[i] = nowMs;
    if (this.dead[i] === 1) {
      this.dead[i] = 0;
      this.out.verdict(message.from, "alive", nowMs);
    }
  }

  /** Declares dead every peer silent for failAfterMs. */
  private check(nowMs: number): void {
    this.nextCheckMs = nowMs + this.config.checkIntervalMs;
    const silentSinceMs = nowMs - this.config.failAfterMs;
    for (let i = 0; i < this.members.length; i++) {
      if (i !== this.selfIndex && this.lastHeardMs[i]! <= silentSinceMs && this.dead[i] === 0) {
        this.dead[i] = 1;
        this.out.verdict(this.members[i]!, "dead", nowMs);
      }
    }
  }

  nextDeadlineMs(): number {
    return Math.min(this.nextBeatMs, this.nextCheckMs);
  }

  ready(): DetectorReady<HeartbeatMessage> {
    return this.out.ready();
  }

  advance(): void {
    this.out.advance();
  }
}
