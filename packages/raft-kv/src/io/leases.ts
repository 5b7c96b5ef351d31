/**
 * etcd's Lease service on one member: grants and revocations go through the
 * log (the lease table is replicated state, core/kv/lessor.ts); keep-alives
 * and time-to-live questions go to the leader, whose lease clock alone
 * decides when a lease expires (the replica's LeaseKeeper, which proposes
 * the revocation of every lease it lets expire).
 *
 * Why only the leader's clock: if each member expired leases by its own
 * clock, a member whose clock ran fast (or stepped) would delete keys the
 * others keep, and the replicas would hold different data at the same index.
 * With one clock deciding and the decision going through the log, every
 * replica deletes the same keys at the same index. The clock is monotonic
 * (`performance.now()`), so a step of the wall clock changes nothing.
 *
 * A new leader has not seen the keep-alives the old one received, so it gives
 * every lease its full TTL again, extended by `extendMs` (see
 * `LeaseClock.promote`): a lease may outlive its TTL after a leader change,
 * never the other way round.
 */
import crypto from "node:crypto";
import { MAX_LEASE_ID, MAX_LEASE_TTL_SEC, fromByteString, type ApplyResult } from "../core/kv/index.ts";
import { Reader, Writer } from "../core/kv/wire.ts";
import type { RaftKvNode } from "./kv-node.ts";
import { ServerError, kvErrorToServer } from "../core/replica/errors.ts";

/** Options of {@link LeaseService}. */
export interface LeaseServiceOptions {
  /**
   * A grant below this TTL gets this TTL (etcd's minimum lease TTL:
   * 1.5 election timeouts, rounded up to whole seconds). A lease shorter than
   * an election could expire during one, before any leader could renew it.
   */
  minTtlSec: number;
  /** A keep-alive or time-to-live forwarded to the leader fails after this long. */
  requestTimeoutMs: number;
}

/** What `LeaseTimeToLive` answers; `ttlSec` -1 = no such lease (etcd answers so rather than failing). */
export interface LeaseTimeToLive {
  id: number;
  ttlSec: number;
  grantedTtlSec: number;
  keys: Uint8Array[];
}

/** etcd's Lease service backed by one raft-kv member. */
export class LeaseService {
  constructor(
    private readonly node: RaftKvNode,
    private readonly options: LeaseServiceOptions,
  ) {
    node.calls.handle("lease.keepalive", async (_from, body) => {
      const id = new Reader(body).uint();
      return new Writer().uint(await this.renewHere(id)).finish().slice();
    });
    node.calls.handle("lease.ttl", async (_from, body) => {
      const r = new Reader(body);
      return encodeTtl(await this.timeToLiveHere(r.uint(), r.bool()));
    });
  }

  /**
   * Grants a lease of `ttlSec` (raised to the minimum) with id `id`, or a
   * random one when `id` is 0. Resolves once the grant is applied here.
   */
  async grant(ttlSec: number, id: number, user?: string): Promise<{ id: number; ttlSec: number; revision: number }> {
    if (ttlSec > MAX_LEASE_TTL_SEC) throw new ServerError("lease_ttl_too_large", "too large lease TTL");
    if (!Number.isSafeInteger(id) || id < 0 || id > MAX_LEASE_ID) throw new ServerError("invalid_argument", `ID: lease ids are 1 to ${MAX_LEASE_ID} here (etcd's are int64; raft-kv keeps them exact as JavaScript numbers)`);
    const ttl = Math.max(ttlSec, this.options.minTtlSec);
    for (let attempt = 0; ; attempt++) {
      const chosen = id === 0 ? randomLeaseId() : id;
      const r = await this.node.submit({ type: "lease-grant", id: chosen, ttlSec: ttl, ...(user ? { user } : {}) });
      if (r.ok && "leaseGranted" in r) return { id: chosen, ttlSec: r.leaseGranted.ttlSec, revision: r.revision };
      // A random id that happens to be taken: pick another (a client's own id: its error).
      if (!r.ok && r.error.code === "lease_exists" && id === 0 && attempt < 5) continue;
      throw failure(r);
    }
  }

  /** Revokes lease `id`, deleting its keys in one revision. */
  async revoke(id: number, user?: string): Promise<{ revision: number }> {
    const r = await this.node.submit({ type: "lease-revoke", id, ...(user ? { user } : {}) });
    if (r.ok) return { revision: r.revision };
    throw failure(r);
  }

