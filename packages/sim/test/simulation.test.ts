import { describe, expect, it } from "vitest";
import {
  runSeeded,
  Simulation,
  SimulationFailure,
  ddmin,
  type Invariant,
  type MessageCodec,
} from "../src/index.ts";
import "./support/index.ts"; // failure reports name this file's replay command
import { EchoNode, TaggingNode, type EchoMessage, type TaggedMessage } from "./support/echo.ts";
import { NaiveLeaderNode } from "./support/leader.ts";

const IDS = ["n1", "n2", "n3", "n4", "n5"];

function taggingSim(seed: number, extra: Partial<ConstructorParameters<typeof Simulation<TaggedMessage, number, never, TaggingNode>>[0]> = {}) {
  return new Simulation<TaggedMessage, number, never, TaggingNode>({
    seed,
    nodeIds: IDS,
    factory: ({ id, peers, prng, disk, nowMs }) => new TaggingNode(id, peers, prng, disk, nowMs),
    ...extra,
  });
}

const atMostOneLeader: Invariant<Simulation<unknown, never, never, NaiveLeaderNode>> = {
  name: "at most one leader",
  check: (sim) => {
    const leaders = sim.up.filter((n) => n.isLeader()).map((n) => n.id);
    return leaders.length <= 1 || `leaders: ${leaders.join(", ")}`;
  },
};

describe("Simulation", () => {
  it("runs an echo cluster and counts deliveries and bytes", () => {
    const codec: MessageCodec<EchoMessage> = {
      encode: (m) => new TextEncoder().encode(JSON.stringify(m)),
      decode: (b) => JSON.parse(new TextDecoder().decode(b)) as EchoMessage,
    };
    const sim = new Simulation({ seed: 1, nodeIds: IDS, factory: ({ id, peers }) => new EchoNode(id, peers), codec });
    sim.runFor(100);
    const s = sim.stats;
    expect(s.deliveries).toBeGreaterThan(500);
    expect(s.bytes).toBeGreaterThan(s.deliveries * 20);
    expect(s.drops).toBe(0);
    // 20 pings are always in flight: deliveries == sends - in flight.
    expect(s.sent - s.deliveries).toBe(20);
  });

  it("replays a run exactly from its seed, faults and all", () => {
    const run = (seed: number) => {
      const sim = taggingSim(seed, { network: { faults: { dropRate: 0.1, duplicateRate: 0.1, reorderRate: 0.2, spikeRate: 0.05 } } });
      sim.runFor(200);
      sim.partition(["n1", "n2"]);
      sim.crash("n3");
      sim.runFor(200);
      sim.heal();
      sim.restart("n3");
      sim.runFor(200);
      return JSON.stringify(sim.trace) + JSON.stringify(sim.stats);
    };
    expect(run(9)).toBe(run(9));
    expect(run(9)).not.toBe(run(10));
  });

  it("keeps only persisted state across a crash and loses messages sent to the dead node", () => {
    const sim = taggingSim(3);
    sim.runFor(200);
    const sentBefore = sim.node("n1").sent;
    expect(sim.node("n1").seen.size).toBeGreaterThan(0);
    sim.crash("n1");
    expect(sim.isUp("n1")).toBe(false);
    expect(() => sim.node("n1")).toThrow(/crashed/);
    sim.runFor(200);
    expect(sim.stats.droppedByCrash).toBeGreaterThan(0);
    sim.restart("n1");
    const n1 = sim.node("n1");
    expect(n1.seen.size).toBe(0);
    expect(n1.sent).toBe(sentBefore);
    sim.runFor(100);
    expect(n1.sent).toBeGreaterThan(sentBefore);
  });

  it("tells a stream sender when a partition breaks its stream", () => {
    const sim = new Simulation<TaggedMessage, number, never, TaggingNode>({
      seed: 4,
      nodeIds: IDS,
      factory: ({ id, peers, prng, disk, nowMs }) => new TaggingNode(id, peers, prng, disk, nowMs, 10, "stream"),
    });
    sim.isolate("n1");
    sim.runFor(300);
    expect(sim.node("n1").streamFailures.length).toBeGreaterThan(0);
    for (const n of sim.up) for (const id of n.seen.keys()) expect(n.id === "n1" || !id.startsWith("n1#")).toBe(true);
  });

  it("ticks every node on the tick cadence and runs scheduled actions as steps", () => {
    const ticks: Array<[string, number]> = [];
    const sim = new Simulation({
      seed: 5,
      nodeIds: ["a", "b", "c"],
      tickIntervalMs: 10,
      factory: ({ id, peers }) => {
        const n = new EchoNode(id, peers);
        return Object.assign(n, { tick: (now: number) => void ticks.push([id, now]) });
      },
    });
    let ranAt = -1;
    sim.schedule(55, (s) => (ranAt = s.nowMs));
    sim.runFor(100);
    expect(ticks.length).toBe(30);
    expect(ticks.slice(0, 3)).toEqual([["a", 10], ["b", 10], ["c", 10]]);
    expect(ranAt).toBe(55);
    expect(sim.nowMs).toBe(100);
  });

  it("reports a violated invariant with HECK_SEED, its name and the trace tail", () => {
    const sim = new Simulation<unknown, never, never, NaiveLeaderNode>({
      seed: 77,
      nodeIds: IDS,
      factory: ({ id, peers, nowMs }) => new NaiveLeaderNode(id, peers, nowMs),
      invariants: [atMostOneLeader],
    });
    sim.runFor(500);
    sim.isolate("n1");
    let error: unknown;
    try {
      sim.runFor(500);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SimulationFailure);
    const f = error as SimulationFailure;
    expect(f.message).toContain("HECK_SEED=77");
    expect(f.message).toContain('invariant "at most one leader"');
    expect(f.message).toMatch(/leaders: n1, n2/);
    expect(f.kind).toBe("invariant");
    expect(f.trace.length).toBeGreaterThan(10);
    expect(f.trace.at(-1)?.event).toBe("violation");
  });

  it("refuses a node whose deadline does not move forward after a tick", () => {
    const sim = new Simulation({
      seed: 1,
      nodeIds: ["a"],
      factory: ({ id, peers }) => Object.assign(new EchoNode(id, peers), { nextDeadlineMs: () => 5 }),
    });
    expect(() => sim.runFor(10)).toThrow(/nextDeadlineMs\(\) is 5 right after tick\(5\)/);
  });
});

