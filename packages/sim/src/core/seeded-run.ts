/**
 * One seed, one whole randomized test run: the VOPR loop.
 *
 * 1. Build the cluster from the seed (`nodeIds` may itself be drawn from it).
 * 2. Safety phase: apply a random fault schedule (fork "faults") while the
 *    workload (fork "workload") runs; every invariant is checked after every
 *    step.
 * 3. Liveness phase: heal every partition, restart every crashed node, reset
 *    packet faults to the configured baseline, and require `converged(sim)`
 *    within `livenessBudgetMs` of simulated time (invariants still checked).
 *
 * On failure the run is replayed with shrinking fault schedules (delta
 * debugging, Zeller & Hildebrandt 2002) to find a small schedule that still
 * fails the same way, replayed once more with tracing on, and reported in a
 * {@link SimulationFailure} whose message starts with `HECK_SEED=<n>`. The
 * final replay also checks determinism: if it does not fail at the same
 * simulated time as the first run, something in the protocol read a wall
 * clock or Math.random, and the report says so.
 */
import { describeFaultStep, formatFaultSchedule, randomFaultSchedule, type FaultScheduleGenerator, type FaultStep, type RandomFaultScheduleOptions } from "./fault-schedule.ts";
import { createPrng } from "./prng.ts";
import { replayHint } from "./replay-hint.ts";
import {
  Simulation,
  SimulationFailure,
  type FailureKind,
  type Invariant,
  type MessageCodec,
  type Departure,
  type NodeFactoryArgs,
  type SimulationDiskOptions,
  type SimulationNetworkOptions,
  type SimulationStats,
} from "./simulation.ts";
import { formatTraceEvent } from "./trace.ts";
import type { NodeId, Prng, SimProcess, TraceEvent } from "./types.ts";

/** Everything one seeded run needs. */
export interface SeededRunOptions<M, R, S, N extends SimProcess<M, R, S>> {
  seed: number;
  /** The cluster, or a function of the "cluster" stream to vary its size and names by seed. */
  nodeIds: readonly NodeId[] | ((prng: Prng) => NodeId[]);
  factory: (args: NodeFactoryArgs<R, S>) => N;
  /** Baseline network: latency and packet faults (restored for the liveness phase). */
  network?: SimulationNetworkOptions;
  codec?: MessageCodec<M>;
  sizeOf?: (message: M) => number;
  tickIntervalMs?: number;
  /** The nodes' simulated disks: sync latency and power-loss faults at crashes (see {@link SimulationDiskOptions}). */
  disk?: SimulationDiskOptions<R>;
  /** Checks every message as it leaves (see SimulationConfig.beforeSend). */
  beforeSend?: (departure: Departure<M, R, S, N>) => string | undefined | void;
  /** Checked after every step of both phases. */
  invariants: ReadonlyArray<Invariant<Simulation<M, R, S, N>>>;
  /** Schedules client operations with `sim.schedule` (its own "workload" stream). */
  workload?: (sim: Simulation<M, R, S, N>, prng: Prng) => void;
  /** Length of the faulty phase in simulated ms. */
  safetyPhaseMs: number;
  /** Fault schedule for this seed; default {@link randomFaultSchedule} with `faultOptions`. */
  faultSchedule?: FaultScheduleGenerator;
  faultOptions?: RandomFaultScheduleOptions;
  /** True once the healed cluster has recovered (one leader, all replicas equal, all members alive...). */
  converged: (sim: Simulation<M, R, S, N>) => boolean;
  /** Simulated ms the healed cluster gets to converge. */
  livenessBudgetMs: number;
  /** A state dump appended to failure reports (e.g. each node's term and log length). */
  describeState?: (sim: Simulation<M, R, S, N>) => string;
  /** Trace events shown in the report. Default 60. */
  traceTail?: number;
  /** Most re-runs spent shrinking the schedule. Default 64; 0 disables shrinking. */
  maxShrinkRuns?: number;
  /** Streams every trace event of the first run (e.g. to a JSONL file). */
  onTrace?: (event: TraceEvent) => void;
  /**
   * The command that opens this scenario in a viewer at the failure, given
   * the seed and the (shrunk) fault schedule in {@link formatFaultSchedule}'s
   * text; failure reports print it. It only shapes the message.
   */
  watchCommand?: (seed: number, faults: string) => string;
}

/** A seed's cluster and fault schedule, drawn exactly as {@link runSeeded} draws them. */
export interface SeededScenario {
  seed: number;
  nodeIds: NodeId[];
  schedule: FaultStep[];
}

