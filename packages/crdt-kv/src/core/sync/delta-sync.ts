/**
 * Delta-interval anti-entropy with acknowledgements, and its two
 * optimisations, written once for any state type.
 *
 * The base is Almeida, Shoker & Baquero's Algorithm 2 ("Delta state
 * replicated data types", JPDC 2018, §6.1): every delta a replica joins is
 * appended to a log under a sequence number; a peer is sent the join of the
 * log entries it has not acknowledged (a *delta-interval*); the peer joins
 * the whole interval at once and acknowledges its upper bound. Joining whole
 * contiguous intervals is the *causal delta-merging condition*: a replica
 * never holds a later delta of some origin without the earlier ones, so the
 * result is causally consistent. A peer whose acknowledged point has already
 * been garbage collected from the log lags beyond it and gets the full state
 * instead (or, in the store, a digest exchange).
 *
 * Enes, Almeida, Baquero & Leitão ("Efficient Synchronization of State-based
 * CRDTs", ICDE 2019, Algorithm 1) showed that on any topology with cycles
 * this classic algorithm ships about as many bytes as sending full states,
 * for two reasons, each with a fix:
 *
 * - BP, avoid back-propagation: a delta received from j is sent back to j in
 *   the next interval. Fix: remember each log entry's origin and leave j's
 *   own entries out of the interval sent to j.
 * - RR, remove redundant state: a received delta often contains parts the
 *   receiver already has (they arrived by another path); classic stores and
 *   forwards all of it. Fix: store only Δ(d, x), the join of the
 *   irreducibles of d not below x (src/core/crdt/lattice.ts).
 *
 * `algorithm` selects state-based, classic, BP, RR or BP+RR so the bench can
 * measure all five on the same workload.
 */

/** The five synchronisation algorithms of the transmission experiment. */
export type SyncAlgorithm = "state" | "classic" | "bp" | "rr" | "bprr";

/** All algorithms, in the order the bench prints them. */
export const SYNC_ALGORITHMS: readonly SyncAlgorithm[] = ["state", "classic", "bp", "rr", "bprr"];

/** True when `a` names an algorithm. */
export function isSyncAlgorithm(a: unknown): a is SyncAlgorithm {
  return typeof a === "string" && (SYNC_ALGORITHMS as readonly string[]).includes(a);
}

/**
 * The replica's state as the algorithm sees it: deltas of type D can be
 * joined in, compared (Δ), joined together, measured, and the whole state
 * read out as one delta.
 */
export interface SyncReplica<D> {
  /** Joins a delta into the replica's state. */
  join(d: D): void;
  /** Δ(d, state): what `d` adds to the current state (bottom when nothing). */
  novelty(d: D): D;
  /** True for the bottom delta. */
  isBottom(d: D): boolean;
  /** The join of several deltas (in sequence order). */
  joinAll(ds: readonly D[]): D;
  /** The whole state as a delta. */
  full(): D;
  /** Encoded size in bytes. */
  sizeOf(d: D): number;
}

/** One log entry: a delta this replica joined, where it came from, and its size. */
export interface LogEntry<D> {
  readonly seq: number;
  readonly delta: D;
  /** The peer it was received from; null for a local update. */
  readonly origin: string | null;
  readonly bytes: number;
}

/** What to send a peer this round. */
export type Plan<D> =
  | { kind: "nothing" }
  /** A delta-interval (or, for "state", the full state) covering sequence numbers below `seq`. */
  | { kind: "send"; seq: number; delta: D; full: boolean; bytes: number }
  /** The peer's acknowledged point is no longer in the log: it needs a full state or a digest sync. */
  | { kind: "lagging"; seq: number };

/** Tuning for {@link DeltaSync}. */
export interface DeltaSyncOptions {
  algorithm: SyncAlgorithm;
  /**
   * Largest delta-interval to build, in bytes. Longer intervals are cut at an
   * entry boundary and the rest goes next round: the peer acknowledges the
   * cut point, so causal merging still holds. At least one entry always goes.
   */
  maxIntervalBytes: number;
  /**
   * Most log entries kept. A peer that stays away long enough for the log to
   * pass this falls back to full state or digest: memory is bounded, at the
   * price of one bigger exchange for a long-absent peer.
   */
  maxLogEntries: number;
  /**
   * Measure each joined interval exactly (`Plan.bytes`): the transmission
   * experiment needs it; the store does not use it and skips the cost
   * (then `bytes` is the sum of the entries' sizes, an upper bound).
   */
  exactIntervalBytes?: boolean;
}

