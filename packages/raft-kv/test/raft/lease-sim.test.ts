/**
 * Leases and locks in the simulation: the replicas the server runs, clients
 * that keep leases alive and take turns on a lock (support/lock-clients.ts),
 * under random partitions, crashes, message loss, leader isolation and wall
 * clock steps of up to an hour on any member. After every step:
 *
 * - lock safety: no two clients ever believe they hold the lock at once;
 * - lease safety: a lease is never revoked while its holder's last renewal
 *   plus TTL is still ahead;
 * - and the Raft invariants (sweep-entry.ts's).
 *
 * After the faults heal and the clients stop renewing, every lease must
 * expire and every replica hold the same state. A failure prints
 * `HECK_SEED=<n>`; `HECK_SEED=<n> pnpm vitest run --project raft-kv
 * test/raft/lease-sim.test.ts` replays it.
 *
 * `HECK_LEASE_EXPIRY=everyReplica` runs the same seeds with every replica
 * expiring leases by its own clock (the README's exercise): the invariant
 * fires, since keep-alives reach only the leader.
 */
import { describe, expect, it } from "vitest";
import { Simulation, runSeeded, type NodeFactoryArgs, type NodeId, type Prng } from "@heck/sim";
import { seedsFromEnv } from "@heck/sim/testing";
import type { Entry } from "../../src/core/raft/index.ts";
import type { Envelope, LeaseExpiry } from "../../src/core/replica/index.ts";
import { PerRunRecorder, RaftSimNode, SafetyRecorder, converged, describeCluster, leaderOf, raftCodec, raftInvariants, type RaftSim, type SnapshotImage, type WalRecord } from "../../src/sim/raft-sim.ts";
import { startLockClients, type LockStats } from "./support/lock-clients.ts";

const SAFETY_MS = 6000;
const TTL_SEC = 1;
/** Who decides that a lease expired; anything but the default is the exercise that breaks it. */
const LEASE_EXPIRY = leaseExpiryFromEnv(process.env.HECK_LEASE_EXPIRY);

function leaseExpiryFromEnv(value: string | undefined): LeaseExpiry {
  if (value === undefined || value === "" || value === "leader") return "leader";
  if (value === "everyReplica") return value;
  throw new Error(`HECK_LEASE_EXPIRY=${value}: expected leader or everyReplica`);
}

/** A recorder that also hands every applied entry to the lock clients. */
class LeaseRecorder extends SafetyRecorder {
  onApplied: (node: NodeId, e: Entry) => void = () => {};
  override onApply(node: NodeId, e: Entry): void {
    super.onApply(node, e);
    this.onApplied(node, e);
  }
}

/** Wall clocks that step: each member's offset from the simulation's time, changed at random moments. */
function steppingClocks(sim: RaftSim, prng: Prng): (id: NodeId) => number {
  const offset = new Map<NodeId, number>();
  let t = prng.nextInt(100, 500);
  while (t < SAFETY_MS) {
    const id = prng.pick(sim.nodeIds);
    // Forward by up to an hour, or back by up to a minute (NTP stepping a clock, a person setting it).
    const step = prng.chance(0.7) ? prng.nextInt(1, 3_600_000) : -prng.nextInt(1, 60_000);
    sim.schedule(t, () => offset.set(id, (offset.get(id) ?? 0) + step));
    t += prng.nextInt(200, 800);
  }
  return (id) => Math.max(0, Math.round(sim.nowMs + (offset.get(id) ?? 0)));
}

/**
 * Cut off whoever leads, now and then: a deposed leader is where a renewal
 * could outlive the lease it renewed. Not more often than a TTL, though: every
 * new leader gives every lease its TTL afresh (it cannot know how much was
 * left), so a cluster that changes leader faster than a TTL expires no lease
 * at all. That is safe but not live, and etcd behaves the same unless it
 * checkpoints remaining TTLs through the log.
 */
function isolateLeaders(sim: RaftSim, prng: Prng): void {
  let t = prng.nextInt(500, 1500);
  while (t < SAFETY_MS) {
    const cutFor = prng.nextInt(150, 500);
    sim.schedule(t, (s) => {
      const l = leaderOf(s);
      if (l) s.isolate(l.id);
    });
    sim.schedule(Math.min(t + cutFor, SAFETY_MS), (s) => s.heal());
    t += cutFor + prng.nextInt(1500, 3000);
  }
}

