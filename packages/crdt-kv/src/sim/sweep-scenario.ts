/**
 * crdt-kv's simulation sweep as data, so the sweep (`heck-sim sweep --package
 * crdt-kv`, test/sweep-entry.ts), the simulation test and the browser view
 * (`heck-scope crdt --scenario sweep`) run the very same thing: a VOPR-style
 * run through @heck/sim's runSeeded.
 *
 * The seed draws a cluster of 3 to 7 replicas, drops, duplicates and
 * reordering on the network, a random fault schedule (every partition shape,
 * crashes and restarts, delay spikes) for a 6 s safety phase, and a random
 * workload of LWW and MV writes and deletes. After every step no replica
 * knows a dot nobody wrote; after the heal every replica must equal the join
 * of all accepted updates within 20 gossip rounds. Three shapes by seed: a
 * small delta log and a large full-state limit (lagging peers get full
 * states), a small log and a tiny limit (digest exchanges), and a log long
 * enough for deltas.
 */
import type { Prng, SeededRunOptions } from "@heck/sim";
import { kvCodec, type KvMessage } from "../core/store/messages.ts";
import type { KvNode } from "../core/store/node.ts";
import type { SyncAlgorithm } from "../core/sync/delta-sync.ts";
import { convergedTo, kvFactory, noInventedDots, randomWorkload, Reference, type KvSim } from "./cluster.ts";

/** Anti-entropy interval of the sweep's replicas. */
export const SWEEP_SYNC_MS = 100;
/** The liveness bound: rounds after the heal within which every replica must have converged. */
export const SWEEP_ROUNDS_TO_CONVERGE = 20;

/** One seed's sweep: the options runSeeded takes, and the reference (the join of every accepted update) its replicas must reach. */
export interface CrdtSweep {
  options: SeededRunOptions<KvMessage, string, string, KvNode>;
  reference: Reference;
}

/**
 * The sweep scenario for `seed` with delta sync `algorithm` (default BP+RR,
 * the replicas' own). Its failure report names the `heck-scope` command that
 * opens the same run at the failure (the view builds the BP+RR sweep).
 */
export function crdtSweep(seed: number, algorithm: SyncAlgorithm = "bprr"): CrdtSweep {
  const reference = new Reference();
  const shape = seed % 3;
  const options: SeededRunOptions<KvMessage, string, string, KvNode> = {
    seed,
    nodeIds: (prng: Prng) => Array.from({ length: prng.nextInt(3, 7) }, (_, i) => `n${i + 1}`),
    factory: kvFactory(reference, {
      algorithm,
      syncIntervalMs: SWEEP_SYNC_MS,
      fanout: 2,
      maxLogEntries: shape === 2 ? 64 : 8,
      fullStateMaxBytes: shape === 1 ? 256 : 1 << 20,
      digestTimeoutMs: 5 * SWEEP_SYNC_MS,
      snapshotEveryRecords: 16,
    }),
    network: { latency: { minMs: 1, meanTailMs: 4 }, faults: { dropRate: 0.02, duplicateRate: 0.02, reorderRate: 0.05 } },
    codec: kvCodec,
    invariants: [{ name: "no invented dots", check: (sim: KvSim) => noInventedDots(sim, reference) }],
    workload: (sim, prng) => randomWorkload(sim, prng, 120, 6_000),
    safetyPhaseMs: 6_000,
    converged: (sim) => convergedTo(sim, reference),
    livenessBudgetMs: SWEEP_ROUNDS_TO_CONVERGE * SWEEP_SYNC_MS,
    describeState: (sim) =>
      sim.up.map((n) => `${n.id}: vv=${JSON.stringify(Object.fromEntries(n.vector()))} ${JSON.stringify(n.sizes())}`).join("\n") +
      `\nexpected vv=${JSON.stringify(Object.fromEntries(reference.state.cc.vector()))} versions=${reference.state.versionCount}`,
    maxShrinkRuns: 16,
    ...(algorithm === "bprr" ? { watchCommand: (s: number, faults: string) => `pnpm heck-scope crdt --scenario sweep --seed ${s} --faults "${faults}" --at failure` } : {}),
  };
  return { options, reference };
}
