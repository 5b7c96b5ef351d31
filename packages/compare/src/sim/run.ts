/**
 * Runs one scenario on one store in simulation and returns the raw record of
 * the run: every client operation, traffic counters per node at the window
 * edges, visibility, re-convergence after a heal, downtime probes, joiners'
 * catch-up, and whether every node ended with the same data.
 *
 * Both stores run on the same `@heck/sim` Simulation with the same network
 * model (latency, loss, partitions) and the same seeded workload; only the
 * factory differs. Faults are applied at the same simulated times.
 */
import { Simulation, type Invariant, type SimProcess, type TraceEvent } from "@heck/sim";
import type { ConfChange } from "@heck/raft-kv";
import { CrdtStoreNode, crdtStoreFactory } from "./crdt-store.ts";
import { hybridStoreFactory, type HybridStoreNode } from "./hybrid-store.ts";
import { Meter, type NodeCounters } from "./meter.ts";
import { RaftStoreNode, raftStoreFactory } from "./raft-store.ts";
import { compareVersion, type HealthRecord } from "./records.ts";
import type { Fault, Scenario } from "./scenarios.ts";
import { Workload, type ClusterView, type OpLog, type StoreNodeApi, type WorkloadOptions } from "./workload.ts";

/**
 * The stores simulation mode can run: raft-kv for everything, crdt-kv for
 * everything, or both side by side (raft-kv for the origin list, crdt-kv for
 * the records: the coordination-cost ladder's middle rung).
 */
export type SimStoreKind = "raft" | "crdt" | "hybrid";

/** Store and network settings shared by every run (documented defaults in {@link DEFAULT_SIM_SETTINGS}). */
export interface SimSettings {
  raft: { tickMs: number; electionTick: number; heartbeatTick: number; compactEvery: number };
  crdt: { syncIntervalMs: number; fanout: number };
  /** One-way latency: a floor plus an exponential tail (the sim's model). */
  latency: { minMs: number; meanTailMs: number };
  /** Extra delay of a stream message hit by loss (a TCP retransmission timeout). */
  retransmitMs: number;
  workload: Omit<WorkloadOptions, "origins" | "startMs" | "stopMs" | "linearizableReads">;
  /** When the workload starts (raft has elected and moved leadership to n1 by then). */
  startMs: number;
  /** After the workload stops: how long to wait for every write to be visible everywhere. */
  quiesceBudgetMs: number;
  /** Probe writes' period in crash scenarios. */
  probeEveryMs: number;
}

/**
 * Defaults: each store with its own package's defaults, on a LAN-like
 * network, with v2's check interval.
 */
export const DEFAULT_SIM_SETTINGS: SimSettings = {
  // raft-kv's server defaults: 50 ms ticks, elections after 10-19 ticks, heartbeats every tick.
  raft: { tickMs: 50, electionTick: 10, heartbeatTick: 1, compactEvery: 2_000 },
  // v2's crdt store settings (apps/v2/src/io/store/crdt-store.ts): a round every 200 ms to 3 random
  // peers (crdt-kv's own default is 1000 ms, Enes et al.'s setting).
  crdt: { syncIntervalMs: 200, fanout: 3 },
  // 1 ms floor + 1 ms mean tail: a busy LAN.
  latency: { minMs: 1, meanTailMs: 1 },
  // Linux's minimum TCP retransmission timeout is 200 ms.
  retransmitMs: 200,
  workload: {
    checkIntervalMs: 1_000,
    refreshEveryChecks: 5,
    flipProbability: 0.02,
    readIntervalMs: 250,
    timeoutMs: 1_000,
    detectionDelayMs: 1_500,
  },
  startMs: 3_000,
  quiesceBudgetMs: 20_000,
  probeEveryMs: 25,
};

