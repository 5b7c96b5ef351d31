/**
 * Rung 3: SWIM without suspicion, the protocol of SWIM §3 with the
 * infection-style dissemination of §4.1 and the round-robin targets of §4.3,
 * and nothing else. Each period a member pings the next member of its
 * shuffled list; without an ack after the probe timeout it asks `k` others to
 * ping it (ping-req); without any ack by the end of the period it declares
 * the member dead at once and piggybacks "dead" on its pings and acks, each
 * notice sent `retransmitMult * ceil(log10(n + 1))` times by every member
 * that learns it.
 *
 * This fixes rung 2: the load is constant per member (one ping and one ack a
 * period), the first detection comes after e/(e - 1) periods on average for
 * any n (§3.1), and the verdict spreads in O(log n) periods. What breaks is
 * accuracy. One probe is one chance for every path to lose a packet: at 10%
 * loss the direct round trip fails 19% of the time and each indirect path
 * (four packets) 34%, so with k = 3 about 1 probe in 130 condemns a healthy
 * member, and with no incarnation numbers it cannot say otherwise. SWIM §4.2
 * adds suspicion for exactly this.
 *
 * It speaks a subset of the final design's wire (src/core/messages.ts) and
 * reuses its dissemination queue, so its packets and bytes count like SWIM's.
 */
import type { Address, Channel, Prng } from "@heck/sim";
import { BroadcastQueue } from "../core/broadcast-queue.ts";
import { COMPOUND_HEADER_BYTES, COMPOUND_MAX_PARTS, COMPOUND_PART_OVERHEAD_BYTES, encodedSize } from "../core/codec.ts";
import { retransmitLimit, type SwimConfig } from "../core/config.ts";
import type { DeadMessage, PacketMessage, SwimMessage } from "../core/messages.ts";
import { ReadyBuffer, type Detector, type DetectorReady } from "./detector.ts";

interface Probe {
  seq: number;
  target: string;
  indirectAtMs: number;
  deadlineMs: number;
  indirectSent: boolean;
}

interface Relay {
  requesterSeq: number;
  requester: Address;
  expiresAtMs: number;
}

/** One member of a SWIM cluster that declares death on the first failed probe. */
export class SwimWithoutSuspicionNode implements Detector<SwimMessage> {
  private readonly out = new ReadyBuffer<SwimMessage>();
  private readonly alive = new Set<string>();
  private readonly order: string[];
  private readonly queue = new BroadcastQueue();
  private readonly relays = new Map<number, Relay>();
  private readonly limit: number;
  private probe: Probe | undefined;
  private probeIndex = 0;
  private nextProbeMs: number;
  private seq = 0;

  constructor(
    readonly id: string,
    peers: readonly string[],
    private readonly prng: Prng,
    nowMs: number,
    /** Timings as the final design's (probe period and timeout, k, retransmits, packet size); the Lifeguard and suspicion fields are not used. */
    readonly config: SwimConfig,
  ) {
    for (const p of peers) if (p !== id) this.alive.add(p);
    this.order = prng.shuffle([...this.alive]);
    this.limit = retransmitLimit(config, peers.length);
    // A random start within the first period, as SwimNode staggers its probes.
    this.nextProbeMs = nowMs + prng.nextFloat() * config.probeIntervalMs;
  }

  tick(nowMs: number): void {
    const p = this.probe;
    if (p !== undefined && !p.indirectSent && nowMs >= p.indirectAtMs) {
      p.indirectSent = true;
      for (const helper of this.randomAlive(this.config.indirectChecks, p.target)) {
        this.sendPacket(helper, { type: "ping-req", seq: p.seq, target: p.target, targetAddr: p.target, fromName: this.id, fromAddr: this.id, nack: false });
      }
    }
    if (p !== undefined && nowMs >= p.deadlineMs) {
      // No ack on any path by the end of the period: SWIM §3 declares the member failed.
      this.probe = undefined;
      this.declareDead(p.target, nowMs);
    }
    if (nowMs >= this.nextProbeMs) {
      this.nextProbeMs += this.config.probeIntervalMs;
      if (this.nextProbeMs <= nowMs) this.nextProbeMs = nowMs + this.config.probeIntervalMs;
      this.startProbe(nowMs);
    }
    for (const [seq, r] of this.relays) if (r.expiresAtMs <= nowMs) this.relays.delete(seq);
  }

