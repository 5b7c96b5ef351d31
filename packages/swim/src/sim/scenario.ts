/**
 * The standard simulated experiment, shared by `heck-swim sim` and the
 * benchmark: a converged cluster runs a while (steady-state load), then
 * `kill` members crash and we record how fast the rest notice, what it cost
 * in messages, and whether anyone live was declared dead.
 */
import { createPrng } from "@heck/sim";
import { detectionBoundMs, detectionBoundNoLossMs, lanConfig, withoutLifeguard as withoutLifeguardConfig, type SwimConfig } from "../core/config.ts";
import { median, SwimCluster } from "./cluster.ts";

/** Inputs of {@link runScenario}. */
export interface ScenarioOptions {
  nodes: number;
  seed: number;
  lossRate?: number;
  /** Members to crash after warm-up. Default 1. */
  kill?: number;
  config?: SwimConfig;
  /** Simulated warm-up before measuring. Default 10 s. */
  warmupMs?: number;
  /** Steady-state measuring window. Default 10 s. */
  steadyMs?: number;
  /** Members with a lagging CPU (Lifeguard's slow node), and their lag. */
  slow?: number;
  lagMs?: number;
  /** Pass the binary codec on every message (default for nodes <= 200). */
  codec?: boolean;
  /**
   * Start with n1 alone and have every other member join through it at time
   * 0, timing until every member lists every other alive, instead of
   * starting converged. Default false.
   */
  join?: boolean;
}

/** What one scenario measured. Times are ms after the crash. */
export interface ScenarioResult {
  nodes: number;
  seed: number;
  lossRate: number;
  killed: string[];
  /** Packets each member sent per protocol period, before the crash. */
  steadyPacketsPerMemberPerPeriod: number;
  /** Mean packet size in bytes, before the crash. */
  steadyBytesPerPacket: number;
  /** From the crash until every member noticed: packets per member per period. */
  detectionPacketsPerMemberPerPeriod: number;
  firstSuspectMs: number | undefined;
  deadMedianMs: number | undefined;
  deadLastMs: number | undefined;
  /** Whether every live member declared every crashed member dead within `boundMs`. */
  allDetected: boolean;
  /**
   * The config's promise: with one crash, no loss and no slow members the
   * no-loss bound (detectionBoundNoLossMs), otherwise the timers-only worst
   * case (detectionBoundMs).
   */
  boundMs: number;
  boundKind: "no-loss" | "worst-case";
  /** Distinct (member, incarnation) verdicts of death against live members. */
  falsePositives: number;
  /** Of those, verdicts against healthy members (not the slow ones). */
  falsePositivesHealthy: number;
  /** Suspicions of live members (most are refuted within milliseconds). */
  falseSuspicions: number;
  /** Simulated time covered. */
  simulatedMs: number;
  /** With `join`: ms from the joins until every member listed every other alive (undefined: not within 120 s). */
  joinConvergedMs?: number | undefined;
}

