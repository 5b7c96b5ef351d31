/**
 * Persist before send, and crash recovery through the WAL records the
 * Readies wrote. Every seeded run (here and in sweep.test.ts) has the runner
 * check each message as it leaves: what it promises (a term, a granted
 * vote, an acknowledged entry) must already be on its sender's durable disk
 * (src/sim/persist-check.ts), and a restarted node recovers by replaying
 * its disk's records through the WAL's own replay. Here the same seeds run
 * under power loss: fsyncs take time, messages wait for them, and a crash
 * may lose the unsynced tail and tear its first record, which replay must
 * cut off. The clients' history must stay linearizable and no write
 * answered "ok" may be lost. Drivers that send a vote or an append
 * acknowledgement before persisting what it promises are caught; one that
 * sends a leader's appends before its own fsync (allowed, dissertation
 * §10.2.1) is not.
 * `HECK_SEED=<n> pnpm vitest run --project raft-kv persist-before-send` replays a seed;
 * `HECK_SWEEP=1` runs 40 power-loss seeds.
 */
import { PERSIST_BEFORE_SEND, SimulationFailure, type NodeFactoryArgs } from "@heck/sim";
import { seedsFromEnv } from "@heck/sim/testing";
import { describe, expect, it } from "vitest";
import type { Message } from "../../src/core/raft/types.ts";
import { mayLeaveBeforePersist, type ReplicaNodeReady } from "../../src/core/replica/index.ts";
import { RaftSimNode, type RaftSimOptions, type SnapshotImage, type WalRecord } from "../../src/sim/raft-sim.ts";
import { POWER_LOSS, runSeed, type SweepRun } from "./sweep-entry.ts";

/** Shorter fault phases than the sweep's: these seeds are about the disk. */
const SAFETY_MS = 2_000;

/**
 * A deliberately wrong driver: the messages `early` picks leave with their
 * Ready, but the records and snapshot of that Ready (and its other
 * messages) are persisted with the next one, after they left.
 */
class EarlySender extends RaftSimNode {
  private late: Pick<ReplicaNodeReady, "snapshot" | "records" | "mustSync" | "messages"> | null = null;
  private took = false;

  constructor(
    args: NodeFactoryArgs<WalRecord, SnapshotImage>,
    opts: RaftSimOptions,
    private readonly early: (m: Message) => boolean,
  ) {
    super(args, opts);
  }

  override hasReady(): boolean {
    return super.hasReady() || this.late !== null;
  }

  override ready(): ReplicaNodeReady {
    this.took = super.hasReady();
    const rd = this.took ? super.ready() : null;
    const isEarly = (o: ReplicaNodeReady["messages"][number]): boolean => o.message.kind === "raft" && this.early(o.message.message);
    const prev = this.late;
    const out: ReplicaNodeReady = {
      snapshot: prev?.snapshot ?? null,
      records: prev?.records ?? [],
      mustSync: prev?.mustSync ?? false,
      messages: [...(prev?.messages ?? []), ...(rd?.messages.filter(isEarly) ?? [])],
      raft: rd?.raft ?? null,
    };
    const rest = rd?.messages.filter((o) => !isEarly(o)) ?? [];
    this.late = rd && (rd.snapshot !== null || rd.records.length > 0 || rest.length > 0) ? { snapshot: rd.snapshot, records: rd.records, mustSync: rd.mustSync, messages: rest } : null;
    return out;
  }

  override advance(): void {
    if (this.took) super.advance();
    this.took = false;
  }
}

function failureOf(run: () => unknown): SimulationFailure {
  try {
    run();
  } catch (e) {
    if (e instanceof SimulationFailure) return e;
    throw e;
  }
  throw new Error("the run passed, but it should have failed");
}

/** Power-loss runs by seed: the aggregate test below reads the fixed seeds' runs instead of repeating them. */
const powerLossRuns = new Map<number, SweepRun>();
function powerLossRun(seed: number): SweepRun {
  let run = powerLossRuns.get(seed);
  if (run === undefined) {
    run = runSeed(seed, { disk: POWER_LOSS, crashLeaders: true, safetyMs: SAFETY_MS });
    powerLossRuns.set(seed, run);
  }
  return run;
}
/** `HECK_SWEEP=1` runs 40 seeds instead of two. */
const FIXED = process.env.HECK_SWEEP === "1" ? Array.from({ length: 40 }, (_, i) => 2000 + i) : [1, 12];
/** A power loss tore off the hard state written after a new term's entries: the restart must resume, not refuse (restartState). */
const REGRESSIONS = [523752739];

describe("persist before send (Raft's term, vote and log)", () => {
  it.each(seedsFromEnv({ fixed: [...FIXED, ...REGRESSIONS], random: 1 }))(
    "HECK_SEED=%i: under power loss (slow fsyncs, lost and torn tails, leaders crashed mid-write) nothing is promised before it is durable, restarts replay the WAL, and no acknowledged write is lost",
    (seed) => {
      const run = powerLossRun(seed);
      expect(run.acknowledged).toBeGreaterThan(0);
      expect(run.stats.syncs).toBeGreaterThan(0);
    },
  );

  it("those power losses do take unsynced records and leave some torn, and the restarts recover past them", () => {
    const stats = FIXED.map((seed) => powerLossRun(seed).stats);
    expect(stats.reduce((n, s) => n + s.crashes, 0)).toBeGreaterThan(0);
    expect(stats.reduce((n, s) => n + s.recordsLost, 0)).toBeGreaterThan(0);
    expect(stats.reduce((n, s) => n + s.recordsTorn, 0)).toBeGreaterThan(0);
  });

  it("catches a voter that grants its vote before its disk holds it", () => {
    const failure = failureOf(() => runSeed(1, { safetyMs: SAFETY_MS, maxShrinkRuns: 0, node: (args, opts) => new EarlySender(args, opts, (m) => m.type === "voteResponse") }));
    expect(failure.what).toBe(PERSIST_BEFORE_SEND);
    expect(failure.message).toMatch(/HECK_SEED=1/);
    expect(failure.message).toMatch(/sent a message to n\d: (it grants its vote to n\d in term \d+ while its disk holds vote|its voteResponse carries term \d+ while its disk holds term)/);
  });

  it("catches a follower that acknowledges entries before its disk holds them", () => {
    const failure = failureOf(() => runSeed(1, { safetyMs: SAFETY_MS, maxShrinkRuns: 0, node: (args, opts) => new EarlySender(args, opts, (m) => m.type === "appendResponse") }));
    expect(failure.what).toBe(PERSIST_BEFORE_SEND);
    expect(failure.message).toMatch(/it acknowledges entr(ies up to|y) \d+/);
  });

  it("lets a leader send its appends and heartbeats before its own fsync: they promise nothing about its disk", () => {
    const run = runSeed(1, { safetyMs: 1_000, node: (args, opts) => new EarlySender(args, opts, mayLeaveBeforePersist) });
    expect(run.acknowledged).toBeGreaterThan(0);
  });
});
