/**
 * Lock clients for the simulation: each keeps a lease alive and takes turns
 * holding one lock, the way etcd's recipes do (a key under the lock's prefix,
 * attached to the lease, created only if absent; the lowest create revision
 * holds), while some of them crash or pause past their lease.
 *
 * A client believes it holds the lock from the moment it learns so until it
 * releases it, or until its lease runs out by its own reckoning: the time it
 * sent its last successful keep-alive plus the TTL (a client that pauses
 * knows, when it wakes, that its belief ended then). The invariants:
 *
 * - lock safety: at no moment do two clients believe they hold the lock;
 * - a lease that is being kept alive is never revoked: when a revocation is
 *   applied, its holder's belief must have run out already.
 *
 * Both can only fail if a lease is revoked before its holder's last renewal
 * plus TTL, which is exactly what deciding expiry anywhere but on the leader
 * (or on a clock that jumps) would do.
 */
import type { NodeId, Prng } from "@heck/sim";
import { decodeCommand, prefixRangeEnd, utf8 } from "../../../src/core/kv/index.ts";
import type { Entry } from "../../../src/core/raft/index.ts";
import type { RaftSim, RaftSimNode } from "../../../src/sim/raft-sim.ts";

/** Tuning of the lock workload. */
export interface LockWorkloadOptions {
  clients: number;
  /** Lease TTL in seconds. */
  ttlSec: number;
  untilMs: number;
  /** Give up on a proposal or read after this long (its fate unknown), and try again. */
  timeoutMs: number;
  /** Chance that a client, once it holds the lock, crashes (never renews or releases again; back later with a new lease). */
  crashChance: number;
  /** Chance that a client pauses (a long GC, SIGSTOP) for 1-2 TTLs while holding the lock, then goes on. */
  pauseChance: number;
  /** The wall clock of a member, stamped on the commands proposed there (the log's clock; it may step). */
  wallClockMs: (nodeId: NodeId) => number;
}

/** One client's view of the world. */
interface Client {
  id: number;
  rng: Prng;
  target: NodeId;
  lease: number;
  /** Its lease is valid until this time by its own reckoning (last successful keep-alive sent + TTL). */
  validUntil: number;
  holding: boolean;
  heldSince: number;
  /** No action runs before this time (a pause); Infinity = crashed. */
  asleepUntil: number;
  /** Bumped whenever the client starts over, so callbacks of an earlier attempt are ignored. */
  epoch: number;
}

/** What the workload saw, for the test's assertions and failure reports. */
export interface LockStats {
  acquisitions: number;
  handoffsAfterExpiry: number;
  crashes: number;
  pauses: number;
  revocations: number;
  /** The first violation of lock safety or lease safety, or null. */
  violation: string | null;
}

const PREFIX = utf8("lock/");

