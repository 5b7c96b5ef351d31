import type { Prng } from "@heck/sim";
import { DeadlineHeap, type HeapNode } from "./heap.ts";

/** A check the scheduler wants started now. `generation` tells a re-added target's checks from its old ones. */
export interface DueCheck {
  id: string;
  dueMs: number;
  generation: number;
}

/**
 * One scheduled target: its node in the deadline heap and its run state.
 * Handed out by {@link CheckScheduler.popDue} so a driver can start and
 * complete checks without allocating or looking anything up; read its fields,
 * never write them.
 */
export class ScheduleEntry<P = undefined> implements HeapNode {
  /** The next deadline while waiting in the heap. */
  dueMs = 0;
  /** @internal heap tie-break */
  seq = 0;
  /** @internal position in the heap, -1 while not in it */
  heapIndex = -1;
  /** True while a check of this entry runs. */
  running = false;
  /** The due time of the running check (its lag is start minus this). */
  runDueMs = 0;
  /** When the running check was released. */
  runStartedMs = 0;
  /** False once the target was removed (or replaced under the same id). */
  live = true;
  /** Set while an older generation's check of the same id is still running: the first due time, parked until it completes. */
  parkedDueMs: number | undefined = undefined;
  /**
   * After an early first check (`firstCheckWithinMs`), the target's own
   * evenly spread slot in the interval, where its second check goes; NaN
   * otherwise. Without it the targets added together would stay bunched
   * in the short window every interval.
   */
  homeDueMs = NaN;

  constructor(
    readonly id: string,
    public intervalMs: number,
    readonly generation: number,
    /** Whatever the owner keeps per target (CheckerCore keeps its target state here). */
    public payload: P,
  ) {}
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
 * Pure: time comes in as `nowMs`; the driver calls `takeDue` (or `popDue`)
 * when `nextDeadlineMs()` arrives and `complete` (or `completeEntry`) when a
 * check ends. `P` is an optional payload stored with each target.
 */
export class CheckScheduler<P = undefined> {
  private readonly heap = new DeadlineHeap<ScheduleEntry<P>>();
  private readonly entries = new Map<string, ScheduleEntry<P>>();
  /**
   * id -> generation of a check still running for a target that was removed
   * (or replaced). At most one per id: a re-added target is parked until
   * that check ends, so it cannot start a second one.
   */
  private readonly orphans = new Map<string, number>();
  private running = 0;
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
    return this.running;
  }

  /** True when `id` is scheduled. */
  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** The entry of `id`, or undefined. */
  entry(id: string): ScheduleEntry<P> | undefined {
    return this.entries.get(id);
  }

  /** Visits every scheduled entry in insertion order. */
  forEachEntry(visit: (entry: ScheduleEntry<P>) => void): void {
    for (const e of this.entries.values()) visit(e);
  }

  /** True when a check of `id` is running (of the current target or of a removed one with the same id). */
  isRunning(id: string): boolean {
    return this.entries.get(id)?.running === true || this.orphans.has(id);
  }

  /** The next deadline of `id`, or undefined while it runs or if unknown. */
  nextDueOf(id: string): number | undefined {
    const e = this.entries.get(id);
    if (e === undefined) return undefined;
    return this.heap.has(e) ? e.dueMs : e.parkedDueMs;
  }

  /**
   * Schedules a new target; its first check is at an evenly spread phase of
   * its interval. Returns the first due time, or undefined if `id` exists.
   * `firstCheckWithinMs` (see {@link addEntry}) brings the first check forward.
   */
  add(id: string, intervalMs: number, nowMs: number, payload?: P, firstCheckWithinMs?: number): number | undefined {
    const e = this.addEntry(id, intervalMs, nowMs, payload as P, firstCheckWithinMs);
    return e === undefined ? undefined : (e.parkedDueMs ?? e.dueMs);
  }

  /**
   * As {@link add}, returning the new entry (undefined if `id` exists).
   *
   * With `firstCheckWithinMs` = w below the interval i, the target's spread
   * phase f (the same golden-ratio sequence) places its first check at
   * now + f*w instead of now + f*i, so targets added together (an ownership
   * take-over) are all checked within w, still evenly spread. Its second
   * check then goes to its home slot now + f*i (or one interval after the
   * first check when f = 0): the gap between the two is f*(i - w) < i, so no
   * gap ever exceeds an interval, and from then on the targets are spread
   * over the whole interval as if added without the option, instead of
   * staying bunched in w. The cost is one extra check per target added so.
   */
  addEntry(id: string, intervalMs: number, nowMs: number, payload: P, firstCheckWithinMs?: number): ScheduleEntry<P> | undefined {
    if (firstCheckWithinMs !== undefined && !(firstCheckWithinMs >= 0 && firstCheckWithinMs !== Infinity)) {
      throw new RangeError(`firstCheckWithinMs must be a finite number >= 0, got ${firstCheckWithinMs}`);
    }
    if (this.entries.has(id)) return undefined;
    const phase = (this.phase0 + this.spreadIndex++ * GOLDEN_FRACTION) % 1;
    const homeDue = nowMs + phase * intervalMs;
    const entry = new ScheduleEntry<P>(id, intervalMs, this.nextGeneration++, payload);
    let firstDue = homeDue;
    if (firstCheckWithinMs !== undefined && firstCheckWithinMs < intervalMs) {
      firstDue = nowMs + phase * firstCheckWithinMs;
      entry.homeDueMs = homeDue > firstDue ? homeDue : firstDue + intervalMs;
    }
    this.entries.set(id, entry);
    // A check of an earlier target with this id may still run: wait for it,
    // so there is never more than one check of an id in flight.
    if (this.orphans.has(id)) {
      entry.parkedDueMs = firstDue;
      entry.dueMs = firstDue;
    } else this.heap.set(entry, firstDue);
    return entry;
  }

