/**
 * Mixed clusters in the swim benchmark: half heck members speaking
 * memberlist's wire (`--wire memberlist`), half hashicorp/memberlist 0.2.2
 * members (the Go driver), beside all-heck (heck's own wire), all-heck on
 * memberlist's wire, and all-memberlist clusters, measured in the same run,
 * one cluster at a time, LAN defaults on every member.
 *
 * Per cluster: convergence after everyone joins through member 0 at once;
 * in run 1, packets, bytes and CPU per member per second over a quiet
 * window; then `kill -9` of one member and the time until every other
 * member has declared it dead. A mixed cluster loses one member of each
 * kind, one after the other, so detection is measured for both. The goal:
 * a mixed cluster detects and converges no slower than an all-memberlist one.
 */
import { loadavg } from "node:os";
import { median } from "../src/sim/cluster.ts";
import { cpuNs, sleep, spawnNode, stats, stopAll, waitUntil, type Bins, type Proc } from "./real-cluster.ts";

/** What one member runs: heck on its own wire, heck on memberlist's, or memberlist. */
type Kind = "heck" | "heck-ml" | "memberlist";

/** A cluster shape: the kind of member i in run r. */
interface Shape {
  label: string;
  kind: (i: number, run: number) => Kind;
}

const SHAPES: Shape[] = [
  { label: "all heck", kind: () => "heck" },
  { label: "all heck, memberlist wire", kind: () => "heck-ml" },
  // The seed (member 0) alternates between the kinds from run to run.
  { label: "mixed", kind: (i, run) => ((i + run) % 2 === 0 ? "heck-ml" : "memberlist") },
  { label: "all memberlist", kind: () => "memberlist" },
];

/** One cluster's figures; detection keyed by the kind of member killed. */
interface Figures {
  convergeMs: number | null;
  /**
   * The same, counted from the moment the last member began its join (its
   * "joining" line): what the protocol took, without the time a busy machine
   * took to schedule the processes that were told to join.
   */
  convergeAfterLastJoinMs: number | null;
  /** When the last member of each kind completed its view (heck's own wire and memberlist's counted as heck). */
  convergeByKindMs: Partial<Record<"heck" | "memberlist", number>>;
  deadAllMs: Partial<Record<"heck" | "memberlist", number | null>>;
  /**
   * The worst event-loop delay any heck member had between its join and the
   * moment the cluster converged (null without heck members): how late a
   * busy machine made the protocol's timers and socket reads run.
   */
  heckLoopDelayMaxMs: number | null;
  pktPerNodeSec: number;
  bytesPerNodeSec: number;
  cpuPctPerNode: number;
  loadavg: number;
}

async function start(shape: Shape, n: number, run: number, bins: Bins): Promise<{ procs: Proc[]; kinds: Kind[] }> {
  const kinds = Array.from({ length: n }, (_, i) => shape.kind(i, run));
  const procs: Proc[] = [];
  // A few at a time: many interpreters at once on two cores would only measure the scheduler.
  for (let i = 0; i < n; i += 8) {
    const batch = await Promise.all(
      kinds.slice(i, i + 8).map((k, j) => spawnNode(k === "memberlist" ? "memberlist" : "heck", `n${i + j}`, bins, [], k === "heck-ml" ? ["--wire", "memberlist"] : [])),
    );
    procs.push(...batch);
  }
  return { procs, kinds };
}

/** kill -9 `victim`; ms until every member of `observers` reported it dead (null if not within 120 s). */
async function killAndTime(victim: Proc, observers: Proc[]): Promise<number | null> {
  const tk = Date.now();
  victim.child.kill("SIGKILL");
  if (!(await waitUntil(() => observers.every((p) => !p.present.has(victim.name)), 120_000))) return null;
  let last = tk;
  for (const p of observers) {
    const e = p.events.find((x) => x.member === victim.name && x.event === "dead" && x.t >= tk);
    if (e !== undefined) last = Math.max(last, e.t);
  }
  return last - tk;
}

/**
 * Waits until the new processes have finished starting up: their CPU over
 * one second, all together, below a tenth of a core (or 60 s have passed).
 * Fifty Node processes compile their code for seconds after their ready
 * line; joining before that measures a machine busy starting them, not the
 * protocol. Returns how long it waited.
 */
async function quiet(procs: Proc[]): Promise<number> {
  const t0 = Date.now();
  await sleep(1000);
  while (Date.now() - t0 < 60_000) {
    const a = procs.reduce((sum, p) => sum + cpuNs(p.child.pid!), 0);
    await sleep(1000);
    const b = procs.reduce((sum, p) => sum + cpuNs(p.child.pid!), 0);
    if ((b - a) / 1e9 < 0.1) break;
  }
  return Date.now() - t0;
}