/** Defaults: BP+RR, 1 MiB intervals, 4096 entries. */
export const DEFAULT_SYNC_OPTIONS: DeltaSyncOptions = { algorithm: "bprr", maxIntervalBytes: 1 << 20, maxLogEntries: 4096 };

/** The algorithm's state at one replica: sequence counter, delta log, peers' acknowledgements. */
export class DeltaSync<D> {
  /** Next sequence number (c_i in the papers): the log covers [logStart, c). */
  private c = 0;
  private readonly log: Array<LogEntry<D>> = [];
  /** peer -> highest sequence number it acknowledged (A_i in the papers). */
  private readonly acks = new Map<string, number>();
  readonly options: DeltaSyncOptions;

  /**
   * @param replica the state.
   * @param onJoin called after every join with what was joined and its log
   *   entry (null when not logged, as in state-based sync): persist it here.
   */
  constructor(
    private readonly replica: SyncReplica<D>,
    options: Partial<DeltaSyncOptions> = {},
    private readonly onJoin: (joined: D, entry: LogEntry<D> | null) => void = () => {},
  ) {
    this.options = { ...DEFAULT_SYNC_OPTIONS, ...options };
  }

  /** The next sequence number. */
  get seq(): number {
    return this.c;
  }

  /** Entries currently in the log. */
  get logLength(): number {
    return this.log.length;
  }

  /** The log (oldest first); read-only. */
  entries(): ReadonlyArray<LogEntry<D>> {
    return this.log;
  }

  /** A peer's acknowledged point (0 when unknown). */
  ackOf(peer: string): number {
    return this.acks.get(peer) ?? 0;
  }

  /** All acknowledgements, for status and snapshots. */
  ackEntries(): Array<[string, number]> {
    return [...this.acks];
  }

  /** Restores durable state after a restart (the log entries were persisted as they were stored). */
  restore(c: number, entries: ReadonlyArray<LogEntry<D>>, acks: Iterable<[string, number]>): void {
    this.c = Math.max(this.c, c);
    for (const e of entries) {
      if (this.log.length > 0 && e.seq <= this.log[this.log.length - 1]!.seq) continue;
      this.log.push(e);
      if (e.seq >= this.c) this.c = e.seq + 1;
    }
    for (const [peer, seq] of acks) this.acks.set(peer, Math.max(this.acks.get(peer) ?? 0, Math.min(seq, this.c)));
  }

  /** A local update: join its delta and log it. */
  local(delta: D): void {
    this.replica.join(delta);
    this.onJoin(delta, this.options.algorithm === "state" ? null : this.store(delta, null));
  }

  /**
   * Several local updates that were already joined one by one (each mutator
   * saw the previous ones): log their join as one entry under one sequence
   * number, so a batch costs one log entry, one persisted record and one
   * piece of the next delta-interval. `joined` is that join.
   */
  localJoined(joined: D): void {
    this.onJoin(joined, this.options.algorithm === "state" ? null : this.store(joined, null));
  }

  /** Joins a local delta into the replica without logging it (the first half of a batch; see {@link localJoined}). */
  joinOnly(delta: D): void {
    this.replica.join(delta);
  }

  /**
   * A delta (or state) from `from`. Returns the part that was new here
   * (bottom when nothing was), already joined and logged.
   */
  receive(from: string, delta: D): D {
    const novel = this.replica.novelty(delta);
    if (this.replica.isBottom(novel)) return novel;
    const alg = this.options.algorithm;
    if (alg === "state") {
      this.replica.join(novel);
      this.onJoin(novel, null);
      return novel;
    }
    // Classic and BP store the received delta whole; RR stores only its new part.
    const kept = alg === "rr" || alg === "bprr" ? novel : delta;
    this.replica.join(kept);
    this.onJoin(kept, this.store(kept, from));
    return novel;
  }

  /** `peer` acknowledged everything below `seq`. */
  ack(peer: string, seq: number): void {
    if (!Number.isSafeInteger(seq) || seq < 0) return;
    // A peer cannot have acknowledged what does not exist yet (a stale ack from before a restart).
    const bounded = Math.min(seq, this.c);
    if (bounded > (this.acks.get(peer) ?? 0)) this.acks.set(peer, bounded);
  }

