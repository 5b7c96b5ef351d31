/**
 * A {@link SwimNode} as the simulation runner drives it, plus one thing the
 * runner cannot model from outside: a *slow* node, whose CPU is so starved
 * that it handles its messages and timers late (the failure Lifeguard was
 * built for, Dadgar et al. 2018 §III). Work is processed in arrival order,
 * each item at least `lagMs * u` (u uniform in [0, 1)) after it was due, and
 * never before the previous item: a queue behind a busy CPU.
 */
import type { Address, Channel, Outbound, Prng, SimProcess } from "@heck/sim";
import type { SwimMessage } from "../core/messages.ts";
import type { SwimNode, SwimPersisted } from "../core/node.ts";
import type { MemberEvent } from "../core/types.ts";

/** Receives every member event, tagged with the observing node. */
export type EventObserver = (observer: string, events: MemberEvent[]) => void;

interface Work {
  atMs: number;
  from: Address;
  message: SwimMessage;
  channel: Channel;
}

/** The runner-facing wrapper: forwards to the node, reports its events, optionally lags. */
export class SimMember implements SimProcess<SwimMessage, SwimPersisted> {
  readonly id: string;
  private readonly backlog: Work[] = [];
  private busyUntilMs = 0;
  /** The inner deadline the current tick lag was drawn for, and the lagged time. */
  private lagFor = NaN;
  private laggedTickMs = Infinity;
  private traced: Array<{ event: string; msg?: unknown }> = [];
  private lastNowMs = -Infinity;
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
    private readonly lagMs = 0,
    private readonly lagPrng?: Prng,
    private readonly traceEvents = false,
  ) {
    this.id = node.id;
  }

  /** True when this member processes its work late. */
  get slow(): boolean {
    return this.lagMs > 0;
  }

  tick(nowMs: number): void {
    this.lastNowMs = nowMs;
    this.stepMs = nowMs;
    if (!this.slow) {
      this.node.tick(nowMs);
      this.report();
      return;
    }
    while (this.backlog.length > 0 && this.backlog[0]!.atMs <= nowMs) {
      const w = this.backlog.shift()!;
      this.node.receive(w.from, w.message, w.channel, nowMs);
    }
    // Timers fire late too: the inner deadline is served at its lagged time (see nextDeadlineMs).
    if (this.node.nextDeadlineMs() <= nowMs && nowMs >= this.laggedTickMs) this.node.tick(nowMs);
    this.report();
  }

  receive(from: Address, message: SwimMessage, channel: Channel, nowMs: number): void {
    this.stepMs = nowMs;
    if (!this.slow) {
      this.node.receive(from, message, channel, nowMs);
      this.report();
      return;
    }
    this.lastNowMs = nowMs;
    const atMs = Math.max(this.busyUntilMs, nowMs + this.lagMs * this.lagPrng!.nextFloat());
    this.busyUntilMs = atMs;
    this.backlog.push({ atMs, from, message, channel });
  }

  takeOutbox(): Outbound<SwimMessage>[] {
    const out = this.node.takeOutbox();
    for (const o of out) {
      if (o.message.type === "suspect") this.noteAccusation(o.to, o.message.name, o.message.from);
      else if (o.message.type === "compound") for (const p of o.message.parts) if (p.type === "suspect") this.noteAccusation(o.to, p.name, p.from);
    }
    return out;
  }

  private noteAccusation(to: Address, subject: string, accuser: string): void {
    // Sent to the subject itself it is the buddy system or hearsay, not news for the others.
    if (accuser !== this.id || to === subject || this.accusedAtMs.has(subject)) return;
    this.accusedAtMs.set(subject, this.stepMs);
  }

  nextDeadlineMs(): number {
    if (!this.slow) return this.node.nextDeadlineMs();
    const inner = this.node.nextDeadlineMs();
    if (inner !== this.lagFor) {
      this.lagFor = inner;
      // Never at or before the last step: the runner requires deadlines in the future after a tick.
      this.laggedTickMs = inner === Infinity ? Infinity : Math.max(inner + this.lagMs * this.lagPrng!.nextFloat(), this.lastNowMs + 0.001);
    }
    const head = this.backlog.length > 0 ? this.backlog[0]!.atMs : Infinity;
    return Math.min(head, this.laggedTickMs);
  }

  persisted(): SwimPersisted {
    return this.node.persisted();
  }

  streamFailed(to: Address, message: SwimMessage, nowMs: number): void {
    this.stepMs = nowMs;
    this.node.streamFailed(to, message, nowMs);
    this.report();
  }

  takeEvents(): Array<{ event: string; msg?: unknown }> {
    if (this.traced.length === 0) return [];
    const out = this.traced;
    this.traced = [];
    return out;
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

  private report(): void {
    const events = this.node.takeMemberEvents();
    if (events.length === 0) return;
    this.checkView(events);
    this.observer?.(this.id, events);
    if (this.traceEvents) {
      for (const e of events) this.traced.push({ event: e.type, msg: { member: e.member.name, incarnation: e.member.incarnation } });
    }
  }
}
