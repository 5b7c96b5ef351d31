/**
 * Persist before send for SWIM: every seeded run (test/seeded.test.ts and
 * these) has the runner check that no message claims an incarnation before
 * it is on its sender's disk, and restarted members recover their
 * incarnation from those records. Here the same runs under power loss
 * (slow fsyncs, crashes that lose unsynced records), and a member that
 * persists its incarnation after announcing it, which the check catches.
 */
import { PERSIST_BEFORE_SEND, Simulation, SimulationFailure, type SimReady } from "@heck/sim";
import { seedsFromEnv } from "@heck/sim/testing";
import { describe, expect, it } from "vitest";
import type { SwimMessage } from "../src/core/messages.ts";
import { lanConfig } from "../src/core/config.ts";
import { recoverIncarnation, SwimNode, type SwimRecord } from "../src/core/node.ts";
import { swimCodec } from "../src/sim/cluster.ts";
import { incarnationPersisted, tearIncarnation } from "../src/sim/persist-check.ts";
import { SimMember } from "../src/sim/sim-member.ts";
import { runSeed } from "./sweep-entry.ts";

/** A deliberately wrong driver: it persists each Ready's incarnation record with the next Ready, after the messages that announce it. */
class LateMember extends SimMember {
  private late: readonly SwimRecord[] = [];
  private taken = false;
  constructor(node: SwimNode) {
    super(node, undefined);
  }
  override hasReady(): boolean {
    return super.hasReady() || this.late.length > 0;
  }
  override ready(): SimReady<SwimMessage, SwimRecord> {
    this.taken = super.hasReady();
    const rd = this.taken ? super.ready() : undefined;
    const out = { snapshot: null, records: this.late, mustSync: true, messages: rd?.messages ?? [] };
    this.late = rd?.records ?? [];
    return out;
  }
  override advance(): void {
    if (this.taken) super.advance();
    this.taken = false;
  }
}

describe("persist before send (SWIM's incarnation)", () => {
  it.each(seedsFromEnv({ fixed: [11, 12, 13], random: 1 }))("seed %i: under power loss no member claims an incarnation its disk could lose, and the view rules hold", (seed) => {
    runSeed(seed, { powerLoss: true });
  });

  it("catches a member that announces a new incarnation before persisting it, on a seed the real driver passes", () => {
    let failure: unknown;
    let failingSeed = 0;
    for (let seed = 1; seed <= 20 && failure === undefined; seed++) {
      try {
        runSeed(seed, { member: (node) => new LateMember(node) });
      } catch (e) {
        failure = e;
        failingSeed = seed;
      }
    }
    expect(failure).toBeInstanceOf(SimulationFailure);
    expect((failure as SimulationFailure).what).toBe(PERSIST_BEFORE_SEND);
    expect((failure as SimulationFailure).message).toMatch(/claims incarnation \d+ while the disk holds \d+/);
    // The same seed, the same faults, the same cores: only the order of persist and send differs.
    const result = runSeed(failingSeed);
    expect(result.stats.recordsPersisted).toBeGreaterThan(0);
  });

  it("a power loss while a new incarnation is being synced tears its record: the restart skips it, resumes from the last whole one, and rejoins", () => {
    const ids = ["n1", "n2", "n3"];
    const sim = new Simulation<SwimMessage, SwimRecord, never, SimMember>({
      seed: 7,
      nodeIds: ids,
      network: { latency: { minMs: 0.2, meanTailMs: 0.5 } },
      codec: swimCodec,
      // A slow fsync, and a crash during it loses the record and leaves it torn, every time.
      disk: { syncLatency: { minMs: 50, maxMs: 50 }, faults: { lostUnsyncedRate: 1, tornRecordRate: 1 }, tear: tearIncarnation },
      beforeSend: incarnationPersisted,
      factory: ({ id, prng, disk, nowMs }) => {
        const others = ids.filter((p) => p !== id);
        const node = new SwimNode({
          name: id,
          addr: id,
          config: lanConfig(),
          prng,
          nowMs,
          ...(disk === undefined ? { initialMembers: others.map((p) => ({ name: p, addr: p })) } : { incarnation: recoverIncarnation(disk.records) }),
        });
        if (disk !== undefined) node.join(others, nowMs);
        return new SimMember(node, undefined);
      },
    });
    sim.runFor(5_000);
    // Cut n1 off until the others suspect it; once healed, it hears the suspicion and refutes with a higher incarnation.
    sim.isolate("n1");
    const suspected = sim.runUntil((s) => s.node("n2").node.member("n1")?.state === "suspect", 20_000);
    expect(suspected).toBe(true);
    const before = sim.node("n1").node.incarnation;
    sim.heal();
    // Crash n1 in the step its refutation's record is written: the sync has 50 ms to go.
    const refuted = sim.runUntil((s) => s.node("n1").node.incarnation > before, 10_000);
    expect(refuted).toBe(true);
    expect(sim.diskOf("n1").records.at(-1)).toEqual({ incarnation: before + 1 });
    sim.crash("n1");
    expect(sim.stats.recordsLost).toBe(1);
    expect(sim.stats.recordsTorn).toBe(1);
    sim.restart("n1");
    expect(sim.node("n1").node.incarnation).toBe(before);
    // The torn record is gone from the disk, and n1 is alive everywhere again, with nothing claimed before it was durable.
    expect(sim.diskOf("n1").records.every((r) => Number.isSafeInteger(r.incarnation))).toBe(true);
    const rejoined = sim.runUntil((s) => ids.every((o) => ids.every((m) => s.node(o).node.member(m)?.state === "alive")), 30_000);
    expect(rejoined).toBe(true);
  });
});
