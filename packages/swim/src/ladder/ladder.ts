/**
 * The failure-detection ladder: five designs, from all-to-all heartbeats to
 * SWIM with Lifeguard, run on the same seeded network (@heck/sim's runner,
 * the latency and packet size of `SwimCluster`) with the same faults, so the
 * learner sees what each one breaks and the next one fixes:
 *
 * 1. all-to-all heartbeats: n - 1 packets per member per period (O(n²) in all);
 * 2. gossip-style heartbeats: constant packets, but detection slows with log n
 *    and every packet carries the whole table;
 * 3. SWIM without suspicion: constant load, fast, but loss kills healthy members;
 * 4. SWIM (suspicion, no Lifeguard): loss is survived, a slow member is not;
 * 5. SWIM with Lifeguard: the stage's design.
 *
 * Three experiments per rung, each a function of the seed only:
 * - scale: a converged cluster of n = 10, 100, 1,000; packets and bytes per
 *   member per period in steady state; then one member crashes (the same one
 *   for every rung: drawn from the seed as `runScenario` draws it) and we time
 *   the first detection and the moment every live member holds it dead;
 * - loss: n = 100 at 10% packet loss for a minute: healthy members declared dead;
 * - slow member: n = 20 with one member whose CPU lags 10 s behind its work
 *   (`CpuLag`, the model of the stage's own slow-node test) for 90 s: healthy
 *   members declared dead.
 */
import { createPrng, NONE, pollUntil, Simulation, type Address, type Channel, type Invariant, type Outbound, type Prng, type SimProcess, type SimReady, type TraceEvent } from "@heck/sim";
import { encodedSize } from "../core/codec.ts";
import { lanConfig, withoutLifeguard, type SwimConfig } from "../core/config.ts";
import type { SwimMessage } from "../core/messages.ts";
import { SwimNode } from "../core/node.ts";
import { CpuLag } from "../sim/cpu-lag.ts";
import { AllToAllNode, heartbeatBytes, type HeartbeatMessage } from "./all-to-all.ts";
import type { Detector, Verdict, VerdictState } from "./detector.ts";
import { gossipBytes, GossipHeartbeatNode, type GossipMessage } from "./gossip-heartbeat.ts";
import { SwimDetector } from "./swim-detector.ts";
import { SwimWithoutSuspicionNode } from "./swim-without-suspicion.ts";

/** The rungs, bottom to top. */
export type RungKey = "all-to-all" | "gossip-heartbeat" | "swim-without-suspicion" | "swim" | "swim-lifeguard";

/** Every rung key, bottom to top. */
export const RUNG_KEYS: readonly RungKey[] = ["all-to-all", "gossip-heartbeat", "swim-without-suspicion", "swim", "swim-lifeguard"];

/** The shape of a simulated cluster of any rung. */
export interface LadderClusterOptions {
  nodes: number;
  seed: number;
  /** Packet loss probability. */
  lossRate?: number;
  /** Members whose CPU lags (Lifeguard's slow member), and by how much at most. */
  slow?: { ids: readonly string[]; lagMs: number };
  /** Trace events kept (for a step-by-step view or a failure report). Default 0: fastest. */
  traceLimit?: number;
  /** Receives every trace event as it happens (a step-by-step view hashes the whole run). */
  onTrace?: (event: TraceEvent) => void;
  /** Extra checks run after every step, given the runner (a viewer's or a test's). */
  invariants?: ReadonlyArray<Invariant<unknown>>;
}

/** Arguments a rung's members are built from: the runner's per-node stream and the whole (converged) member list. */
export interface MemberArgs {
  id: string;
  peers: readonly string[];
  prng: Prng;
  nowMs: number;
}

/** One rung: its name, and how to build a simulated cluster of it. */
export interface Rung {
  readonly key: RungKey;
  readonly name: string;
  /** The probe or heartbeat period, the unit of the load figures. */
  readonly periodMs: number;
  cluster(options: LadderClusterOptions): LadderCluster;
  /**
   * For a rung whose cost grows as n²: the largest cluster the ladder
   * simulates message by message, and how its figures at a larger n follow
   * from that run by counting. Rungs without it are simulated at every n.
   */
  readonly counted?: { simulatedUpTo: number; scaleTo(measured: ScaleFigures, nodes: number): ScaleFigures };
}

