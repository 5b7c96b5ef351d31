/**
 * Fault schedules as data: a list of `{ atMs, fault }` steps that a seeded run
 * applies during its safety phase. Being plain values, schedules can be
 * printed in a failure report, and shrunk by deleting steps (delta debugging)
 * to find the few faults a bug really needs.
 *
 * The random generator draws from its own stream (fork "faults" of the run's
 * seed), so the same seed always yields the same schedule, and changing the
 * schedule never changes what the nodes or the network draw.
 */
import {
  describePartition,
  isolateOne,
  majorityMinority,
  randomBridge,
  randomOneWay,
  type PartitionSpec,
} from "./partitions.ts";
import type { NetworkFaultOptions } from "./sim-network.ts";
import type { NodeId, Prng } from "./types.ts";

/** One fault a schedule can inject. */
export type Fault =
  | { kind: "partition"; spec: PartitionSpec }
  | { kind: "heal" }
  | { kind: "crash"; node: NodeId }
  | { kind: "restart"; node: NodeId }
  /** Changes the random packet faults (drop, duplicate, reorder, spikes) from then on. */
  | { kind: "network"; faults: Partial<NetworkFaultOptions> };

/** A fault and the simulated time it happens at. */
export interface FaultStep {
  atMs: number;
  fault: Fault;
}

/** What a schedule generator is given. */
export interface FaultScheduleContext {
  /** The "faults" stream of the run's seed. */
  prng: Prng;
  nodeIds: readonly NodeId[];
  /** Faults happen in [0, safetyPhaseMs); the run heals afterwards. */
  safetyPhaseMs: number;
}

/** Produces a fault schedule for one seed. */
export type FaultScheduleGenerator = (ctx: FaultScheduleContext) => FaultStep[];

/** Knobs for {@link randomFaultSchedule}. */
export interface RandomFaultScheduleOptions {
  /** Mean gap between faults (exponential). Default safetyPhaseMs / 8: a handful of faults per run. */
  meanGapMs?: number;
  /** Most nodes down at once. Default floor((n - 1) / 2), so a majority can always make progress after heal. */
  maxDown?: number;
  /** Relative weights of the fault kinds; 0 disables one. Defaults: partition 3, heal 2, crash 2, restart 2, network 2. */
  weights?: Partial<Record<Fault["kind"], number>>;
  /** Upper bounds for random network faults. Defaults: drop 0.2, duplicate 0.1, reorder 0.2, spike 0.05. */
  maxRates?: Partial<Pick<NetworkFaultOptions, "dropRate" | "duplicateRate" | "reorderRate" | "spikeRate">>;
}

/**
 * A random schedule in the spirit of TigerBeetle's VOPR: faults arrive as a
 * Poisson process; partitions take every shape (isolate one, majority/minority,
 * one-way, bridge); crashed nodes come back later; packet fault rates change.
 */
export function randomFaultSchedule(ctx: FaultScheduleContext, options: RandomFaultScheduleOptions = {}): FaultStep[] {
  const { prng, nodeIds, safetyPhaseMs } = ctx;
  const n = nodeIds.length;
  const meanGapMs = options.meanGapMs ?? safetyPhaseMs / 8;
  const maxDown = options.maxDown ?? Math.floor((n - 1) / 2);
  const w = { partition: 3, heal: 2, crash: 2, restart: 2, network: 2, ...options.weights };
  const maxRates = { dropRate: 0.2, duplicateRate: 0.1, reorderRate: 0.2, spikeRate: 0.05, ...options.maxRates };
  const down = new Set<NodeId>();
  let partitioned = false;
  const steps: FaultStep[] = [];
  let t = 0;
  for (;;) {
    t += prng.exponential(meanGapMs);
    if (t >= safetyPhaseMs) break;
    const atMs = Math.round(t * 1000) / 1000;
    // Only offer the kinds that make sense now (restart needs a down node...).
    const options: Array<[Fault["kind"], number]> = [
      ["partition", n >= 2 ? w.partition : 0],
      ["heal", partitioned ? w.heal : 0],
      ["crash", down.size < maxDown ? w.crash : 0],
      ["restart", down.size > 0 ? w.restart : 0],
      ["network", w.network],
    ];
    const total = options.reduce((s, [, x]) => s + x, 0);
    if (total <= 0) continue;
    let r = prng.nextFloat() * total;
    let kind: Fault["kind"] = "network";
    for (const [k, x] of options) {
      if (r < x) {
        kind = k;
        break;
      }
      r -= x;
    }
    switch (kind) {
      case "partition": {
        const shape = prng.nextInt(0, 3);
        const spec =
          shape === 0 ? isolateOne(nodeIds, prng) : shape === 1 ? majorityMinority(nodeIds, prng) : shape === 2 ? randomOneWay(nodeIds, prng) : randomBridge(nodeIds, prng);
        steps.push({ atMs, fault: { kind: "partition", spec } });
        partitioned = true;
        break;
      }
      case "heal":
        steps.push({ atMs, fault: { kind: "heal" } });
        partitioned = false;
        break;
      case "crash": {
        const node = prng.pick(nodeIds.filter((id) => !down.has(id)));
        down.add(node);
        steps.push({ atMs, fault: { kind: "crash", node } });
        break;
      }
      case "restart": {
        const node = prng.pick([...down].sort());
        down.delete(node);
        steps.push({ atMs, fault: { kind: "restart", node } });
        break;
      }
      case "network": {
        // Quantised rates keep reports readable ("drop 0.15", not 0.1498...).
        const q = (max: number): number => Math.round(prng.nextFloat() * max * 100) / 100;
        steps.push({
          atMs,
          fault: {
            kind: "network",
            faults: { dropRate: q(maxRates.dropRate), duplicateRate: q(maxRates.duplicateRate), reorderRate: q(maxRates.reorderRate), spikeRate: q(maxRates.spikeRate) },
          },
        });
        break;
      }
    }
  }
  return steps;
}

/** One readable line per step, for failure reports. */
export function describeFaultStep(step: FaultStep): string {
  const t = `t=${step.atMs.toFixed(3)}`.padEnd(14);
  const f = step.fault;
  switch (f.kind) {
    case "partition":
      return `${t} partition ${describePartition(f.spec)}`;
    case "heal":
      return `${t} heal`;
    case "crash":
      return `${t} crash ${f.node}`;
    case "restart":
      return `${t} restart ${f.node}`;
    case "network":
      return `${t} network ${Object.entries(f.faults)
        .map(([k, v]) => `${k}=${v}`)
        .join(" ")}`;
  }
}
