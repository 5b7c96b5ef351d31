/**
 * The read barrier: linearizable reads without writing to the log
 * (ReadIndex, dissertation §6.4), seen from the replica.
 *
 * A read waits here until this node has applied everything that was
 * committed when the read arrived. Reads are batched: one ReadIndex request
 * (one heartbeat round on the leader) serves every read that arrived before
 * it was issued; reads arriving while it is in flight wait for the next one,
 * since they need a fresh index. The core answers with a ReadState (its
 * context and the index to wait for); reads are released once the state
 * machine reaches that index. A request the leader never answers (it lost
 * leadership, a partition) is asked again after `retryMs`, or as soon as a
 * new leader is known.
 */
import { ServerError } from "./errors.ts";

/** What the barrier needs from the replica around it. */
export interface ReadBarrierHost {
  /** Asks the core for a read index under `ctx`; false when no leader is known (the barrier waits for one). */
  readIndex(ctx: string): boolean;
  /** A context no earlier request of this node used. */
  nextContext(): string;
  /** The leader this node follows, or null (for the timeout message). */
  leader(): string | null;
}

/** Timing of the barrier. */
export interface ReadBarrierTiming {
  /** A read not released after this long fails with "timeout". Infinity: never. */
  timeoutMs: number;
  /** Ask again when a request has had no answer for this long (about an election timeout). */
  retryMs: number;
  /**
   * Give every read its own request, issued at once, and fail it when no
   * leader is known, instead of batching reads and holding them for a
   * leader. The server batches; a simulated client that moves on may not.
   */
  unbatched?: boolean;
}

interface ReadWaiter {
  readonly deadlineMs: number;
  readonly done: (error: ServerError | undefined) => void;
}

/** Linearizable reads of one replica, waiting for their read index. */
export class ReadBarrier {
  /** Reads not yet covered by a request. */
  private batch: ReadWaiter[] = [];
  /** Requests in flight by context (at most one), with the time to ask again. */
  private readonly inFlight = new Map<string, { waiters: ReadWaiter[]; retryAtMs: number }>();
  /** Reads whose index is known, waiting for the state machine to reach it. */
  private readonly byIndex: Array<{ index: number; waiters: ReadWaiter[] }> = [];
  /** Every waiting read, in arrival (= deadline) order. */
  private readonly all = new Set<ReadWaiter>();

  constructor(
    private readonly host: ReadBarrierHost,
    private readonly timing: ReadBarrierTiming,
  ) {}

  /** Number of reads waiting. */
  get pending(): number {
    return this.all.size;
  }

  /** Waits for a read point; `done` is called once, with no error when the read may proceed. Returns a cancel function. */
  wait(nowMs: number, done: (error: ServerError | undefined) => void): () => void {
    const w: ReadWaiter = { deadlineMs: nowMs + this.timing.timeoutMs, done };
    if (this.timing.unbatched) {
      const ctx = this.host.nextContext();
      if (!this.host.readIndex(ctx)) {
        done(new ServerError("no_leader", "no leader is known to serve reads"));
        return () => {};
      }
      this.all.add(w);
      this.inFlight.set(ctx, { waiters: [w], retryAtMs: nowMs + this.timing.retryMs });
      return () => this.remove(w);
    }
    this.all.add(w);
    this.batch.push(w);
    this.issue(nowMs);
    return () => this.remove(w);
  }

  /** Issues one request for the batch, unless one is in flight or no leader is known. */
  private issue(nowMs: number): void {
    if (this.batch.length === 0 || (this.inFlight.size > 0 && !this.timing.unbatched)) return;
    const ctx = this.host.nextContext();
    if (!this.host.readIndex(ctx)) return; // no leader yet: leaderChanged() issues it
    this.inFlight.set(ctx, { waiters: this.batch, retryAtMs: nowMs + this.timing.retryMs });
    this.batch = [];
  }

  /** A Ready's ReadState: reads of `ctx` may proceed once `index` is applied (a negative index: ask again). */
  onReadState(ctx: string, index: number, nowMs: number): void {
    const pending = this.inFlight.get(ctx);
    if (!pending) return;
    this.inFlight.delete(ctx);
    if (index < 0) this.batch.push(...pending.waiters);
    else this.byIndex.push({ index, waiters: pending.waiters });
    this.issue(nowMs);
  }

  /** Releases the reads whose index the state machine has reached. */
  release(appliedIndex: number): void {
    for (let i = this.byIndex.length - 1; i >= 0; i--) {
      const r = this.byIndex[i]!;
      if (r.index > appliedIndex) continue;
      this.byIndex.splice(i, 1);
      for (const w of r.waiters) this.finish(w, undefined);
    }
  }

  /** A new leader is known: requests sent to the old one will not come back, so ask the new one. */
  leaderChanged(nowMs: number): void {
    if (this.timing.unbatched) return;
    for (const [ctx, r] of this.inFlight) {
      this.inFlight.delete(ctx);
      this.batch.push(...r.waiters);
    }
    this.issue(nowMs);
  }

  /** Fails reads past their deadline and asks again for requests left unanswered. */
  expire(nowMs: number): void {
    for (const w of this.all) {
      if (w.deadlineMs > nowMs) break;
      this.remove(w);
      const leader = this.host.leader();
      w.done(new ServerError(leader ? "timeout" : "no_leader", `linearizable read timed out after ${this.timing.timeoutMs} ms${leader ? "" : " (no leader)"}`, { leader }));
    }
    for (const [ctx, r] of this.inFlight) {
      if (r.retryAtMs > nowMs) continue;
      // The leader may have dropped it (leader change, partition): ask again.
      this.inFlight.delete(ctx);
      this.batch.push(...r.waiters);
      this.issue(nowMs);
    }
  }

  /** The earliest time {@link expire} has something to do; Infinity when nothing waits. */
  nextDeadlineMs(): number {
    let next = Infinity;
    for (const w of this.all) {
      next = w.deadlineMs;
      break;
    }
    for (const r of this.inFlight.values()) if (r.retryAtMs < next) next = r.retryAtMs;
    return next;
  }

  /** Fails every waiting read (the node stops). */
  failAll(error: ServerError): void {
    const waiting = [...this.all];
    this.batch = [];
    this.inFlight.clear();
    this.byIndex.length = 0;
    this.all.clear();
    for (const w of waiting) w.done(error);
  }

  private finish(w: ReadWaiter, error: ServerError | undefined): void {
    this.all.delete(w);
    w.done(error);
  }

  private remove(w: ReadWaiter): void {
    if (!this.all.delete(w)) return;
    this.batch = this.batch.filter((x) => x !== w);
    for (const r of this.inFlight.values()) r.waiters = r.waiters.filter((x) => x !== w);
    for (const r of this.byIndex) r.waiters = r.waiters.filter((x) => x !== w);
  }
}