/** One seeded run; throws a SimulationFailure naming HECK_SEED on a violation. */
function runLeaseSeed(seed: number, leaseExpiry: LeaseExpiry = LEASE_EXPIRY): LockStats {
  const holder = new PerRunRecorder();
  let recorder = new LeaseRecorder();
  holder.current = recorder;
  let stats: LockStats | null = null;
  let lockSafety: () => string | undefined = () => undefined;
  let idle: () => boolean = () => true;
  runSeeded<Envelope, WalRecord, SnapshotImage, RaftSimNode>({
    seed,
    nodeIds: (prng) => (prng.chance(0.5) ? ["n1", "n2", "n3"] : ["n1", "n2", "n3", "n4", "n5"]),
    factory: (args: NodeFactoryArgs<WalRecord, SnapshotImage>) => {
      // A new run of the seed (runSeeded reruns it to shrink a failure): fresh records.
      if (args.id === "n1" && args.nowMs === 0 && args.disk === undefined) {
        recorder = new LeaseRecorder();
        holder.current = recorder;
        lockSafety = () => undefined;
      }
      return new RaftSimNode(args, { founders: args.peers, recorder, raft: { commitBroadcast: seed % 2 === 0 ? "lazy" : "immediate" }, compactEvery: seed % 3 === 0 ? 20 : 0, leaseExpiry });
    },
    codec: raftCodec,
    network: { maxPacketBytes: 1 << 24 },
    tickIntervalMs: 10,
    invariants: [...raftInvariants(holder), { name: "lock and lease safety", check: () => lockSafety() }],
    workload: (sim, prng) => {
      const clients = startLockClients(sim, prng.fork("locks"), { clients: 5, ttlSec: TTL_SEC, untilMs: SAFETY_MS, timeoutMs: 300, crashChance: 0.1, pauseChance: 0.1, wallClockMs: steppingClocks(sim, prng.fork("clocks")) });
      recorder.onApplied = clients.onApplied;
      stats = clients.stats;
      lockSafety = clients.checkLockSafety;
      idle = clients.clientsIdle;
      isolateLeaders(sim, prng.fork("nemesis"));
    },
    safetyPhaseMs: SAFETY_MS,
    faultOptions: { meanGapMs: 1000 },
    converged: (sim) => {
      if (!converged(sim, sim.nodeIds) || !idle()) return false;
      // Nobody renews any more: every lease must have expired, and with it every lock key.
      const l = leaderOf(sim)!;
      if (l.replica.kv.leases().length > 0 || l.replica.kv.size > 0) return false;
      const want = l.replica.kv.digest();
      for (const n of sim.up) if (n.replica.kv.digest() !== want) throw new Error(`replicas diverged: ${n.id} differs from the leader ${l.id}`);
      return true;
    },
    livenessBudgetMs: 8000,
    describeState: describeCluster,
    maxShrinkRuns: 16,
  });
  return stats!;
}

const FIXED = [1, 2, 3, 4, 5, 6];
const seeds = seedsFromEnv({ fixed: FIXED, random: 1 });
const results = new Map<number, LockStats>();

describe("leases and a lock under faults, clock steps and leader changes", () => {
  it.each(seeds)("HECK_SEED=%i: never two holders, never a lease revoked while kept alive; every abandoned lease expires", (seed) => {
    const stats = runLeaseSeed(seed);
    results.set(seed, stats);
    // The workload ran: the lock changed hands, and leases were revoked.
    expect(stats.acquisitions).toBeGreaterThanOrEqual(3);
    expect(stats.revocations).toBeGreaterThan(0);
  }, 60_000);

  it("the fixed seeds hand the lock over after holders crash or pause past their leases, not only on release", () => {
    const sum = (f: (s: LockStats) => number) => FIXED.reduce((a, seed) => a + f(results.get(seed)!), 0);
    expect(sum((s) => s.acquisitions)).toBeGreaterThan(40);
    expect(sum((s) => s.handoffsAfterExpiry)).toBeGreaterThan(FIXED.length);
  });
});

