/**
 * Keeps the fleet's open connections under a budget, because every accepted
 * connection costs a file descriptor and the process has a hard limit
 * (20,000 here). 10,000 listeners plus one keep-alive connection per origin
 * from a checker would need 20,000 descriptors on their own.
 *
 * When a new connection would exceed the budget, the budget closes an idle
 * keep-alive connection: the **most recently** idled one. A health checker
 * visits every origin once per interval in a fixed order, so the connection
 * that just finished a request is the one whose next request is furthest
 * away; evicting it is what Belady's optimal policy (MIN) would do for that
 * cyclic pattern, while LRU would evict exactly the connection needed next
 * and miss on every request once the working set exceeds the budget.
 * With a budget B and n origins checked in a cycle, about (n - B) / n of
 * checks reconnect.
 *
 * Generic over the connection type so it is pure and tested without sockets.
 */
export class ConnectionBudget<C> {
  private readonly state = new Map<C, { busy: boolean; stamp: number }>();
  /** Idle connections in the order they became idle; stale entries are skipped lazily. */
  private idleStack: Array<{ conn: C; stamp: number }> = [];
  private nextStamp = 1;
  /** Connections closed to make room, since start. */
  evictions = 0;
  /** New connections refused because every open connection was busy. */
  rejections = 0;

  /** `maxOpen` is the most connections held at once; must be at least 1. */
  constructor(readonly maxOpen: number) {
    if (!Number.isInteger(maxOpen) || maxOpen < 1) throw new RangeError(`maxOpen must be a positive integer, got ${maxOpen}`);
  }

  /** Connections currently open (busy or idle). */
  get open(): number {
    return this.state.size;
  }

  /**
   * Registers a new connection. Returns the idle connection the caller must
   * close to make room, `"reject"` when the new one must be closed instead
   * (everything is busy), or undefined when there is room.
   */
  admit(conn: C): C | "reject" | undefined {
    let victim: C | "reject" | undefined;
    if (this.state.size >= this.maxOpen) {
      victim = this.popIdle();
      if (victim === undefined) {
        this.rejections++;
        return "reject";
      }
      this.state.delete(victim);
      this.evictions++;
    }
    // A new connection is about to send a request: it is busy, not idle, so
    // it is never the next victim before it has been used once.
    this.state.set(conn, { busy: true, stamp: 0 });
    return victim;
  }

  /** A request arrived on `conn`. */
  markBusy(conn: C): void {
    const s = this.state.get(conn);
    if (s) s.busy = true;
  }

  /** `conn` finished its response and waits for the next request. */
  markIdle(conn: C): void {
    const s = this.state.get(conn);
    if (!s) return;
    s.busy = false;
    s.stamp = this.nextStamp++;
    this.idleStack.push({ conn, stamp: s.stamp });
    // Stale entries pile up as connections are reused; compact occasionally
    // so the stack stays O(open connections).
    if (this.idleStack.length > 4 * this.state.size + 64) this.compact();
  }

  /** `conn` closed (by either side). */
  release(conn: C): void {
    this.state.delete(conn);
  }

  private popIdle(): C | undefined {
    for (;;) {
      const top = this.idleStack.pop();
      if (top === undefined) return undefined;
      const s = this.state.get(top.conn);
      if (s !== undefined && !s.busy && s.stamp === top.stamp) return top.conn;
    }
  }

  private compact(): void {
    this.idleStack = this.idleStack.filter((e) => {
      const s = this.state.get(e.conn);
      return s !== undefined && !s.busy && s.stamp === e.stamp;
    });
  }
}
