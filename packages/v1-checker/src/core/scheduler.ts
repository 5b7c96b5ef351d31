import type { Prng } from "@heck/sim";
import { IndexedMinHeap } from "./heap.ts";

/** A check the scheduler wants started now. `generation` tells a re-added target's checks from its old ones. */
export interface DueCheck {
  id: string;
  dueMs: number;
  generation: number;
}

interface Entry {
  intervalMs: number;
  generation: number;
  /** Set while an older generation's check is still running: the first due time, parked until it completes. */
  parkedDueMs: number | undefined;
}

/** The golden ratio's fractional part: successive multiples mod 1 never bunch up (the three-distance theorem). */
const GOLDEN_FRACTION = 0.6180339887498949;

/**
 * Decides when each target is checked. Deadlines live in a min-heap, so the
 * next due target is found in O(1) and rescheduled in O(log n); nothing
 * polls and nothing drifts, because the next deadline is computed from the
 * previous *deadline* (due + interval), not from when the check finished.
 *
 * Guarantees:
 * - at most one check in flight per target (a running target is not in the heap);
 * - at most `maxConcurrent` checks in flight overall (due checks wait, and
 *   their lag, start minus due, shows the overload);
 * - first checks spread evenly over the interval: target k starts at phase
 *   frac(p0 + k * 0.618...) of its interval, with p0 drawn from the injected
 *   Prng. Unlike uniform random jitter, which leaves clumps and gaps of
 *   about ln(n)/n, this low-discrepancy sequence keeps every gap within a
 *   small constant of 1/n for any n, so adding targets one at a time
 *   never makes a thundering herd.
 *
 * Pure: time comes in as `nowMs`; the driver calls `takeDue` when
 * `nextDeadlineMs()` arrives and `complete` when a check ends.
 */
export class CheckScheduler {
  private readonly heap = new IndexedMinHeap<string>();
  private readonly entries = new Map<string, Entry>();
  /** id -> generation of its running check. */
  private readonly running = new Map<string, number>();
  private nextGeneration = 1;
  private spreadIndex = 0;
  private readonly phase0: number;
  /** Checks that ended after their next deadline had passed (the next one then starts at once). */
  overruns = 0;

  /** `maxConcurrent` bounds checks in flight over all targets. */
  constructor(
    public maxConcurrent: number,
    prng: Prng,
  ) {
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) throw new RangeError(`maxConcurrent must be a positive integer, got ${maxConcurrent}`);
    this.phase0 = prng.nextFloat();
  }

  /** Targets scheduled. */
  get size(): number {
    return this.entries.size;
  }

  /** Checks in flight. */
  get inFlight(): number {
    return this.running.size;
  }

  /** True when `id` is scheduled. */
  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** True when a check of `id` is running. */
  isRunning(id: string): boolean {
    return this.running.has(id);
  }

  /** The next deadline of `id`, or undefined while it runs or if unknown. */
  nextDueOf(id: string): number | undefined {
    return this.heap.dueOf(id) ?? this.entries.get(id)?.parkedDueMs;
  }

  /**
   * Schedules a new target; its first check is at an evenly spread phase of
   * its interval. Returns the first due time, or undefined if `id` exists.
   */
  add(id: string, intervalMs: number, nowMs: number): number | undefined {
    if (this.entries.has(id)) return undefined;
    const phase = (this.phase0 + this.spreadIndex++ * GOLDEN_FRACTION) % 1;
    const firstDue = nowMs + phase * intervalMs;
    const entry: Entry = { intervalMs, generation: this.nextGeneration++, parkedDueMs: undefined };
    this.entries.set(id, entry);
    // A check of an earlier target with this id may still run: wait for it,
    // so there is never more than one check of an id in flight.
    if (this.running.has(id)) entry.parkedDueMs = firstDue;
    else this.heap.set(id, firstDue);
    return firstDue;
  }

  /** Unschedules `id`. A running check finishes, but `complete` then reports it stale. */
  remove(id: string): boolean {
    if (!this.entries.delete(id)) return false;
    this.heap.delete(id);
    return true;
  }

  /** Changes the interval of `id`; a pending deadline further away than the new interval is pulled in. */
  setInterval(id: string, intervalMs: number, nowMs: number): boolean {
    const e = this.entries.get(id);
    if (!e) return false;
    e.intervalMs = intervalMs;
    const due = this.heap.dueOf(id);
    if (due !== undefined && due > nowMs + intervalMs) this.heap.set(id, nowMs + intervalMs);
    return true;
  }

  /** The earliest time `takeDue` has work, or Infinity (nothing scheduled, or the concurrency bound is reached). */
  nextDeadlineMs(): number {
    return this.running.size >= this.maxConcurrent ? Infinity : this.heap.peekDue();
  }

  /** Pops every check due at `nowMs`, up to the concurrency bound, and marks them running. */
  takeDue(nowMs: number): DueCheck[] {
    const out: DueCheck[] = [];
    while (this.running.size < this.maxConcurrent && this.heap.peekDue() <= nowMs) {
      const { key: id, dueMs } = this.heap.pop()!;
      const generation = this.entries.get(id)!.generation;
      this.running.set(id, generation);
      out.push({ id, dueMs, generation });
    }
    return out;
  }

  /**
   * Marks `check` finished at `nowMs` and schedules the target's next check
   * at due + interval (or now, if that has passed). Returns false when the
   * check is stale (its target was removed or re-added meanwhile).
   */
  complete(check: DueCheck, nowMs: number): boolean {
    if (this.running.get(check.id) !== check.generation) return false;
    this.running.delete(check.id);
    const e = this.entries.get(check.id);
    if (!e) return false;
    if (e.generation !== check.generation) {
      if (e.parkedDueMs !== undefined) this.heap.set(check.id, Math.max(e.parkedDueMs, nowMs));
      e.parkedDueMs = undefined;
      return false;
    }
    let next = check.dueMs + e.intervalMs;
    if (next < nowMs) {
      // The check outlived its slot (timeout above the interval, or it
      // started late). Start the next one now and keep one in flight,
      // rather than queueing missed slots.
      this.overruns++;
      next = nowMs;
    }
    this.heap.set(check.id, next);
    return true;
  }
}