/** What the ladder asks of a simulated cluster, whatever rung runs in it. */
export interface LadderCluster {
  readonly ids: readonly string[];
  readonly nowMs: number;
  /** The runner itself, for stepping one event at a time. */
  readonly simulation: { step(): boolean; readonly nowMs: number };
  /**
   * The whole runner (@heck/sim's Simulation of this rung's members), for a
   * viewer that also crashes, partitions and drops: typed by the caller.
   */
  readonly runner: unknown;
  /** What `observer` holds about each other member now (members it has said nothing about are alive). */
  beliefs(observer: string): ReadonlyMap<string, VerdictState>;
  /** Restarts a crashed member: a fresh detector, knowing every member as at the start. */
  restart(id: string): void;
  runFor(ms: number): void;
  /** Runs `action` at simulated time `atMs` as one step of the run (so stepping replays it in order). */
  schedule(atMs: number, action: () => void): void;
  /** Runs until `predicate` holds (checked every `everyMs`) or the budget is spent; returns the time it held. */
  runUntil(predicate: () => boolean, budgetMs: number, everyMs: number): number | undefined;
  /** Crashes members (no goodbye). */
  kill(...ids: string[]): void;
  /** Packets (not stream messages) and their bytes sent so far, by every member, crashed ones included. */
  load(): { packets: number; bytes: number };
  /** True when every live member holds `subject` dead. */
  deadEverywhere(subject: string): boolean;
  /** After `subject`'s crash: when someone first suspected or declared it dead, and when the last live member declared it dead. */
  detection(subject: string): { firstMs?: number; everywhereMs?: number };
  /** Members declared dead by someone while they were up, slow ones included. */
  readonly falselyDead: ReadonlySet<string>;
}

/** The final design's timings (memberlist's LAN defaults), shared by every SWIM rung. */
function swimConfig(lifeguard: boolean): SwimConfig {
  return lifeguard ? lanConfig() : withoutLifeguard(lanConfig());
}

function swimNodeRung(key: RungKey, name: string, lifeguard: boolean): Rung {
  const config = swimConfig(lifeguard);
  return {
    key,
    name,
    periodMs: config.probeIntervalMs,
    cluster: (o) =>
      new RungCluster<SwimMessage>(o, config.maxPacketBytes, (a) =>
        new SwimDetector(new SwimNode({ name: a.id, addr: a.id, config, prng: a.prng, nowMs: a.nowMs, initialMembers: a.peers.filter((p) => p !== a.id).map((p) => ({ name: p, addr: p })) })),
      encodedSize),
  };
}

/** The five rungs, bottom to top. */
export const RUNGS: readonly Rung[] = [
  {
    key: "all-to-all",
    name: "all-to-all heartbeats",
    periodMs: 1000,
    cluster: (o) => new RungCluster<HeartbeatMessage>(o, lanConfig().maxPacketBytes, (a) => new AllToAllNode(a.id, a.peers, a.nowMs, a.prng.nextFloat()), heartbeatBytes),
    // At n = 1,000 a simulated second is a million deliveries, and the run took half the
    // ladder's time to show what counting gives exactly: each member sends one heartbeat to
    // each of the n - 1 others per period (test/ladder.test.ts checks the count against a
    // simulation). Detection is taken from the largest simulated cluster: every member times
    // each peer on its own, so n does not enter it.
    counted: {
      simulatedUpTo: 300,
      scaleTo(measured, nodes) {
        const ids = Array.from({ length: nodes }, (_, i) => `n${i + 1}`);
        let bytes = 0;
        for (const from of ids) bytes += (nodes - 1) * heartbeatBytes({ type: "heartbeat", from, seq: 0 });
        // The victim and its detection times stay those of the simulated run.
        return { ...measured, nodes, packetsPerMemberPerPeriod: nodes - 1, bytesPerMemberPerPeriod: bytes / nodes, countedFrom: measured.nodes };
      },
    },
  },
  {
    key: "gossip-heartbeat",
    name: "gossip heartbeats",
    periodMs: 1000,
    cluster: (o) => {
      let members: readonly string[] = [];
      return new RungCluster<GossipMessage>(
        o,
        lanConfig().maxPacketBytes,
        (a) => {
          members = a.peers;
          return new GossipHeartbeatNode(a.id, a.peers, a.prng, a.nowMs);
        },
        (m) => gossipBytes(m, members),
      );
    },
  },
  {
    key: "swim-without-suspicion",
    name: "SWIM without suspicion",
    periodMs: lanConfig().probeIntervalMs,
    cluster: (o) => {
      const config = lanConfig();
      return new RungCluster<SwimMessage>(o, config.maxPacketBytes, (a) => new SwimWithoutSuspicionNode(a.id, a.peers, a.prng, a.nowMs, config), encodedSize);
    },
  },
  swimNodeRung("swim", "SWIM", false),
  swimNodeRung("swim-lifeguard", "SWIM + Lifeguard", true),
];

