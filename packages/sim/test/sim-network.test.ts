import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { createPrng, cutLinks, SimNetwork, type EndpointSink, type PartitionSpec } from "../src/index.ts";

const NODES = ["a", "b", "c", "d", "e"];

/** A network with five recording endpoints. */
function fiveNodes(seed: number, options: Partial<ConstructorParameters<typeof SimNetwork>[0]> = {}) {
  const net = new SimNetwork({ prng: createPrng(seed).fork("net"), ...options });
  const received: Array<{ to: string; from: string; payload: unknown; channel: string; t: number }> = [];
  const failed: Array<{ from: string; to: string; payload: unknown; t: number }> = [];
  const index = new Map<string, number>();
  for (const id of NODES) {
    const sink: EndpointSink = {
      deliver: (from, payload, channel) => received.push({ to: id, from: net.addressOf(from), payload, channel, t: net.nowMs() }),
      streamFailed: (to, payload) => failed.push({ from: id, to: net.addressOf(to), payload, t: net.nowMs() }),
    };
    index.set(id, net.attach(id, sink));
  }
  const send = (from: string, to: string, payload: unknown, channel: "packet" | "stream" = "packet") => net.send(index.get(from)!, index.get(to)!, payload, channel);
  return { net, received, failed, send };
}

const partitionSpec: fc.Arbitrary<PartitionSpec> = fc.oneof(
  fc.array(fc.subarray(NODES, { minLength: 1 }), { minLength: 1, maxLength: 3 }).map((groups) => {
    // Make groups disjoint: a node stays in the first group that lists it.
    const used = new Set<string>();
    const disjoint = groups.map((g) => g.filter((x) => !used.has(x) && (used.add(x), true))).filter((g) => g.length > 0);
    return { kind: "groups" as const, groups: disjoint };
  }),
  fc.tuple(fc.subarray(NODES, { minLength: 1 }), fc.subarray(NODES, { minLength: 1 })).map(([from, to]) => ({ kind: "one-way" as const, from, to })),
  fc.shuffledSubarray(NODES, { minLength: 3, maxLength: 5 }).map((xs) => ({
    kind: "bridge" as const,
    bridge: xs[0]!,
    left: xs.slice(1, 1 + Math.ceil((xs.length - 1) / 2)),
    right: xs.slice(1 + Math.ceil((xs.length - 1) / 2)),
  })),
);

