/**
 * Leases, the way etcd splits them (etcd's `lease/lessor.go`): a lease has
 * two halves that live in different places, and the split is the whole point.
 *
 * - {@link LeaseTable} is replicated state: which leases exist, their granted
 *   TTLs and the keys attached to them. Grants and revocations are commands in
 *   the Raft log, so every replica holds the same table at the same index, and
 *   a revocation deletes the lease's keys in one revision on every replica.
 *
 * - {@link LeaseClock} is the leader's alone: when each lease expires. Only the
 *   leader keeps deadlines; keep-alives go to it and never touch the log; when
 *   a deadline passes, the leader proposes a revocation, and only the committed
 *   revocation removes anything. Followers never expire a lease by their own
 *   clocks: two replicas whose clocks disagree would then disagree about which
 *   keys exist (state machine safety, Raft §5.4.3, needs every replica to apply
 *   the same commands, and "time passed" is not a command). A new leader has
 *   not seen the keep-alives its predecessor received, so it starts every
 *   lease's countdown afresh, extended by an election timeout (etcd's
 *   `Promote(extend)`): a lease can outlive its TTL after a leader change, but
 *   it is never cut short.
 *
 * Both are pure: time comes in as `nowMs` from a monotonic clock the caller
 * owns, so a step of the wall clock cannot expire anything.
 */
import { WireError, type Reader, type Writer } from "./wire.ts";
import type { KvError } from "./types.ts";

/** etcd's `lease.MaxLeaseTTL`: a grant above this many seconds fails with "too large lease TTL". */
export const MAX_LEASE_TTL_SEC = 9_000_000_000;

/**
 * The largest lease id raft-kv accepts. etcd's ids are positive int64s; ours
 * stop at 2^53 - 1 so they are exact JavaScript numbers everywhere (ids we pick
 * ourselves always fit; a client that picks a larger one is told so).
 */
export const MAX_LEASE_ID = Number.MAX_SAFE_INTEGER;

/** One lease as the replicated table holds it. */
export interface LeaseRecord {
  id: number;
  /** The TTL granted, in seconds (after the server raised it to its minimum). */
  ttlSec: number;
}

/** A lease with its keys (byte strings, sorted), as `LeaseTimeToLive` reports them. */
export interface LeaseView extends LeaseRecord {
  keys: string[];
}

/** The replicated lease table: leases by id and the keys attached to each. Deterministic, so every replica agrees. */
export class LeaseTable {
  private readonly leases = new Map<number, { ttlSec: number; keys: Set<string> }>();

  /** Number of live leases. */
  get size(): number {
    return this.leases.size;
  }

  /** True when lease `id` exists. */
  has(id: number): boolean {
    return this.leases.has(id);
  }

  /**
   * Creates lease `id` with `ttlSec` (already raised to the minimum by the
   * proposer, so every replica stores the same TTL). Fails as etcd does: id 0
   * is "no lease", an id in use exists already, a TTL above the maximum is refused.
   */
  grant(id: number, ttlSec: number): KvError | undefined {
    if (id <= 0 || !Number.isSafeInteger(id)) return { code: "lease_not_found", message: "requested lease not found" };
    if (ttlSec > MAX_LEASE_TTL_SEC) return { code: "lease_ttl_too_large", message: "too large lease TTL" };
    if (this.leases.has(id)) return { code: "lease_exists", message: "lease already exists" };
    this.leases.set(id, { ttlSec, keys: new Set() });
    return undefined;
  }

  /** Removes lease `id` and returns its keys in byte order (the caller deletes them), or undefined if there is no such lease. */
  revoke(id: number): string[] | undefined {
    const l = this.leases.get(id);
    if (!l) return undefined;
    this.leases.delete(id);
    return [...l.keys].sort(byteOrder);
  }

  /** Attaches `key` (a byte string) to lease `id`, which must exist. */
  attach(id: number, key: string): void {
    const l = this.leases.get(id);
    if (!l) throw new Error(`attach to missing lease ${id}`);
    l.keys.add(key);
  }