/** What a passing run reports. */
export interface SeededRunResult {
  seed: number;
  nodeIds: NodeId[];
  schedule: FaultStep[];
  /** Simulated time at which `converged` first held. */
  convergedAtMs: number;
  stats: SimulationStats;
}

interface Outcome {
  failed: boolean;
  kind?: FailureKind;
  what?: string;
  detail?: string;
  atMs?: number;
  trace?: TraceEvent[];
  state?: string;
  stack?: string;
  convergedAtMs?: number;
  stats: SimulationStats;
}

/**
 * Runs one seed through the safety and liveness phases. Returns the run's
 * figures, or throws a {@link SimulationFailure} with the replay recipe.
 */
export function runSeeded<M, R, S, N extends SimProcess<M, R, S>>(options: SeededRunOptions<M, R, S, N>): SeededRunResult {
  validate(options);
  const { seed, nodeIds, schedule } = seededScenario(options);

  const first = runOnce(options, nodeIds, schedule, 0, options.onTrace);
  if (!first.failed) {
    return { seed, nodeIds, schedule, convergedAtMs: first.convergedAtMs!, stats: first.stats };
  }

  // Determinism check: the same seed and schedule must fail the same way at
  // the same simulated time. This replay also records the trace.
  const tail = options.traceTail ?? 60;
  const again = runOnce(options, nodeIds, schedule, Math.max(tail, 1), undefined);
  const deterministic = again.failed && again.kind === first.kind && again.what === first.what && again.atMs === first.atMs;

  // Shrink: the smallest sub-schedule that fails the same way (same kind and invariant).
  const sameFailure = (o: Outcome): boolean => o.failed && o.kind === first.kind && o.what === first.what;
  let runs = 0;
  const maxRuns = deterministic ? (options.maxShrinkRuns ?? 64) : 0;
  const minimal = ddmin(schedule, (candidate) => {
    if (runs >= maxRuns) return false;
    runs++;
    return sameFailure(runOnce(options, nodeIds, candidate, 0, undefined));
  });
  const replay = minimal === schedule ? again : runOnce(options, nodeIds, minimal, Math.max(tail, 1), undefined);
  const report = sameFailure(replay) ? replay : sameFailure(again) ? again : first;
  const shownSchedule = report === replay ? minimal : schedule;

  const lines: string[] = [];
  const what = report.kind === "invariant" ? `invariant "${report.what}" violated` : report.kind === "liveness" ? "liveness: not converged" : `exception (${report.what})`;
  lines.push(`HECK_SEED=${seed}: ${what} at t=${report.atMs!.toFixed(3)} ms: ${report.detail}`);
  lines.push(`Replay exactly this run: ${replayHint(seed)}`);
  if (options.watchCommand !== undefined) lines.push(`Watch it in the browser, opened at the failure: ${options.watchCommand(seed, formatFaultSchedule(shownSchedule))}`);
  lines.push(`Cluster: ${nodeIds.join(",")}; safety phase ${options.safetyPhaseMs} ms, liveness budget ${options.livenessBudgetMs} ms`);
  if (!deterministic) {
    lines.push(
      `NONDETERMINISM: the same seed and schedule failed at t=${first.atMs} (${first.what}) the first time but ` +
        `${again.failed ? `at t=${again.atMs} (${again.what})` : "passed"} on replay. ` +
        "Something read a wall clock, Math.random, or state shared between runs; fix that first (no shrinking was attempted).",
    );
  }
  if (shownSchedule === schedule) {
    lines.push(`Fault schedule (${schedule.length} steps${deterministic && runs < maxRuns && schedule.length > 0 ? ", no smaller schedule fails the same way" : ""}):`);
  } else {
    lines.push(`Fault schedule, shrunk from ${schedule.length} to ${shownSchedule.length} steps in ${runs} re-runs:`);
  }
  for (const s of shownSchedule) lines.push("  " + describeFaultStep(s));
  if (shownSchedule.length === 0) lines.push("  (none: fails without any scheduled fault)");
  if (report.trace !== undefined && report.trace.length > 0) {
    lines.push(`Last ${report.trace.length} trace events${report === replay && minimal !== schedule ? " of the shrunk run" : ""}:`);
    for (const e of report.trace) lines.push("  " + formatTraceEvent(e));
  }
  if (report.state !== undefined) lines.push("State at failure:", report.state);
  if (report.kind === "exception" && report.stack !== undefined) lines.push("Stack:", report.stack);
  throw new SimulationFailure(lines.join("\n"), seed, report.kind!, report.what!, report.atMs!, report.trace ?? [], report.detail!);
}

