/**
 * A seeded SWIM cluster on @heck/sim's simulated network, with the
 * bookkeeping the tests, the `sim` command and the benchmark share: what
 * every member saw and when (first suspicion, death, false positives),
 * message load, and the safety checks that run after every step.
 *
 * Nothing here is random or timed except through the runner: the same seed
 * gives the same run, so a failure prints `HECK_SEED=<n>` and replays.
 */
import { pollUntil, Simulation, type Invariant, type LatencyOptions, type MessageCodec, type NetworkFaultOptions, type TraceEvent } from "@heck/sim";
import { decodeMessage, encodeMessage } from "../core/codec.ts";
import { lanConfig, type SwimConfig } from "../core/config.ts";
import type { JoinRetryPolicy } from "../core/join-retry.ts";
import type { SwimMessage } from "../core/messages.ts";
import { recoverIncarnation, SwimNode, type SwimRecord } from "../core/node.ts";
import type { MemberEvent } from "../core/types.ts";
import { SimMember } from "./sim-member.ts";

/** The simulated cluster's shape and faults. */
export interface ClusterOptions {
  /** Number of members, named n1..nN. */
  nodes: number;
  seed: number;
  config?: SwimConfig;
  /**
   * "converged": every member starts knowing every other (large runs that
   * study detection). "join": n1 starts alone and every other member joins
   * through it at time 0 (studies dissemination and join convergence).
   */
  bootstrap?: "converged" | "join";
  /** Packet loss probability (streams are reliable). */
  lossRate?: number;
  latency?: Partial<LatencyOptions>;
  faults?: Partial<Omit<NetworkFaultOptions, "dropRate">>;
  /** Members whose CPU lags: each message and timer is handled up to lagMs late. */
  slow?: { ids: readonly string[]; lagMs: number };
  /** Run every message through the binary codec (checks it; costs time). Default: nodes <= 200. */
  codec?: boolean;
  /** Trace events kept for failure reports. Default 300; 0 for big runs. */
  traceLimit?: number;
  /** Extra invariants, checked after every step. */
  invariants?: ReadonlyArray<Invariant<Simulation<SwimMessage, SwimRecord, never, SimMember>>>;
  /** Fail the run as soon as a live member is declared dead (only meaningful without loss and lag). Default false. */
  forbidFalseDeaths?: boolean;
  /** Joins (bootstrap "join", and restarts) retry on this policy until a seed answers; default one attempt. */
  joinRetry?: JoinRetryPolicy;
  /** Receives every trace event as it happens (the runner's `onTrace`), e.g. for a viewer that hashes the whole run. */
  onTrace?: (event: TraceEvent) => void;
}

/** One false failure verdict: `subject` declared dead while it was up. */
export interface FalseDeath {
  observer: string;
  subject: string;
  incarnation: number;
  atMs: number;
}

/** The name of the per-step safety invariant every simulation checks. */
export const VIEW_RULES = "view rules (incarnations never go back; dead is final per incarnation; a member never suspects itself)";

/** The first view-rule violation among `members`, if any. */
export function viewViolation(members: readonly SimMember[]): string | undefined {
  for (const m of members) if (m.violation !== undefined) return m.violation;
  return undefined;
}

/** Throws on a decode error: in simulation a message that does not survive the codec is a bug. */
export const swimCodec: MessageCodec<SwimMessage> = {
  encode: encodeMessage,
  decode(bytes) {
    const r = decodeMessage(bytes);
    if (!r.ok) throw new Error(`codec: ${r.error.message}`);
    return r.message;
  },
};

/** A simulated SWIM cluster with per-observer records of what happened when. */
export class SwimCluster {
  readonly sim: Simulation<SwimMessage, SwimRecord, never, SimMember>;
  readonly ids: readonly string[];
  readonly config: SwimConfig;
  /** Crash times of members currently down. */
  readonly killedAtMs = new Map<string, number>();
  /** First time anyone suspected each member (after its latest kill, or ever). */
  readonly firstSuspectMs = new Map<string, number>();
  /** subject -> observer -> first time the observer saw it dead or left. */
  readonly deadSeenMs = new Map<string, Map<string, number>>();
  /** subject -> observer -> first time the observer saw it suspect (live members only). */
  readonly liveSuspicions: Array<{ observer: string; subject: string; incarnation: number; atMs: number }> = [];
  readonly falseDeaths: FalseDeath[] = [];
  /** Every "dead" verdict (not "left"), true or false. */
  readonly deadEvents: Array<{ observer: string; subject: string; atMs: number }> = [];
  private readonly left = new Set<string>();
  private readonly slowIds: Set<string>;
  private statsOfCrashed = { packetsSent: 0, packetBytesSent: 0 };

