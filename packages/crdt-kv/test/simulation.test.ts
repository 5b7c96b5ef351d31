/**
 * Simulation sweep (VOPR style, @heck/sim's runSeeded): random clusters of
 * 3-7 replicas under drops, duplicates, reordering, delay spikes, every
 * partition shape and crash-restart, with a random workload of LWW and MV
 * writes and deletes. After every step: no replica knows a dot nobody wrote.
 * After the heal: every replica equals the join of all accepted updates
 * within a bounded number of gossip rounds (the scenario is
 * src/sim/sweep-scenario.ts). A failure prints HECK_SEED=<n> and the
 * command that opens it in the browser view;
 * `HECK_SEED=<n> pnpm --filter @heck/crdt-kv test` replays it.
 */
import { Simulation } from "@heck/sim";
import { seedsFromEnv } from "@heck/sim/io";
import { describe, expect, it } from "vitest";
import { convergedTo, kvFactory, randomWorkload, Reference, type KvSim } from "../src/sim/cluster.ts";
import { kvCodec } from "../src/core/store/messages.ts";
import { convergenceRounds } from "../src/core/store/convergence.ts";
import { SWEEP_ROUNDS_TO_CONVERGE, SWEEP_SYNC_MS } from "../src/sim/sweep-scenario.ts";
import { runSeed } from "./sweep-entry.ts";

const SYNC_MS = SWEEP_SYNC_MS;
const ROUNDS_TO_CONVERGE = SWEEP_ROUNDS_TO_CONVERGE;

describe("simulation sweep", () => {
  it.each(seedsFromEnv({ fixed: [1, 2, 3, 4, 5, 6, 7, 8], random: 2 }))(
    "seed %i: every replica converges to the join of all updates after faults heal",
    (seed) => {
      const { reference: ref, result } = runSeed(seed);
      expect(ref.updates).toBeGreaterThan(0);
      expect(result.convergedAtMs).toBeGreaterThanOrEqual(6_000);
    },
  );
});

describe("BP+RR against classic delta sync", () => {
  it.each(seedsFromEnv({ fixed: [11, 12, 13, 14], random: 0 }))("seed %i: the same updates give the same final contents, with no more bytes", (seed) => {
    const runs = (["classic", "bprr"] as const).map((algorithm) => {
      const ref = new Reference();
      const sim: KvSim = new Simulation({
        seed,
        nodeIds: ["n1", "n2", "n3", "n4", "n5", "n6"],
        factory: kvFactory(ref, { algorithm, syncIntervalMs: SYNC_MS, fanout: 3 }),
        network: { latency: { minMs: 1, meanTailMs: 4 }, faults: { duplicateRate: 0.05, reorderRate: 0.1 } },
        codec: kvCodec,
        traceLimit: 0,
      });
      randomWorkload(sim, sim.prng.fork("workload"), 150, 3_000, 12, true);
      sim.schedule(1_000, (s) => s.partition(["n1", "n2"], ["n3", "n4", "n5", "n6"]));
      sim.schedule(2_000, (s) => s.heal());
      sim.runFor(3_000);
      const ok = sim.runUntil((s) => convergedTo(s, ref), ROUNDS_TO_CONVERGE * SYNC_MS);
      expect(ok, `HECK_SEED=${seed} ${algorithm} did not converge`).toBe(true);
      sim.runFor(10 * SYNC_MS); // let the last acknowledgements settle so both runs stop sending
      // What the replicated data says: every key's read, and the dots every replica has seen.
      // (The stored versions themselves may differ: an LWW write replaces only the versions its
      // node had seen, and message timing differs between the two runs.)
      const n1 = sim.node("n1");
      const reads = n1.state().entries.size === 0 ? [] : [...n1.state().entries.keys()].sort().map((k) => [k, n1.get(k).exists, [...n1.get(k).values].map(String).sort()]);
      return {
        text: JSON.stringify({ reads, cc: n1.context().encode() }),
        updates: ref.updates,
        bytes: sim.stats.bytes,
        payload: sim.up.reduce((n, x) => n + x.stats.payloadBytesSent, 0),
      };
    });
    const [classic, bprr] = runs as [(typeof runs)[0], (typeof runs)[0]];
    expect(bprr.updates).toBe(classic.updates);
    expect(bprr.text).toBe(classic.text);
    expect(bprr.payload).toBeLessThanOrEqual(classic.payload);
    expect(bprr.bytes).toBeLessThanOrEqual(classic.bytes);
  });
});