/** Starts the lock clients on `sim`; returns their shared statistics and the invariant checks. */
export function startLockClients(sim: RaftSim, prng: Prng, o: LockWorkloadOptions): { stats: LockStats; clientsIdle: () => boolean; checkLockSafety: () => string | undefined; onApplied: (nodeId: NodeId, e: Entry) => void } {
  const stats: LockStats = { acquisitions: 0, handoffsAfterExpiry: 0, crashes: 0, pauses: 0, revocations: 0, violation: null };
  const ttlMs = o.ttlSec * 1000;
  const clients: Client[] = [];
  const byLease = new Map<number, Client>();
  const revoked = new Set<number>();
  /** Set when a holder crashed or paused instead of releasing: the next acquisition is a hand-off by expiry. */
  let expiryPending = false;

  const fail = (msg: string) => {
    if (stats.violation === null) stats.violation = msg;
  };
  const holds = (c: Client, now: number) => c.holding && now < c.validUntil;
  const leaderOrAny = (c: Client): RaftSimNode | undefined => {
    const node = sim.tryNode(c.target);
    if (node && node.raft.role === "leader") return node;
    const hint = node?.raft.leader;
    c.target = hint && hint !== c.target ? hint : c.rng.pick(sim.nodeIds);
    return undefined;
  };
  const later = (c: Client, delayMs: number, epoch: number, action: () => void) => {
    const at = Math.max(sim.nowMs + delayMs, c.asleepUntil);
    if (at >= o.untilMs || at === Infinity) return;
    sim.schedule(at, () => {
      if (c.epoch !== epoch || sim.nowMs < c.asleepUntil) return;
      action();
    });
  };

  /** Starts over with a new lease. */
  const restart = (c: Client, delayMs: number) => {
    c.epoch++;
    c.holding = false;
    c.lease = 0;
    c.validUntil = 0;
    const epoch = c.epoch;
    later(c, delayMs, epoch, () => grant(c, epoch));
  };

  const grant = (c: Client, epoch: number) => {
    const node = leaderOrAny(c);
    if (!node) return later(c, 20, epoch, () => grant(c, epoch));
    const id = c.rng.nextInt(1, 2 ** 31);
    const sentAt = sim.nowMs;
    let answered = false;
    node.replica.propose({ type: "lease-grant", requestId: node.replica.nextRequestId(), id, ttlSec: o.ttlSec, timeMs: o.wallClockMs(node.id) }, false, sim.nowMs, (outcome) => {
      if (answered || c.epoch !== epoch) return;
      answered = true;
      if (!outcome.ok || !outcome.result.ok) return later(c, 20, epoch, () => grant(c, epoch));
      c.lease = id;
      c.validUntil = sentAt + ttlMs;
      byLease.set(id, c);
      later(c, ttlMs / 3, epoch, () => keepAlive(c, epoch));
      acquire(c, epoch);
    });
    later(c, o.timeoutMs, epoch, () => {
      if (!answered) {
        answered = true;
        grant(c, epoch);
      }
    });
  };

  const keepAlive = (c: Client, epoch: number) => {
    const node = sim.tryNode(c.target);
    const r = node ? node.replica.renewLease(c.lease, sim.nowMs) : { ok: false as const, reason: "not_primary" as const };
    if (r.ok) {
      c.validUntil = sim.nowMs + r.ttlSec * 1000;
      return later(c, ttlMs / 3, epoch, () => keepAlive(c, epoch));
    }
    if (r.reason === "not_primary") {
      c.target = node?.raft.leader ?? c.rng.pick(sim.nodeIds);
      return later(c, 20, epoch, () => keepAlive(c, epoch));
    }
    // The leader says the lease is gone (or past its deadline): whatever this client held, it holds no more.
    restart(c, c.rng.nextInt(20, 100));
  };

  const key = (c: Client) => utf8(`lock/${c.lease.toString(16)}`);

  /**
   * etcd's Mutex.Lock: create our key if absent, and learn who holds the
   * lock, in one transaction. A waiter repeats it until the lowest create
   * revision is its own (etcd's clients watch the key ahead instead; the
   * simulation polls, which commits more entries but needs no watch).
   */
  const acquire = (c: Client, epoch: number) => {
    if (sim.nowMs >= c.validUntil) return restart(c, 20);
    const node = leaderOrAny(c);
    if (!node) return later(c, 20, epoch, () => acquire(c, epoch));
    const k = key(c);
    const owner = { type: "range" as const, key: PREFIX, rangeEnd: prefixRangeEnd(PREFIX), sortTarget: "create" as const, sortOrder: "ascend" as const, limit: 1 };
    let answered = false;
    node.replica.propose(
      {
        type: "write",
        requestId: node.replica.nextRequestId(),
        timeMs: o.wallClockMs(node.id),
        op: { type: "txn", compare: [{ key: k, target: "create", result: "equal", value: 0 }], success: [{ type: "put", key: k, value: new Uint8Array(0), lease: c.lease }, owner], failure: [{ type: "range", key: k }, owner] },
      },
      false,
      sim.nowMs,
      (outcome) => {
        if (answered || c.epoch !== epoch) return;
        answered = true;
        if (!outcome.ok) return later(c, 20, epoch, () => acquire(c, epoch));
        const r = outcome.result;
        // The lease is gone (the txn's put found no lease): start over.
        if (!r.ok) return restart(c, 20);
        if (!("response" in r) || r.response.type !== "txn") return restart(c, 20);
        const resps = r.response.responses;
        const mine = r.response.succeeded ? r.revision : resps[0]?.type === "range" ? resps[0].kvs[0]?.createRevision : undefined;
        const holder = resps[1]?.type === "range" ? resps[1].kvs[0] : undefined;
        if (mine === undefined) return restart(c, 20);
        if (holder === undefined || holder.createRevision === mine) return hold(c, epoch);
        // Not our turn: ask again (the same transaction: it finds our key and reports who holds the lock).
        later(c, c.rng.nextInt(20, 60), epoch, () => acquire(c, epoch));
      },
    );
    later(c, o.timeoutMs, epoch, () => {
      if (!answered) {
        answered = true;
        acquire(c, epoch);
      }
    });
  };

  const hold = (c: Client, epoch: number) => {
    const now = sim.nowMs;
    // Learned too late: by its own reckoning the lease ran out already, so it does not act as a holder.
    if (now >= c.validUntil) return restart(c, 20);
    for (const other of clients) {
      if (other !== c && holds(other, now)) fail(`lock safety: client ${c.id} (lease ${c.lease.toString(16)}) got the lock at ${now} ms while client ${other.id} holds it since ${other.heldSince} ms, its lease valid until ${other.validUntil} ms`);
    }
    c.holding = true;
    c.heldSince = now;
    stats.acquisitions++;
    if (expiryPending) stats.handoffsAfterExpiry++;
    expiryPending = false;
    const roll = c.rng.nextFloat();
    if (roll < o.crashChance) {
      // Crash: no more renewals, no release. The leader must expire the lease before anyone else gets the lock.
      stats.crashes++;
      expiryPending = true;
      c.asleepUntil = Infinity;
      const back = now + c.rng.nextInt(2 * ttlMs, 3 * ttlMs);
      if (back < o.untilMs) {
        sim.schedule(back, () => {
          c.asleepUntil = 0;
          restart(c, 0);
        });
      }
      return;
    }
    if (roll < o.crashChance + o.pauseChance) {
      // Pause past its own lease: on waking it renews. If the lease is gone, it starts over; if a leader change
      // kept the lease alive, its key is still the lowest, so it still holds the lock and releases it later.
      stats.pauses++;
      expiryPending = true;
      c.asleepUntil = now + c.rng.nextInt(ttlMs, 2 * ttlMs);
      later(c, 0, epoch, () => {
        keepAlive(c, epoch);
        later(c, c.rng.nextInt(20, 200), epoch, () => release(c, epoch));
      });
      return;
    }
    later(c, c.rng.nextInt(20, 200), epoch, () => release(c, epoch));
  };

  /** etcd's Unlock: the belief ends when the delete is sent; its fate does not matter to safety. */
  const release = (c: Client, epoch: number) => {
    c.holding = false;
    const node = leaderOrAny(c);
    if (node) node.replica.propose({ type: "write", requestId: node.replica.nextRequestId(), timeMs: o.wallClockMs(node.id), op: { type: "delete", key: key(c) } }, false, sim.nowMs, () => {});
    later(c, c.rng.nextInt(10, 100), epoch, () => acquire(c, epoch));
  };

  for (let i = 0; i < o.clients; i++) {
    const c: Client = { id: i, rng: prng.fork(`lock-client-${i}`), target: "", lease: 0, validUntil: 0, holding: false, heldSince: 0, asleepUntil: 0, epoch: 0 };
    c.target = c.rng.pick(sim.nodeIds);
    clients.push(c);
    restart(c, c.rng.nextInt(0, 50));
  }

  return {
    stats,
    clientsIdle: () => clients.every((c) => !c.holding || sim.nowMs >= c.validUntil),
    checkLockSafety: () => {
      const now = sim.nowMs;
      const holding = clients.filter((c) => holds(c, now));
      if (holding.length > 1) fail(`lock safety: clients ${holding.map((c) => `${c.id} (since ${c.heldSince} ms, lease valid until ${c.validUntil} ms)`).join(" and ")} hold the lock at ${now} ms`);
      return stats.violation ?? undefined;
    },
    onApplied: (_nodeId, e) => {
      if (e.type !== "normal" || e.data.length === 0) return;
      const d = decodeCommand(e.data);
      if (!d.ok || d.value.type !== "lease-revoke") return;
      const id = d.value.id;
      if (revoked.has(id)) return;
      revoked.add(id);
      stats.revocations++;
      const owner = byLease.get(id);
      // The first replica to apply the revocation: its holder's belief must have run out by now.
      if (owner && owner.lease === id && owner.validUntil > sim.nowMs) fail(`lease safety: lease ${id.toString(16)} of client ${owner.id} was revoked at ${sim.nowMs} ms while the client had renewed it until ${owner.validUntil} ms`);
    },
  };
}
