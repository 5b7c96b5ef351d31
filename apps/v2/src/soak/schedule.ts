/**
 * The soak's fault schedule as data, drawn from one seed: the same seed
 * gives the same faults at the same times, whichever store or fault layer
 * runs them, so runs can be compared and a bad one replayed.
 *
 * Three independent tracks, as a Jepsen nemesis would run them:
 * - processes: one agent at a time is killed with SIGKILL (restarted after
 *   a while, from its data) or paused with SIGSTOP (some pauses shorter
 *   than SWIM's detection, some longer);
 * - the network: a partition of one of @heck/sim's shapes (one agent
 *   isolated, majority/minority, one-way, bridge), loss, or delay with
 *   jitter, held for a while, then healed;
 * - CPU pressure: one agent at a time confined to a share of one core (the
 *   lab's CpuLimit), then released, the way a busy neighbour starves a
 *   process: it answers late, and its peers may suspect it.
 * Each track draws from its own fork of the seed, so adding one leaves the
 * others' faults and times as they were.
 * Plus origin flips (a few origins start failing, later recover) so that
 * statuses change while the faults hold, and agreement after a heal means
 * something. The last `cooldownMs` are fault-free, for the final checks.
 * Pure: the Prng is injected.
 */
import { describePartition, isolateOne, majorityMinority, randomBridge, randomOneWay, type PartitionSpec, type Prng } from "@heck/sim";

/** One thing the soak does to the cluster. */
export type SoakFault =
  | { kind: "kill"; agent: string }
  | { kind: "restart"; agent: string }
  | { kind: "stop"; agent: string }
  | { kind: "cont"; agent: string }
  | { kind: "partition"; spec: PartitionSpec }
  | { kind: "heal" }
  | { kind: "loss"; lossPct: number }
  | { kind: "delay"; delayMs: number; jitterMs: number }
  | { kind: "clear" }
  | { kind: "cpu"; agent: string; pct: number }
  | { kind: "uncpu"; agent: string }
  | { kind: "flip"; origins: number[]; mode: "failing" | "healthy" };

/** A fault and when, in ms from the start of the schedule. */
export interface SoakStep {
  atMs: number;
  fault: SoakFault;
}

/** Knobs of {@link soakSchedule}. */
export interface SoakScheduleOptions {
  prng: Prng;
  agents: readonly string[];
  origins: number;
  durationMs: number;
  /** No fault before this (the cluster settles). */
  warmupMs: number;
  /** No fault in the last this-many ms (final agreement and list checks). */
  cooldownMs: number;
  /** Mean gap between the end of one fault and the next on a track (exponential). */
  meanGapMs: number;
  /** A fault holds a uniform time in [minHoldMs, maxHoldMs]. */
  minHoldMs: number;
  maxHoldMs: number;
  /** Mean time between origin flips. */
  flipEveryMs: number;
}

/**
 * The shares of one core a CPU fault confines an agent to: from a tenth,
 * where a check cycle of thousands of origins cannot finish in its interval,
 * to a half, where it only answers late.
 */
export const CPU_SHARES_PCT = [10, 20, 30, 50] as const;