/** Everything a run produced, before any statistics. */
export interface RawRun {
  store: SimStoreKind;
  scenario: Scenario;
  seed: number;
  nodeIds: string[];
  /** Absolute sim time the workload started and stopped. */
  startMs: number;
  stopMs: number;
  log: OpLog;
  /** Counters per node at start and stop of the workload. */
  countersAtStart: NodeCounters[];
  countersAtStop: NodeCounters[];
  /** Visibility of confirmed writes made while the workload ran. */
  visibility: { samples: number[]; invisible: number };
  /** Absolute time of the heal, and how long/how many bytes until every write made before it was visible everywhere. */
  heal: { atMs: number; reconvergeMs: number | null; bytes: number; messages: number } | null;
  /** Crash: absolute time, the crashed node, when a leader was ready again (raft). */
  crash: { atMs: number; node: string; leaderReadyMs: number | null; wasLeader: boolean } | null;
  catchUps: Array<{ node: string; startMs: number; ms: number | null }>;
  /** After the quiesce phase: whether every confirmed write was visible everywhere, and keys on which live members still disagree. */
  final: { converged: boolean; pendingWrites: number; divergentKeys: number; quiesceMs: number };
  events: Array<{ t: number; node: string; event: string; detail?: string }>;
  /** Wall-clock of the run is not recorded here (nondeterministic); the caller may. */
  network: { delivered: number; dropped: number; spiked: number };
}

type AnyNode = SimProcess<unknown, unknown, unknown> & StoreNodeApi;

/** A store node of any kind, as a viewer reads it. */
export type ScenarioNode = AnyNode;

/** Runs `scenario` on `store` with `seed`. Deterministic: the same arguments give the same RawRun. */
export function runScenario(store: SimStoreKind, scenario: Scenario, seed: number, settings: SimSettings = DEFAULT_SIM_SETTINGS): RawRun {
  return startScenario(store, scenario, seed, settings).finish();
}

/** What a viewer adds to a scenario's simulation: where its trace goes, and checks after every step. */
export interface ScenarioWatch {
  onTrace?: (event: TraceEvent) => void;
  invariants?: ReadonlyArray<Invariant<Simulation<unknown, unknown, unknown, ScenarioNode>>>;
}

/** A scenario set up on its store: the simulation (raft warmed up, the workload and faults scheduled), and the rest of the run. */
export interface StartedScenario {
  sim: Simulation<unknown, unknown, unknown, ScenarioNode>;
  nodeIds: string[];
  /** The workload's first and last simulated ms. */
  startMs: number;
  stopMs: number;
  /** Runs the scenario to its end (workload, quiesce) and returns its record. Call once. */
  finish(): RawRun;
}

/**
 * Sets `scenario` up on `store` with `seed` exactly as {@link runScenario}
 * runs it, up to the workload's start (raft's warm-up already run), so a
 * viewer can step the same run; `watch` streams its trace and adds checks,
 * which change nothing else.
 */