describe("leases expired by every replica's own clock (the README's exercise)", () => {
  it("revoke a lease its holder keeps alive through the leader, and the lock-safety invariant fires with the seed", () => {
    let message = "";
    try {
      runLeaseSeed(1, "everyReplica");
    } catch (error) {
      message = error instanceof Error ? error.message : String(error);
    }
    expect(message).toMatch(/HECK_SEED=1/);
    expect(message).toMatch(/lock and lease safety/);
  }, 60_000);
});

describe("when a lease expires", () => {
  /** Three members on a quiet network; `n1` is made leader. */
  function cluster(): { sim: RaftSim; recorder: LeaseRecorder } {
    const recorder = new LeaseRecorder();
    const sim: RaftSim = new Simulation<Envelope, WalRecord, SnapshotImage, RaftSimNode>({ seed: 42, nodeIds: ["n1", "n2", "n3"], factory: (args) => new RaftSimNode(args, { founders: args.peers, recorder }), codec: raftCodec, tickIntervalMs: 10 });
    sim.tryNode("n1")!.campaign();
    expect(sim.runUntil((s) => leaderOf(s)?.id === "n1", 2000)).toBe(true);
    return { sim, recorder };
  }

  function grant(sim: RaftSim, id: number): number {
    const l = leaderOf(sim)!;
    let applied = false;
    l.replica.propose({ type: "lease-grant", requestId: l.replica.nextRequestId(), id, ttlSec: TTL_SEC }, false, sim.nowMs, () => (applied = true));
    expect(sim.runUntil(() => applied, 1000)).toBe(true);
    return sim.nowMs;
  }

  function revokedAt(recorder: LeaseRecorder, sim: RaftSim, id: number): () => number | undefined {
    let at: number | undefined;
    recorder.onApplied = (_n, e) => {
      if (at === undefined && e.type === "normal" && e.data.length > 0 && Buffer.from(e.data).includes(Buffer.from([id]))) {
        const l = leaderOf(sim);
        if (l && l.replica.kv.lease(id) === undefined) at = sim.nowMs;
      }
    };
    return () => at;
  }

  it("nobody renews it: revoked no sooner than its TTL, and within the TTL plus a check interval when the leader stays", () => {
    const { sim, recorder } = cluster();
    const at = revokedAt(recorder, sim, 7);
    const granted = grant(sim, 7);
    expect(sim.runUntil(() => at() !== undefined, 5000)).toBe(true);
    expect(at()! - granted).toBeGreaterThanOrEqual(TTL_SEC * 1000);
    expect(at()! - granted).toBeLessThanOrEqual(TTL_SEC * 1000 + 50);
  });

  it("the leader dies: the new one gives the lease its TTL again plus two election timeouts, then revokes it", () => {
    const { sim, recorder } = cluster();
    const at = revokedAt(recorder, sim, 9);
    const granted = grant(sim, 9);
    sim.runFor(300);
    sim.crash("n1");
    expect(sim.runUntil((s) => leaderOf(s) !== undefined, 3000)).toBe(true);
    const elected = sim.nowMs;
    expect(sim.runUntil(() => at() !== undefined, 5000)).toBe(true);
    // Never before the TTL counted from the new leader's start, plus its extension (2 election timeouts = 200 ms).
    expect(at()!).toBeGreaterThanOrEqual(elected + TTL_SEC * 1000 + 200);
    expect(at()!).toBeLessThanOrEqual(elected + TTL_SEC * 1000 + 200 + 50);
    expect(at()! - granted).toBeGreaterThan(TTL_SEC * 1000);
  });

  it("its holder renews it through a leader change: it is never revoked", () => {
    const { sim, recorder } = cluster();
    const at = revokedAt(recorder, sim, 11);
    grant(sim, 11);
    const renew = () => {
      const l = leaderOf(sim);
      if (l) l.replica.renewLease(11, sim.nowMs);
      if (sim.nowMs < 4000) sim.schedule(sim.nowMs + 300, renew);
    };
    renew();
    sim.schedule(1000, (s) => s.crash("n1"));
    sim.runFor(4000 - sim.nowMs);
    expect(at()).toBeUndefined();
    expect(leaderOf(sim)!.replica.kv.lease(11)).toBeDefined();
  });
});