/** The rung named `key`. */
export function rungOf(key: RungKey): Rung {
  return RUNGS.find((r) => r.key === key)!;
}

/** The command that opens rung `key`'s scale run at n = 10 (crash included) in the browser view, for the learner to watch and break. */
export function rungWatchCommand(key: RungKey, seed: number): string {
  return `pnpm heck-scope swim --scenario ladder-${key} --seed ${seed}`;
}

/** A rung's member as the runner drives it: the detector, its lag if slow, and what it sends and concludes. */
class RungMember<M> implements SimProcess<M> {
  private outbox: Outbound<M>[] = [];

  constructor(
    readonly detector: Detector<M>,
    private readonly lag: CpuLag<M> | undefined,
    private readonly onReady: (observer: string, messages: readonly Outbound<M>[], verdicts: readonly Verdict[]) => void,
  ) {}

  get id(): string {
    return this.detector.id;
  }

  tick(nowMs: number): void {
    if (this.lag === undefined) this.detector.tick(nowMs);
    else this.lag.wake(nowMs, this.detector);
    this.collect();
  }

  receive(from: Address, message: M, channel: Channel, nowMs: number): void {
    if (this.lag !== undefined) {
      this.lag.enqueue(from, message, channel, nowMs);
      return;
    }
    this.detector.receive(from, message, channel, nowMs);
    this.collect();
  }

  streamFailed(to: Address, message: M, nowMs: number): void {
    this.detector.streamFailed?.(to, message, nowMs);
    this.collect();
  }

  nextDeadlineMs(): number {
    return this.lag === undefined ? this.detector.nextDeadlineMs() : this.lag.nextDeadlineMs(this.detector);
  }

  /** Most steps send nothing: the runner asks first, so nothing is allocated then. */
  hasReady(): boolean {
    return this.outbox.length > 0;
  }

  /** The messages queued since the last batch; a failure detector persists nothing. */
  ready(): SimReady<M> {
    const messages = this.outbox;
    this.outbox = [];
    return { snapshot: null, records: NONE, mustSync: false, messages };
  }

  advance(): void {}

  /** Acts on the detector's batch in order: queue its messages, report its verdicts, then advance. */
  private collect(): void {
    const batch = this.detector.ready();
    if (batch.messages.length > 0 || batch.verdicts.length > 0) {
      for (const m of batch.messages) this.outbox.push(m);
      this.onReady(this.detector.id, batch.messages, batch.verdicts);
    }
    this.detector.advance();
  }
}

/** A simulated cluster of one rung, with the bookkeeping the experiments read. */
class RungCluster<M> implements LadderCluster {
  readonly sim: Simulation<M, never, never, RungMember<M>>;
  readonly ids: readonly string[];
  readonly falselyDead = new Set<string>();
  private readonly killedAtMs = new Map<string, number>();
  private readonly firstDetectMs = new Map<string, number>();
  /** subject -> observer -> when it declared the subject dead (for crashed subjects only). */
  private readonly deadAtMs = new Map<string, Map<string, number>>();
  private packets = 0;
  private bytes = 0;
  /** observer -> subject -> its latest verdict (only changes of mind are recorded: few). */
  private readonly views = new Map<string, Map<string, VerdictState>>();