export function startScenario(store: SimStoreKind, scenario: Scenario, seed: number, settings: SimSettings = DEFAULT_SIM_SETTINGS, watch: ScenarioWatch = {}): StartedScenario {
  const founders = Array.from({ length: scenario.nodes }, (_, i) => `n${i + 1}`);
  const nodeIds = [...founders, ...Array.from({ length: scenario.spares }, (_, i) => `n${scenario.nodes + 1 + i}`)];
  const meter = new Meter(nodeIds);
  const members = new Set(founders);
  for (const id of founders) meter.setLive(id, true, 0);
  let viewOf: (id: string) => readonly string[] = () => [...members];
  let leaderReadyAfter: { afterMs: number; atMs: number | null } | null = null;

  const network = {
    latency: settings.latency,
    faults: scenario.loss > 0 ? { dropRate: scenario.loss, spikeRate: scenario.loss, spikeMs: settings.retransmitMs } : {},
  };
  let sim: Simulation<unknown, unknown, unknown, AnyNode>;
  const watched = { ...(watch.onTrace !== undefined ? { onTrace: watch.onTrace } : {}), ...(watch.invariants !== undefined ? { invariants: watch.invariants as never } : {}) };
  // Raft runs (and the raft part of a hybrid) move leadership to n1 before the workload, and change membership by conf changes.
  const hasRaft = store === "raft" || store === "hybrid";
  if (store === "hybrid") {
    const factory = hybridStoreFactory({ founders, meter, ...settings.raft }, (id) => ({ meter, members: () => viewOf(id), ...settings.crdt }));
    sim = new Simulation({ seed, nodeIds, factory, network, traceLimit: 0, ...watched }) as unknown as Simulation<unknown, unknown, unknown, AnyNode>;
  } else if (store === "raft") {
    const factory = raftStoreFactory({
      founders,
      meter,
      ...settings.raft,
      onLeaderReady: (now) => {
        if (leaderReadyAfter !== null && leaderReadyAfter.atMs === null && now >= leaderReadyAfter.afterMs) leaderReadyAfter.atMs = now;
      },
    });
    sim = new Simulation({ seed, nodeIds, factory, network, traceLimit: 0, ...watched }) as unknown as Simulation<unknown, unknown, unknown, AnyNode>;
  } else {
    // Each replica gossips with the members its failure detector currently shows it (see Workload views).
    const factory = (args: Parameters<ReturnType<typeof crdtStoreFactory>>[0]): CrdtStoreNode =>
      crdtStoreFactory({ meter, members: () => viewOf(args.id), ...settings.crdt })(args);
    sim = new Simulation({ seed, nodeIds, factory, network, traceLimit: 0, ...watched }) as unknown as Simulation<unknown, unknown, unknown, AnyNode>;
  }

  const cluster: ClusterView = {
    members: () => [...members],
    isUp: (id) => sim.isUp(id),
    linked: (a, b) => !sim.network.isCut(a, b),
  };
  const startMs = settings.startMs;
  const stopMs = startMs + scenario.runMs;
  const origins = scenario.originsPerNode * scenario.nodes;
  const workload = new Workload(
    sim,
    cluster,
    meter,
    { ...settings.workload, origins, startMs, stopMs, linearizableReads: scenario.linearizableReads && store === "raft" },
    seed,
  );
  viewOf = (id) => workload.viewMembers(id) ?? [...members];

  if (hasRaft) warmUpRaft(sim as unknown as Simulation<unknown, unknown, unknown, RaftStoreNode>, startMs - 200);
  else sim.runFor(Math.max(0, startMs - 200 - sim.nowMs));
  if (!scenario.idle) workload.start();
  else workload.recomputeViews();

  // Faults.
  const state: { heal: RawRun["heal"]; crash: RawRun["crash"]; countersAtHeal: NodeCounters[] } = { heal: null, crash: null, countersAtHeal: [] };
  for (const f of scenario.faults) {
    sim.schedule(startMs + f.atMs, (s) => {
      applyFault(f);
      meter.event(s.nowMs, "runner", f.kind, describeFault(f));
    });
  }

  function raftLeader(): RaftStoreNode | undefined {
    let best: RaftStoreNode | undefined;
    for (const n of sim.up as unknown as RaftStoreNode[]) if (n.raft.role === "leader" && (best === undefined || n.raft.term > best.raft.term)) best = n;
    return best;
  }

  /** Proposes a membership change through whoever leads, retrying until accepted (or 20 s pass). */
  function proposeConf(change: ConfChange, then: () => void, deadlineMs = sim.nowMs + 20_000): void {
    const leader = raftLeader();
    const r = leader?.raft.proposeConfChange(change);
    if (r !== undefined && r.ok) {
      const index = r.value.index;
      const waitApplied = (): void => {
        const l = raftLeader();
        if (l !== undefined && l.raft.status().applied >= index) return then();
        if (sim.nowMs < deadlineMs) sim.schedule(sim.nowMs + 50, waitApplied);
      };
      sim.schedule(sim.nowMs + 10, waitApplied);
      return;
    }
    if (sim.nowMs < deadlineMs) sim.schedule(sim.nowMs + 100, () => proposeConf(change, then, deadlineMs));
  }

  function applyFault(f: Fault): void {
    const now = sim.nowMs;
    switch (f.kind) {
      case "crash": {
        const wasLeader = hasRaft && raftLeader()?.id === f.node;
        state.crash = { atMs: now, node: f.node, leaderReadyMs: null, wasLeader };
        if (wasLeader) leaderReadyAfter = { afterMs: now, atMs: null };
        sim.crash(f.node);
        meter.setLive(f.node, false, now);
        workload.topologyChanged(now);
        break;
      }
      case "restart":
        sim.restart(f.node);
        meter.setLive(f.node, true, now);
        workload.topologyChanged(now);
        break;
      case "partition":
        sim.partition(...f.groups);
        workload.topologyChanged(now);
        break;
      case "bridge":
        sim.bridge(f.left, f.bridge, f.right);
        workload.topologyChanged(now);
        break;
      case "heal":
        sim.heal();
        state.heal = { atMs: now, reconvergeMs: null, bytes: 0, messages: 0 };
        state.countersAtHeal = meter.snapshot();
        workload.topologyChanged(now);
        pollReconverge(now);
        break;
      case "leave": {
        // A graceful leave is announced: views change at once.
        members.delete(f.node);
        meter.setLive(f.node, false, now);
        workload.recomputeViews();
        if (store === "crdt") {
          (sim.tryNode(f.node) as unknown as CrdtStoreNode | undefined)?.syncNow();
          sim.schedule(now + 5, (s) => s.crash(f.node));
        } else {
          if (store === "hybrid") (sim.tryNode(f.node) as unknown as HybridStoreNode | undefined)?.syncNow();
          proposeConf({ type: "removeVoter", nodeId: f.node }, () => sim.crash(f.node));
        }
        break;
      }
      case "join":
        members.add(f.node);
        meter.setLive(f.node, true, now);
        meter.startCatchUp(f.node, now);
        workload.recomputeViews();
        if (hasRaft) {
          proposeConf({ type: "addLearner", nodeId: f.node }, () => promote(f.node, sim.nowMs + 20_000));
        }
        break;
    }
  }

  /** Promotes a learner once the leader says it has caught up (§4.2.1), retrying. */
  function promote(id: string, deadlineMs: number): void {
    const leader = raftLeader();
    const r = leader?.raft.proposeConfChange({ type: "promoteLearner", nodeId: id });
    if (r !== undefined && r.ok) {
      meter.event(sim.nowMs, id, "promoted");
      return;
    }
    if (sim.nowMs < deadlineMs) sim.schedule(sim.nowMs + 100, () => promote(id, deadlineMs));
  }

  function pollReconverge(healMs: number): void {
    const check = (): void => {
      const heal = state.heal;
      if (heal === null || heal.reconvergeMs !== null) return;
      if (meter.pendingWrites(healMs) === 0) {
        heal.reconvergeMs = sim.nowMs - healMs;
        const now = meter.snapshot();
        heal.bytes = sumOver(now, (c) => c.bytesOut) - sumOver(state.countersAtHeal, (c) => c.bytesOut);
        heal.messages = sumOver(now, (c) => c.msgsOut) - sumOver(state.countersAtHeal, (c) => c.msgsOut);
        return;
      }
      if (sim.nowMs < healMs + 60_000) sim.schedule(sim.nowMs + 10, check);
    };
    sim.schedule(healMs, check);
  }

  // Probe writes around a crash: one per node every probeEveryMs.
  if (scenario.probes !== undefined && !scenario.idle) {
    for (const id of founders) {
      const tick = (at: number): void => {
        const next = at + settings.probeEveryMs;
        if (next < startMs + scenario.probes!.toMs) sim.schedule(next, () => tick(next));
        const node = sim.tryNode(id);
        if (node === undefined || !members.has(id)) return;
        const record: HealthRecord = { id: `probe-${id}`, status: "healthy", observer: id, checkedAtMs: at, sinceMs: startMs, hlcMs: at, latencyMs: 0 };
        workload.write(node, `probe/${id}`, record, true);
      };
      sim.schedule(startMs + scenario.probes.fromMs, () => tick(startMs + scenario.probes!.fromMs));
    }
  }

  const finish = (): RawRun => {
    sim.runFor(startMs - sim.nowMs);
    const countersAtStart = meter.snapshot();
    sim.runFor(stopMs - sim.nowMs);
    const countersAtStop = meter.snapshot();
    // Quiesce: no new writes; every confirmed write should now reach every live member.
    const quiesceFrom = sim.nowMs;
    // Also wait for outstanding writes to learn their outcome, so the history holds as few unknowns as possible.
    const settled = (): boolean => meter.pendingWrites() === 0 && workload.log.writes.every((w) => w.ok !== null || sim.nowMs - w.invokeMs > settings.workload.timeoutMs);
    sim.runUntil(settled, settings.quiesceBudgetMs);
    const converged = meter.pendingWrites() === 0;
    const quiesceMs = sim.nowMs - quiesceFrom;
    const ready = leaderReadyAfter as { atMs: number | null } | null;
    if (state.crash !== null && ready !== null) state.crash.leaderReadyMs = ready.atMs;

    return {
      store,
      scenario,
      seed,
      nodeIds,
      startMs,
      stopMs,
      log: workload.log,
      countersAtStart,
      countersAtStop,
      visibility: meter.visibility(startMs, stopMs),
      heal: state.heal,
      crash: state.crash,
      catchUps: meter.catchUpResults(),
      final: { converged, pendingWrites: meter.pendingWrites(), divergentKeys: divergentKeys(sim, [...members], origins), quiesceMs },
      events: meter.events,
      network: { delivered: sim.stats.delivered, dropped: sim.stats.dropped, spiked: sim.stats.spiked },
    };
  };
  return { sim, nodeIds, startMs, stopMs, finish };
}

