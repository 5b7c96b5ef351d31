/**
 * The leader's half of leases (core/kv/lessor.ts has why there are two
 * halves): the replica keeps a {@link LeaseClock}, promotes it when this node
 * becomes leader and demotes it when it stops, tells it of every grant and
 * revocation it applies, and on every tick proposes the revocation of each
 * lease whose deadline passed. Only those committed revocations delete
 * anything, so every replica deletes the same keys at the same log index,
 * whatever its own clock says.
 *
 * Time is the replica's `nowMs`, which the server takes from a monotonic
 * clock: a step of the wall clock (NTP, a person with `date`) moves no
 * deadline.
 */
import { LeaseClock, type ApplyResult, type KvCommand, type LeaseRecord, type RenewResult } from "../kv/index.ts";
import type { Role } from "../raft/index.ts";

/** What the keeper needs from the replica around it. */
export interface LeaseKeeperHost {
  /** Every lease in the applied state, and one by id. */
  leases(): Iterable<LeaseRecord>;
  lease(id: number): LeaseRecord | undefined;
  /** Proposes the revocation of expired lease `id` (the leader's own, not subject to any user's permissions). */
  proposeRevoke(id: number, nowMs: number): void;
}

/**
 * Who decides that a lease expired. "leader": the leader's clock alone, and
 * only through a revocation in the log (etcd's lessor; the only safe
 * choice). "everyReplica": every replica by its own clock, proposing the
 * revocation itself, although keep-alives reach only the leader. It exists
 * for the README's exercise: in the lease simulation it revokes leases that
 * are being kept alive, and two clients hold one lock.
 */
export type LeaseExpiry = "leader" | "everyReplica";

/** Drives the leader's {@link LeaseClock} from the replica's inputs. */
export class LeaseKeeper {
  private readonly clock = new LeaseClock();

  constructor(
    private readonly host: LeaseKeeperHost,
    /** How much longer than its TTL every lease lives after this node becomes leader (see LeaseClock.promote). */
    private readonly extendMs: number,
    private readonly expiry: LeaseExpiry = "leader",
  ) {}

  /** True while this node's clock decides expiry (it leads). */
  get primary(): boolean {
    return this.clock.isPrimary;
  }

  /** This node's role changed. */
  roleChanged(role: Role, nowMs: number): void {
    // The broken "everyReplica" mode: every replica's clock counts from the moment it first hears of a role, and never stops.
    const counts = role === "leader" || this.expiry === "everyReplica";
    if (counts && !this.clock.isPrimary) this.clock.promote(nowMs, this.extendMs, this.host.leases());
    else if (!counts && this.clock.isPrimary) this.clock.demote();
  }

  /** A command was applied here. */
  applied(command: KvCommand | undefined, result: ApplyResult | undefined, nowMs: number): void {
    if (!command || !result?.ok) return;
    if ("leaseGranted" in result) this.clock.granted(result.leaseGranted, nowMs);
    else if (command.type === "lease-revoke") this.clock.revoked(command.id);
  }

  /** Proposes the revocation of every lease past its deadline (on the leader; nothing elsewhere). */
  tick(nowMs: number): void {
    for (const id of this.clock.expired(nowMs)) this.host.proposeRevoke(id, nowMs);
  }

  /** When `tick` next has something to do. */
  nextDeadlineMs(): number {
    return this.clock.nextDueMs() ?? Infinity;
  }

  /** A keep-alive reaching this node: renews on the leader; see RenewResult for the refusals. */
  renew(id: number, nowMs: number): RenewResult {
    return this.clock.renew(id, this.host.lease(id)?.ttlSec, nowMs);
  }

  /** Milliseconds lease `id` has left by the leader's clock; undefined off the leader or for an unknown lease. */
  remainingMs(id: number, nowMs: number): number | undefined {
    return this.clock.remainingMs(id, nowMs);
  }
}
