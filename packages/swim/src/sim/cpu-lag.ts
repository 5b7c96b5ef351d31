/**
 * A member whose CPU is so starved that it handles its messages and timers
 * late: the failure Lifeguard was built for (Dadgar et al. 2018 §III). Work
 * is processed in arrival order, each item at least `lagMs * u` (u uniform in
 * [0, 1)) after it was due, and never before the previous item: a queue
 * behind a busy CPU. A timer due at `d` fires at `d + lagMs * u`.
 *
 * It wraps any state machine with `tick`, `receive` and `nextDeadlineMs`, so
 * the same slow member can be given to SWIM and to every simpler detector
 * the ladder runs beside it (src/ladder), drawing the same random lags.
 */
import type { Address, Channel, Prng } from "@heck/sim";

/** What a lagging member runs: the three inputs of a protocol state machine. */
export interface LaggedMachine<M> {
  tick(nowMs: number): void;
  receive(from: Address, message: M, channel: Channel, nowMs: number): void;
  nextDeadlineMs(): number;
}

interface Work<M> {
  atMs: number;
  from: Address;
  message: M;
  channel: Channel;
}

/** The backlog and the lagged timer of one slow member. */
export class CpuLag<M> {
  private readonly backlog: Work<M>[] = [];
  private busyUntilMs = 0;
  /** The inner deadline the current tick lag was drawn for, and the lagged time. */
  private lagFor = NaN;
  private laggedTickMs = Infinity;
  private lastNowMs = -Infinity;

  constructor(
    readonly lagMs: number,
    private readonly prng: Prng,
  ) {}

  /** Queues a delivered message behind the work already waiting. */
  enqueue(from: Address, message: M, channel: Channel, nowMs: number): void {
    this.lastNowMs = nowMs;
    const atMs = Math.max(this.busyUntilMs, nowMs + this.lagMs * this.prng.nextFloat());
    this.busyUntilMs = atMs;
    this.backlog.push({ atMs, from, message, channel });
  }

  /** At a wake-up: hands `inner` the messages now due, then runs its timer if its lagged time has come. */
  wake(nowMs: number, inner: LaggedMachine<M>): void {
    this.lastNowMs = nowMs;
    while (this.backlog.length > 0 && this.backlog[0]!.atMs <= nowMs) {
      const w = this.backlog.shift()!;
      inner.receive(w.from, w.message, w.channel, nowMs);
    }
    // Timers fire late too: the inner deadline is served at its lagged time (see nextDeadlineMs).
    if (inner.nextDeadlineMs() <= nowMs && nowMs >= this.laggedTickMs) inner.tick(nowMs);
  }

  /** When to wake next: the head of the backlog or the lagged timer, whichever is first. */
  nextDeadlineMs(inner: LaggedMachine<M>): number {
    const deadline = inner.nextDeadlineMs();
    if (deadline !== this.lagFor) {
      this.lagFor = deadline;
      // Never at or before the last step: the runner requires deadlines in the future after a tick.
      this.laggedTickMs = deadline === Infinity ? Infinity : Math.max(deadline + this.lagMs * this.prng.nextFloat(), this.lastNowMs + 0.001);
    }
    const head = this.backlog.length > 0 ? this.backlog[0]!.atMs : Infinity;
    return Math.min(head, this.laggedTickMs);
  }
}