/** The schedule, sorted by time. */
export function soakSchedule(o: SoakScheduleOptions): SoakStep[] {
  const steps: SoakStep[] = [];
  const end = o.durationMs - o.cooldownMs;
  const hold = (p: Prng) => Math.round(o.minHoldMs + p.nextFloat() * (o.maxHoldMs - o.minHoldMs));
  const at = (t: number) => Math.round(t);

  // Processes: one victim at a time.
  const procs = o.prng.fork("processes");
  for (let t = o.warmupMs + procs.exponential(o.meanGapMs); ; ) {
    const h = hold(procs);
    if (t + h > end) break;
    const agent = procs.pick(o.agents);
    if (procs.nextFloat() < 0.5) steps.push({ atMs: at(t), fault: { kind: "kill", agent } }, { atMs: at(t + h), fault: { kind: "restart", agent } });
    else steps.push({ atMs: at(t), fault: { kind: "stop", agent } }, { atMs: at(t + h), fault: { kind: "cont", agent } });
    t += h + procs.exponential(o.meanGapMs);
  }

  // The network: one fault at a time.
  const net = o.prng.fork("network");
  for (let t = o.warmupMs + net.exponential(o.meanGapMs); ; ) {
    const h = hold(net);
    if (t + h > end) break;
    const roll = net.nextFloat();
    if (roll < 0.6) {
      const shape = net.nextInt(0, 3);
      const spec = shape === 0 ? isolateOne(o.agents, net) : shape === 1 ? majorityMinority(o.agents, net) : shape === 2 ? randomOneWay(o.agents, net) : randomBridge(o.agents, net);
      steps.push({ atMs: at(t), fault: { kind: "partition", spec } }, { atMs: at(t + h), fault: { kind: "heal" } });
    } else if (roll < 0.8) {
      steps.push({ atMs: at(t), fault: { kind: "loss", lossPct: 10 + 5 * net.nextInt(0, 4) } }, { atMs: at(t + h), fault: { kind: "clear" } });
    } else {
      const delayMs = 50 * net.nextInt(1, 6);
      steps.push({ atMs: at(t), fault: { kind: "delay", delayMs, jitterMs: Math.round(delayMs * net.nextFloat()) } }, { atMs: at(t + h), fault: { kind: "clear" } });
    }
    t += h + net.exponential(o.meanGapMs);
  }

  // CPU pressure: one agent at a time, capped at 10-50% of one core.
  const cpu = o.prng.fork("cpu");
  for (let t = o.warmupMs + cpu.exponential(o.meanGapMs); ; ) {
    const h = hold(cpu);
    if (t + h > end) break;
    const agent = cpu.pick(o.agents);
    const pct = cpu.pick(CPU_SHARES_PCT);
    steps.push({ atMs: at(t), fault: { kind: "cpu", agent, pct } }, { atMs: at(t + h), fault: { kind: "uncpu", agent } });
    t += h + cpu.exponential(o.meanGapMs);
  }

  // Origin flips: a handful fail, and recover at the next flip.
  const flips = o.prng.fork("flips");
  let failing: number[] = [];
  for (let t = o.warmupMs / 2 + flips.exponential(o.flipEveryMs); t < end; t += flips.exponential(o.flipEveryMs)) {
    if (failing.length > 0) steps.push({ atMs: at(t), fault: { kind: "flip", origins: failing, mode: "healthy" } });
    failing = Array.from(new Set(Array.from({ length: Math.min(5, o.origins) }, () => flips.nextInt(0, o.origins - 1)))).sort((a, b) => a - b);
    steps.push({ atMs: at(t) + 1, fault: { kind: "flip", origins: failing, mode: "failing" } });
  }
  if (failing.length > 0) steps.push({ atMs: at(end), fault: { kind: "flip", origins: failing, mode: "healthy" } });
  return steps.sort((a, b) => a.atMs - b.atMs);
}

/** One readable line: "partition n1 | (rest)", "kill -9 n3", "loss 20%". */
export function describeSoakFault(f: SoakFault): string {
  switch (f.kind) {
    case "kill":
      return `kill -9 ${f.agent}`;
    case "restart":
      return `restart ${f.agent}`;
    case "stop":
      return `SIGSTOP ${f.agent}`;
    case "cont":
      return `SIGCONT ${f.agent}`;
    case "partition":
      return `partition ${describePartition(f.spec)}`;
    case "heal":
      return "heal partition";
    case "loss":
      return `loss ${f.lossPct}% on every link`;
    case "delay":
      return `delay ${f.delayMs}±${f.jitterMs} ms on every link`;
    case "clear":
      return "clear loss/delay";
    case "cpu":
      return `cpu ${f.agent} to ${f.pct}% of one core`;
    case "uncpu":
      return `release cpu ${f.agent}`;
    case "flip":
      return `origins ${f.origins.map((i) => `o${i}`).join(",")} ${f.mode}`;
  }
}