  /** Forgets a peer (it left the membership). */
  forget(peer: string): void {
    this.acks.delete(peer);
  }

  /**
   * What to send `peer` now (Algorithm 1's periodic step, for one peer).
   * `trim`, when given, reduces each log entry to what the peer lacks
   * (null: nothing) before the interval is joined, so entries the peer
   * already has cost neither a join nor bytes; the interval's upper bound
   * and acknowledgement are unchanged.
   */
  plan(peer: string, trim?: (d: D) => D | null): Plan<D> {
    const alg = this.options.algorithm;
    if (alg === "state") {
      const full = this.replica.full();
      if (this.replica.isBottom(full)) return { kind: "nothing" };
      return { kind: "send", seq: this.c, delta: full, full: true, bytes: this.replica.sizeOf(full) };
    }
    const acked = this.acks.get(peer) ?? 0;
    if (acked >= this.c) return { kind: "nothing" };
    const start = this.log.length === 0 ? this.c : this.log[0]!.seq;
    if (acked < start) return { kind: "lagging", seq: this.c };
    const bp = alg === "bp" || alg === "bprr";
    const parts: D[] = [];
    let bytes = 0;
    let upTo = acked;
    for (let i = acked - start; i < this.log.length; i++) {
      const e = this.log[i]!;
      if (parts.length > 0 && bytes + e.bytes > this.options.maxIntervalBytes) break;
      upTo = e.seq + 1;
      if (bp && e.origin === peer) continue; // BP: never send a peer its own deltas back
      const part = trim === undefined ? e.delta : trim(e.delta);
      bytes += e.bytes;
      if (part !== null) parts.push(part);
    }
    if (parts.length === 0) {
      // Everything in the interval came from this peer (or it has it already): nothing to send.
      this.acks.set(peer, upTo);
      return { kind: "nothing" };
    }
    const delta = parts.length === 1 ? parts[0]! : this.replica.joinAll(parts);
    const exact = this.options.exactIntervalBytes ?? true;
    return { kind: "send", seq: upTo, delta, full: false, bytes: exact && (parts.length > 1 || trim !== undefined) ? this.replica.sizeOf(delta) : bytes };
  }

  /** The full state, to answer a lagging peer; acknowledging it acknowledges everything below `seq`. */
  fullState(): { seq: number; delta: D; bytes: number } {
    const delta = this.replica.full();
    return { seq: this.c, delta, bytes: this.replica.sizeOf(delta) };
  }

  /**
   * Drops log entries every peer in `peers` has acknowledged, then the oldest
   * beyond `maxLogEntries` (Algorithm 2's periodic garbage collection).
   */
  collect(peers: readonly string[]): void {
    let min = this.c;
    for (const p of peers) min = Math.min(min, this.acks.get(p) ?? 0);
    let drop = 0;
    while (drop < this.log.length && this.log[drop]!.seq < min) drop++;
    drop = Math.max(drop, this.log.length - this.options.maxLogEntries);
    if (drop > 0) this.log.splice(0, drop);
  }

  private store(delta: D, origin: string | null): LogEntry<D> {
    const entry: LogEntry<D> = { seq: this.c, delta, origin, bytes: this.replica.sizeOf(delta) };
    this.c++;
    this.log.push(entry);
    return entry;
  }
}

/** Adapts an immutable {@link import("../crdt/lattice.ts").Lattice} to a SyncReplica holding one state. */
export class LatticeReplica<S> implements SyncReplica<S> {
  state: S;
  /** Joins performed (for the bench's merges/s). */
  merges = 0;

  constructor(
    private readonly lattice: {
      bottom(): S;
      isBottom(s: S): boolean;
      join(a: S, b: S): S;
      delta(a: S, b: S): S;
      encode(s: S): unknown;
    },
    private readonly size: (s: S) => number,
  ) {
    this.state = lattice.bottom();
  }

  join(d: S): void {
    this.state = this.lattice.join(this.state, d);
    this.merges++;
  }
  novelty(d: S): S {
    return this.lattice.delta(d, this.state);
  }
  isBottom(d: S): boolean {
    return this.lattice.isBottom(d);
  }
  joinAll(ds: readonly S[]): S {
    return ds.reduce((acc, d) => this.lattice.join(acc, d), this.lattice.bottom());
  }
  full(): S {
    return this.state;
  }
  sizeOf(d: S): number {
    return this.size(d);
  }
}
