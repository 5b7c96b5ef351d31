/**
 * The sim package's own sweep entry (see src/io/sweep.ts): a gossip of
 * uniquely tagged packets under random faults. Every stage registers one of
 * these; `heck-sim sweep --package sim --seeds 1000` runs it per seed, and
 * test/seeded.test.ts runs it for a few seeds in CI.
 */
import { runSeeded, type Simulation } from "../src/index.ts";
import { recoverSentCount, TaggingNode, type TaggedMessage } from "./support/echo.ts";

type Sim = Simulation<TaggedMessage, number, never, TaggingNode>;

/** Runs one seed; throws a SimulationFailure (with HECK_SEED) on failure. */
export function runSeed(seed: number): void {
  runSeeded<TaggedMessage, number, never, TaggingNode>({
    seed,
    // The cluster size is drawn from the seed too: 3 to 7 nodes.
    nodeIds: (prng) => Array.from({ length: prng.nextInt(3, 7) }, (_, i) => `n${i + 1}`),
    factory: ({ id, peers, prng, disk, nowMs }) => new TaggingNode(id, peers, prng, disk, nowMs),
    // Invariants run after every step, so they look only at what the step
    // could have changed (each node's latest delivery), never at all history.
    invariants: [
      {
        name: "a packet is delivered at most twice, and twice only if the duplicate fault fired",
        check: (sim: Sim) => {
          for (const n of sim.up) {
            const last = n.lastReceived;
            if (last !== undefined && last.count > (sim.stats.duplicates > 0 ? 2 : 1)) return `${n.id} saw ${last.id} ${last.count} times`;
          }
        },
      },
      {
        name: "only ids that were sent arrive",
        check: (sim: Sim) => {
          for (const n of sim.up) {
            const last = n.lastReceived;
            if (last === undefined) continue;
            const [sender, k] = last.id.split("#");
            const sent = sim.tryNode(sender!)?.sent ?? recoverSentCount(sim.diskOf(sender!));
            if (Number(k) >= sent) return `${n.id} got ${last.id} but ${sender} has sent only ${sent}`;
          }
        },
      },
    ],
    safetyPhaseMs: 2_000,
    converged: (sim: Sim) => sim.up.length === sim.nodeIds.length && sim.up.every((n) => n.seen.size > 0),
    livenessBudgetMs: 2_000,
  });
}