  /** Detaches `key` from lease `id` (nothing if either is gone). */
  detach(id: number, key: string): void {
    this.leases.get(id)?.keys.delete(key);
  }

  /** Lease `id` with its keys, or undefined. */
  get(id: number): LeaseView | undefined {
    const l = this.leases.get(id);
    return l ? { id, ttlSec: l.ttlSec, keys: [...l.keys].sort(byteOrder) } : undefined;
  }

  /** Every lease, by id. */
  list(): LeaseRecord[] {
    return [...this.leases.entries()].map(([id, l]) => ({ id, ttlSec: l.ttlSec })).sort((a, b) => a.id - b.id);
  }

  /** Writes the leases (not their keys: those are rebuilt from the keys' own lease fields on restore). */
  write(w: Writer): void {
    const all = this.list();
    w.uint(all.length);
    for (const l of all) w.uint(l.id).uint(l.ttlSec);
  }

  /** Reads what {@link LeaseTable.write} wrote. */
  static read(r: Reader): LeaseTable {
    const t = new LeaseTable();
    const n = r.uint();
    for (let i = 0; i < n; i++) {
      const id = r.uint();
      const ttlSec = r.uint();
      if (id === 0 || t.leases.has(id)) throw new WireError(`lease id ${id} is zero or repeated`);
      t.leases.set(id, { ttlSec, keys: new Set() });
    }
    return t;
  }
}

function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Tuning of {@link LeaseClock}. */
export interface LeaseClockConfig {
  /**
   * After the leader proposes a revocation it waits this long before
   * proposing it again (the first may have been lost in a leader change or
   * dropped by a full queue). etcd's `expiredLeaseRetryInterval` is 3 s; the
   * revocation is idempotent (a second one finds no lease), so retrying early
   * costs a log entry, and retrying late only delays the expiry.
   */
  revokeRetryMs: number;
  /**
   * At most this many revocations per {@link LeaseClock.expired} call, so a
   * burst of expiries (a client fleet that died at once) cannot flood the log
   * ahead of client writes. etcd revokes at most 500 per 500 ms.
   */
  maxRevokesPerCheck: number;
}

/** Defaults for {@link LeaseClockConfig}. */
export const DEFAULT_LEASE_CLOCK_CONFIG: LeaseClockConfig = { revokeRetryMs: 3_000, maxRevokesPerCheck: 500 };

/** What {@link LeaseClock.renew} found. */
export type RenewResult = { ok: true; ttlSec: number } | { ok: false; reason: "not_primary" | "not_found" | "expired" };

/**
 * The leader's deadlines for the leases in a {@link LeaseTable}. A follower's
 * clock is "not primary": it knows no deadlines and expires nothing. Feed it
 * the table's grants and revocations as the leader applies them, `promote` it
 * when this node becomes leader and `demote` it when it stops.
 */
export class LeaseClock {
  private primary = false;
  /** Lease id → the monotonic time at which it expires. */
  private readonly deadlines = new Map<number, number>();
  /** Leases whose revocation was proposed: not proposed again before this time. */
  private readonly retryAt = new Map<number, number>();
  /**
   * No deadline or retry time is earlier than this (a lower bound, exact
   * after every scan): the driver asks for it after every batch of work, and
   * most ticks find nothing due, so neither may cost a scan of every lease.
   * A renewal only moves a deadline later, so it leaves the bound valid.
   */
  private minDueMs = Infinity;

  constructor(readonly config: LeaseClockConfig = DEFAULT_LEASE_CLOCK_CONFIG) {}

  /** True while this clock belongs to the leader. */
  get isPrimary(): boolean {
    return this.primary;
  }

