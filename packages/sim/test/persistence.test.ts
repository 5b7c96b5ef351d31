/**
 * The simulation's persistence path: the simulated disk keeps exactly what
 * the Readies asked for (synced or not), a crash loses only what a crash
 * can lose, and the runner lets a message leave only after the records of
 * its Ready are durable, so a node that persists too late is caught.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createPrng, PERSIST_BEFORE_SEND, runSeeded, SimDisk, Simulation, SimulationFailure, tearText, type Departure } from "../src/index.ts";
import { recoverSentCount, TaggingNode, type TaggedMessage } from "./support/echo.ts";

const IDS = ["n1", "n2", "n3", "n4"];

/** A packet's id counter must be on the sender's disk before the packet leaves, or a restart would send the same id again. */
function counterPersisted({ message, durable }: Departure<TaggedMessage, number, never, TaggingNode>): string | undefined {
  const k = Number(message.id.split("#")[1]);
  const onDisk = recoverSentCount(durable);
  return k < onDisk ? undefined : `packet ${message.id} leaves while its disk says ${onDisk} sent`;
}

function tagging(seed: number, options: { unsafe?: boolean; latency?: { minMs: number; maxMs: number }; lose?: number } = {}) {
  return new Simulation<TaggedMessage, number, never, TaggingNode>({
    seed,
    nodeIds: IDS,
    factory: ({ id, peers, prng, disk, nowMs }) => new TaggingNode(id, peers, prng, disk, nowMs, 10, "packet", options.unsafe ?? false),
    beforeSend: counterPersisted,
    ...(options.latency !== undefined || options.lose !== undefined
      ? { disk: { ...(options.latency !== undefined ? { syncLatency: options.latency } : {}), faults: { lostUnsyncedRate: options.lose ?? 0 } } }
      : {}),
  });
}

describe("SimDisk", () => {
  it("keeps records in order, syncs a prefix, and a snapshot replaces what came before and makes it durable", () => {
    const d = new SimDisk<string, string>();
    d.write(null, ["a", "b"]);
    d.sync();
    d.write(null, ["c"]);
    expect(d.view().records).toEqual(["a", "b", "c"]);
    expect(d.durableView().records).toEqual(["a", "b"]);
    expect([d.written, d.synced, d.unsynced]).toEqual([3, 2, 1]);
    d.write("S", ["d"]);
    expect(d.view()).toEqual({ snapshot: "S", records: ["d"] });
    expect(d.durableView()).toEqual({ snapshot: "S", records: [] });
    expect([d.written, d.synced]).toEqual([4, 3]);
  });

  it("a kill -9 keeps everything written; a power loss keeps every synced record and a prefix of the rest, the first lost one maybe torn", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(3), fc.boolean()), { maxLength: 12 }), fc.integer(), fc.boolean(), (writes, seed, power) => {
        const d = new SimDisk<string, never>();
        let n = 0;
        for (const [count, sync] of writes) {
          d.write(null, Array.from({ length: count }, () => `record-${n++}`));
          if (sync) d.sync();
        }
        const synced = d.durableView().records.slice();
        const all = d.view().records.slice();
        const damage = d.crash(createPrng(seed), { lostUnsyncedRate: power ? 1 : 0, tornRecordRate: 1 }, tearText);
        const image = d.image().records;
        if (!power || all.length === synced.length) {
          expect(image).toEqual(all);
          expect(damage).toEqual({ lost: 0, torn: false });
          return;
        }
        expect(damage.lost).toBeGreaterThan(0);
        const kept = image.slice(0, all.length - damage.lost);
        expect(kept).toEqual(all.slice(0, kept.length));
        expect(kept.length).toBeGreaterThanOrEqual(synced.length);
        // The torn record is a strict prefix of the first record lost.
        const torn = image[kept.length]!;
        expect(all[kept.length]!.startsWith(torn) && torn.length < all[kept.length]!.length).toBe(true);
        d.recovered();
        expect(d.image().records).toEqual(kept);
        expect(d.unsynced).toBe(0);
      }),
    );
  });
});