/** Draws a seed's cluster (stream "cluster") and fault schedule (stream "faults") as {@link runSeeded} does. */
export function seededScenario<M, R, S, N extends SimProcess<M, R, S>>(options: SeededRunOptions<M, R, S, N>): SeededScenario {
  const root = createPrng(options.seed);
  const nodeIds = typeof options.nodeIds === "function" ? options.nodeIds(root.fork("cluster")) : [...options.nodeIds];
  const generate = options.faultSchedule ?? ((ctx) => randomFaultSchedule(ctx, options.faultOptions));
  const schedule = generate({ prng: root.fork("faults"), nodeIds, safetyPhaseMs: options.safetyPhaseMs });
  return { seed: root.seed, nodeIds, schedule };
}

/**
 * The simulation one run of a seeded scenario uses, before its first step:
 * built from `o`, its workload started and `schedule`'s faults scheduled.
 * {@link runSeeded} runs it through the safety phase, then
 * {@link enterLivenessPhase}; a viewer steps the very same simulation.
 */
export function createSeededSimulation<M, R, S, N extends SimProcess<M, R, S>>(
  o: SeededRunOptions<M, R, S, N>,
  nodeIds: readonly NodeId[],
  schedule: readonly FaultStep[],
  traceLimit: number,
  onTrace: ((event: TraceEvent) => void) | undefined,
): Simulation<M, R, S, N> {
  return new Simulation<M, R, S, N>({
    seed: o.seed,
    nodeIds,
    factory: o.factory,
    ...(o.network !== undefined ? { network: o.network } : {}),
    ...(o.codec !== undefined ? { codec: o.codec } : {}),
    ...(o.sizeOf !== undefined ? { sizeOf: o.sizeOf } : {}),
    ...(o.tickIntervalMs !== undefined ? { tickIntervalMs: o.tickIntervalMs } : {}),
    ...(o.disk !== undefined ? { disk: o.disk } : {}),
    ...(o.beforeSend !== undefined ? { beforeSend: o.beforeSend } : {}),
    ...(onTrace !== undefined ? { onTrace } : {}),
    invariants: o.invariants,
    traceLimit,
  });
}

/** Starts the workload (its own "workload" stream) and schedules every fault of `schedule`. */
export function startSeededWorkload<M, R, S, N extends SimProcess<M, R, S>>(s: Simulation<M, R, S, N>, o: SeededRunOptions<M, R, S, N>, schedule: readonly FaultStep[]): void {
  o.workload?.(s, s.prng.fork("workload"));
  for (const step of schedule) {
    s.schedule(Math.max(step.atMs, 0), () => applyFault(s, step));
  }
}

/** The end of the safety phase: heal every partition, restart every crashed node, restore the baseline packet faults. */
export function enterLivenessPhase<M, R, S, N extends SimProcess<M, R, S>>(s: Simulation<M, R, S, N>, o: SeededRunOptions<M, R, S, N>): void {
  s.record({ t: s.nowMs, node: "runner", event: "liveness-phase" });
  s.heal();
  s.restartAll();
  s.network.setFaults({ dropRate: 0, duplicateRate: 0, reorderRate: 0, spikeRate: 0, ...o.network?.faults });
}

function validate<M, R, S, N extends SimProcess<M, R, S>>(o: SeededRunOptions<M, R, S, N>): void {
  if (o === undefined || typeof o !== "object") throw new TypeError("runSeeded: options are required");
  if (!Number.isFinite(o.seed)) throw new RangeError(`runSeeded: seed must be a finite number, got ${o.seed}`);
  if (!(o.safetyPhaseMs >= 0) || !Number.isFinite(o.safetyPhaseMs)) throw new RangeError(`runSeeded: safetyPhaseMs must be a finite number >= 0, got ${o.safetyPhaseMs}`);
  if (!(o.livenessBudgetMs >= 0) || !Number.isFinite(o.livenessBudgetMs)) throw new RangeError(`runSeeded: livenessBudgetMs must be a finite number >= 0, got ${o.livenessBudgetMs}`);
  if (typeof o.converged !== "function") throw new TypeError("runSeeded: converged must be a function");
  if (!Array.isArray(o.invariants)) throw new TypeError("runSeeded: invariants must be an array");
}