async function measure(shape: Shape, n: number, run: number, bins: Bins, steady: boolean, settleMs: number, windowMs: number): Promise<Figures> {
  const { procs, kinds } = await start(shape, n, run, bins);
  try {
    await quiet(procs);
    const t0 = Date.now();
    for (const p of procs.slice(1)) p.child.stdin!.write(`join ${procs[0]!.addr}\n`);
    let convergeMs: number | null = null;
    let convergeAfterLastJoinMs: number | null = null;
    const convergeByKindMs: Figures["convergeByKindMs"] = {};
    const converged = await waitUntil(() => procs.every((p) => p.present.size === n), 120_000);
    const delays = (await stats(procs)).flatMap((s) => (s.loopDelayMaxMs === undefined ? [] : [s.loopDelayMaxMs]));
    const heckLoopDelayMaxMs = delays.length > 0 ? Math.max(...delays) : null;
    if (converged) {
      // The moment the last member completed its view, from the processes' own clocks.
      let last = t0;
      procs.forEach((p, i) => {
        const seen = new Set([p.name]);
        let complete = t0;
        for (const e of p.events) {
          const m = e.member as string | undefined;
          if (m === undefined || e.event === "dead" || e.event === "leave" || seen.has(m)) continue;
          seen.add(m);
          if (seen.size === n) complete = e.t;
        }
        last = Math.max(last, complete);
        const kind = kinds[i] === "memberlist" ? "memberlist" : "heck";
        convergeByKindMs[kind] = Math.max(convergeByKindMs[kind] ?? 0, complete - t0);
      });
      convergeMs = last - t0;
      const lastJoin = Math.max(t0, ...procs.slice(1).map((p) => p.events.find((e) => e.event === "joining")?.t ?? t0));
      convergeAfterLastJoinMs = last - lastJoin;
    }
    let load = { pktPerNodeSec: NaN, bytesPerNodeSec: NaN, cpuPctPerNode: NaN, loadavg: loadavg()[0]! };
    if (steady) {
      await sleep(settleMs);
      const s0 = await stats(procs);
      const c0 = procs.map((p) => cpuNs(p.child.pid!));
      const w0 = Date.now();
      const l0 = loadavg()[0]!;
      await sleep(windowMs);
      const s1 = await stats(procs);
      const c1 = procs.map((p) => cpuNs(p.child.pid!));
      const seconds = (Date.now() - w0) / 1000;
      let packets = 0;
      let bytes = 0;
      let ns = 0;
      for (let i = 0; i < n; i++) {
        packets += s1[i]!.packetsOut - s0[i]!.packetsOut;
        bytes += s1[i]!.bytesOut - s0[i]!.bytesOut;
        ns += c1[i]! - c0[i]!;
      }
      load = { pktPerNodeSec: packets / n / seconds, bytesPerNodeSec: bytes / n / seconds, cpuPctPerNode: (ns / 1e9 / seconds / n) * 100, loadavg: (l0 + loadavg()[0]!) / 2 };
    } else await sleep(3000);

    // Kill the last member of each kind present (never the seed), one after the other.
    const deadAllMs: Figures["deadAllMs"] = {};
    const alive = new Set(procs);
    for (const victimKind of ["memberlist", "heck"] as const) {
      let idx = -1;
      for (let i = n - 1; i > 0; i--) if ((kinds[i] === "memberlist") === (victimKind === "memberlist")) {
        idx = i;
        break;
      }
      if (idx < 0) continue;
      const victim = procs[idx]!;
      alive.delete(victim);
      deadAllMs[victimKind] = await killAndTime(victim, [...alive]);
    }
    return { convergeMs, convergeAfterLastJoinMs, convergeByKindMs, deadAllMs, heckLoopDelayMaxMs, ...load };
  } finally {
    await stopAll(procs);
  }
}