  constructor(readonly options: ClusterOptions) {
    if (!Number.isInteger(options.nodes) || options.nodes < 1) throw new RangeError(`nodes: must be an integer >= 1, got ${options.nodes}`);
    this.config = options.config ?? lanConfig();
    this.ids = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`);
    this.slowIds = new Set(options.slow?.ids ?? []);
    const bootstrap = options.bootstrap ?? "converged";
    const useCodec = options.codec ?? options.nodes <= 200;
    const traceLimit = options.traceLimit ?? (options.nodes <= 200 ? 300 : 0);
    const observer = (obs: string, events: readonly MemberEvent[]): void => this.observe(obs, events);
    const invariants: Array<Invariant<Simulation<SwimMessage, SwimRecord, never, SimMember>>> = [
      { name: VIEW_RULES, check: (sim) => viewViolation(sim.up) },
      ...(options.forbidFalseDeaths
        ? [{ name: "no live, reachable member is declared dead", check: () => (this.falseDeaths[0] ? describeFalseDeath(this.falseDeaths[0]) : undefined) }]
        : []),
      ...(options.invariants ?? []),
    ];
    this.sim = new Simulation<SwimMessage, SwimRecord, never, SimMember>({
      seed: options.seed,
      nodeIds: this.ids,
      network: {
        latency: { minMs: 0.2, meanTailMs: 0.3, ...options.latency },
        faults: { ...options.faults, dropRate: options.lossRate ?? 0 },
        maxPacketBytes: this.config.maxPacketBytes,
      },
      ...(useCodec ? { codec: swimCodec } : {}),
      traceLimit,
      ...(options.onTrace !== undefined ? { onTrace: options.onTrace } : {}),
      invariants,
      factory: ({ id, prng, peers, disk, nowMs }) => {
        const converged = bootstrap === "converged" && disk === undefined;
        const node = new SwimNode({
          name: id,
          addr: id,
          config: this.config,
          prng,
          nowMs,
          // A restarted member recovers its incarnation from its disk's records, as a persisting driver would.
          ...(disk !== undefined ? { incarnation: recoverIncarnation(disk.records) } : {}),
          ...(converged ? { initialMembers: peers.filter((p) => p !== id).map((p) => ({ name: p, addr: p })) } : {}),
        });
        if (!converged) {
          // A fresh joiner goes through n1; a restarted member through any other member.
          if (disk !== undefined) {
            const up = peers.filter((p) => p !== id && this.sim.isUp(p));
            if (up.length > 0) node.join([prng.pick(up)], nowMs, options.joinRetry);
          } else if (id !== peers[0]) node.join([peers[0]!], nowMs, options.joinRetry);
        }
        const lag = this.slowIds.has(id) ? (options.slow?.lagMs ?? 0) : 0;
        return new SimMember(node, observer, lag, lag > 0 ? prng.fork("lag") : undefined, traceLimit > 0);
      },
    });
  }

  /** Simulated time. */
  get nowMs(): number {
    return this.sim.nowMs;
  }

  /** The node `id` (throws if crashed). */
  node(id: string): SwimNode {
    return this.sim.node(id).node;
  }

  /** Ids of members that are up and have not left. */
  get live(): string[] {
    return this.ids.filter((id) => this.sim.isUp(id) && !this.left.has(id));
  }

  runFor(ms: number): void {
    this.sim.runFor(ms);
  }

  /** Runs until `predicate` holds, checking every `everyMs` of simulated time; returns the time it held, or undefined. */
  runUntil(predicate: () => boolean, budgetMs: number, everyMs = 50): number | undefined {
    return pollUntil(this.sim, predicate, budgetMs, everyMs);
  }

  /** Crashes members (kill -9: no goodbye). */
  kill(...ids: string[]): void {
    for (const id of ids) {
      const s = this.sim.node(id).node.stats();
      this.statsOfCrashed.packetsSent += s.packetsSent;
      this.statsOfCrashed.packetBytesSent += s.packetBytesSent;
      this.sim.crash(id);
      for (const m of this.sim.up) m.accusedAtMs.delete(id);
      this.killedAtMs.set(id, this.nowMs);
      this.firstSuspectMs.delete(id);
      this.deadSeenMs.delete(id);
    }
  }

  /** Restarts crashed members; each rejoins through a random other member. */
  restart(...ids: string[]): void {
    for (const id of ids) {
      this.sim.restart(id);
      this.killedAtMs.delete(id);
    }
  }

  /** Graceful leave. */
  leave(id: string): void {
    this.left.add(id);
    this.sim.schedule(this.nowMs, (sim) => sim.node(id).node.leave(sim.nowMs));
    this.sim.runFor(0);
  }

  /** True when every live member sees every live member (itself included) as alive. */
  converged(): boolean {
    const live = this.live;
    for (const obs of live) {
      const node = this.node(obs);
      for (const subj of live) if (node.member(subj)?.state !== "alive") return false;
    }
    return true;
  }

  /** True when every live member sees `subject` as dead or left (or has already reaped it). */
  seenDeadByAll(subject: string): boolean {
    for (const obs of this.live) {
      if (obs === subject) continue;
      const state = this.node(obs).member(subject)?.state;
      if (state === "alive" || state === "suspect") return false;
    }
    return true;
  }

  /** Detection figures for a killed member, in ms after the kill. */
  detection(subject: string): { firstSuspectMs?: number; deadMedianMs?: number; deadLastMs?: number; observersDead: number; observers: number } {
    const killed = this.killedAtMs.get(subject);
    const observers = this.live.filter((id) => id !== subject);
    if (killed === undefined) return { observersDead: 0, observers: observers.length };
    const seen = this.deadSeenMs.get(subject) ?? new Map<string, number>();
    const times = observers.map((o) => seen.get(o)).filter((t): t is number => t !== undefined).map((t) => t - killed).sort((a, b) => a - b);
    const first = this.firstSuspectMs.get(subject);
    return {
      ...(first !== undefined ? { firstSuspectMs: first - killed } : {}),
      ...(times.length > 0 ? { deadMedianMs: median(times), deadLastMs: times[times.length - 1]! } : {}),
      observersDead: times.length,
      observers: observers.length,
    };
  }

  /**
   * When live members first sent their own accusation of `subject` since it
   * was killed, sorted: the independent accusations Lifeguard counts.
   */
  accusationTimes(subject: string): number[] {
    const since = this.killedAtMs.get(subject) ?? -Infinity;
    const times: number[] = [];
    for (const m of this.sim.up) {
      const t = m.accusedAtMs.get(subject);
      if (t !== undefined && t >= since && m.id !== subject) times.push(t);
    }
    return times.sort((a, b) => a - b);
  }

  /** The time every live member had declared `subject` dead (or left), if all have. */
  deadByAllAtMs(subject: string): number | undefined {
    const seen = this.deadSeenMs.get(subject);
    let last = -Infinity;
    for (const obs of this.live) {
      if (obs === subject) continue;
      const t = seen?.get(obs);
      if (t === undefined) return undefined;
      last = Math.max(last, t);
    }
    return last;
  }

  /** Packets and packet bytes sent so far by all members (crashed ones included). */
  load(): { packetsSent: number; packetBytesSent: number } {
    let packetsSent = this.statsOfCrashed.packetsSent;
    let packetBytesSent = this.statsOfCrashed.packetBytesSent;
    for (const m of this.sim.up) {
      const s = m.node.stats();
      packetsSent += s.packetsSent;
      packetBytesSent += s.packetBytesSent;
    }
    return { packetsSent, packetBytesSent };
  }

  /** Distinct false verdicts: (subject, incarnation) pairs declared dead while the subject was up. */
  falseDeathVerdicts(): number {
    return new Set(this.falseDeaths.map((f) => `${f.subject}@${f.incarnation}`)).size;
  }

  private observe(observer: string, events: readonly MemberEvent[]): void {
    for (const e of events) {
      const { name, incarnation } = e.member;
      // Only a suspicion or a death needs it (a member's start-up join events arrive while the runner is still being built).
      const subjectUp = (e.type === "suspect" || e.type === "dead") && this.ids.includes(name) && this.sim.isUp(name) && !this.left.has(name);
      if (e.type === "suspect") {
        if (!this.firstSuspectMs.has(name)) this.firstSuspectMs.set(name, e.atMs);
        if (subjectUp) this.liveSuspicions.push({ observer, subject: name, incarnation, atMs: e.atMs });
      }
      if (e.type === "dead" || e.type === "leave") {
        let seen = this.deadSeenMs.get(name);
        if (seen === undefined) {
          seen = new Map();
          this.deadSeenMs.set(name, seen);
        }
        if (!seen.has(observer)) seen.set(observer, e.atMs);
        if (e.type === "dead") this.deadEvents.push({ observer, subject: name, atMs: e.atMs });
        if (e.type === "dead" && subjectUp) this.falseDeaths.push({ observer, subject: name, incarnation, atMs: e.atMs });
      }
    }
  }
}

function describeFalseDeath(f: FalseDeath): string {
  return `${f.observer} declared ${f.subject} (incarnation ${f.incarnation}) dead at t=${f.atMs.toFixed(1)} ms while it was up`;
}

/** The median of a sorted, non-empty array. */
export function median(sorted: readonly number[]): number {
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
