/**
 * The real {@link Clock} for drivers: monotonic milliseconds since the clock
 * was created (performance.now, immune to wall-clock jumps) and setTimeout
 * timers. Cores never see it; drivers read `nowMs()` and pass it in.
 */
import type { Clock, TimerHandle } from "../core/types.ts";

/** A monotonic real-time clock. */
export class SystemClock implements Clock {
  private readonly origin = performance.now();
  private nextId = 1;
  private readonly timers = new Map<number, NodeJS.Timeout>();

  /**
   * @param unrefTimers when true (the default) pending timers do not keep the
   *   process alive, so a CLI exits once its sockets close.
   */
  constructor(private readonly unrefTimers = true) {}

  nowMs(): number {
    return performance.now() - this.origin;
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    const id = this.nextId++;
    const t = setTimeout(() => {
      this.timers.delete(id);
      callback();
    }, Math.max(0, delayMs));
    if (this.unrefTimers) t.unref();
    this.timers.set(id, t);
    return { id };
  }

  clearTimer(handle: TimerHandle): void {
    const t = this.timers.get(handle.id);
    if (t !== undefined) {
      clearTimeout(t);
      this.timers.delete(handle.id);
    }
  }

  /** Cancels every pending timer (driver shutdown). */
  clearAll(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