/** Runs the scenario; deterministic for a given seed. */
export function runScenario(options: ScenarioOptions): ScenarioResult {
  const config = options.config ?? lanConfig();
  const n = options.nodes;
  const killCount = options.kill ?? 1;
  if (!Number.isInteger(killCount) || killCount < 0 || killCount >= n) throw new RangeError(`kill: must be an integer in [0, ${n - 1}], got ${killCount}`);
  const lossRate = options.lossRate ?? 0;
  const slowIds = Array.from({ length: options.slow ?? 0 }, (_, i) => `n${n - i}`);
  const cluster = new SwimCluster({
    nodes: n,
    seed: options.seed,
    config,
    lossRate,
    ...(slowIds.length > 0 ? { slow: { ids: slowIds, lagMs: options.lagMs ?? 5000 } } : {}),
    ...(options.codec !== undefined ? { codec: options.codec } : {}),
    ...(options.join ? { bootstrap: "join" as const } : {}),
  });
  const joined = options.join ? { joinConvergedMs: cluster.runUntil(() => cluster.converged(), 120_000, 10) } : {};
  cluster.runFor(options.warmupMs ?? 10_000);
  const steadyMs = options.steadyMs ?? 10_000;
  const before = cluster.load();
  cluster.runFor(steadyMs);
  const after = cluster.load();
  const periods = steadyMs / config.probeIntervalMs;
  const steadyPackets = after.packetsSent - before.packetsSent;

  // Crash members chosen by the seed among the healthy ones.
  const pick = createPrng(options.seed).fork("victims");
  const candidates = cluster.ids.filter((id) => !slowIds.includes(id));
  const killed = pick.shuffle([...candidates]).slice(0, killCount);
  const killAt = cluster.nowMs;
  const loadAtKill = cluster.load();
  cluster.kill(...killed);
  const noLoss = lossRate === 0 && slowIds.length === 0 && killCount === 1;
  const boundMs = noLoss ? detectionBoundNoLossMs(config, n) : detectionBoundMs(config, n);
  const doneAt = cluster.runUntil(() => killed.every((id) => cluster.seenDeadByAll(id)), boundMs, Math.min(100, config.gossipIntervalMs || 100));
  const detectEnd = doneAt ?? cluster.nowMs;
  const loadAtDone = cluster.load();
  const detectPeriods = Math.max(1, (detectEnd - killAt) / config.probeIntervalMs);

  const firsts: number[] = [];
  const deadTimes: number[] = [];
  for (const id of killed) {
    const d = cluster.detection(id);
    if (d.firstSuspectMs !== undefined) firsts.push(d.firstSuspectMs);
    const seen = cluster.deadSeenMs.get(id);
    if (seen !== undefined) for (const [obs, t] of seen) if (obs !== id) deadTimes.push(t - killAt);
  }
  firsts.sort((a, b) => a - b);
  deadTimes.sort((a, b) => a - b);
  return {
    nodes: n,
    seed: options.seed,
    lossRate,
    killed,
    steadyPacketsPerMemberPerPeriod: steadyPackets / n / periods,
    steadyBytesPerPacket: steadyPackets > 0 ? (after.packetBytesSent - before.packetBytesSent) / steadyPackets : 0,
    detectionPacketsPerMemberPerPeriod: (loadAtDone.packetsSent - loadAtKill.packetsSent) / (n - killCount) / detectPeriods,
    firstSuspectMs: firsts.length > 0 ? median(firsts) : undefined,
    deadMedianMs: deadTimes.length > 0 ? median(deadTimes) : undefined,
    deadLastMs: deadTimes.length > 0 ? deadTimes[deadTimes.length - 1] : undefined,
    allDetected: doneAt !== undefined,
    boundMs,
    boundKind: noLoss ? "no-loss" : "worst-case",
    falsePositives: cluster.falseDeathVerdicts(),
    falsePositivesHealthy: new Set(cluster.falseDeaths.filter((f) => !slowIds.includes(f.subject)).map((f) => `${f.subject}@${f.incarnation}`)).size,
    falseSuspicions: cluster.liveSuspicions.length,
    simulatedMs: cluster.nowMs,
    ...joined,
  };
}

/** Renders a result for people. */
export function formatScenario(r: ScenarioResult): string {
  const ms = (v: number | undefined): string => (v === undefined ? "-" : `${(v / 1000).toFixed(2)} s`);
  return [
    `cluster: ${r.nodes} members, ${(r.lossRate * 100).toFixed(0)}% packet loss, seed ${r.seed} (replay: --seed ${r.seed})`,
    ...("joinConvergedMs" in r ? [`join: every member lists all ${r.nodes} alive ${r.joinConvergedMs === undefined ? "NOT within 120 s" : `after ${ms(r.joinConvergedMs)}`} (all joined through n1 at once)`] : []),
    `steady state: ${r.steadyPacketsPerMemberPerPeriod.toFixed(2)} packets per member per protocol period, ${r.steadyBytesPerPacket.toFixed(1)} bytes per packet`,
    `crashed: ${r.killed.join(", ") || "(none)"}`,
    `  first suspicion after ${ms(r.firstSuspectMs)}; dead at every member: median ${ms(r.deadMedianMs)}, last ${ms(r.deadLastMs)} (${r.boundKind === "no-loss" ? "bound" : "timers-only worst case"} ${ms(r.boundMs)}: ${r.allDetected ? "met" : "NOT MET"})`,
    `  load while detecting: ${r.detectionPacketsPerMemberPerPeriod.toFixed(2)} packets per member per period`,
    `false positives: ${r.falsePositives} verdicts of death against live members (${r.falsePositivesHealthy} against healthy ones); ${r.falseSuspicions} suspicions of live members`,
  ].join("\n");
}

