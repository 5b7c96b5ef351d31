/**
 * A binary min-heap of timed events, ordered by time and then by insertion
 * sequence, so two events due at the same simulated millisecond always run in
 * the order they were scheduled. That tie-break is what makes a simulation
 * replay exactly: a heap alone is not stable.
 *
 * It is the one data structure on the simulator's hot path (one push and one
 * pop per message), so it stores plain objects with `t` and `seq` fields in
 * an array and sifts them in place: no comparator closures, no allocation
 * beyond the array's own growth.
 */

/** What the queue needs from an entry: a due time and a tie-breaking sequence number. */
export interface Timed {
  /** Due time in simulated milliseconds. */
  t: number;
  /** Assigned by the queue on push; earlier pushes run first among equal times. */
  seq: number;
}

/** A min-heap of {@link Timed} entries ordered by (t, seq). */
export class EventQueue<E extends Timed> {
  private readonly heap: E[] = [];
  private nextSeq = 0;

  /** Number of queued entries. */
  get size(): number {
    return this.heap.length;
  }

  /** Due time of the earliest entry, or Infinity when empty. */
  peekTime(): number {
    const top = this.heap[0];
    return top === undefined ? Infinity : top.t;
  }

  /** The earliest entry without removing it. */
  peek(): E | undefined {
    return this.heap[0];
  }

  /** Adds an entry; stamps its `seq` so equal times keep insertion order. */
  push(entry: E): void {
    entry.seq = this.nextSeq++;
    const heap = this.heap;
    let i = heap.length;
    heap.push(entry);
    // Sift up: move the hole towards the root while the parent is later.
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p]!;
      if (parent.t < entry.t || (parent.t === entry.t && parent.seq < entry.seq)) break;
      heap[i] = parent;
      i = p;
    }
    heap[i] = entry;
  }

  /** Removes and returns the earliest entry. */
  pop(): E | undefined {
    const heap = this.heap;
    const n = heap.length;
    if (n === 0) return undefined;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (n > 1) {
      // Sift down: move the hole towards the leaves while a child is earlier.
      const size = n - 1;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= size) break;
        const r = l + 1;
        let c = l;
        let child = heap[l]!;
        if (r < size) {
          const right = heap[r]!;
          if (right.t < child.t || (right.t === child.t && right.seq < child.seq)) {
            c = r;
            child = right;
          }
        }
        if (last.t < child.t || (last.t === child.t && last.seq < child.seq)) break;
        heap[i] = child;
        i = c;
      }
      heap[i] = last;
    }
    return top;
  }

  /** Removes every entry. */
  clear(): void {
    this.heap.length = 0;
  }

  /** Visits every queued entry in heap (not time) order. */
  forEach(visit: (entry: E) => void): void {
    for (const e of this.heap) visit(e);
  }
}
