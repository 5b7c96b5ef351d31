import type { Clock, TimerHandle } from "./types.ts";

interface PendingTimer {
  id: number;
  dueMs: number;
  callback: () => void;
}

/**
 * A clock that moves only when told to. Timers fire in due order (ties in
 * creation order) as `advance` passes them, so a test drives time explicitly
 * and never sleeps.
 */
export class ManualClock implements Clock {
  private now: number;
  private nextId = 1;
  private readonly timers = new Map<number, PendingTimer>();

  constructor(startMs = 0) {
    this.now = startMs;
  }

  nowMs(): number {
    return this.now;
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { id, dueMs: this.now + Math.max(0, delayMs), callback });
    return { id };
  }

  clearTimer(handle: TimerHandle): void {
    this.timers.delete(handle.id);
  }

  /** The due time of the earliest pending timer, or Infinity. */
  nextDueMs(): number {
    let min = Infinity;
    for (const t of this.timers.values()) if (t.dueMs < min) min = t.dueMs;
    return min;
  }

  /** Number of timers not yet fired or cancelled. */
  pendingTimers(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing every timer due on the way (including ones they set). */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`advance: ms must be >= 0, got ${ms}`);
    this.advanceTo(this.now + ms);
  }

  /** Moves time to `targetMs` (never backwards), firing due timers in order. */
  advanceTo(targetMs: number): void {
    if (targetMs < this.now) throw new RangeError(`advanceTo: ${targetMs} is before now (${this.now})`);
    for (;;) {
      let next: PendingTimer | undefined;
      for (const t of this.timers.values()) {
        if (t.dueMs <= targetMs && (next === undefined || t.dueMs < next.dueMs || (t.dueMs === next.dueMs && t.id < next.id))) next = t;
      }
      if (next === undefined) break;
      this.timers.delete(next.id);
      this.now = Math.max(this.now, next.dueMs);
      next.callback();
    }
    this.now = targetMs;
  }
}
