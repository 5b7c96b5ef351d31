/**
 * Persist before send for SWIM: every seeded run (test/seeded.test.ts and
 * these) has the runner check that no message claims an incarnation before
 * it is on its sender's disk, and restarted members recover their
 * incarnation from those records. Here the same runs under power loss
 * (slow fsyncs, crashes that lose unsynced records), and a member that
 * persists its incarnation after announcing it, which the check catches.
 */
import { PERSIST_BEFORE_SEND, SimulationFailure, type SimReady } from "@heck/sim";
import { seedsFromEnv } from "@heck/sim/testing";
import { describe, expect, it } from "vitest";
import type { SwimMessage } from "../src/core/messages.ts";
import type { SwimNode, SwimRecord } from "../src/core/node.ts";
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

  it("catches a member that announces a new incarnation before persisting it", () => {
    let failure: unknown;
    for (let seed = 1; seed <= 20 && failure === undefined; seed++) {
      try {
        runSeed(seed, { member: (node) => new LateMember(node) });
      } catch (e) {
        failure = e;
      }
    }
    expect(failure).toBeInstanceOf(SimulationFailure);
    expect((failure as SimulationFailure).what).toBe(PERSIST_BEFORE_SEND);
    expect((failure as SimulationFailure).message).toMatch(/claims incarnation \d+ while the disk holds \d+/);
  });
});
