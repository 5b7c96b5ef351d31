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

/**
 * A schedule as one line of text, steps separated by `;`, each its simulated
 * time then the fault: `1200 crash n2; 1800 partition n1,n2|n3; 2100 heal;
 * 2500 one-way n1>n2,n3; 2700 bridge n1,n2<n3>n4,n5; 3000 restart n2;
 * 3100 network dropRate=0.1,spikeRate=0.02`. Times are exact (JavaScript's
 * shortest round-trip form), so a run replayed from the text is the same run.
 * It is the form a failure report prints for a viewer to replay.
 */
export function formatFaultSchedule(steps: readonly FaultStep[]): string {
  return steps.map(formatFaultStep).join("; ");
}

function formatFaultStep(step: FaultStep): string {
  const f = step.fault;
  const t = String(step.atMs);
  switch (f.kind) {
    case "crash":
    case "restart":
      return `${t} ${f.kind} ${f.node}`;
    case "heal":
      return `${t} heal`;
    case "network":
      return `${t} network ${Object.entries(f.faults)
        .map(([k, v]) => `${k}=${v}`)
        .join(",")}`;
    case "partition": {
      const s = f.spec;
      switch (s.kind) {
        case "groups":
          return `${t} partition ${s.groups.map((g) => g.join(",")).join("|")}`;
        case "one-way":
          return `${t} one-way ${s.from.join(",")}>${s.to.join(",")}`;
        case "bridge":
          return `${t} bridge ${s.left.join(",")}<${s.bridge}>${s.right.join(",")}`;
      }
    }
  }
}

/** The result of {@link parseFaultSchedule}: the steps in time order, or the first problem in words. */
export type ParseFaultScheduleResult = { ok: true; steps: FaultStep[] } | { ok: false; error: string };

const NETWORK_KEYS: ReadonlyArray<keyof NetworkFaultOptions> = ["dropRate", "duplicateRate", "reorderRate", "reorderWindowMs", "spikeRate", "spikeMs"];
const NODE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Parses {@link formatFaultSchedule}'s text. With `nodeIds`, only those nodes
 * may be named. Never throws: a bad step is reported by number and text.
 */
export function parseFaultSchedule(text: string, nodeIds?: readonly NodeId[]): ParseFaultScheduleResult {
  const steps: FaultStep[] = [];
  const parts = text.split(";").map((p) => p.trim()).filter((p) => p.length > 0);
  let last = 0;
  for (let i = 0; i < parts.length; i++) {
    const step = parseFaultStep(parts[i]!, nodeIds);
    const where = `fault ${i + 1} ("${parts[i]!.length > 60 ? parts[i]!.slice(0, 59) + "…" : parts[i]!}")`;
    if (typeof step === "string") return { ok: false, error: `${where}: ${step}` };
    if (step.atMs < last) return { ok: false, error: `${where}: time ${step.atMs} ms is before the previous fault's ${last} ms` };
    last = step.atMs;
    steps.push(step);
  }
  return { ok: true, steps };
}

function parseFaultStep(text: string, nodeIds: readonly NodeId[] | undefined): FaultStep | string {
  const [time, kind, arg, ...extra] = text.split(/\s+/);
  if (time === undefined || !/^\d+(\.\d+)?(e[+-]?\d+)?$/.test(time)) return "expected a simulated time in ms first (e.g. `1200 crash n1`)";
  const atMs = Number(time);
  if (!Number.isFinite(atMs) || atMs > 1e12) return `time ${time} is out of range`;
  if (extra.length > 0) return "too many words";
  const list = (s: string): NodeId[] | string => {
    const names = s.split(",");
    for (const n of names) {
      if (!NODE_NAME.test(n)) return `expected node names separated by commas, got ${JSON.stringify(s)}`;
      if (nodeIds !== undefined && !nodeIds.includes(n)) return `unknown node ${JSON.stringify(n)} (nodes are ${nodeIds.join(", ")})`;
    }
    return names;
  };
  switch (kind) {
    case "crash":
    case "restart": {
      if (arg === undefined) return `${kind} takes one node`;
      const nodes = list(arg);
      if (typeof nodes === "string") return nodes;
      if (nodes.length !== 1) return `${kind} takes one node`;
      return { atMs, fault: { kind, node: nodes[0]! } };
    }
    case "heal":
      return arg === undefined ? { atMs, fault: { kind } } : "heal takes nothing";
    case "partition": {
      const groups = (arg ?? "").split("|").map(list);
      const bad = groups.find((g): g is string => typeof g === "string");
      if (arg === undefined || bad !== undefined) return bad ?? "partition takes groups like n1,n2|n3";
      const seen = new Set<NodeId>();
      for (const n of (groups as NodeId[][]).flat()) {
        if (seen.has(n)) return `node ${n} is in two groups`;
        seen.add(n);
      }
      return { atMs, fault: { kind: "partition", spec: { kind: "groups", groups: groups as NodeId[][] } } };
    }
    case "one-way": {
      const m = /^([^>]+)>([^>]+)$/.exec(arg ?? "");
      if (m === null) return "one-way takes from>to, like n1>n2,n3";
      const from = list(m[1]!);
      const to = list(m[2]!);
      if (typeof from === "string") return from;
      if (typeof to === "string") return to;
      return { atMs, fault: { kind: "partition", spec: { kind: "one-way", from, to } } };
    }
    case "bridge": {
      const m = /^([^<>]+)<([^<>]+)>([^<>]+)$/.exec(arg ?? "");
      if (m === null) return "bridge takes left<bridge>right, like n1,n2<n3>n4,n5";
      const left = list(m[1]!);
      const bridge = list(m[2]!);
      const right = list(m[3]!);
      for (const x of [left, bridge, right]) if (typeof x === "string") return x;
      if ((bridge as NodeId[]).length !== 1) return "a bridge is one node";
      return { atMs, fault: { kind: "partition", spec: { kind: "bridge", left: left as NodeId[], bridge: (bridge as NodeId[])[0]!, right: right as NodeId[] } } };
    }
    case "network": {
      const faults: Partial<NetworkFaultOptions> = {};
      for (const pair of (arg ?? "").split(",").filter((p) => p.length > 0)) {
        const [k, v] = pair.split("=");
        if (k === undefined || !(NETWORK_KEYS as readonly string[]).includes(k)) return `unknown network setting ${JSON.stringify(k ?? "")} (${NETWORK_KEYS.join(", ")})`;
        const x = Number(v);
        if (v === undefined || v.trim() === "" || !Number.isFinite(x) || x < 0 || (k.endsWith("Rate") && x > 1)) return `${k} must be a number${k.endsWith("Rate") ? " from 0 to 1" : " >= 0"}, got ${JSON.stringify(v ?? "")}`;
        faults[k as keyof NetworkFaultOptions] = x;
      }
      return { atMs, fault: { kind: "network", faults } };
    }
    default:
      return `unknown fault ${JSON.stringify(kind ?? "")} (crash, restart, heal, partition, one-way, bridge, network)`;
  }
}