const round = (v: number | null | undefined, digits = 0): number | null => (v === undefined || v === null || !Number.isFinite(v) ? null : Number(v.toFixed(digits)));
const med = (xs: Array<number | null | undefined>): number | null => {
  const ok = xs.filter((x): x is number => x !== null && x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  return ok.length > 0 ? median(ok) : null;
};

/**
 * Runs every shape at every size, `runs` times (load in run 1), and prints a
 * table per size with mixed/all-memberlist ratios. Returns the figures for
 * the benchmark's JSON line.
 */
export async function benchMixed(bins: Bins, sizes: number[], runs: number, settleMs: number, windowMs: number, log: (line: string) => void): Promise<Record<string, unknown>> {
  log("");
  log(`== Mixed clusters: half heck members on memberlist's wire, half hashicorp/memberlist 0.2.2, beside all-heck and all-memberlist; LAN defaults, ${runs} run(s) per size`);
  log(`   one cluster at a time; load over ${windowMs / 1000} s after ${settleMs / 1000} s of quiet, in run 1; then kill -9 of one member of each kind present`);
  const out: Record<string, unknown> = {};
  for (const n of sizes) {
    const all: Record<string, Figures[]> = {};
    for (let r = 0; r < runs; r++) {
      // Rotate the order, so no shape always gets the quietest moment.
      const order = SHAPES.map((_, i) => SHAPES[(i + r) % SHAPES.length]!);
      for (const shape of order) {
        const f = await measure(shape, n, r, bins, r === 0, settleMs, windowMs);
        (all[shape.label] ??= []).push(f);
        const load = r === 0 ? `, ${f.pktPerNodeSec.toFixed(2)} pkt/s, ${f.bytesPerNodeSec.toFixed(0)} B/s, ${f.cpuPctPerNode.toFixed(3)}% CPU per member` : "";
        const dead = Object.entries(f.deadAllMs)
          .map(([k, v]) => `${k} member dead at all ${v ?? "never"} ms`)
          .join(", ");
        const byKind = shape.label === "mixed" ? ` (last heck member ${f.convergeByKindMs.heck} ms, last memberlist member ${f.convergeByKindMs.memberlist} ms)` : "";
        const lag = f.heckLoopDelayMaxMs === null ? "" : `, worst heck event-loop delay while joining ${f.heckLoopDelayMaxMs.toFixed(0)} ms`;
        log(`   N=${n} run ${r + 1} ${shape.label.padEnd(26)} converge ${f.convergeMs ?? "never"} ms (${f.convergeAfterLastJoinMs ?? "-"} ms after the last join began)${byKind}${lag}, ${dead}${load} (load average ${f.loadavg.toFixed(1)})`);
      }
    }
    const summary: Record<string, Record<string, number | null>> = {};
    for (const shape of SHAPES) {
      const fs = all[shape.label]!;
      const conv = fs.map((f) => f.convergeMs);
      summary[shape.label] = {
        convergeMs: round(med(conv)),
        convergeMaxMs: conv.some((c) => c === null) ? null : round(Math.max(...(conv as number[]))),
        convergeAfterLastJoinMs: round(med(fs.map((f) => f.convergeAfterLastJoinMs))),
        heckLoopDelayMaxMs: round(med(fs.map((f) => f.heckLoopDelayMaxMs))),
        deadAllHeckMs: round(med(fs.map((f) => f.deadAllMs.heck))),
        deadAllMemberlistMs: round(med(fs.map((f) => f.deadAllMs.memberlist))),
        pktPerNodeSec: round(fs[0]!.pktPerNodeSec, 2),
        bytesPerNodeSec: round(fs[0]!.bytesPerNodeSec, 1),
        cpuPctPerNode: round(fs[0]!.cpuPctPerNode, 3),
        loadavg: round(med(fs.map((f) => f.loadavg)), 1),
      };
    }
    const mixed = summary.mixed!;
    const ml = summary["all memberlist"]!;
    const ratio = (a: number | null | undefined, b: number | null | undefined): number | null => (a === null || a === undefined || b === null || b === undefined || b === 0 ? null : Number((a / b).toFixed(2)));
    const ratios = {
      convergeMs: ratio(mixed.convergeMs, ml.convergeMs),
      convergeMaxMs: ratio(mixed.convergeMaxMs, ml.convergeMaxMs),
      convergeAfterLastJoinMs: ratio(mixed.convergeAfterLastJoinMs, ml.convergeAfterLastJoinMs),
      // Detection of a memberlist member dying: the mixed cluster against the all-memberlist one.
      deadAllMs: ratio(mixed.deadAllMemberlistMs, ml.deadAllMemberlistMs),
      deadAllHeckMs: ratio(mixed.deadAllHeckMs, ml.deadAllMemberlistMs),
      bytesPerNodeSec: ratio(mixed.bytesPerNodeSec, ml.bytesPerNodeSec),
    };
    log("");
    log(`   N=${n}   cluster                     converge median / max (after the last join)   dead at all (memberlist killed / heck killed)   pkt/member/s   bytes/member/s   CPU %/member`);
    for (const shape of SHAPES) {
      const f = summary[shape.label]!;
      const dead = `${f.deadAllMemberlistMs ?? "-"} / ${f.deadAllHeckMs ?? "-"} ms`;
      log(`         ${shape.label.padEnd(27)} ${`${f.convergeMs} / ${f.convergeMaxMs} ms (${f.convergeAfterLastJoinMs})`.padEnd(45)} ${dead.padEnd(47)} ${String(f.pktPerNodeSec).padEnd(14)} ${String(f.bytesPerNodeSec).padEnd(16)} ${f.cpuPctPerNode}`);
    }
    const met = (x: number | null): string => (x === null ? "unknown" : x <= 1 ? "met" : "not met");
    log(
      `         mixed / all memberlist: converge ${ratios.convergeMs} (max ${ratios.convergeMaxMs}, after the last join ${ratios.convergeAfterLastJoinMs}), detection ${ratios.deadAllMs} (a heck member: ${ratios.deadAllHeckMs}), bytes ${ratios.bytesPerNodeSec}; goal "no slower": convergence ${met(ratios.convergeMs)}, detection ${met(ratios.deadAllMs)}`,
    );
    out[String(n)] = { ...summary, ratio: ratios };
  }
  return out;
}