/** How fast one update reaches everyone: the rounds it took against ln(n) (SWIM §4.1). */
export interface DisseminationResult {
  nodes: number;
  /** Time from the update until the last member saw it. */
  allSeenMs: number | undefined;
  /** allSeenMs in gossip rounds (gossipIntervalMs each). */
  rounds: number | undefined;
  /** Natural log of n, for comparison: infection-style spread takes O(log n) rounds. */
  lnN: number;
}

/** Publishes new metadata on one member of a converged cluster and times its spread. */
export function measureDissemination(options: { nodes: number; seed: number; config?: SwimConfig; lossRate?: number; codec?: boolean }): DisseminationResult {
  const config = options.config ?? lanConfig();
  const cluster = new SwimCluster({
    nodes: options.nodes,
    seed: options.seed,
    config,
    lossRate: options.lossRate ?? 0,
    ...(options.codec !== undefined ? { codec: options.codec } : {}),
  });
  cluster.runFor(3000);
  const origin = cluster.ids[0]!;
  let sentAt = 0;
  cluster.sim.schedule(cluster.nowMs, (sim) => {
    sentAt = sim.nowMs;
    sim.node(origin).node.updateMeta(new TextEncoder().encode("v2"), sim.nowMs);
  });
  cluster.runFor(0);
  const target = cluster.node(origin).incarnation;
  const done = cluster.runUntil(() => cluster.live.every((id) => (cluster.node(id).member(origin)?.incarnation ?? -1) >= target), 60_000, 10);
  const allSeenMs = done === undefined ? undefined : done - sentAt;
  return {
    nodes: options.nodes,
    allSeenMs,
    rounds: allSeenMs === undefined ? undefined : allSeenMs / config.gossipIntervalMs,
    lnN: Math.log(options.nodes),
  };
}

/** False positives over a window: how many healthy members were declared dead by anyone. */
export interface FalsePositiveResult {
  nodes: number;
  lossRate: number;
  lifeguard: boolean;
  slowMembers: number;
  windowMs: number;
  /** Healthy members falsely declared dead at least once, over the healthy count. */
  rate: number;
  /** Distinct false verdicts (member, incarnation) against healthy members. */
  verdicts: number;
  /** Suspicions of live members (refuted or not). */
  suspicions: number;
}

/** Runs a converged cluster for `windowMs` under loss (and optionally slow members) and counts false verdicts on healthy members. */
export function measureFalsePositives(options: {
  nodes: number;
  seed: number;
  lossRate: number;
  lifeguard: boolean;
  windowMs: number;
  slowMembers?: number;
  lagMs?: number;
}): FalsePositiveResult {
  const base = lanConfig();
  const config = options.lifeguard ? base : withoutLifeguardConfig(base);
  const slow = Array.from({ length: options.slowMembers ?? 0 }, (_, i) => `n${options.nodes - i}`);
  const cluster = new SwimCluster({
    nodes: options.nodes,
    seed: options.seed,
    config,
    lossRate: options.lossRate,
    codec: false,
    traceLimit: 0,
    ...(slow.length > 0 ? { slow: { ids: slow, lagMs: options.lagMs ?? 5000 } } : {}),
  });
  cluster.runFor(options.windowMs);
  const healthyVerdicts = cluster.falseDeaths.filter((f) => !slow.includes(f.subject));
  const healthyCount = options.nodes - slow.length;
  return {
    nodes: options.nodes,
    lossRate: options.lossRate,
    lifeguard: options.lifeguard,
    slowMembers: slow.length,
    windowMs: options.windowMs,
    rate: new Set(healthyVerdicts.map((f) => f.subject)).size / healthyCount,
    verdicts: new Set(healthyVerdicts.map((f) => `${f.subject}@${f.incarnation}`)).size,
    suspicions: cluster.liveSuspicions.length,
  };
}
