/**
 * A {@link SwimNode} as the simulation runner drives it, plus one thing the
 * runner cannot model from outside: a *slow* node, whose CPU is so starved
 * that it handles its messages and timers late (the failure Lifeguard was
 * built for, Dadgar et al. 2018 §III; the lag itself is {@link CpuLag}).
 */
import type { Address, Channel, Prng, SimProcess, SimReady } from "@heck/sim";
import type { SwimMessage } from "../core/messages.ts";
import type { SwimNode, SwimRecord } from "../core/node.ts";
import type { MemberEvent } from "../core/types.ts";
import { CpuLag } from "./cpu-lag.ts";

/** Receives every member event, tagged with the observing node. */
export type EventObserver = (observer: string, events: readonly MemberEvent[]) => void;

/**
 * The runner-facing wrapper: forwards to the node, hands its Ready batches
 * to the runner (checking each batch's member events against the view
 * rules and tracing them), optionally lags.
 */
export class SimMember implements SimProcess<SwimMessage, SwimRecord> {
  readonly id: string;
  private readonly lag: CpuLag<SwimMessage> | undefined;
  private readonly view = new Map<string, { state: string; incarnation: number; atMs: number }>();
  /** The first safety rule this member's event stream broke, if any (see {@link checkView}). */
  violation: string | undefined;
  /**
   * subject -> when this member first sent its *own* accusation of it (a
   * `suspect` with itself as accuser, to anyone but the subject): the
   * independent accusations Lifeguard counts, as the network sees them.
   */
  readonly accusedAtMs = new Map<string, number>();
  private stepMs = 0;

  constructor(
    readonly node: SwimNode,
    private readonly observer: EventObserver | undefined,
    lagMs = 0,
    lagPrng?: Prng,
    private readonly traceEvents = false,
  ) {
    this.id = node.id;
    this.lag = lagMs > 0 ? new CpuLag(lagMs, lagPrng!) : undefined;
  }

  /** True when this member processes its work late. */
  get slow(): boolean {
    return this.lag !== undefined;
  }

  tick(nowMs: number): void {
    this.stepMs = nowMs;
    if (this.lag === undefined) this.node.tick(nowMs);
    else this.lag.wake(nowMs, this.node);
  }

  receive(from: Address, message: SwimMessage, channel: Channel, nowMs: number): void {
    this.stepMs = nowMs;
    if (this.lag !== undefined) {
      this.lag.enqueue(from, message, channel, nowMs);
      return;
    }
    this.node.receive(from, message, channel, nowMs);
  }

  hasReady(): boolean {
    return this.node.hasReady();
  }

  /** The node's Ready, after noting its accusations and checking and tracing its member events. */
  ready(): SimReady<SwimMessage, SwimRecord> {
    const rd = this.node.ready();
    for (const o of rd.messages) {
      if (o.message.type === "suspect") this.noteAccusation(o.to, o.message.name, o.message.from);
      else if (o.message.type === "compound") for (const p of o.message.parts) if (p.type === "suspect") this.noteAccusation(o.to, p.name, p.from);
    }
    if (rd.events.length === 0) return rd;
    this.checkView(rd.events);
    this.observer?.(this.id, rd.events);
    if (!this.traceEvents) return rd;
    return { ...rd, trace: rd.events.map((e) => ({ event: e.type, msg: { member: e.member.name, incarnation: e.member.incarnation } })) };
  }

  advance(): void {
    this.node.advance();
  }

  private noteAccusation(to: Address, subject: string, accuser: string): void {
    // Sent to the subject itself it is the buddy system or hearsay, not news for the others.
    if (accuser !== this.id || to === subject || this.accusedAtMs.has(subject)) return;
    this.accusedAtMs.set(subject, this.stepMs);
  }

  nextDeadlineMs(): number {
    return this.lag === undefined ? this.node.nextDeadlineMs() : this.lag.nextDeadlineMs(this.node);
  }

  streamFailed(to: Address, message: SwimMessage, nowMs: number): void {
    this.stepMs = nowMs;
    this.node.streamFailed(to, message, nowMs);
  }

  /**
   * The safety rules every member's view must keep (SWIM §4.2's ordering):
   * a member's incarnation never goes back, a dead or left member comes back
   * only with a higher incarnation, and a member never marks itself suspect
   * or dead. Reaping forgets by design, so a member that may have been
   * reaped is exempt.
   */
  private checkView(events: readonly MemberEvent[]): void {
    for (const e of events) {
      const { name, state, incarnation } = e.member;
      const before = this.view.get(name);
      const reapable = before !== undefined && (before.state === "dead" || before.state === "left") && e.atMs - before.atMs >= this.node.config.reapDeadAfterMs;
      if (this.violation === undefined && before !== undefined && !reapable) {
        if (incarnation < before.incarnation) this.violation = `${this.id} saw ${name} go from incarnation ${before.incarnation} back to ${incarnation} (${e.type}) at t=${e.atMs}`;
        else if ((before.state === "dead" || before.state === "left") && state === "alive" && incarnation <= before.incarnation) {
          this.violation = `${this.id} saw ${name} come back from ${before.state} without a higher incarnation (${incarnation}) at t=${e.atMs}`;
        }
      }
      if (this.violation === undefined && name === this.id && (state === "suspect" || state === "dead")) this.violation = `${this.id} marked itself ${state} at t=${e.atMs}`;
      this.view.set(name, { state, incarnation, atMs: e.atMs });
    }
  }
}