  /**
   * This node became leader: every lease gets its full TTL again from now,
   * plus `extendMs`. The previous leader may have renewed a lease a moment
   * before it lost leadership, and we never heard of it; starting afresh, and
   * later by an election timeout (the longest a deposed leader can go on
   * believing it leads, given CheckQuorum), can only make a lease live longer
   * than its holder counted on, never shorter.
   */
  promote(nowMs: number, extendMs: number, leases: Iterable<LeaseRecord>): void {
    this.primary = true;
    this.deadlines.clear();
    this.retryAt.clear();
    this.minDueMs = Infinity;
    for (const l of leases) {
      const deadline = nowMs + extendMs + l.ttlSec * 1000;
      this.deadlines.set(l.id, deadline);
      if (deadline < this.minDueMs) this.minDueMs = deadline;
    }
  }

  /** This node is no longer leader: forget every deadline (the next leader starts its own). */
  demote(): void {
    this.primary = false;
    this.deadlines.clear();
    this.retryAt.clear();
    this.minDueMs = Infinity;
  }

  /** A grant was applied. On the leader the countdown starts now (etcd refreshes at apply). */
  granted(lease: LeaseRecord, nowMs: number): void {
    if (!this.primary) return;
    const deadline = nowMs + lease.ttlSec * 1000;
    this.deadlines.set(lease.id, deadline);
    if (deadline < this.minDueMs) this.minDueMs = deadline;
  }

  /** A revocation was applied (by a client or by expiry). */
  revoked(id: number): void {
    this.deadlines.delete(id);
    this.retryAt.delete(id);
  }

  /**
   * A keep-alive: the lease lives `ttlSec` from now. Only the leader renews;
   * a lease already past its deadline stays expired (its revocation is on the
   * way, and a holder must not be told it still has the lease).
   */
  renew(id: number, ttlSec: number | undefined, nowMs: number): RenewResult {
    if (!this.primary) return { ok: false, reason: "not_primary" };
    const deadline = this.deadlines.get(id);
    if (deadline === undefined || ttlSec === undefined) return { ok: false, reason: "not_found" };
    if (deadline <= nowMs) return { ok: false, reason: "expired" };
    this.deadlines.set(id, nowMs + ttlSec * 1000);
    return { ok: true, ttlSec };
  }

  /** Milliseconds lease `id` has left on the leader (0 once expired), or undefined when not primary or unknown. */
  remainingMs(id: number, nowMs: number): number | undefined {
    if (!this.primary) return undefined;
    const d = this.deadlines.get(id);
    return d === undefined ? undefined : Math.max(0, d - nowMs);
  }

  /**
   * Leases past their deadline whose revocation the leader should propose
   * now, earliest first, at most `maxRevokesPerCheck`; each is then not
   * returned again for `revokeRetryMs`. Empty on a follower.
   */
  expired(nowMs: number): number[] {
    if (!this.primary || nowMs < this.minDueMs) return [];
    const due: Array<[number, number]> = [];
    for (const [id, deadline] of this.deadlines) {
      if (deadline > nowMs) continue;
      const retry = this.retryAt.get(id);
      if (retry !== undefined && retry > nowMs) continue;
      due.push([id, deadline]);
    }
    due.sort((a, b) => a[1] - b[1] || a[0] - b[0]);
    const out = due.slice(0, this.config.maxRevokesPerCheck).map(([id]) => id);
    for (const id of out) this.retryAt.set(id, nowMs + this.config.revokeRetryMs);
    // Past the scan: the exact next time anything is due (the leases not handed out this time are due now).
    this.minDueMs = due.length > out.length ? nowMs : Infinity;
    for (const [id, deadline] of this.deadlines) {
      const at = Math.max(deadline, this.retryAt.get(id) ?? 0);
      if (at < this.minDueMs) this.minDueMs = at;
    }
    return out;
  }

  /** No lease is due before this time, for a driver that sleeps until then (it may be early, never late); undefined when nothing is pending. */
  nextDueMs(): number | undefined {
    return this.primary && this.minDueMs !== Infinity ? this.minDueMs : undefined;
  }
}