describe("runSeeded", () => {
  const leaderRun = (seed: number, extra: object = {}) =>
    runSeeded<unknown, never, never, NaiveLeaderNode>({
      seed,
      nodeIds: IDS,
      factory: ({ id, peers, nowMs }) => new NaiveLeaderNode(id, peers, nowMs),
      invariants: [atMostOneLeader],
      safetyPhaseMs: 2_000,
      converged: (sim) => sim.up.filter((n) => n.isLeader()).length === 1,
      livenessBudgetMs: 1_000,
      ...extra,
    });

  it("passes a correct protocol under random faults and reports its figures", () => {
    for (const seed of [1, 2, 3]) {
      const r = runSeeded<TaggedMessage, number, never, TaggingNode>({
        seed,
        nodeIds: IDS,
        factory: ({ id, peers, prng, disk, nowMs }) => new TaggingNode(id, peers, prng, disk, nowMs),
        invariants: [
          {
            name: "no packet delivered twice without the duplicate fault",
            check: (sim) => sim.up.every((n) => [...n.seen.values()].every((c) => c === 1)),
          },
        ],
        faultOptions: { maxRates: { duplicateRate: 0 } },
        safetyPhaseMs: 1_000,
        converged: (sim) => sim.up.length === 5 && sim.up.every((n) => n.seen.size > 0),
        livenessBudgetMs: 1_000,
      });
      expect(r.seed).toBe(seed);
      expect(r.schedule.length).toBeGreaterThan(0);
      expect(r.stats.deliveries).toBeGreaterThan(100);
    }
  });

  it("finds the two-leader bug, shrinks the schedule and prints how to replay it", () => {
    let failure: SimulationFailure | undefined;
    for (let seed = 1; seed < 20 && failure === undefined; seed++) {
      try {
        leaderRun(seed);
      } catch (e) {
        failure = e as SimulationFailure;
      }
    }
    expect(failure).toBeInstanceOf(SimulationFailure);
    const f = failure!;
    expect(f.message).toMatch(new RegExp(`^HECK_SEED=${f.seed}: invariant "at most one leader" violated`));
    // The replay command is this test file's own, not `pnpm test` (which would rerun every package).
    expect(f.message).toContain(`Replay exactly this run: HECK_SEED=${f.seed} pnpm vitest run packages/sim/test/simulation.test.ts\n`);
    // The shrunk schedule needs one cut (a partition or a very lossy network).
    const m = /shrunk from (\d+) to (\d+) steps/.exec(f.message);
    expect(m).not.toBeNull();
    expect(Number(m![2])).toBeLessThan(Number(m![1]));
    expect(Number(m![2])).toBeLessThanOrEqual(2);
    expect(f.message).not.toContain("NONDETERMINISM");
    if (process.env.HECK_SHOW_REPORT) console.log(f.message);
    // The same seed fails the same way again: the report is a replay recipe.
    expect(() => leaderRun(f.seed)).toThrow(f.message.split("\n")[0]!);
  });

  it("reports a liveness failure when the healed cluster does not converge", () => {
    expect(() => leaderRun(1, { invariants: [], converged: () => false, faultSchedule: () => [] })).toThrow(/HECK_SEED=1: liveness: not converged/);
  });

  it("flags nondeterminism when the same seed fails differently on replay", () => {
    let leak = 0; // state shared between runs: exactly the bug the check is for
    expect(() =>
      leaderRun(3, {
        faultSchedule: () => [],
        invariants: [{ name: "leaky", check: () => ++leak !== 3000 }],
      }),
    ).toThrow(/NONDETERMINISM/);
  });

  it("rejects bad options by name", () => {
    expect(() => leaderRun(1, { safetyPhaseMs: -1 })).toThrow(/safetyPhaseMs/);
  });
});

describe("ddmin", () => {
  it("finds a 1-minimal failing subset", () => {
    const fails = (xs: readonly number[]) => xs.includes(3) && xs.includes(7);
    expect(ddmin([1, 2, 3, 4, 5, 6, 7, 8, 9], fails)).toEqual([3, 7]);
    expect(ddmin([1, 2, 3], () => true)).toEqual([]);
  });
});