  /** Renews lease `id` on the leader; resolves with its TTL in seconds, 0 when there is no such lease (etcd's keep-alive answer). */
  async keepAlive(id: number): Promise<number> {
    return this.onLeader(() => this.renewHere(id), async (leader, timeoutMs) => new Reader(await this.node.calls.call(leader, "lease.keepalive", new Writer().uint(id).finish().slice(), timeoutMs)).uint());
  }

  /** The leader's view of lease `id`: seconds left, granted TTL and (with `withKeys`) its keys. */
  async timeToLive(id: number, withKeys: boolean): Promise<LeaseTimeToLive> {
    return this.onLeader(
      () => this.timeToLiveHere(id, withKeys),
      async (leader, timeoutMs) => decodeTtl(await this.node.calls.call(leader, "lease.ttl", new Writer().uint(id).bool(withKeys).finish().slice(), timeoutMs)),
    );
  }

  /** Every lease id this member knows (its applied state, as etcd's LeaseLeases). */
  list(): number[] {
    return this.node.state.leases().map((l) => l.id);
  }

  // --- the leader's side ----------------------------------------------------------

  private async renewHere(id: number): Promise<number> {
    let r = this.node.renewLease(id);
    if (!r.ok && r.reason === "not_found") {
      // A new leader may not have applied a grant that is already committed (etcd waits for the applied index too).
      await this.node.readBarrier();
      r = this.node.renewLease(id);
    }
    if (r.ok) return r.ttlSec;
    if (r.reason === "not_primary") throw new ServerError("not_leader", "lease keep-alives go to the leader", { leader: this.node.leader });
    return 0;
  }

  private async timeToLiveHere(id: number, withKeys: boolean): Promise<LeaseTimeToLive> {
    if (!this.node.isLeader) throw new ServerError("not_leader", "lease time-to-live is the leader's", { leader: this.node.leader });
    let lease = this.node.state.lease(id);
    if (!lease) {
      await this.node.readBarrier();
      lease = this.node.state.lease(id);
    }
    const left = this.node.leaseRemainingMs(id);
    if (!lease || left === undefined) return { id, ttlSec: -1, grantedTtlSec: 0, keys: [] };
    // Whole seconds left, rounded down, as etcd reports them.
    return { id, ttlSec: Math.floor(left / 1000), grantedTtlSec: lease.ttlSec, keys: withKeys ? lease.keys.map(fromByteString) : [] };
  }

  /**
   * Runs `local` if this member leads, else `remote` on the leader, retrying
   * through leader changes until the request timeout. Both are questions
   * that change nothing twice over (a renewal renews), so an attempt that got
   * no answer is repeated too: each waits at most two election timeouts, so
   * a leader that died is given up on in time for a client to keep a lease
   * of a few seconds.
   */
  private async onLeader<T>(local: () => Promise<T>, remote: (leader: string, timeoutMs: number) => Promise<T>): Promise<T> {
    const deadline = performance.now() + this.options.requestTimeoutMs;
    const attemptMs = 2 * this.node.electionTimeoutMs;
    for (;;) {
      try {
        if (this.node.isLeader) return await local();
        const leader = this.node.leader ?? (await this.node.waitForLeader(Math.max(1, deadline - performance.now())));
        if (leader === this.node.id) continue;
        return await remote(leader, Math.max(1, Math.min(attemptMs, deadline - performance.now())));
      } catch (error) {
        const retry = error instanceof ServerError && (error.code === "not_leader" || error.code === "no_leader" || error.code === "timeout");
        if (!retry || performance.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
}

function failure(r: ApplyResult): ServerError {
  return r.ok ? new ServerError("invalid_argument", "unexpected result") : kvErrorToServer(r.error.code, r.error.message);
}

/** A random lease id in 1..2^53-1 (etcd picks random-looking int64 ids too). */
function randomLeaseId(): number {
  for (;;) {
    const id = Number(crypto.randomBytes(8).readBigUInt64BE(0) & BigInt(MAX_LEASE_ID));
    if (id !== 0) return id;
  }
}

function encodeTtl(t: LeaseTimeToLive): Uint8Array {
  const w = new Writer().uint(t.id).uint(t.ttlSec + 1).uint(t.grantedTtlSec).uint(t.keys.length);
  for (const k of t.keys) w.bytes(k);
  return w.finish().slice();
}

function decodeTtl(body: Uint8Array): LeaseTimeToLive {
  const r = new Reader(body);
  const id = r.uint();
  const ttlSec = r.uint() - 1;
  const grantedTtlSec = r.uint();
  const n = r.uint();
  const keys: Uint8Array[] = [];
  for (let i = 0; i < n; i++) keys.push(r.bytes());
  return { id, ttlSec, grantedTtlSec, keys };
}