describe("SimNetwork", () => {
  it("delivers every packet at most once when the duplicate fault is off", () => {
    fc.assert(
      fc.property(fc.integer(), fc.double({ min: 0, max: 0.5, noNaN: true }), fc.double({ min: 0, max: 0.5, noNaN: true }), (seed, dropRate, reorderRate) => {
        const { net, received, send } = fiveNodes(seed, { faults: { dropRate, reorderRate, spikeRate: 0.1 } });
        for (let i = 0; i < 200; i++) send(NODES[i % 5]!, NODES[(i * 3 + 1) % 5]!, i);
        net.runFor(10_000);
        const counts = new Map<unknown, number>();
        for (const r of received) counts.set(r.payload, (counts.get(r.payload) ?? 0) + 1);
        for (const c of counts.values()) expect(c).toBe(1);
        expect(net.stats.delivered + net.stats.dropped).toBe(200);
        expect(net.stats.duplicated).toBe(0);
      }),
      { numRuns: 50 },
    );
  });

  it("delivers a packet at most twice, and only as often as the duplicate fault fired", () => {
    fc.assert(
      fc.property(fc.integer(), fc.double({ min: 0, max: 1, noNaN: true }), (seed, duplicateRate) => {
        const { net, received, send } = fiveNodes(seed, { faults: { duplicateRate, dropRate: 0.1 } });
        for (let i = 0; i < 200; i++) send("a", NODES[1 + (i % 4)]!, i);
        net.runFor(10_000);
        const counts = new Map<unknown, number>();
        for (const r of received) counts.set(r.payload, (counts.get(r.payload) ?? 0) + 1);
        let extra = 0;
        for (const c of counts.values()) {
          expect(c).toBeLessThanOrEqual(2);
          extra += c - 1;
        }
        expect(extra).toBeLessThanOrEqual(net.stats.duplicated);
      }),
      { numRuns: 50 },
    );
  });

  it("blocks exactly the links a partition cuts, in every shape", () => {
    fc.assert(
      fc.property(fc.integer(), partitionSpec, (seed, spec) => {
        const { net, received, send } = fiveNodes(seed);
        net.applyPartition(spec);
        const cut = new Set(cutLinks(spec, NODES).map(([x, y]) => `${x}>${y}`));
        for (const x of NODES) for (const y of NODES) if (x !== y) send(x, y, `${x}>${y}`);
        net.runFor(1_000);
        const delivered = new Set(received.map((r) => r.payload));
        for (const x of NODES) {
          for (const y of NODES) {
            if (x === y) continue;
            const link = `${x}>${y}`;
            expect(delivered.has(link)).toBe(!cut.has(link));
            expect(net.isCut(x, y)).toBe(cut.has(link));
          }
        }
        // After heal every link works again.
        net.heal();
        received.length = 0;
        for (const x of NODES) for (const y of NODES) if (x !== y) send(x, y, `${x}>${y}`);
        net.runFor(1_000);
        expect(received.length).toBe(20);
      }),
      { numRuns: 100 },
    );
  });

  it("keeps a symmetric partition symmetric and a one-way cut one-way", () => {
    const { net, received, send } = fiveNodes(1);
    net.partition(["a", "b"]);
    net.cutOneWay(["c"], ["d"]);
    send("a", "c", "a>c");
    send("c", "a", "c>a");
    send("a", "b", "a>b");
    send("c", "d", "c>d");
    send("d", "c", "d>c");
    send("d", "e", "d>e");
    net.runFor(100);
    expect(received.map((r) => r.payload).sort()).toEqual(["a>b", "d>c", "d>e"]);
    expect(net.stats.droppedByPartition).toBe(3);
  });

  it("lets the bridge node talk to both halves while the halves cannot talk", () => {
    const { net, received, send } = fiveNodes(2);
    net.bridge(["a", "b"], "c", ["d", "e"]);
    for (const [x, y] of [["a", "c"], ["c", "e"], ["e", "c"], ["a", "d"], ["e", "b"], ["a", "b"]] as const) send(x, y, `${x}>${y}`);
    net.runFor(100);
    expect(received.map((r) => r.payload).sort()).toEqual(["a>b", "a>c", "c>e", "e>c"]);
  });

  it("draws latency as a floor plus an exponential tail", () => {
    const { net, received, send } = fiveNodes(3, { latency: { minMs: 5, meanTailMs: 2 } });
    for (let i = 0; i < 2000; i++) send("a", "b", i);
    net.runFor(1_000);
    const delays = received.map((r) => r.t);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(5);
    const mean = delays.reduce((s, x) => s + x, 0) / delays.length;
    expect(mean).toBeGreaterThan(6.7);
    expect(mean).toBeLessThan(7.3);
    // Independent latencies reorder packets on the same link.
    const order = received.map((r) => r.payload as number);
    expect(order.some((x, i) => i > 0 && x < order[i - 1]!)).toBe(true);
  });

  it("delivers stream messages in order per link, with latency and spikes", () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const { net, received, send } = fiveNodes(seed, { faults: { spikeRate: 0.2, dropRate: 0.5, duplicateRate: 0.5, reorderRate: 0.5 } });
        for (let i = 0; i < 100; i++) {
          send("a", "b", i, "stream");
          send("c", "b", 1000 + i, "stream");
          if (i % 10 === 0) net.runFor(1);
        }
        net.runFor(10_000);
        const fromA = received.filter((r) => r.from === "a").map((r) => r.payload);
        const fromC = received.filter((r) => r.from === "c").map((r) => r.payload);
        expect(fromA).toEqual([...Array(100).keys()]);
        expect(fromC).toEqual([...Array(100).keys()].map((i) => 1000 + i));
        expect(received.every((r) => r.channel === "stream")).toBe(true);
      }),
      { numRuns: 30 },
    );
  });

  it("breaks a stream on partition: in-flight messages fail back to the sender, later ones too", () => {
    const { net, received, failed, send } = fiveNodes(4, { latency: { minMs: 10, meanTailMs: 0 } });
    send("a", "b", 1, "stream");
    net.runFor(5);
    net.partition(["a"], ["b"]);
    send("a", "b", 2, "stream");
    net.runFor(5);
    net.heal();
    net.runFor(50);
    expect(received).toEqual([]);
    expect(failed.map((f) => f.payload)).toEqual([1, 2]);
    // A new message after the heal goes through.
    send("a", "b", 3, "stream");
    net.runFor(50);
    expect(received.map((r) => r.payload)).toEqual([3]);
  });

  it("loses messages to a crashed endpoint and fails its streams", () => {
    const { net, received, failed, send } = fiveNodes(5, { latency: { minMs: 10, meanTailMs: 0 } });
    send("a", "b", "p1");
    send("a", "b", "s1", "stream");
    net.detach("b");
    net.runFor(50);
    expect(received).toEqual([]);
    expect(failed.map((f) => f.payload)).toEqual(["s1"]);
    expect(net.stats.droppedByCrash).toBe(2);
  });

  it("replays identically from the same seed", () => {
    const run = (seed: number) => {
      const { net, received, send } = fiveNodes(seed, { faults: { dropRate: 0.2, duplicateRate: 0.2, reorderRate: 0.3, spikeRate: 0.1 } });
      for (let i = 0; i < 300; i++) send(NODES[i % 5]!, NODES[(i + 2) % 5]!, i, i % 3 === 0 ? "stream" : "packet");
      net.runFor(5_000);
      return received.map((r) => `${r.t}:${r.from}>${r.to}:${String(r.payload)}`);
    };
    expect(run(42)).toEqual(run(42));
    expect(run(42)).not.toEqual(run(43));
  });

  it("is a clock: timers fire in due order, ties in creation order, and can be cancelled", () => {
    const net = new SimNetwork({ prng: createPrng(1) });
    const fired: string[] = [];
    net.setTimer(10, () => fired.push("b"));
    net.setTimer(5, () => {
      fired.push("a");
      net.setTimer(5, () => fired.push("a2"));
    });
    const h = net.setTimer(7, () => fired.push("cancelled"));
    net.clearTimer(h);
    net.runFor(9);
    expect(fired).toEqual(["a"]);
    expect(net.nowMs()).toBe(9);
    net.runFor(1);
    expect(fired).toEqual(["a", "b", "a2"]);
  });

  it("rejects bad settings with the field's name", () => {
    expect(() => new SimNetwork({ prng: createPrng(1), faults: { dropRate: 2 } })).toThrow(/dropRate/);
    expect(() => new SimNetwork({ prng: createPrng(1), latency: { minMs: -1 } })).toThrow(/minMs/);
  });
});
