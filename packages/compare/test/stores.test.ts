/**
 * The simulated raft-kv store and the hybrid store keep what the real server
 * keeps: raft-kv's WAL records on the node's simulated disk, and a crashed
 * member comes back by replaying them (raft-kv's `recoverStorage`), with the
 * term, vote and log it had written and the records it had applied.
 */
import { describe, expect, it } from "vitest";
import { Simulation } from "@heck/sim";
import { recoverStorage } from "@heck/raft-kv";
import { hybridStoreFactory, splitHybridDisk, type HybridStoreNode } from "../src/sim/hybrid-store.ts";
import { Meter } from "../src/sim/meter.ts";
import { raftStoreFactory, type RaftStoreNode } from "../src/sim/raft-store.ts";
import type { HealthRecord } from "../src/sim/records.ts";
import { DEFAULT_SIM_SETTINGS } from "../src/sim/run.ts";

const IDS = ["n1", "n2", "n3"];
const NETWORK = { latency: DEFAULT_SIM_SETTINGS.latency };

function record(id: string, hlcMs: number): HealthRecord {
  return { id, status: "healthy", observer: "n1", checkedAtMs: hlcMs, sinceMs: hlcMs, hlcMs, latencyMs: 1 };
}

/** Writes `count` records through the leader, one at a time, and waits until every member has applied them. */
function writeThroughLeader(sim: Simulation<unknown, unknown, unknown, RaftStoreNode>, keyPrefix: string, count: number, write: (node: RaftStoreNode, key: string, r: HealthRecord) => void): void {
  for (let i = 0; i < count; i++) {
    const leader = sim.up.find((n) => n.raft.role === "leader")!;
    write(leader, `${keyPrefix}${i}`, record(`o${i}`, 1_000 + i));
    sim.runFor(50);
  }
}

describe("the comparison's raft-kv store", () => {
  it("writes raft-kv's WAL records to its simulated disk, and a crashed member recovers its log and state by replaying them", () => {
    const meter = new Meter(IDS);
    const factory = raftStoreFactory({ founders: IDS, meter, ...DEFAULT_SIM_SETTINGS.raft });
    const sim = new Simulation({ seed: 5, nodeIds: IDS, factory, network: NETWORK, traceLimit: 0 });
    expect(sim.runUntil((s) => s.up.some((n) => n.raft.role === "leader"), 10_000)).toBe(true);
    writeThroughLeader(sim as never, "health/o", 5, (n, k, r) => n.write(k, r, () => {}));
    const follower = sim.up.find((n) => n.raft.role !== "leader")!;
    const before = { term: follower.raft.term, lastIndex: follower.raft.lastIndex, applied: follower.appliedIndex(), read: follower.readLocal("health/o4") };
    expect(before.read?.hlcMs).toBe(1_004);

    // The disk holds WAL records (bytes), and they replay to the log the member held.
    const disk = sim.diskOf(follower.id);
    expect(disk.records.length).toBeGreaterThan(0);
    expect(disk.records.every((r) => r instanceof Uint8Array)).toBe(true);
    const replayed = recoverStorage(disk)!;
    expect(replayed.hardState.term).toBe(before.term);
    expect(replayed.entries.at(-1)?.index).toBe(before.lastIndex);

    // A crash and a restart with no message in between: everything comes from the disk.
    sim.crash(follower.id);
    sim.restart(follower.id);
    const back = sim.node(follower.id);
    expect(back).not.toBe(follower);
    expect(back.raft.term).toBe(before.term);
    expect(back.raft.lastIndex).toBe(before.lastIndex);
    sim.runFor(500);
    expect(back.appliedIndex()).toBeGreaterThanOrEqual(before.applied);
    expect(back.readLocal("health/o4")).toEqual(before.read);
  });
});

describe("the hybrid store", () => {
  it("keeps the Raft part's WAL records beside crdt-kv's lines, and a crashed member's Raft part recovers from them", () => {
    const meter = new Meter(IDS);
    const factory = hybridStoreFactory({ founders: IDS, meter, ...DEFAULT_SIM_SETTINGS.raft }, () => ({ meter, members: () => IDS, ...DEFAULT_SIM_SETTINGS.crdt }));
    const sim = new Simulation({ seed: 5, nodeIds: IDS, factory, network: NETWORK, traceLimit: 0 });
    const leaderOf = (s: typeof sim): HybridStoreNode | undefined => s.up.find((n) => n.raft.role === "leader");
    expect(sim.runUntil((s) => leaderOf(s) !== undefined, 10_000)).toBe(true);
    for (let i = 0; i < 5; i++) {
      leaderOf(sim)!.write(`list/o${i}`, record(`o${i}`, 1_000 + i), () => {});
      leaderOf(sim)!.write(`health/o${i}`, record(`o${i}`, 1_000 + i), () => {});
      sim.runFor(50);
    }
    sim.runFor(1_000);
    const follower = sim.up.find((n) => n.raft.role !== "leader")!;
    const before = { term: follower.raft.term, lastIndex: follower.raft.lastIndex, list: follower.readLocal("list/o4"), health: follower.readLocal("health/o4") };
    expect(before.list?.hlcMs).toBe(1_004);
    expect(before.health?.hlcMs).toBe(1_004);

    const parts = splitHybridDisk(sim.diskOf(follower.id));
    expect(parts.raft.records.length).toBeGreaterThan(0);
    expect(recoverStorage(parts.raft)!.entries.at(-1)?.index).toBe(before.lastIndex);

    sim.crash(follower.id);
    sim.restart(follower.id);
    const back = sim.node(follower.id);
    expect(back.raft.term).toBe(before.term);
    expect(back.raft.lastIndex).toBe(before.lastIndex);
    sim.runFor(1_000);
    expect(back.readLocal("list/o4")).toEqual(before.list);
    expect(back.readLocal("health/o4")).toEqual(before.health);
  });
});
