/**
 * Persist before send, and crash recovery through the WAL lines the Readies
 * wrote. Seeded runs (random clusters, faults, crashes and restarts, a
 * random workload) where the runner checks every message as it leaves: the
 * dots it names must already be on its sender's durable disk. Then the same
 * under power loss: fsyncs take time, messages wait for them, and a crash
 * may lose the unsynced tail and tear its first line, which recovery
 * (parseWal, then the KvNode constructor) must drop. A replica that writes
 * a Ready's records after its messages is caught.
 * `HECK_SEED=<n> pnpm vitest run --project crdt-kv persist-before-send` replays a seed.
 */
import { PERSIST_BEFORE_SEND, runSeeded, SimulationFailure, tearText, type Prng, type SimProcess, type SimReady, type SimulationDiskOptions } from "@heck/sim";
import { seedsFromEnv } from "@heck/sim/io";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../src/core/json.ts";
import { encodeDelta } from "../src/core/store/kv-state.ts";
import { kvCodec, type KvMessage } from "../src/core/store/messages.ts";
import type { KvNode } from "../src/core/store/node.ts";
import { convergedTo, kvFactory, noInventedDots, randomWorkload, Reference, type KvSim } from "../src/sim/cluster.ts";
import { dotsPersisted } from "./support/persist-check.ts";

const SYNC_MS = 100;
const config = { syncIntervalMs: SYNC_MS, fanout: 2, maxLogEntries: 16, digestTimeoutMs: 5 * SYNC_MS, snapshotEveryRecords: 16 };
/** A slow disk (fsyncs of up to 50 ms, so crashes find unsynced lines) whose crashes are power losses that often lose and tear them. */
const POWER_LOSS: SimulationDiskOptions<string> = { syncLatency: { minMs: 1, maxMs: 50 }, faults: { lostUnsyncedRate: 0.7, tornRecordRate: 0.7 }, tear: tearText };

/** Every replica up and holding the same state. */
function agree(sim: KvSim): boolean {
  if (sim.up.length !== sim.nodeIds.length) return false;
  const texts = new Set(sim.up.map((n) => canonicalJson(encodeDelta(n.state()))));
  return texts.size === 1;
}

function run(seed: number, disk: SimulationDiskOptions<string> | undefined) {
  const ref = new Reference();
  const result = runSeeded<KvMessage, string, string, KvNode>({
    seed,
    nodeIds: (prng: Prng) => Array.from({ length: prng.nextInt(3, 5) }, (_, i) => `n${i + 1}`),
    factory: kvFactory(ref, config),
    network: { latency: { minMs: 1, meanTailMs: 4 }, faults: { dropRate: 0.02, reorderRate: 0.05 } },
    codec: kvCodec,
    ...(disk !== undefined ? { disk } : {}),
    beforeSend: dotsPersisted(),
    invariants: [{ name: "no invented dots", check: (sim: KvSim) => noInventedDots(sim, ref) }],
    workload: (sim, prng) => randomWorkload(sim, prng, 80, 4_000),
    safetyPhaseMs: 4_000,
    // Without power loss every accepted update survives; with it, a write whose record was lost with the
    // unsynced tail never left its replica (its messages waited for the sync), so the replicas only have to agree.
    converged: (sim) => (disk === undefined ? convergedTo(sim, ref) : agree(sim)),
    livenessBudgetMs: 20 * SYNC_MS,
    maxShrinkRuns: 8,
  });
  return { ref, result };
}

describe("persist before send", () => {
  it.each(seedsFromEnv({ fixed: [31, 32, 33, 34], random: 1 }))("seed %i: every message's dots are on its sender's disk when it leaves, and restarts recover from the WAL", (seed) => {
    const { ref, result } = run(seed, undefined);
    expect(ref.updates).toBeGreaterThan(0);
    expect(result.stats.crashes + result.stats.recordsPersisted).toBeGreaterThan(0);
  });

  it.each(seedsFromEnv({ fixed: [41, 42, 43, 44], random: 1 }))("seed %i: under power loss (slow fsyncs, lost and torn tails) the replicas still agree and never send what a crash could take back", (seed) => {
    const { result } = run(seed, POWER_LOSS);
    expect(result.stats.syncs).toBeGreaterThan(0);
  });

  it("those power losses do take unsynced WAL lines and leave one torn, and the restarts recover past them", () => {
    let lost = 0;
    let torn = 0;
    for (const seed of [41, 42, 43, 44]) {
      const { result } = run(seed, POWER_LOSS);
      lost += result.stats.recordsLost;
      torn += result.stats.recordsTorn;
    }
    expect(lost).toBeGreaterThan(0);
    expect(torn).toBeGreaterThan(0);
  });

  it("catches a replica that writes a Ready's records after its messages", () => {
    const ref = new Reference();
    const factory = kvFactory(ref, config);
    let failure: unknown;
    try {
      runSeeded<KvMessage, string, string, LatePersistence>({
        seed: 31,
        nodeIds: ["n1", "n2", "n3"],
        factory: (args) => new LatePersistence(factory(args)),
        codec: kvCodec,
        beforeSend: dotsPersisted<LatePersistence>(),
        invariants: [],
        workload: (sim, prng) => randomWorkload(sim as unknown as KvSim, prng, 20, 1_000),
        safetyPhaseMs: 1_000,
        converged: () => true,
        livenessBudgetMs: 0,
        maxShrinkRuns: 0,
      });
    } catch (e) {
      failure = e;
    }
    expect(failure).toBeInstanceOf(SimulationFailure);
    expect((failure as SimulationFailure).what).toBe(PERSIST_BEFORE_SEND);
    expect((failure as SimulationFailure).message).toMatch(/names dots its disk does not hold yet/);
  });
});

/**
 * A deliberately wrong driver of a replica: it persists each Ready's
 * snapshot and records with the next Ready, after that Ready's messages
 * have gone. The shape of the bug the check exists for.
 */
class LatePersistence implements SimProcess<KvMessage, string, string> {
  readonly id: string;
  private lateSnapshot: string | null = null;
  private lateRecords: readonly string[] = [];

  constructor(readonly inner: KvNode) {
    this.id = inner.id;
  }
  tick(nowMs: number): void {
    this.inner.tick(nowMs);
  }
  receive(from: string, message: KvMessage, channel: "packet" | "stream", nowMs: number): void {
    this.inner.receive(from, message, channel, nowMs);
  }
  nextDeadlineMs(): number {
    return this.inner.nextDeadlineMs();
  }
  hasReady(): boolean {
    return this.inner.hasReady() || this.lateSnapshot !== null || this.lateRecords.length > 0;
  }
  ready(): SimReady<KvMessage, string, string> {
    const rd = this.inner.hasReady() ? this.inner.ready() : undefined;
    const out = { snapshot: this.lateSnapshot, records: this.lateRecords, mustSync: true, messages: rd?.messages ?? [] };
    this.lateSnapshot = rd?.snapshot ?? null;
    this.lateRecords = rd?.records ?? [];
    if (rd !== undefined) this.inner.advance();
    return out;
  }
  advance(): void {}
  // Client calls, for the workload.
  put(...args: Parameters<KvNode["put"]>): ReturnType<KvNode["put"]> {
    return this.inner.put(...args);
  }
  delete(...args: Parameters<KvNode["delete"]>): ReturnType<KvNode["delete"]> {
    return this.inner.delete(...args);
  }
  get(key: string): ReturnType<KvNode["get"]> {
    return this.inner.get(key);
  }
}