  constructor(
    options: LadderClusterOptions,
    maxPacketBytes: number,
    create: (args: MemberArgs) => Detector<M>,
    private readonly sizeOf: (message: M) => number,
  ) {
    if (!Number.isInteger(options.nodes) || options.nodes < 2) throw new RangeError(`nodes: must be an integer >= 2, got ${options.nodes}`);
    this.ids = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`);
    const slow = new Set(options.slow?.ids ?? []);
    const onReady = (observer: string, messages: readonly Outbound<M>[], verdicts: readonly Verdict[]): void => this.observe(observer, messages, verdicts);
    this.sim = new Simulation<M, never, never, RungMember<M>>({
      seed: options.seed,
      nodeIds: this.ids,
      // The network of SwimCluster: sub-millisecond LAN latency, loss as asked.
      network: { latency: { minMs: 0.2, meanTailMs: 0.3 }, faults: { dropRate: options.lossRate ?? 0 }, maxPacketBytes },
      traceLimit: options.traceLimit ?? 0,
      ...(options.onTrace !== undefined ? { onTrace: options.onTrace } : {}),
      ...(options.invariants !== undefined ? { invariants: options.invariants } : {}),
      factory: ({ id, prng, peers, nowMs }) => {
        const detector = create({ id, peers, prng, nowMs });
        const lag = slow.has(id) ? new CpuLag<M>(options.slow!.lagMs, prng.fork("lag")) : undefined;
        return new RungMember(detector, lag, onReady);
      },
    });
  }

  get nowMs(): number {
    return this.sim.nowMs;
  }

  get simulation(): { step(): boolean; readonly nowMs: number } {
    return this.sim;
  }

  get runner(): unknown {
    return this.sim;
  }

  beliefs(observer: string): ReadonlyMap<string, VerdictState> {
    return this.views.get(observer) ?? new Map();
  }

  restart(id: string): void {
    if (this.sim.isUp(id)) return;
    this.views.delete(id);
    this.sim.restart(id);
  }

  runFor(ms: number): void {
    this.sim.runFor(ms);
  }

  schedule(atMs: number, action: () => void): void {
    this.sim.schedule(atMs, () => action());
  }

  runUntil(predicate: () => boolean, budgetMs: number, everyMs: number): number | undefined {
    return pollUntil(this.sim, predicate, budgetMs, everyMs);
  }

  kill(...ids: string[]): void {
    for (const id of ids) {
      this.sim.crash(id);
      this.killedAtMs.set(id, this.nowMs);
      this.deadAtMs.set(id, new Map());
    }
  }

  load(): { packets: number; bytes: number } {
    return { packets: this.packets, bytes: this.bytes };
  }

  deadEverywhere(subject: string): boolean {
    const seen = this.deadAtMs.get(subject);
    if (seen === undefined) return false;
    for (const id of this.ids) if (id !== subject && this.sim.isUp(id) && !seen.has(id)) return false;
    return true;
  }

  detection(subject: string): { firstMs?: number; everywhereMs?: number } {
    const killed = this.killedAtMs.get(subject);
    if (killed === undefined) return {};
    const first = this.firstDetectMs.get(subject);
    let last = -Infinity;
    const seen = this.deadAtMs.get(subject)!;
    for (const id of this.ids) {
      if (id === subject || !this.sim.isUp(id)) continue;
      const t = seen.get(id);
      if (t === undefined) return first === undefined ? {} : { firstMs: first - killed };
      last = Math.max(last, t);
    }
    return { ...(first !== undefined ? { firstMs: first - killed } : {}), everywhereMs: last - killed };
  }

  private observe(observer: string, messages: readonly Outbound<M>[], verdicts: readonly Verdict[]): void {
    for (const o of messages) {
      if ((o.channel ?? "packet") !== "packet") continue;
      this.packets++;
      this.bytes += this.sizeOf(o.message);
    }
    if (verdicts.length > 0) {
      let view = this.views.get(observer);
      if (view === undefined) this.views.set(observer, (view = new Map()));
      for (const v of verdicts) view.set(v.subject, v.state);
    }
    for (const v of verdicts) {
      const killed = this.killedAtMs.get(v.subject);
      if (killed !== undefined) {
        if (v.state !== "alive" && !this.firstDetectMs.has(v.subject)) this.firstDetectMs.set(v.subject, v.atMs);
        const seen = this.deadAtMs.get(v.subject)!;
        if (v.state === "dead" && !seen.has(observer)) seen.set(observer, v.atMs);
        if (v.state === "alive") seen.delete(observer);
      } else if (v.state === "dead" && this.sim.isUp(v.subject)) {
        this.falselyDead.add(v.subject);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// The experiments
// ---------------------------------------------------------------------------

/** The settings of one ladder run; the defaults are the ones the README's table comes from. */
export interface LadderOptions {
  seed: number;
  /** Cluster sizes of the scale experiment. Default 10, 100, 1,000. */
  sizes?: readonly number[];
  /** Simulated warm-up, then the steady-state window the load is measured over. Default 1 s and 2 s: every rung starts converged, and all-to-all at n = 1,000 costs a million deliveries per simulated second. */
  warmupMs?: number;
  steadyMs?: number;
  /** The loss experiment: members, loss rate and window. Default 100, 10%, 60 s. */
  loss?: { nodes: number; rate: number; windowMs: number };
  /** The slow-member experiment: members, CPU lag and window. Default 20, 10 s, 90 s. */
  slow?: { nodes: number; lagMs: number; windowMs: number };
  /** Only these rungs (default all). */
  rungs?: readonly RungKey[];
}

/** The default experiments. */
export const LADDER_DEFAULTS = {
  sizes: [10, 100, 1000] as const,
  warmupMs: 1000,
  steadyMs: 2000,
  loss: { nodes: 100, rate: 0.1, windowMs: 60_000 },
  slow: { nodes: 20, lagMs: 10_000, windowMs: 90_000 },
};

/** What the scale experiment measured for one rung at one n. Times are ms after the crash. */
export interface ScaleFigures {
  nodes: number;
  victim: string;
  /** Set when these figures were counted from a simulation at this smaller n rather than simulated (see {@link Rung.counted}). */
  countedFrom?: number;
  packetsPerMemberPerPeriod: number;
  bytesPerMemberPerPeriod: number;
  firstDetectionMs: number | null;
  deadEverywhereMs: number | null;
}

/** One rung's figures: the JSON contract's `{ name, broke, ...figures }`. */
export interface RungResult {
  key: RungKey;
  name: string;
  /** What this rung gets wrong, in these runs, and so what the next rung is for. */
  broke: string;
  scale: ScaleFigures[];
  /** Healthy members declared dead in the loss experiment. */
  falseDeathsUnderLoss: number;
  /** Healthy members declared dead in the slow-member experiment (the slow one not counted). */
  falseDeathsAroundSlowMember: number;
  /** Whether the slow member itself was declared dead. */
  slowMemberDeclaredDead: boolean;
}

/** A whole ladder run. */
export interface LadderResult {
  seed: number;
  loss: { nodes: number; rate: number; windowMs: number };
  slow: { nodes: number; lagMs: number; windowMs: number };
  rungs: RungResult[];
}

/**
 * The crash of the scale experiment: the member `runScenario` would crash on
 * this seed (the same draw), so the final design's figures match the stage's
 * `sim` command.
 */
export function victimFor(seed: number, ids: readonly string[]): string {
  return createPrng(seed).fork("victims").shuffle([...ids])[0]!;
}

/**
 * An experiment set up on a cluster with its events (the crash, the load
 * readings) scheduled on the runner: step it one event at a time through
 * `cluster.simulation.step()`, or not at all, then `finish()` runs it to its
 * end and returns the figures, the same either way.
 */
export interface OpenExperiment<F> {
  readonly cluster: LadderCluster;
  finish(): F;
}

/** Sets up the scale experiment for one rung at one n: load over the steady window, then a crash. */
export function openScale(
  rung: Rung,
  nodes: number,
  seed: number,
  warmupMs = LADDER_DEFAULTS.warmupMs,
  steadyMs = LADDER_DEFAULTS.steadyMs,
  traceLimit = 0,
  watch: Pick<LadderClusterOptions, "onTrace" | "invariants"> = {},
): OpenExperiment<ScaleFigures> {
  const c = rung.cluster({ nodes, seed, traceLimit, ...watch });
  const victim = victimFor(seed, c.ids);
  const crashAtMs = c.nowMs + warmupMs + steadyMs;
  let before = { packets: 0, bytes: 0 };
  let after = { packets: 0, bytes: 0 };
  c.schedule(c.nowMs + warmupMs, () => (before = c.load()));
  c.schedule(crashAtMs, () => {
    after = c.load();
    c.kill(victim);
  });
  return {
    cluster: c,
    finish() {
      if (c.nowMs < crashAtMs) c.runFor(crashAtMs - c.nowMs);
      // Generous: gossip heartbeats need their whole timeout, which grows with log n.
      c.runUntil(() => c.deadEverywhere(victim), 120_000, 100);
      const d = c.detection(victim);
      const periods = steadyMs / rung.periodMs;
      return {
        nodes,
        victim,
        packetsPerMemberPerPeriod: (after.packets - before.packets) / nodes / periods,
        bytesPerMemberPerPeriod: (after.bytes - before.bytes) / nodes / periods,
        firstDetectionMs: d.firstMs ?? null,
        deadEverywhereMs: d.everywhereMs ?? null,
      };
    },
  };
}

/** The scale experiment for one rung at one n, simulated. */
export function measureScale(rung: Rung, nodes: number, seed: number, warmupMs = LADDER_DEFAULTS.warmupMs, steadyMs = LADDER_DEFAULTS.steadyMs): ScaleFigures {
  return openScale(rung, nodes, seed, warmupMs, steadyMs).finish();
}

/** The scale experiment as the ladder runs it: simulated, or for a counted rung above its limit, counted from a simulation at the limit. */
export function scaleFigures(rung: Rung, nodes: number, seed: number, warmupMs = LADDER_DEFAULTS.warmupMs, steadyMs = LADDER_DEFAULTS.steadyMs): ScaleFigures {
  const counted = rung.counted;
  if (counted === undefined || nodes <= counted.simulatedUpTo) return measureScale(rung, nodes, seed, warmupMs, steadyMs);
  return counted.scaleTo(measureScale(rung, counted.simulatedUpTo, seed, warmupMs, steadyMs), nodes);
}

/** Sets up the loss experiment: `rate` packet loss for `windowMs`; the figure is the healthy members declared dead. */
export function openLoss(rung: Rung, seed: number, o = LADDER_DEFAULTS.loss, traceLimit = 0): OpenExperiment<number> {
  const c = rung.cluster({ nodes: o.nodes, seed, lossRate: o.rate, traceLimit });
  return {
    cluster: c,
    finish() {
      if (c.nowMs < o.windowMs) c.runFor(o.windowMs - c.nowMs);
      return c.falselyDead.size;
    },
  };
}

/** The loss experiment: healthy members declared dead at `rate` loss within `windowMs`. */
export function measureLoss(rung: Rung, seed: number, o = LADDER_DEFAULTS.loss): number {
  return openLoss(rung, seed, o).finish();
}

/** The id of the slow member in the slow-member experiment. */
export const SLOW_MEMBER = "n1";

/** Sets up the slow-member experiment: n1's CPU lags; the figures are the healthy members declared dead, and whether n1 was. */
export function openSlowMember(rung: Rung, seed: number, o = LADDER_DEFAULTS.slow, traceLimit = 0): OpenExperiment<{ healthy: number; slowDeclaredDead: boolean }> {
  const c = rung.cluster({ nodes: o.nodes, seed, slow: { ids: [SLOW_MEMBER], lagMs: o.lagMs }, traceLimit });
  return {
    cluster: c,
    finish() {
      if (c.nowMs < o.windowMs) c.runFor(o.windowMs - c.nowMs);
      return { healthy: [...c.falselyDead].filter((id) => id !== SLOW_MEMBER).length, slowDeclaredDead: c.falselyDead.has(SLOW_MEMBER) };
    },
  };
}

/** The slow-member experiment: member n1 lags; healthy members declared dead within the window, and whether n1 was. */
export function measureSlowMember(rung: Rung, seed: number, o = LADDER_DEFAULTS.slow): { healthy: number; slowDeclaredDead: boolean } {
  return openSlowMember(rung, seed, o).finish();
}

/** Runs every experiment on every rung; a function of the options only. */
export function runLadder(options: LadderOptions): LadderResult {
  const sizes = options.sizes ?? LADDER_DEFAULTS.sizes;
  const loss = options.loss ?? LADDER_DEFAULTS.loss;
  const slow = options.slow ?? LADDER_DEFAULTS.slow;
  const rungs = RUNGS.filter((r) => options.rungs === undefined || options.rungs.includes(r.key));
  const results: RungResult[] = rungs.map((rung) => {
    const scale = sizes.map((n) => scaleFigures(rung, n, options.seed, options.warmupMs, options.steadyMs));
    const falseDeathsUnderLoss = measureLoss(rung, options.seed, loss);
    const s = measureSlowMember(rung, options.seed, slow);
    const result = { key: rung.key, name: rung.name, scale, falseDeathsUnderLoss, falseDeathsAroundSlowMember: s.healthy, slowMemberDeclaredDead: s.slowDeclaredDead };
    return { ...result, broke: whatBroke(result, loss, slow) };
  });
  return { seed: options.seed, loss, slow, rungs: results };
}

/** The one sentence per rung, written from its figures (so a seed where a failure did not show says so). */
function whatBroke(r: Omit<RungResult, "broke">, loss: LadderResult["loss"], _slow: LadderResult["slow"]): string {
  const largest = r.scale[r.scale.length - 1];
  const members = (k: number): string => `${k} healthy member${k === 1 ? "" : "s"}`;
  const lossText = `${members(r.falseDeathsUnderLoss)} declared dead at ${pct(loss.rate)} loss`;
  const slowText = `${members(r.falseDeathsAroundSlowMember)} declared dead around a slow member`;
  switch (r.key) {
    case "all-to-all":
      return largest === undefined ? "" : `O(n²): ${fmt(largest.packetsPerMemberPerPeriod, 0)} packets per member per period at n = ${largest.nodes.toLocaleString("en")}`;
    case "gossip-heartbeat":
      return largest === undefined ? "" : `slow: dead everywhere after ${secs(largest.deadEverywhereMs)} at n = ${largest.nodes.toLocaleString("en")}, ${kb(largest.bytesPerMemberPerPeriod)} per member per period`;
    case "swim-without-suspicion":
      return r.falseDeathsUnderLoss > 0 ? lossText : `no false deaths at ${pct(loss.rate)} loss on this seed`;
    case "swim":
      return r.falseDeathsAroundSlowMember > 0 ? slowText : `no healthy member declared dead around the slow member on this seed`;
    case "swim-lifeguard":
      return r.falseDeathsUnderLoss + r.falseDeathsAroundSlowMember === 0 ? "nothing here: the stage's design" : `${lossText}; ${slowText}`;
  }
}

function pct(rate: number): string {
  return `${Math.round(rate * 100)}%`;
}

function fmt(v: number, digits: number): string {
  return v.toLocaleString("en", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function secs(ms: number | null): string {
  return ms === null ? "never" : `${(ms / 1000).toFixed(1)} s`;
}

function kb(bytes: number): string {
  return bytes >= 1000 ? `${(bytes / 1000).toFixed(1)} kB` : `${Math.round(bytes)} B`;
}

/** The ladder as one table: rung, figures, what broke. */
export function formatLadder(result: LadderResult): string {
  const sizes = result.rungs[0]?.scale.map((s) => s.nodes) ?? [];
  const largest = sizes[sizes.length - 1];
  const header = [
    "rung",
    `packets/member/period (n = ${sizes.map((n) => n.toLocaleString("en")).join(" | ")})`,
    `bytes/member/period (n = ${largest?.toLocaleString("en")})`,
    `first detection / dead everywhere (n = ${largest?.toLocaleString("en")})`,
    `false deaths, ${pct(result.loss.rate)} loss (n = ${result.loss.nodes})`,
    `false deaths, slow member (n = ${result.slow.nodes})`,
    "what broke",
  ];
  const rows = result.rungs.map((r) => {
    const top = r.scale[r.scale.length - 1];
    return [
      r.name,
      r.scale.map((s) => `${fmt(s.packetsPerMemberPerPeriod, 2)}${s.countedFrom !== undefined ? "*" : ""}`).join(" | "),
      top === undefined ? "-" : `${fmt(Math.round(top.bytesPerMemberPerPeriod), 0)}${top.countedFrom !== undefined ? "*" : ""}`,
      top === undefined ? "-" : `${secs(top.firstDetectionMs)} / ${secs(top.deadEverywhereMs)}${top.countedFrom !== undefined ? "*" : ""}`,
      String(r.falseDeathsUnderLoss),
      `${r.falseDeathsAroundSlowMember}${r.slowMemberDeclaredDead ? " (+ the slow one)" : ""}`,
      r.broke,
    ];
  });
  const counted = result.rungs.flatMap((r) => r.scale.filter((s) => s.countedFrom !== undefined).map((s) => ({ rung: r.name, s })));
  const notes = counted.map(
    ({ rung, s }) =>
      `* ${rung}, n = ${s.nodes.toLocaleString("en")}: load counted (n - 1 heartbeats a period); detection simulated at n = ${s.countedFrom!.toLocaleString("en")} (n does not enter it)`,
  );
  const others = RUNG_KEYS.slice(1).map((k) => `ladder-${k}`).join(", ");
  return [
    formatTable(header, rows),
    ...notes,
    `seed ${result.seed} (replay: --seed ${result.seed})`,
    `watch it: ${rungWatchCommand(RUNG_KEYS[0]!, result.seed)} (or ${others})`,
  ].join("\n");
}

/** Left-aligned columns separated by two spaces. */
export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ");
  return [line(header), ...rows.map(line)].join("\n");
}

/** The `--json` line: `{ "rungs": [ { "name", "broke", ...figures } ] }`. */
export function ladderJson(result: LadderResult): string {
  return JSON.stringify({
    seed: result.seed,
    loss: result.loss,
    slow: result.slow,
    rungs: result.rungs.map((r) => ({
      name: r.name,
      broke: r.broke,
      key: r.key,
      packetsPerMemberPerPeriod: Object.fromEntries(r.scale.map((s) => [String(s.nodes), round(s.packetsPerMemberPerPeriod)])),
      bytesPerMemberPerPeriod: Object.fromEntries(r.scale.map((s) => [String(s.nodes), Math.round(s.bytesPerMemberPerPeriod)])),
      firstDetectionMs: Object.fromEntries(r.scale.map((s) => [String(s.nodes), s.firstDetectionMs === null ? null : Math.round(s.firstDetectionMs)])),
      deadEverywhereMs: Object.fromEntries(r.scale.map((s) => [String(s.nodes), s.deadEverywhereMs === null ? null : Math.round(s.deadEverywhereMs)])),
      // Sizes whose figures were counted from a smaller simulation: n -> the n simulated.
      countedFrom: Object.fromEntries(r.scale.filter((s) => s.countedFrom !== undefined).map((s) => [String(s.nodes), s.countedFrom])),
      falseDeathsUnderLoss: r.falseDeathsUnderLoss,
      falseDeathsAroundSlowMember: r.falseDeathsAroundSlowMember,
      slowMemberDeclaredDead: r.slowMemberDeclaredDead,
      watch: rungWatchCommand(r.key, result.seed),
    })),
  });
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}