  private startProbe(nowMs: number): void {
    const target = this.nextTarget();
    if (target === undefined) return;
    const seq = ++this.seq;
    this.probe = { seq, target, indirectAtMs: nowMs + this.config.probeTimeoutMs, deadlineMs: nowMs + this.config.probeIntervalMs, indirectSent: false };
    this.sendPacket(target, { type: "ping", seq, target, fromName: this.id, fromAddr: this.id });
  }

  /** The next alive member of the shuffled round robin, reshuffled after each full round (SWIM §4.3). */
  private nextTarget(): string | undefined {
    for (let checked = 0; checked < this.order.length; checked++) {
      if (this.probeIndex >= this.order.length) {
        this.probeIndex = 0;
        this.prng.shuffle(this.order);
      }
      const name = this.order[this.probeIndex++]!;
      if (this.alive.has(name)) return name;
    }
    return undefined;
  }

  private randomAlive(count: number, except: string): string[] {
    const candidates = [...this.alive].filter((m) => m !== except);
    return this.prng.shuffle(candidates).slice(0, count);
  }

  receive(from: Address, message: SwimMessage, _channel: Channel, nowMs: number): void {
    if (message.type === "compound") for (const part of message.parts) this.handle(from, part, nowMs);
    else if (message.type !== "push-pull") this.handle(from, message, nowMs);
  }

  private handle(_from: Address, message: PacketMessage, nowMs: number): void {
    switch (message.type) {
      case "ping":
        if (message.target === this.id) this.sendPacket(message.fromAddr, { type: "ack", seq: message.seq });
        return;
      case "ping-req": {
        const seq = ++this.seq;
        this.relays.set(seq, { requesterSeq: message.seq, requester: message.fromAddr, expiresAtMs: nowMs + this.config.probeTimeoutMs });
        this.sendPacket(message.targetAddr, { type: "ping", seq, target: message.target, fromName: this.id, fromAddr: this.id });
        return;
      }
      case "ack": {
        const relay = this.relays.get(message.seq);
        if (relay !== undefined) {
          this.relays.delete(message.seq);
          this.sendPacket(relay.requester, { type: "ack", seq: relay.requesterSeq });
        } else if (this.probe?.seq === message.seq) this.probe = undefined;
        return;
      }
      case "dead":
        // Without incarnations a member cannot refute its own death: it just stays out.
        if (message.name !== this.id) this.declareDead(message.name, nowMs);
        return;
      default:
        return;
    }
  }

  private declareDead(name: string, nowMs: number): void {
    if (!this.alive.delete(name)) return;
    this.out.verdict(name, "dead", nowMs);
    const notice: DeadMessage = { type: "dead", name, incarnation: 0, from: this.id };
    this.queue.enqueue(name, notice, encodedSize(notice));
  }

  /** Sends `main` with as many queued notices piggybacked as fit in one packet (SWIM §4.1). */
  private sendPacket(to: Address, main: PacketMessage): void {
    const parts: PacketMessage[] = [main];
    if (this.queue.length > 0) {
      const used = COMPOUND_HEADER_BYTES + COMPOUND_PART_OVERHEAD_BYTES + encodedSize(main);
      for (const u of this.queue.take(this.config.maxPacketBytes - used, COMPOUND_PART_OVERHEAD_BYTES, this.limit, COMPOUND_MAX_PARTS - 1)) parts.push(u);
    }
    this.out.send(to, parts.length === 1 ? main : { type: "compound", parts });
  }

  nextDeadlineMs(): number {
    let next = this.nextProbeMs;
    const p = this.probe;
    if (p !== undefined) next = Math.min(next, p.indirectSent ? p.deadlineMs : p.indirectAtMs);
    for (const r of this.relays.values()) next = Math.min(next, r.expiresAtMs);
    return next;
  }

  ready(): DetectorReady<SwimMessage> {
    return this.out.ready();
  }

  advance(): void {
    this.out.advance();
  }
}
