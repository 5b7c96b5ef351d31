/**
 * The composed simulation: real SWIM, real crdt-kv, the real AgentCore and
 * rendezvous hashing in one seeded @heck/sim run per seed, with crashes,
 * a rejoin and a partition. Invariants after every step; a failure prints
 * HECK_SEED=<n> (the runner's report) and `HECK_SEED=<n> pnpm vitest run
 * --project v2 composed` replays it.
 */
import { describe, expect, it } from "vitest";
import { Simulation } from "@heck/sim";
import { ownersOf } from "@heck/ownership";
import { detectionBoundMs } from "@heck/swim";
import { simSwimConfig, V2Process, World, type V2Message, type V2Record, type V2Snapshot } from "../../src/sim/composed.ts";

const INTERVAL_MS = 1_000;
const replay = process.env.HECK_SEED !== undefined ? Number(process.env.HECK_SEED) : undefined;
// HECK_SWEEP=<n> runs seeds 1..n instead (a sweep, not for CI).
const sweep = Number(process.env.HECK_SWEEP ?? 0);
const seeds = replay !== undefined ? [replay] : sweep > 0 ? Array.from({ length: sweep }, (_, i) => i + 1) : [1, 2, 3, Math.floor(Math.random() * 2 ** 31)];

function build(seed: number, nodes: number, origins: number) {
  const ids = Array.from({ length: nodes }, (_, i) => `n${i + 1}`);
  const swim = simSwimConfig();
  const detection = detectionBoundMs(swim, nodes);
  // After a crash: up to one interval since the last check, the detection
  // bound, then the new owner's first check spread over one interval, plus
  // a gossip round for the view change to settle.
  const world = new World(Array.from({ length: origins }, (_, i) => `o${i}`), detection + 2 * INTERVAL_MS + 500);
  const scheme = { ownersOf: (o: string, m: readonly string[], k: number) => ownersOf(o, m, k) };
  const options = {
    world,
    scheme,
    intervalMs: INTERVAL_MS,
    swim,
    kvSyncIntervalMs: 200,
    core: { replicas: 1, refreshMs: 5 * INTERVAL_MS, handoffGraceMs: 2 * INTERVAL_MS + 1_000, promoteAfterMs: 0 },
    initialMembers: ids,
    seeds: ids,
    originWriter: "n1",
  };
  const sim: Simulation<V2Message, V2Record, V2Snapshot, V2Process> = new Simulation<V2Message, V2Record, V2Snapshot, V2Process>({
    seed,
    nodeIds: ids,
    factory: ({ id, prng, disk, nowMs }) => new V2Process(id, options, { prng, nowMs, disk, fresh: nowMs === 0 }),
    traceLimit: 200,
    invariants: [
      { name: "coverage: no origin unchecked beyond the bound", check: () => world.gapViolation ?? true },
      {
        name: "exclusivity: in a quiet cluster each origin has exactly one checker",
        check: (s) => {
          const up = new Set(s.up.map((n) => n.id));
          if (!s.up.every((n) => n.viewIs(up) && [...n.core.activeOrigins().values()].every((r) => r === "primary"))) return true;
          if (s.up.some((n) => n.core.originList().length !== origins)) return true;
          const seen = new Map<string, string>();
          for (const n of s.up) {
            for (const o of n.core.activeOrigins().keys()) {
              if (seen.has(o)) return `${o} checked by ${seen.get(o)} and ${n.id} at t=${s.nowMs}`;
              seen.set(o, n.id);
            }
          }
          return seen.size === origins || `only ${seen.size}/${origins} origins have a checker at t=${s.nowMs}`;
        },
      },
    ],
  });
  return { sim, world, ids, detection };
}

const agree = (sim: Simulation<V2Message, V2Record, V2Snapshot, V2Process>, origins: number) => {
  const [first, ...rest] = sim.up;
  if (first === undefined) return false;
  for (let i = 0; i < origins; i++) {
    const s = first.core.record(`o${i}`)?.status;
    if (s === undefined || rest.some((n) => n.core.record(`o${i}`)?.status !== s)) return false;
  }
  return true;
};

describe("composed simulation: SWIM + crdt-kv + AgentCore + rendezvous on @heck/sim", () => {
  it.each(seeds)("crash, rejoin, flip and partition keep every invariant (seed %i)", (seed) => {
    const origins = 40;
    const { sim, world, detection } = build(seed, 5, origins);
    try {
      // Start: the origin list gossips out from n1, first checks spread over an interval.
      sim.runFor(4 * INTERVAL_MS);
      world.judgeAfterMs = sim.nowMs;
      expect(sim.up.every((n) => n.core.originList().length === origins)).toBe(true);

      // Steady state: one check per origin per interval.
      world.resetCounts();
      sim.runFor(10 * INTERVAL_MS);
      const counts = world.origins.map((o) => world.counts.get(o) ?? 0);
      expect(Math.min(...counts)).toBeGreaterThanOrEqual(9);
      expect(Math.max(...counts)).toBeLessThanOrEqual(11);

      // A flip is seen by every node.
      world.truth.set("o3", "unhealthy");
      expect(sim.runUntil((s) => s.up.every((n) => n.core.record("o3")?.status === "unhealthy"), 3 * INTERVAL_MS)).toBe(true);

      // Crash n2: its origins are taken over (the coverage invariant watches every check).
      sim.crash("n2");
      sim.runFor(detection + 3 * INTERVAL_MS);
      expect(world.stale(sim.nowMs)).toEqual([]);
      expect(sim.up.every((n) => !n.core.members().includes("n2"))).toBe(true);

      // n2 comes back and rejoins: it takes back exactly the origins it wins.
      sim.restart("n2");
      expect(sim.runUntil((s) => s.up.every((n) => n.core.members().length === 5), 10 * INTERVAL_MS)).toBe(true);
      sim.runFor(4 * INTERVAL_MS);
      world.resetCounts();
      sim.runFor(5 * INTERVAL_MS);
      expect(Math.max(...world.origins.map((o) => world.counts.get(o) ?? 0))).toBeLessThanOrEqual(6);

      // Partition n1 away: both sides keep checking and answering; after heal all agree.
      sim.partition(["n1"], ["n2", "n3", "n4", "n5"]);
      sim.runFor(detection + 2 * INTERVAL_MS);
      expect(sim.node("n1").core.members()).toEqual(["n1"]);
      world.truth.set("o5", "unhealthy");
      expect(sim.runUntil((s) => s.up.every((n) => n.core.record("o5")?.status === "unhealthy"), 3 * INTERVAL_MS)).toBe(true);
      world.truth.set("o3", "healthy");
      sim.heal();
      // Agreement on o3's new status: the nodes may agree on the old one first, while o3's
      // owner is still counting the rise of healthy checks that began just before the heal.
      expect(
        sim.runUntil((s) => s.up.every((n) => n.core.members().length === 5 && n.core.record("o3")?.status === "healthy") && agree(s, origins), 30 * INTERVAL_MS),
      ).toBe(true);
      expect(sim.up.every((n) => n.core.record("o3")?.status === "healthy")).toBe(true);
      sim.runFor(3 * INTERVAL_MS);
      expect(world.stale(sim.nowMs)).toEqual([]);
      if (process.env.HECK_DEBUG) console.log(seed, sim.nowMs, world.checks, world.maxGapMs, detection, sim.stats.deliveries);
    } catch (e) {
      console.log(`HECK_SEED=${seed}`);
      throw e instanceof Error && "seed" in e ? e : sim.failureReport(e);
    }
  }, 120_000);
});