describe("persist before send", () => {
  it("a message leaves only once the records of its Ready are on the sender's disk", () => {
    const sim = tagging(1);
    sim.runFor(500);
    expect(sim.stats.deliveries).toBeGreaterThan(100);
    expect(sim.stats.recordsPersisted).toBeGreaterThan(100);
  });

  it("catches a node that persists a message's record one Ready after the message", () => {
    const sim = tagging(1, { unsafe: true });
    let failure: unknown;
    try {
      sim.runFor(500);
    } catch (e) {
      failure = e;
    }
    expect(failure).toBeInstanceOf(SimulationFailure);
    expect((failure as SimulationFailure).what).toBe(PERSIST_BEFORE_SEND);
    expect((failure as SimulationFailure).message).toMatch(/HECK_SEED=1: invariant "persist before send" violated .* n\d sent a message to n\d: packet n\d#0 leaves while its disk says 0 sent/);
  });

  it("with a sync latency, a batch's messages wait for its sync, in order, and a crash drops the ones still waiting", () => {
    const sim = tagging(2, { latency: { minMs: 4, maxMs: 4 } });
    sim.runFor(300);
    const n1 = sim.trace.filter((e) => e.node === "n1" && (e.event === "persist" || e.event === "synced" || e.event === "send"));
    // Every send of n1 comes at least 4 ms after the persist of its record, right after a sync.
    const firstPersist = n1.find((e) => e.event === "persist")!;
    const firstSend = n1.find((e) => e.event === "send")!;
    expect(firstSend.t - firstPersist.t).toBeGreaterThan(4 - 1e-9);
    for (let k = 0; k < n1.length; k++) if (n1[k]!.event === "send") expect(n1.slice(0, k).some((e) => e.event === "synced" && e.t === n1[k]!.t)).toBe(true);
    // Crash n1 right after it sent-to-disk a record: the message waiting for the sync never leaves.
    sim.runUntil(() => sim.trace.at(-1)?.event === "persist" && sim.trace.at(-1)?.node === "n1", 100);
    const pending = sim.node("n1").sent - 1;
    sim.crash("n1");
    sim.runFor(50);
    for (const n of sim.up) expect(n.seen.has(`n1#${pending}`)).toBe(false);
  });

  /** A seeded run with crashes that lose unsynced records (power loss), checking that no id is ever delivered twice. */
  const powerLoss = (seed: number, unsafe: boolean, check?: typeof counterPersisted) =>
    runSeeded<TaggedMessage, number, never, TaggingNode>({
      seed,
      nodeIds: IDS,
      factory: ({ id, peers, prng, disk, nowMs }) => new TaggingNode(id, peers, prng, disk, nowMs, 10, "packet", unsafe),
      disk: { syncLatency: { minMs: 1, maxMs: 8 }, faults: { lostUnsyncedRate: 1 } },
      ...(check !== undefined ? { beforeSend: check } : {}),
      invariants: [
        {
          name: "an id is delivered once",
          check: (sim) => sim.up.every((n) => n.lastReceived === undefined || n.lastReceived.count === 1) || "an id arrived twice",
        },
      ],
      // No duplicate fault: a second delivery can only be a reused id.
      faultOptions: { maxRates: { duplicateRate: 0 }, weights: { network: 0 } },
      safetyPhaseMs: 1_000,
      converged: (sim) => sim.up.length === IDS.length,
      livenessBudgetMs: 100,
      maxShrinkRuns: 0,
    });

  it("under power loss, ids stay unique across crashes: the records that are lost never had their messages leave", () => {
    for (let seed = 1; seed <= 6; seed++) powerLoss(seed, false, counterPersisted);
  });

  it("under power loss, a node that persists its counter after sending reuses an id after a crash", () => {
    // Seed 5 crashes a node whose lost record had already let its packet out: the restart sends the same id again.
    expect(() => powerLoss(5, true)).toThrow(/HECK_SEED=5: invariant "an id is delivered once" violated/);
  });
});
