/**
 * The replica behind the shared Ready contract (src/core/replica/replica-node.ts):
 * what its Readies persist is the WAL's own records and snapshot files, and
 * reading them back (recoverStorage, through the WAL's replay) gives the
 * state they describe; a torn last record is cut off, a damaged one in the
 * middle refuses to start.
 */
import { Simulation, createPrng, tearBytes } from "@heck/sim";
import { describe, expect, it } from "vitest";
import { WalCorruptionError } from "../../src/core/raft/storage-format.ts";
import { recoverStorage, type Envelope, type StorageImage } from "../../src/core/replica/index.ts";
import { RaftSimNode, SafetyRecorder, leaderOf, raftCodec, startClients, type RaftSim, type SnapshotImage, type WalRecord } from "../../src/sim/raft-sim.ts";

/** Three replicas under a write workload, compacting every 15 entries, for `ms` of simulated time. */
function cluster(ms: number): RaftSim {
  const recorder = new SafetyRecorder();
  const sim: RaftSim = new Simulation<Envelope, WalRecord, SnapshotImage, RaftSimNode>({
    seed: 5,
    nodeIds: ["n1", "n2", "n3"],
    factory: (args) => new RaftSimNode(args, { founders: args.peers, recorder, compactEvery: 15 }),
    codec: raftCodec,
    tickIntervalMs: 10,
  });
  startClients(sim, sim.prng.fork("clients"), { clients: 4, keys: ["a", "b"], untilMs: ms, thinkMs: 2 });
  sim.runFor(ms);
  return sim;
}

describe("ReplicaNode's disk", () => {
  const sim = cluster(1_500);

  it("reads back as exactly what its Readies persisted: hard state, snapshot and log", () => {
    expect(leaderOf(sim)).toBeDefined();
    for (const id of sim.nodeIds) {
      const node = sim.node(id);
      const recovered = recoverStorage(sim.diskOf(id))!;
      expect(recovered.snapshot?.metadata.index ?? 0).toBe(node.snapshotIndex());
      expect(recovered.snapshot?.metadata.index).toBeGreaterThan(0);
      const status = node.raft.status();
      expect(recovered.hardState.term).toBe(status.term);
      expect(recovered.hardState.vote).toBe(node.raft.status().vote);
      const base = node.snapshotIndex();
      expect(recovered.entries.map((e) => [e.index, e.term])).toEqual(recovered.entries.map((e, i) => [base + 1 + i, node.termAt(base + 1 + i)]));
      expect(base + recovered.entries.length).toBe(status.lastIndex);
    }
  });

  it("a crash that tears the last record loses that record only", () => {
    const image = sim.diskOf("n1");
    expect(image.records.length).toBeGreaterThan(1);
    const whole = recoverStorage({ snapshot: image.snapshot, records: image.records.slice(0, -1) });
    const torn: StorageImage = { snapshot: image.snapshot, records: [...image.records.slice(0, -1), tearBytes(image.records.at(-1)!, createPrng(1))] };
    expect(recoverStorage(torn)).toEqual(whole);
  });

  it("a damaged record followed by whole ones is corruption, not a torn tail: recovery refuses", () => {
    const image = sim.diskOf("n1");
    const records = image.records.map((r) => r.slice());
    records[0]![records[0]!.length - 1]! ^= 0xff;
    expect(() => recoverStorage({ snapshot: image.snapshot, records })).toThrow(WalCorruptionError);
  });
});