  /** Unschedules `id`. A running check finishes, but `complete` then reports it stale. */
  remove(id: string): boolean {
    const e = this.entries.get(id);
    if (e === undefined) return false;
    this.entries.delete(id);
    e.live = false;
    this.heap.delete(e);
    if (e.running) this.orphans.set(id, e.generation);
    return true;
  }

  /** Changes the interval of `id`; a pending deadline further away than the new interval is pulled in. */
  changeInterval(id: string, intervalMs: number, nowMs: number): boolean {
    const e = this.entries.get(id);
    if (!e) return false;
    e.intervalMs = intervalMs;
    if (this.heap.has(e) && e.dueMs > nowMs + intervalMs) this.heap.set(e, nowMs + intervalMs);
    return true;
  }

  /** The earliest time `takeDue` has work, or Infinity (nothing scheduled, or the concurrency bound is reached). */
  nextDeadlineMs(): number {
    return this.running >= this.maxConcurrent ? Infinity : this.heap.peekDue();
  }

  /**
   * Pops the earliest check due at `nowMs`, marks it running and returns its
   * entry; undefined when nothing is due or the concurrency bound is reached.
   * The allocation-free form of {@link takeDue}, for drivers.
   */
  popDue(nowMs: number): ScheduleEntry<P> | undefined {
    if (this.running >= this.maxConcurrent) return undefined;
    const top = this.heap.peek();
    if (top === undefined || top.dueMs > nowMs) return undefined;
    this.heap.pop();
    top.running = true;
    top.runDueMs = top.dueMs;
    top.runStartedMs = nowMs;
    this.running++;
    return top;
  }

  /** Pops every check due at `nowMs`, up to the concurrency bound, and marks them running. */
  takeDue(nowMs: number): DueCheck[] {
    const out: DueCheck[] = [];
    let e: ScheduleEntry<P> | undefined;
    while ((e = this.popDue(nowMs)) !== undefined) out.push({ id: e.id, dueMs: e.runDueMs, generation: e.generation });
    return out;
  }

  /**
   * Marks `check` finished at `nowMs` and schedules the target's next check
   * at due + interval (or now, if that has passed). Returns false when the
   * check is stale (its target was removed or re-added meanwhile) or was
   * already completed.
   */
  complete(check: DueCheck, nowMs: number): boolean {
    const e = this.entries.get(check.id);
    if (e !== undefined && e.generation === check.generation) return e.running ? this.completeEntry(e, nowMs) : false;
    return this.completeOrphan(check.id, check.generation, nowMs);
  }

  /**
   * Completes the running check of `entry` (from {@link popDue}); the same
   * rules as {@link complete}, without a lookup.
   */
  completeEntry(entry: ScheduleEntry<P>, nowMs: number): boolean {
    if (!entry.running) return false;
    if (!entry.live) {
      entry.running = false;
      return this.completeOrphan(entry.id, entry.generation, nowMs);
    }
    entry.running = false;
    this.running--;
    const slot = entry.runDueMs + entry.intervalMs;
    let next = slot;
    if (!Number.isNaN(entry.homeDueMs)) {
      // The early first check is done: go home (never later than one
      // interval, even if the interval shrank meanwhile).
      if (entry.homeDueMs < next) next = entry.homeDueMs;
      entry.homeDueMs = NaN;
    }
    if (next < nowMs) {
      // The check outlived its slot (timeout above the interval, or it
      // started late). Start the next one now and keep one in flight,
      // rather than queueing missed slots. (Passing the home slot after an
      // early first check is no overrun: it can be a few ms away.)
      if (slot < nowMs) this.overruns++;
      next = nowMs;
    }
    this.heap.set(entry, next);
    return true;
  }

  /** A check of a removed target ended: release its slot and un-park a re-added target of the same id. */
  private completeOrphan(id: string, generation: number, nowMs: number): boolean {
    if (this.orphans.get(id) !== generation) return false;
    this.orphans.delete(id);
    this.running--;
    const e = this.entries.get(id);
    if (e !== undefined && e.parkedDueMs !== undefined) {
      this.heap.set(e, Math.max(e.parkedDueMs, nowMs));
      e.parkedDueMs = undefined;
    }
    return false;
  }
}
