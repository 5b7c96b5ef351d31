/**
 * The simulation experiment: every scenario on every store with one seed,
 * figures per run, and the scale analysis (capacity per N from the cost
 * model, then a Universal Scalability Law fit per store). Pure computation:
 * the same seed and settings give the same results, byte for byte.
 */
import { deepMedian } from "./analysis/aggregate.ts";
import { DEFAULT_COST_MODEL, figuresOf, type CostModel, type RunFigures } from "./analysis/metrics.ts";
import { round } from "./analysis/stats.ts";
import { fitUsl, type UslFit } from "./analysis/usl.ts";
import { DEFAULT_SIM_SETTINGS, runScenario, type SimSettings, type SimStoreKind } from "./sim/run.ts";
import { selectScenarios, type Scenario } from "./sim/scenarios.ts";

/** One point of the scale curve. */
export interface ScalePoint {
  n: number;
  /** Updates per second the workload made (it grows with N: more nodes, more origins). */
  offeredUpdatesPerSec: number;
  /** Capacity: updates/s at which the first node's modelled CPU reaches one core, messages batched (see scaleOf). */
  capacityUpdatesPerSec: number;
  /** Marginal modelled CPU µs per update (bytes, applies, calls) on the node that saturates first. */
  busiestCpuUsPerUpdate: number;
  /** That node's cost with no workload at all: µs per second (heartbeats, idle gossip). */
  busiestIdleCpuUsPerSec: number;
  messagesPerUpdate: number | null;
  bytesPerUpdate: number | null;
  visibilityP99Ms: number | null;
}

/** Scale results of one store. */
export interface ScaleResult {
  points: ScalePoint[];
  usl: UslFit | null;
}

/** The safety results of one seed's run: kept per seed, never averaged away. */
export interface SeedCheck {
  seed: number;
  /** checkKvHistory's verdict (null when not checked or undecided). */
  linearizable: boolean | null;
  /** Linearizable reads that returned an older version than an acknowledged write (raft: must be 0). */
  staleLinearizableReads: number;
  converged: boolean;
  divergentKeys: number;
  /** Confirmed writes never visible on some live node. */
  invisibleWrites: number;
  /** crdt after a heal: whether every write made before it became visible everywhere. */
  reconverged: boolean | null;
}

/** A scenario's figures on one store: medians over the seeds, plus each seed's safety checks. */
export type AggregatedRun = RunFigures & { seeds: number[]; checks: SeedCheck[] };

/** Everything simulation mode produces. */
export interface SimResults {
  seed: number;
  /** Seeds every non-scale scenario ran with (scale runs use the first). */
  seeds: number[];
  quick: boolean;
  settings: SimSettings;
  cost: CostModel;
  stores: SimStoreKind[];
  scenarios: Array<Pick<Scenario, "id" | "title" | "family" | "nodes" | "runMs" | "loss"> & { x: number | null; origins: number }>;
  runs: AggregatedRun[];
  scale: Record<string, ScaleResult>;
}

/** Options of a simulation experiment. */
export interface SimExperimentOptions {
  seed: number;
  /** How many seeds (seed, seed+1, ...) each non-scale scenario runs with. Default 1. */
  seedCount?: number;
  quick: boolean;
  stores?: SimStoreKind[];
  /** Only these scenario ids (default: all). */
  only?: string[];
  settings?: SimSettings;
  cost?: CostModel;
  /** Called after each run (progress). */
  onRun?: (store: SimStoreKind, scenario: Scenario, figures: AggregatedRun, wallMs: number) => void;
  /** Wall-clock source for progress only (never enters the results). */
  clock?: () => number;
}

// Which scenarios a run selects lives beside the scenarios themselves (sim/scenarios.ts), so the
// command line can check --only without loading the simulation.
export { selectScenarios, unknownScenarioNames } from "./sim/scenarios.ts";

/** Runs the simulation experiment. */
export function runSimExperiment(o: SimExperimentOptions): SimResults {
  const settings = o.settings ?? DEFAULT_SIM_SETTINGS;
  const cost = o.cost ?? DEFAULT_COST_MODEL;
  const stores = o.stores ?? ["raft", "crdt"];
  const scenarios = selectScenarios(o.quick, o.only);
  const count = Math.max(1, o.seedCount ?? 1);
  const seeds = Array.from({ length: count }, (_, i) => o.seed + i);
  const runs: AggregatedRun[] = [];
  for (const sc of scenarios) {
    for (const store of stores) {
      const t0 = o.clock?.() ?? 0;
      const perSeed: RunFigures[] = [];
      // Scale runs are long and their figures are intensive: one seed.
      for (const seed of sc.family === "scale" ? seeds.slice(0, 1) : seeds) {
        const raw = runScenario(store, sc, seed, settings);
        // Linearizability is checked where it means something: every raft run (its reads are ReadIndex reads), and crdt outside the scale runs.
        perSeed.push(figuresOf(raw, { timeoutMs: settings.workload.timeoutMs, probeEveryMs: settings.probeEveryMs, cost, checkLinearizability: sc.family !== "scale" }));
      }
      const agg: AggregatedRun = { ...deepMedian(perSeed), seeds: perSeed.map((f) => f.seed), checks: perSeed.map(checkOf) };
      runs.push(agg);
      o.onRun?.(store, sc, agg, (o.clock?.() ?? 0) - t0);
    }
  }
  const scale: Record<string, ScaleResult> = {};
  for (const store of stores) scale[store] = scaleOf(runs.filter((r) => r.store === store && r.family === "scale"), cost);
  return {
    seed: o.seed,
    seeds,
    quick: o.quick,
    settings,
    cost,
    stores,
    scenarios: scenarios.map((s) => ({ id: s.id, title: s.title, family: s.family, nodes: s.nodes, runMs: s.runMs, loss: s.loss, x: s.x ?? null, origins: s.nodes * s.originsPerNode })),
    runs,
    scale,
  };
}