/** One deterministic run with a given schedule; never throws. */
function runOnce<M, R, S, N extends SimProcess<M, R, S>>(
  o: SeededRunOptions<M, R, S, N>,
  nodeIds: NodeId[],
  schedule: readonly FaultStep[],
  traceLimit: number,
  onTrace: ((event: TraceEvent) => void) | undefined,
): Outcome {
  let sim: Simulation<M, R, S, N> | undefined;
  try {
    sim = createSeededSimulation(o, nodeIds, schedule, traceLimit, onTrace);
    const s = sim;
    startSeededWorkload(s, o, schedule);
    s.runFor(o.safetyPhaseMs);
    // Liveness: heal everything and give the cluster its budget.
    enterLivenessPhase(s, o);
    const ok = s.runUntil(() => o.converged(s), o.livenessBudgetMs);
    if (!ok) {
      return {
        failed: true,
        kind: "liveness",
        what: "converged",
        detail: `not converged ${o.livenessBudgetMs} ms after heal`,
        atMs: s.nowMs,
        trace: s.trace,
        ...(o.describeState !== undefined ? { state: safeDescribe(o.describeState, s) } : {}),
        stats: s.stats,
      };
    }
    return { failed: false, convergedAtMs: s.nowMs, stats: s.stats };
  } catch (e) {
    const f = e instanceof SimulationFailure ? e : undefined;
    return {
      failed: true,
      kind: f?.kind ?? "exception",
      what: f?.what ?? (e instanceof Error ? e.name : "error"),
      detail: f?.detail ?? String(e),
      atMs: f?.atMs ?? sim?.nowMs ?? 0,
      trace: sim?.trace ?? f?.trace ?? [],
      ...(sim !== undefined && o.describeState !== undefined ? { state: safeDescribe(o.describeState, sim) } : {}),
      ...(f?.kind === "exception" && f.stack !== undefined ? { stack: stackOf(f) } : {}),
      stats: sim?.stats ?? emptyStats(),
    };
  }
}

function stackOf(f: SimulationFailure): string {
  const i = f.message.indexOf("Stack:\n");
  return i >= 0 ? f.message.slice(i + 7) : (f.stack ?? "");
}

function safeDescribe<S>(describe: (sim: S) => string, sim: S): string {
  try {
    return describe(sim);
  } catch (e) {
    return `(describeState threw: ${String(e)})`;
  }
}

function emptyStats(): SimulationStats {
  return {
    sent: 0,
    delivered: 0,
    dropped: 0,
    droppedByPartition: 0,
    droppedByCrash: 0,
    duplicated: 0,
    reordered: 0,
    spiked: 0,
    streamFailures: 0,
    bytesDelivered: 0,
    steps: 0,
    ticks: 0,
    deliveries: 0,
    drops: 0,
    duplicates: 0,
    bytes: 0,
    crashes: 0,
    restarts: 0,
    recordsPersisted: 0,
    snapshotsPersisted: 0,
    syncs: 0,
    recordsLost: 0,
    recordsTorn: 0,
  };
}

/** Applies one scheduled fault to a running simulation. */
export function applyFault<M, R, S, N extends SimProcess<M, R, S>>(sim: Simulation<M, R, S, N>, step: FaultStep): void {
  const f = step.fault;
  switch (f.kind) {
    case "partition":
      sim.applyPartition(f.spec);
      return;
    case "heal":
      sim.heal();
      return;
    case "crash":
      sim.crash(f.node);
      return;
    case "restart":
      sim.restart(f.node);
      return;
    case "network":
      sim.setFaults(f.faults);
      return;
  }
}

/**
 * Delta debugging (ddmin): a 1-minimal sub-list of `items` for which
 * `fails` still holds, assuming `fails(items)`. Tries the empty list first,
 * then removes ever smaller chunks. Order is kept.
 */
export function ddmin<T>(items: readonly T[], fails: (candidate: readonly T[]) => boolean): readonly T[] {
  if (items.length === 0) return items;
  if (fails([])) return [];
  let current: readonly T[] = items;
  let n = 2;
  while (current.length >= 2) {
    const chunk = Math.ceil(current.length / n);
    let reduced = false;
    for (let start = 0; start < current.length; start += chunk) {
      const complement = [...current.slice(0, start), ...current.slice(start + chunk)];
      if (complement.length < current.length && fails(complement)) {
        current = complement;
        n = Math.max(n - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (n >= current.length) break;
      n = Math.min(current.length, n * 2);
    }
  }
  return current;
}
