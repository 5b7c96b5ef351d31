import { EventQueue, type Timed } from "./event-queue.ts";
import type { Clock, TimerHandle } from "./types.ts";

interface PendingTimer extends Timed {
  id: number;
  callback: () => void;
  cancelled: boolean;
}

/**
 * A clock that moves only when told to. Timers fire in due order (ties in
 * creation order) as `advance` passes them, so a test drives time explicitly
 * and never sleeps. Timers live in a binary heap, so thousands of them cost
 * O(log n) each.
 */
export class ManualClock implements Clock {
  private now: number;
  private nextId = 1;
  private readonly queue = new EventQueue<PendingTimer>();
  private readonly live = new Map<number, PendingTimer>();

  constructor(startMs = 0) {
    if (!Number.isFinite(startMs)) throw new RangeError(`ManualClock: startMs must be finite, got ${startMs}`);
    this.now = startMs;
  }

  nowMs(): number {
    return this.now;
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    const id = this.nextId++;
    const timer: PendingTimer = { t: this.now + Math.max(0, delayMs), seq: 0, id, callback, cancelled: false };
    this.queue.push(timer);
    this.live.set(id, timer);
    return { id };
  }

  clearTimer(handle: TimerHandle): void {
    const timer = this.live.get(handle.id);
    if (timer !== undefined) {
      timer.cancelled = true;
      this.live.delete(handle.id);
    }
  }

  /** The due time of the earliest pending timer, or Infinity. */
  nextDueMs(): number {
    for (;;) {
      const top = this.queue.peek();
      if (top === undefined) return Infinity;
      if (!top.cancelled) return top.t;
      this.queue.pop();
    }
  }

  /** Number of timers not yet fired or cancelled. */
  pendingTimers(): number {
    return this.live.size;
  }

  /** Moves time forward by `ms`, firing every timer due on the way (including ones they set). */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`advance: ms must be >= 0, got ${ms}`);
    this.advanceTo(this.now + ms);
  }

  /** Moves time to `targetMs` (never backwards), firing due timers in order. */
  advanceTo(targetMs: number): void {
    if (targetMs < this.now) throw new RangeError(`advanceTo: ${targetMs} is before now (${this.now})`);
    while (this.nextDueMs() <= targetMs) {
      const timer = this.queue.pop()!;
      this.live.delete(timer.id);
      this.now = Math.max(this.now, timer.t);
      timer.callback();
    }
    this.now = targetMs;
  }
}