/**
 * Capacity per N: the update rate at which the first node saturates one core
 * under the cost model, once messages batch. Both stores batch by design at
 * high load (raft-kv sends one append per Ready however many proposals it
 * holds; crdt-kv ships one delta per peer per round however many updates it
 * carries), so at saturation the per-message cost is spread over many
 * updates and what grows with the update rate is the bytes a node moves and
 * the records it applies. Per node, the slope of those between the 1x and 3x
 * loads is its marginal cost per update; its idle CPU (heartbeats, rounds,
 * messages included) is taken off the core first:
 *
 *   capacity = min over nodes of (1e6 µs - idle CPU) / (bytes/update x perByte + applies/update x perApply + calls/update x perOp).
 *
 * Messages per update at the offered load are reported beside it: they are
 * what the cluster costs at a realistic, unsaturated load.
 */
export function scaleOf(runs: readonly RunFigures[], cost: CostModel = DEFAULT_COST_MODEL): ScaleResult {
  const points: ScalePoint[] = [];
  const base = runs.filter((r) => /^scale-\d+$/.test(r.scenario)).sort((a, b) => a.nodes - b.nodes);
  for (const l of base) {
    const hi = runs.find((r) => r.scenario === `${l.scenario}-x3`);
    const idle = runs.find((r) => r.scenario === `${l.scenario}-idle`);
    const rate1 = l.traffic.updates / (l.traffic.windowMs / 1000);
    if (hi === undefined || rate1 <= 0) continue;
    const rate2 = hi.traffic.updates / (hi.traffic.windowMs / 1000);
    if (!(rate2 > rate1)) continue;
    let capacity = Infinity;
    let worstPer = 0;
    let worstIdle = 0;
    l.traffic.ratesByNode.forEach((r1, i) => {
      const r2 = hi.traffic.ratesByNode[i] ?? r1;
      const slope = (a: number, b: number): number => Math.max(0, (b - a) / (rate2 - rate1));
      const per = Math.max(1e-9, cost.perByteUs * slope(r1.bytes, r2.bytes) + cost.perApplyUs * slope(r1.applies, r2.applies) + cost.perOpUs * slope(r1.ops, r2.ops));
      const idleCpu = idle?.traffic.cpuUsPerSecByNode[i] ?? 0;
      const cap = (1e6 - idleCpu) / per;
      if (cap < capacity) {
        capacity = cap;
        worstPer = per;
        worstIdle = idleCpu;
      }
    });
    points.push({
      n: l.nodes,
      offeredUpdatesPerSec: round(rate1, 2),
      capacityUpdatesPerSec: round(capacity, 1),
      busiestCpuUsPerUpdate: round(worstPer, 2),
      busiestIdleCpuUsPerSec: round(worstIdle, 1),
      messagesPerUpdate: l.traffic.perUpdate.messages,
      bytesPerUpdate: l.traffic.perUpdate.bytes,
      visibilityP99Ms: l.visibilityMs.p99,
    });
  }
  let usl: UslFit | null = null;
  if (points.length >= 3) {
    const f = fitUsl(points.map((p) => ({ n: p.n, x: p.capacityUpdatesPerSec })));
    usl = { lambda: round(f.lambda, 1), sigma: round(f.sigma, 4), kappa: Number(f.kappa.toPrecision(4)), r2: round(f.r2, 4), peakN: f.peakN === null || f.peakN < 2 ? null : round(f.peakN, 1) };
  }
  return { points, usl };
}

function checkOf(f: RunFigures): SeedCheck {
  const stale = f.linearizableReads?.stale ?? 0;
  return {
    seed: f.seed,
    linearizable: f.linearizability?.linearizable ?? null,
    staleLinearizableReads: stale,
    converged: f.final.converged,
    divergentKeys: f.final.divergentKeys,
    invisibleWrites: f.visibilityMs.invisible,
    reconverged: f.heal === null ? null : f.heal.reconvergeMs !== null,
  };
}
