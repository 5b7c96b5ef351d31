/**
 * The Raft paper's Figure 8, replayed step by step: why a leader must not
 * commit an entry from an earlier term by counting replicas (§5.4.2).
 *
 * Five servers S1..S5 (n1..n5). Messages are passed by hand so each panel of
 * the figure can be reached exactly; "crash" rebuilds a node from what it
 * persisted (its term, vote and log), as a real restart would.
 */
import { describe, expect, it } from "vitest";
import { createPrng } from "@heck/sim";
import { RaftNode } from "../../src/core/raft/raft-node.ts";
import type { Message } from "../../src/core/raft/types.ts";
import { Pump, bytes, newRaft } from "./support/harness.ts";

const FIVE = ["n1", "n2", "n3", "n4", "n5"];

/** A crash and restart: the node comes back with its persisted term, vote and log, as a follower. */
function restart(pump: Pump, id: string): RaftNode {
  const old = pump.node(id);
  const s = old.status();
  const fresh = RaftNode.restart(
    { id, prng: createPrng(7).fork(id), preVote: false, checkQuorum: false, maxSizePerMsg: 5 },
    {
      hardState: { term: s.term, vote: s.vote, commit: s.commit },
      snapshot: { metadata: { index: 0, term: 0, confState: s.confState }, data: new Uint8Array(0) },
      entries: old.logEntries(1, s.lastIndex + 1),
    },
  );
  pump.nodes.set(id, fresh);
  return fresh;
}

const terms = (r: RaftNode): number[] => r.logEntries(1, r.status().lastIndex + 1).map((e) => e.term);

/** Elects `id`, retrying if the first attempt loses to a higher term it learns about. */
function electLeader(pump: Pump, id: string): void {
  for (let i = 0; i < 3 && pump.node(id).role !== "leader"; i++) pump.elect(id);
  expect(pump.node(id).role).toBe("leader");
}

/** Panels (a)-(c): ends with S1 leader of term 4 holding index 3 (term 2) on a majority, and its own term-4 entry alone. */
function panelsAtoC(): Pump {
  // Every server starts with one committed entry of term 1. maxSizePerMsg 5
  // makes every entry of 10 bytes travel alone, so we can drop exactly one.
  const nodes = FIVE.map((id) => newRaft(id, FIVE, { logTerms: [1], term: 1, commit: 1, maxSizePerMsg: 5 }));
  const pump = new Pump(nodes);
  const up = new Set(FIVE);
  const isUp = (m: Message): boolean => up.has(m.from) && up.has(m.to);

  // (a) S1 leads term 2 and replicates its entries only to S2.
  pump.drop = (m) => !isUp(m) || (m.type === "append" && m.from === "n1" && !["n2"].includes(m.to));
  electLeader(pump, "n1");
  expect(pump.node("n1").term).toBe(2);
  pump.node("n1").propose(bytes("x-term2-a"));
  pump.settle();
  expect(terms(pump.node("n2"))).toEqual([1, 2, 2]);

  // (b) S1 crashes; S5 wins term 3 with votes from S3, S4 and itself, and
  // appends its own entry at index 2, then crashes before sending it.
  up.delete("n1");
  pump.drop = (m) => !isUp(m) || (m.type === "append" && m.from === "n5");
  electLeader(pump, "n5");
  expect(pump.node("n5").term).toBe(3);
  expect(terms(pump.node("n5"))).toEqual([1, 3]);
  up.delete("n5");

  // (c) S1 restarts and wins term 4 (S2, S3, S4 vote: its log ends in term 2 > 1).
  // It replicates index 2-3 (term 2) to S3 too, but its term-4 entry reaches nobody.
  up.add("n1");
  restart(pump, "n1");
  // Term-4 entries are stripped from every append, as if the packets carrying them were lost.
  pump.drop = (m) => !isUp(m) || (m.type === "append" && m.to === "n4");
  pump.mutate = (m) => (m.type === "append" ? { ...m, entries: m.entries.filter((e) => e.term !== 4) } : m);
  electLeader(pump, "n1");
  expect(pump.node("n1").term).toBe(4);
  expect(terms(pump.node("n1"))).toEqual([1, 2, 2, 4]);
  expect(terms(pump.node("n2"))).toEqual([1, 2, 2]);
  expect(terms(pump.node("n3"))).toEqual([1, 2, 2]);
  return pump;
}

describe("Figure 8 (§5.4.2)", () => {
  it("(c) an entry of an earlier term on a majority is NOT committed by the new leader", () => {
    const pump = panelsAtoC();
    // S1, S2 and S3 hold index 3 with term 2, and S1 knows it: a majority of
    // five. Counting replicas would commit it; §5.4.2 forbids that.
    const progress = pump.node("n1").status().progress!;
    expect([progress.n2!.match, progress.n3!.match]).toEqual([3, 3]);
    expect(pump.node("n1").status().commit).toBe(1);
  });

  it("(d) ...because if S1 crashes now, S5 can win and overwrite it", () => {
    const pump = panelsAtoC();
    const up = new Set(["n2", "n3", "n4", "n5"]);
    restart(pump, "n5");
    pump.drop = (m) => !(up.has(m.from) && up.has(m.to));
    // S5's log ends in term 3, newer than S2/S3's term 2: they vote for it.
    electLeader(pump, "n5");
    expect(pump.node("n5").term).toBe(5);
    pump.settle();
    // Index 2 and 3 are replaced everywhere by S5's history: had S1 committed
    // them in (c), a committed entry would now have been lost.
    for (const id of ["n2", "n3", "n4"]) expect(terms(pump.node(id))).toEqual([1, 3, 5]);
    for (const id of ["n2", "n3", "n4", "n5"]) {
      expect(pump.applied.get(id)!.some((e) => e.term === 2)).toBe(false);
    }
  });

  it("(e) once S1 gets an entry of its own term onto a majority, everything before it commits and S5 can no longer win", () => {
    const pump = panelsAtoC();
    const up = new Set(["n1", "n2", "n3", "n4"]);
    pump.drop = (m) => !(up.has(m.from) && up.has(m.to));
    pump.mutate = (m) => m;
    pump.tickAll(2);
    expect(pump.node("n1").status().commit).toBe(4);
    // Now S1 crashes and S5 returns: its last term 3 is older than the
    // majority's term 4, so the election restriction (§5.4.1) keeps it out.
    up.delete("n1");
    up.add("n5");
    restart(pump, "n5");
    pump.elect("n5");
    expect(pump.node("n5").role).not.toBe("leader");
    for (const id of ["n2", "n3"]) expect(terms(pump.node(id)).slice(0, 4)).toEqual([1, 2, 2, 4]);
  });
});