/**
 * Elects a leader and moves leadership to n1 (§3.10, TimeoutNow), so that
 * "the leader" is the same node in every raft run.
 */
function warmUpRaft(sim: Simulation<unknown, unknown, unknown, RaftStoreNode>, untilMs: number): void {
  const leader = (): RaftStoreNode | undefined => sim.up.find((n) => n.raft.role === "leader");
  sim.runUntil(() => leader() !== undefined, Math.max(0, untilMs - sim.nowMs - 500));
  const l = leader();
  if (l !== undefined && l.id !== "n1") {
    l.raft.transferLeadership("n1");
    sim.runUntil(() => leader()?.id === "n1", Math.max(0, untilMs - sim.nowMs));
  }
  if (sim.nowMs < untilMs) sim.runFor(untilMs - sim.nowMs);
}

function divergentKeys(sim: Simulation<unknown, unknown, unknown, AnyNode>, members: string[], origins: number): number {
  const live = members.map((m) => sim.tryNode(m)).filter((n): n is AnyNode => n !== undefined);
  let n = 0;
  for (let o = 0; o < origins; o++) {
    const key = `health/o${o}`;
    const first = live[0]?.readLocal(key);
    for (const node of live) {
      const r = node.readLocal(key);
      if ((r === undefined) !== (first === undefined) || (r !== undefined && first !== undefined && compareVersion(r, first) !== 0)) {
        n++;
        break;
      }
    }
  }
  return n;
}

function sumOver(cs: readonly NodeCounters[], f: (c: NodeCounters) => number): number {
  let s = 0;
  for (const c of cs) s += f(c);
  return s;
}

/** One line for a fault (timelines, logs). */
export function describeFault(f: Fault): string {
  switch (f.kind) {
    case "crash":
    case "restart":
    case "leave":
    case "join":
      return `${f.kind} ${f.node}`;
    case "partition":
      return `partition ${f.groups.map((g) => g.join(",")).join(" | ")}`;
    case "bridge":
      return `bridge ${f.left.join(",")} <- ${f.bridge} -> ${f.right.join(",")}`;
    case "heal":
      return "heal";
  }
}
