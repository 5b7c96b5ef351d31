/**
 * Deadlines for items that all wait the same duration, such as checks that
 * share a timeout: they are pushed in time order, so their deadlines never
 * decrease and the earliest is always at the head. Push, cancel and pop are
 * O(1) on preallocated rings; nothing is allocated per item once the ring has
 * grown to the number of items waiting at once.
 *
 * The prober keeps one queue per distinct timeout and one timer for the
 * earliest head of all of them, instead of a timer object per check (10,000
 * timers armed and cleared a second at 10,000 targets). Pure: time comes in
 * as numbers; the caller owns the clock and the timer.
 */
export class ExpiryQueue<T> {
  private items: Array<T | undefined>;
  private deadlines: Float64Array;
  private mask: number;
  /** Ticket of the head slot; tickets count pushes from 0, so slot = ticket & mask. */
  private headTicket = 0;
  private nextTicket = 0;
  private lastDeadlineMs = -Infinity;

  /** `initialCapacity` is rounded up to a power of two; the ring doubles when full. */
  constructor(initialCapacity = 64) {
    let cap = 1;
    while (cap < initialCapacity) cap *= 2;
    this.items = new Array<T | undefined>(cap).fill(undefined);
    this.deadlines = new Float64Array(cap);
    this.mask = cap - 1;
  }

  /** Items waiting, cancelled ones not yet dropped included. */
  get size(): number {
    return this.nextTicket - this.headTicket;
  }

  /**
   * Appends `item` expiring at `deadlineMs` and returns its ticket (for
   * {@link cancel}). A deadline earlier than the previous one is raised to
   * it, which keeps the queue ordered (it cannot happen with a monotonic clock
   * and one duration per queue).
   */
  push(item: T, deadlineMs: number): number {
    if (this.size > this.mask) this.grow();
    const d = deadlineMs < this.lastDeadlineMs ? this.lastDeadlineMs : deadlineMs;
    this.lastDeadlineMs = d;
    const ticket = this.nextTicket++;
    const slot = ticket & this.mask;
    this.items[slot] = item;
    this.deadlines[slot] = d;
    return ticket;
  }

  /** Forgets `item` (pushed with `ticket`) so it never expires; a no-op if it already expired or was cancelled. */
  cancel(ticket: number, item: T): void {
    if (ticket < this.headTicket || ticket >= this.nextTicket) return;
    const slot = ticket & this.mask;
    if (this.items[slot] === item) this.items[slot] = undefined;
    this.dropCancelledHead();
  }

  /** The earliest deadline still waiting, or Infinity. */
  peekDeadline(): number {
    this.dropCancelledHead();
    return this.size === 0 ? Infinity : this.deadlines[this.headTicket & this.mask]!;
  }

  /** Removes every item whose deadline is at or before `nowMs`, oldest first, and hands each to `expire`. */
  popExpired(nowMs: number, expire: (item: T) => void): void {
    while (this.size > 0) {
      const slot = this.headTicket & this.mask;
      const item = this.items[slot];
      if (item !== undefined && this.deadlines[slot]! > nowMs) return;
      this.items[slot] = undefined;
      this.headTicket++;
      if (item !== undefined) expire(item);
    }
  }

  private dropCancelledHead(): void {
    while (this.size > 0 && this.items[this.headTicket & this.mask] === undefined) this.headTicket++;
  }

  private grow(): void {
    const oldCap = this.mask + 1;
    const cap = oldCap * 2;
    const items = new Array<T | undefined>(cap).fill(undefined);
    const deadlines = new Float64Array(cap);
    // Tickets keep their numbers; only their slots move (ticket & new mask).
    for (let t = this.headTicket; t < this.nextTicket; t++) {
      items[t & (cap - 1)] = this.items[t & this.mask];
      deadlines[t & (cap - 1)] = this.deadlines[t & this.mask]!;
    }
    this.items = items;
    this.deadlines = deadlines;
    this.mask = cap - 1;
  }
}