describe("peer vectors (sender-side RR)", () => {
  it.each(seedsFromEnv({ fixed: [21, 22, 23], random: 0 }))("seed %i: on a fully connected cluster the same updates converge with fewer bytes than BP+RR alone", (seed) => {
    const runs = [false, true].map((peerVectors) => {
      const ref = new Reference();
      const sim: KvSim = new Simulation({
        seed,
        nodeIds: ["n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8"],
        factory: kvFactory(ref, { syncIntervalMs: SYNC_MS, fanout: 3, peerVectors }),
        network: { latency: { minMs: 1, meanTailMs: 4 }, faults: { duplicateRate: 0.05, reorderRate: 0.1, dropRate: 0.02 } },
        codec: kvCodec,
        traceLimit: 0,
      });
      randomWorkload(sim, sim.prng.fork("workload"), 400, 3_000, 40, true);
      sim.runFor(3_000);
      const ok = sim.runUntil((s) => convergedTo(s, ref), ROUNDS_TO_CONVERGE * SYNC_MS);
      expect(ok, `HECK_SEED=${seed} peerVectors=${peerVectors} did not converge`).toBe(true);
      const n1 = sim.node("n1");
      const reads = [...n1.state().entries.keys()].sort().map((k) => [k, n1.get(k).exists, [...n1.get(k).values].map(String).sort()]);
      return { text: JSON.stringify({ reads, cc: n1.context().encode() }), payload: sim.up.reduce((n, x) => n + x.stats.payloadBytesSent, 0), trimmed: sim.up.reduce((n, x) => n + x.stats.versionsTrimmed, 0) };
    });
    const [plain, trimmed] = runs as [(typeof runs)[0], (typeof runs)[0]];
    expect(trimmed.text).toBe(plain.text);
    expect(plain.trimmed).toBe(0);
    expect(trimmed.trimmed).toBeGreaterThan(0);
    expect(trimmed.payload).toBeLessThan(plain.payload);
  });
});

describe("the convergence bound (convergenceRounds)", () => {
  it("matches the formula at hand-computed points and grows with loss", () => {
    // n = 5, fanout 3: q = 3/4; 20 % loss, three messages: s = 0.512; R = ceil(ln(20 / 1e-3) / -ln(1 - 0.384)) = 21.
    expect(convergenceRounds({ nodes: 5, fanout: 3, lossRate: 0.2, peerVectors: true })).toBe(21);
    // No loss, everyone contacted every round: one round.
    expect(convergenceRounds({ nodes: 3, fanout: 3, lossRate: 0, peerVectors: true })).toBe(1);
    let last = 0;
    for (const lossRate of [0, 0.1, 0.2, 0.3, 0.5]) {
      const r = convergenceRounds({ nodes: 7, fanout: 2, lossRate, peerVectors: true });
      expect(r).toBeGreaterThanOrEqual(last);
      last = r;
    }
    expect(() => convergenceRounds({ nodes: 3, fanout: 1, lossRate: 1, peerVectors: true })).toThrow(/lossRate/);
  });

  it.each(seedsFromEnv({ fixed: [31, 32, 33, 34], random: 1 }))("seed %i: after a partition heals under 20 percent loss and reordering, replicas converge within the bound", (seed) => {
    const ref = new Reference();
    const nodeIds = ["n1", "n2", "n3", "n4", "n5"];
    const sim: KvSim = new Simulation({
      seed,
      nodeIds,
      factory: kvFactory(ref, { syncIntervalMs: SYNC_MS, fanout: 3 }),
      network: { latency: { minMs: 1, meanTailMs: 4 }, faults: { dropRate: 0.2, reorderRate: 0.25 } },
      codec: kvCodec,
      traceLimit: 0,
    });
    sim.partition(["n1", "n2"], ["n3", "n4", "n5"]);
    randomWorkload(sim, sim.prng.fork("workload"), 120, 2_000, 12, true);
    sim.runFor(2_000);
    sim.heal();
    const rounds = convergenceRounds({ nodes: nodeIds.length, fanout: 3, lossRate: 0.2, peerVectors: true });
    // One interval more for the phase of the first round after the heal.
    const ok = sim.runUntil((s) => convergedTo(s, ref), (rounds + 1) * SYNC_MS);
    expect(ok, `HECK_SEED=${seed}: not converged within ${rounds} rounds`).toBe(true);
  });
});
