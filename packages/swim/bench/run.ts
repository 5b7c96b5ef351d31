/**
 * `pnpm --filter @heck/swim bench`: SWIM + Lifeguard measured two ways.
 *
 * 1. Simulation (seeded, deterministic) at N = 10, 100, 1000: detection times,
 *    dissemination rounds against ln(n), packets per member per period, and
 *    false-positive rates at 0/5/10/20% loss with and without Lifeguard,
 *    printed beside the SWIM and Lifeguard papers' claims.
 * 2. Real processes on loopback, one process per member, heck and
 *    hashicorp/memberlist 0.2.2 (LAN defaults on both) side by side in the
 *    same run: join convergence, kill -9 detection, packets, bytes and CPU
 *    per member per second, with heck/memberlist ratios.
 *
 * 3. Mixed clusters (bench/mixed-bench.ts): half heck members on memberlist's
 *    wire, half memberlist members, at N = 10 and 50, beside all-heck,
 *    all-heck-on-memberlist's-wire and all-memberlist clusters in the same
 *    run: convergence, detection of each kind's death, packets, bytes, CPU.
 *
 * The last line is one JSON object with every figure. Environment knobs:
 * BENCH_RUNS (real runs per size, default 3), BENCH_SIZES (default 10,50,100),
 * BENCH_MIXED_SIZES (default 10,50), BENCH_SKIP_REAL=1 / BENCH_SKIP_SIM=1 /
 * BENCH_SKIP_MIXED=1, BENCH_SETTLE_MS / BENCH_WINDOW_MS. BENCH_MIXED=1 runs
 * the mixed clusters alone.
 *
 * BENCH_CPU=1 runs only the steady-state load comparison (no simulation, no
 * join or detection timing): per size and run, a heck cluster and a
 * memberlist cluster run *at the same time*, so both see the same load on a
 * shared machine, and the order they start in alternates between runs. It
 * prints CPU, packets and bytes per member per second for each run with the
 * load average, then medians and heck/memberlist ratios of the medians.
 */
import { existsSync } from "node:fs";
import { loadavg } from "node:os";
import { median } from "../src/sim/cluster.ts";
import { measureDissemination, measureFalsePositives, runScenario } from "../src/sim/scenario.ts";
import { benchMixed } from "./mixed-bench.ts";
import { buildMemberlistDriver, bundleHeckNode, cpuNs, sleep, startAll, stats, stopAll, waitUntil, type Bins, type Impl, type Proc } from "./real-cluster.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SIZES = (process.env.BENCH_SIZES ?? "10,50,100").split(",").map(Number);
/** Quiet time before the steady-state window: start-up work (V8's compiler, memory reducer, the join ramp) must die down first. */
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 40_000);
const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 15_000);
const log = (line: string): void => console.log(line);
const round = (v: number | undefined, digits = 0): number | null => (v === undefined || !Number.isFinite(v) ? null : Number(v.toFixed(digits)));

// ---------------------------------------------------------------------------
// 1. Simulation
// ---------------------------------------------------------------------------

interface SimFigures {
  firstSuspectMs: number | null;
  deadMedianMs: number | null;
  deadLastMs: number | null;
  pktPerMemberPerPeriod: number | null;
  pktPerMemberPerPeriodDetecting: number | null;
  disseminationRounds: number | null;
  lnN: number;
}

function simulate(): { sizes: Record<string, SimFigures>; falsePositives: Record<string, Record<string, Record<string, number>>> } {
  log("== Simulation (seeded; lan preset: probe 1 s, timeout 500 ms, 3 indirect, suspicion x4/x6, gossip 200 ms x3)");
  log("   N      first suspect  dead (median)  dead (last)  pkts/member/period  (detecting)  update spread  ln N");
  const sizes: Record<string, SimFigures> = {};
  for (const n of [10, 100, 1000]) {
    const seeds = n <= 100 ? [1, 2, 3] : [1];
    const runs = seeds.map((seed) => runScenario({ nodes: n, seed, codec: n <= 100 }));
    const spread = seeds.map((seed) => measureDissemination({ nodes: n, seed, codec: false }));
    const med = (pick: (r: (typeof runs)[number]) => number | undefined): number | undefined => {
      const xs = runs.map(pick).filter((x): x is number => x !== undefined).sort((a, b) => a - b);
      return xs.length > 0 ? median(xs) : undefined;
    };
    const rounds = spread.map((s) => s.rounds).filter((x): x is number => x !== undefined).sort((a, b) => a - b);
    const f: SimFigures = {
      firstSuspectMs: round(med((r) => r.firstSuspectMs)),
      deadMedianMs: round(med((r) => r.deadMedianMs)),
      deadLastMs: round(med((r) => r.deadLastMs)),
      pktPerMemberPerPeriod: round(med((r) => r.steadyPacketsPerMemberPerPeriod), 2),
      pktPerMemberPerPeriodDetecting: round(med((r) => r.detectionPacketsPerMemberPerPeriod), 2),
      disseminationRounds: round(rounds.length > 0 ? median(rounds) : undefined, 2),
      lnN: Number(Math.log(n).toFixed(2)),
    };
    sizes[String(n)] = f;
    log(
      `   ${String(n).padEnd(6)} ${fmtMs(f.firstSuspectMs).padEnd(14)} ${fmtMs(f.deadMedianMs).padEnd(14)} ${fmtMs(f.deadLastMs).padEnd(12)} ${String(f.pktPerMemberPerPeriod).padEnd(19)} ${String(f.pktPerMemberPerPeriodDetecting).padEnd(12)} ${String(f.disseminationRounds)} rounds`.padEnd(100) +
        ` ${f.lnN}`,
    );
  }
  log("   N = 10000: not run. Every member holds the full table (SWIM's design), so 10^4 simulated members hold 10^8 entries (~15 GB here).");
  log("   SWIM paper (Das et al. 2002, §3.1, §5): first detection e/(e-1) = 1.58 periods on average; load per member per period constant in N;");
  log("   updates reach everyone in O(log N) rounds. Here: 2 packets per member per period at every N (ping + ack), spread in < ln N rounds.");

  log("");
  log("== False positives (N = 50, 300 s simulated, lan preset; rate = healthy members falsely declared dead / healthy members)");
  const falsePositives: Record<string, Record<string, Record<string, number>>> = { lossOnly: { lifeguard: {}, swim: {} }, slowMember: { lifeguard: {}, swim: {} } };
  log("   loss   loss only: lifeguard  swim     | one slow member (10 s lag): lifeguard  swim   (false verdicts on healthy members)");
  for (const loss of [0, 0.05, 0.1, 0.2]) {
    const cells: string[] = [];
    for (const scenario of ["lossOnly", "slowMember"] as const) {
      for (const lifeguard of [true, false]) {
        const r = measureFalsePositives({ nodes: 50, seed: 11, lossRate: loss, lifeguard, windowMs: 300_000, slowMembers: scenario === "slowMember" ? 1 : 0, lagMs: 10_000 });
        falsePositives[scenario]![lifeguard ? "lifeguard" : "swim"]![String(loss)] = Number(r.rate.toFixed(4));
        cells.push(`${r.rate.toFixed(3)} (${r.verdicts})`);
      }
    }
    log(`   ${`${loss * 100}%`.padEnd(6)} ${cells[0]!.padEnd(21)} ${cells[1]!.padEnd(9)}| ${cells[2]!.padEnd(39)} ${cells[3]}`);
  }
  log("   Lifeguard paper (Dadgar et al. 2018, §V): with CPU-starved members, false positives fall by more than an order of magnitude");
  log("   with Lifeguard on. Loss alone causes none here: the TCP fallback ping is reliable in this simulation.");
  return { sizes, falsePositives };
}

function fmtMs(ms: number | null): string {
  return ms === null ? "-" : `${(ms / 1000).toFixed(2)} s`;
}

// ---------------------------------------------------------------------------
// 2. Real processes
// ---------------------------------------------------------------------------

/** One cluster: join convergence, then (when `steady`) the quiet-window load, then kill -9 detection. */
async function runReal(impl: Impl, n: number, bins: Bins, steady: boolean): Promise<RealFigures> {
  const procs = await startAll(impl, n, bins);
  try {
    await sleep(1000);
    // Join: every member but n0 joins through n0, all at the same moment.
    const t0 = Date.now();
    for (const p of procs.slice(1)) p.child.stdin!.write(`join ${procs[0]!.addr}\n`);
    const converged = await waitUntil(() => procs.every((p) => p.present.size === n), 120_000);
    let convergeMs: number | null = null;
    if (converged) {
      // The moment the last member completed its view, from the processes' own clocks.
      let last = t0;
      for (const p of procs) {
        const seen = new Set([p.name]);
        for (const e of p.events) {
          const m = e.member as string | undefined;
          if (m === undefined || e.event === "dead" || e.event === "leave") continue;
          if (!seen.has(m)) {
            seen.add(m);
            if (seen.size === n) last = Math.max(last, e.t);
          }
        }
      }
      convergeMs = last - t0;
    }

    if (!steady) {
      await sleep(3000);
      const deadAllMs = await killAndTime(procs);
      return { convergeMs, deadAllMs, pktPerNodeSec: NaN, bytesPerNodeSec: NaN, cpuPctPerNode: NaN, falseSuspicions: 0 };
    }
    // Steady state: packets, bytes and CPU over a quiet window, once start-up work (V8's
    // compiler and memory reducer, the join ramp's push-pulls) has died down.
    await sleep(SETTLE_MS);
    const windowMs = WINDOW_MS;
    const eventsBefore = procs.map((p) => p.events.length);
    const s0 = await stats(procs);
    const c0 = procs.map((p) => cpuNs(p.child.pid!));
    const w0 = Date.now();
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
    const falseSuspicions = procs.reduce((sum, p, i) => sum + p.events.slice(eventsBefore[i]).filter((e) => e.event === "suspect" || e.event === "dead").length, 0);

    const deadAllMs = await killAndTime(procs);
    return {
      convergeMs,
      deadAllMs,
      pktPerNodeSec: packets / n / seconds,
      bytesPerNodeSec: bytes / n / seconds,
      cpuPctPerNode: (ns / 1e9 / seconds / n) * 100,
      falseSuspicions,
    };
  } finally {
    await stopAll(procs);
  }
}

/** kill -9 the last member; ms until every other one reported it dead (null if not within 90 s). */
async function killAndTime(procs: Proc[]): Promise<number | null> {
  const victim = procs[procs.length - 1]!;
  const others = procs.slice(0, -1);
  const tk = Date.now();
  victim.child.kill("SIGKILL");
  const detected = await waitUntil(() => others.every((p) => !p.present.has(victim.name)), 90_000);
  if (!detected) return null;
  let last = tk;
  for (const p of others) {
    const e = p.events.find((x) => x.member === victim.name && x.event === "dead" && x.t >= tk);
    if (e !== undefined) last = Math.max(last, e.t);
  }
  return last - tk;
}

interface RealFigures {
  convergeMs: number | null;
  deadAllMs: number | null;
  pktPerNodeSec: number;
  bytesPerNodeSec: number;
  cpuPctPerNode: number;
  falseSuspicions: number;
}

function summarize(runs: RealFigures[]): Record<string, number | null> {
  const med = (pick: (r: RealFigures) => number | null): number | null => {
    const xs = runs.map(pick).filter((x): x is number => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
    return xs.length > 0 ? median(xs) : null;
  };
  const converge = runs.map((r) => r.convergeMs);
  return {
    convergeMs: round(med((r) => r.convergeMs) ?? undefined),
    convergeMaxMs: converge.some((c) => c === null) ? null : round(Math.max(...(converge as number[]))),
    deadAllMs: round(med((r) => r.deadAllMs) ?? undefined),
    pktPerNodeSec: round(med((r) => r.pktPerNodeSec) ?? undefined, 2),
    bytesPerNodeSec: round(med((r) => r.bytesPerNodeSec) ?? undefined, 1),
    cpuPctPerNode: round(med((r) => r.cpuPctPerNode) ?? undefined, 3),
    falseSuspicions: runs.reduce((s, r) => s + r.falseSuspicions, 0),
    runs: runs.length,
    unconverged: converge.filter((c) => c === null).length,
  };
}

async function real(): Promise<Record<string, Record<string, Record<string, number | null>>>> {
  log("");
  log(`== Real processes on loopback, one process per member, LAN defaults on both, ${RUNS} run(s) per size (medians; max convergence = the tail)`);
  log(`   heck runs bundled (esbuild, one .mjs), memberlist 0.2.2 compiled from Debian's sources; load measured over ${WINDOW_MS / 1000} s after ${SETTLE_MS / 1000} s of quiet, in run 1`);
  const bins = { go: buildMemberlistDriver(), heck: bundleHeckNode() };
  const out: Record<string, Record<string, Record<string, number | null>>> = {};
  for (const n of SIZES) {
    const results: Record<Impl, RealFigures[]> = { heck: [], memberlist: [] };
    for (let r = 0; r < RUNS; r++) {
      for (const impl of ["heck", "memberlist"] as const) {
        const f = await runReal(impl, n, bins, r === 0);
        results[impl].push(f);
        const load = r === 0 ? `, ${f.pktPerNodeSec.toFixed(2)} pkt/s, ${f.bytesPerNodeSec.toFixed(0)} B/s, ${f.cpuPctPerNode.toFixed(3)}% CPU per member` : "";
        log(`   N=${n} run ${r + 1} ${impl.padEnd(10)} converge ${f.convergeMs ?? "never"} ms, dead-by-all ${f.deadAllMs ?? "never"} ms${load}`);
      }
    }
    const heck = summarize(results.heck);
    const memberlist = summarize(results.memberlist);
    const ratio: Record<string, number | null> = {};
    for (const k of ["convergeMs", "deadAllMs", "pktPerNodeSec", "bytesPerNodeSec", "cpuPctPerNode"]) {
      const a = heck[k];
      const b = memberlist[k];
      ratio[k] = a === null || b === null || a === undefined || b === undefined || b === 0 ? null : Number((a / b).toFixed(2));
    }
    out[String(n)] = { heck, memberlist, ratio };
  }
  log("");
  log("   N     impl        converge (median / max)   dead by all   pkt/member/s   bytes/member/s   CPU %/member");
  for (const n of SIZES) {
    const row = out[String(n)]!;
    for (const impl of ["heck", "memberlist", "ratio"] as const) {
      const f = row[impl]!;
      const conv = impl === "ratio" ? `${f.convergeMs}` : `${f.convergeMs} / ${f.convergeMaxMs} ms`;
      log(`   ${String(n).padEnd(5)} ${impl.padEnd(11)} ${conv.padEnd(25)} ${String(f.deadAllMs).padEnd(13)} ${String(f.pktPerNodeSec).padEnd(14)} ${String(f.bytesPerNodeSec).padEnd(16)} ${f.cpuPctPerNode}`);
    }
  }
  log("   (ratio = heck / memberlist; below 1.0 is better for heck)");
  return out;
}

// ---------------------------------------------------------------------------
// 3. Steady-state load only, both clusters at once (BENCH_CPU=1)
// ---------------------------------------------------------------------------

interface Load {
  cpuPctPerNode: number;
  pktPerNodeSec: number;
  bytesPerNodeSec: number;
}

/** Starts `n` members of `impl` and joins them all through the first; resolves once all see all. */
async function startJoined(impl: Impl, n: number, bins: Bins): Promise<Proc[]> {
  const procs = await startAll(impl, n, bins);
  await sleep(500);
  for (const p of procs.slice(1)) p.child.stdin!.write(`join ${procs[0]!.addr}\n`);
  if (!(await waitUntil(() => procs.every((p) => p.present.size === n), 120_000))) {
    await stopAll(procs);
    throw new Error(`${impl} N=${n}: did not converge in 120 s`);
  }
  return procs;
}

/** CPU time and packet counters of every process now. */
async function snapshot(procs: Proc[]): Promise<{ cpuNs: number; packets: number; bytes: number }> {
  const s = await stats(procs);
  return {
    cpuNs: procs.reduce((sum, p) => sum + cpuNs(p.child.pid!), 0),
    packets: s.reduce((sum, x) => sum + x.packetsOut, 0),
    bytes: s.reduce((sum, x) => sum + x.bytesOut, 0),
  };
}

async function cpuOnly(): Promise<Record<string, unknown>> {
  // BENCH_HECK_BASELINE=<bundle.mjs> adds a third cluster running an older heck bundle, for before/after.
  const baseline = process.env.BENCH_HECK_BASELINE;
  log(`== Steady-state load, heck${baseline ? ", heck-baseline" : ""} and memberlist clusters running at the same time; ${WINDOW_MS / 1000} s window after ${SETTLE_MS / 1000} s of quiet; ${RUNS} run(s) per size`);
  const go = buildMemberlistDriver();
  const heck = bundleHeckNode();
  const contenders: Array<{ label: string; impl: Impl; bins: Bins }> = [
    { label: "heck", impl: "heck", bins: { go, heck } },
    ...(baseline ? [{ label: "heck-baseline", impl: "heck" as const, bins: { go, heck: baseline } }] : []),
    { label: "memberlist", impl: "memberlist", bins: { go, heck } },
  ];
  const out: Record<string, unknown> = {};
  for (const n of SIZES) {
    const runs: Array<{ loads: Record<string, Load>; loadavg: number }> = [];
    for (let r = 0; r < RUNS; r++) {
      // Rotate the start order, so no contender always gets the quietest machine.
      const order = contenders.map((_, i) => contenders[(i + r) % contenders.length]!);
      const clusters = new Map<string, Proc[]>();
      try {
        for (const c of order) clusters.set(c.label, await startJoined(c.impl, n, c.bins));
        await sleep(SETTLE_MS);
        const load0 = loadavg()[0]!;
        const before = new Map<string, Awaited<ReturnType<typeof snapshot>>>();
        for (const c of order) before.set(c.label, await snapshot(clusters.get(c.label)!));
        const t0 = Date.now();
        await sleep(WINDOW_MS);
        const seconds = (Date.now() - t0) / 1000;
        const loads: Record<string, Load> = {};
        for (const c of order) {
          const a = before.get(c.label)!;
          const b = await snapshot(clusters.get(c.label)!);
          loads[c.label] = {
            cpuPctPerNode: ((b.cpuNs - a.cpuNs) / 1e9 / seconds / n) * 100,
            pktPerNodeSec: (b.packets - a.packets) / n / seconds,
            bytesPerNodeSec: (b.bytes - a.bytes) / n / seconds,
          };
        }
        const row = { loads, loadavg: (load0 + loadavg()[0]!) / 2 };
        runs.push(row);
        const cells = contenders.map((c) => `${c.label} ${loads[c.label]!.cpuPctPerNode.toFixed(3)}% CPU, ${loads[c.label]!.pktPerNodeSec.toFixed(2)} pkt/s, ${loads[c.label]!.bytesPerNodeSec.toFixed(0)} B/s`);
        log(`   N=${n} run ${r + 1} (${order[0]!.label} started first, load average ${row.loadavg.toFixed(1)}): ${cells.join("; ")}; heck/memberlist CPU ${(loads.heck!.cpuPctPerNode / loads.memberlist!.cpuPctPerNode).toFixed(2)}`);
      } finally {
        for (const procs of clusters.values()) await stopAll(procs);
      }
    }
    const med = (pick: (x: (typeof runs)[number]) => number): number => median(runs.map(pick).sort((a, b) => a - b));
    const summary: Record<string, unknown> = { loadavgMedian: round(med((x) => x.loadavg), 1), runs: runs.length };
    for (const c of contenders) {
      summary[c.label] = {
        cpuPctPerNode: round(med((x) => x.loads[c.label]!.cpuPctPerNode), 3),
        pktPerNodeSec: round(med((x) => x.loads[c.label]!.pktPerNodeSec), 2),
        bytesPerNodeSec: round(med((x) => x.loads[c.label]!.bytesPerNodeSec), 1),
      };
    }
    const ratioOf = (label: string): Record<string, number | null> => ({
      cpuPctPerNode: round(med((x) => x.loads[label]!.cpuPctPerNode) / med((x) => x.loads.memberlist!.cpuPctPerNode), 2),
      cpuPerRunMedian: round(med((x) => x.loads[label]!.cpuPctPerNode / x.loads.memberlist!.cpuPctPerNode), 2),
      pktPerNodeSec: round(med((x) => x.loads[label]!.pktPerNodeSec) / med((x) => x.loads.memberlist!.pktPerNodeSec), 2),
      bytesPerNodeSec: round(med((x) => x.loads[label]!.bytesPerNodeSec) / med((x) => x.loads.memberlist!.bytesPerNodeSec), 2),
    });
    summary.ratio = ratioOf("heck");
    if (baseline) summary.ratioBaseline = ratioOf("heck-baseline");
    const r = summary.ratio as Record<string, number | null>;
    log(`   N=${n} medians: ${contenders.map((c) => `${c.label} ${(summary[c.label] as Load).cpuPctPerNode}% CPU`).join(", ")}; heck/memberlist ${r.cpuPctPerNode} (median of per-run ratios ${r.cpuPerRunMedian})${baseline ? `, heck-baseline/memberlist ${(summary.ratioBaseline as Record<string, number | null>).cpuPctPerNode}` : ""}; load average ${summary.loadavgMedian}`);
    out[String(n)] = summary;
  }
  return out;
}

// ---------------------------------------------------------------------------

const result: Record<string, unknown> = { bench: "swim", runs: RUNS };
const MIXED_SIZES = (process.env.BENCH_MIXED_SIZES ?? "10,50").split(",").map(Number);
const mixed = async (): Promise<Record<string, unknown>> => benchMixed({ go: buildMemberlistDriver(), heck: bundleHeckNode() }, MIXED_SIZES, RUNS, SETTLE_MS, WINDOW_MS, log);
if (process.env.BENCH_MIXED === "1") {
  result.mixed = await mixed();
  console.log(JSON.stringify(result));
  process.exit(0);
}
if (process.env.BENCH_CPU === "1") {
  result.cpu = await cpuOnly();
  console.log(JSON.stringify(result));
  process.exit(0);
}
if (process.env.BENCH_SKIP_SIM !== "1") {
  const s = simulate();
  result.sim = s.sizes;
  result.falsePositives = s.falsePositives;
}
if (process.env.BENCH_SKIP_REAL !== "1") {
  if (!existsSync("/usr/share/gocode/src/github.com/hashicorp/memberlist")) {
    log("memberlist sources not found (apt-get install golang-github-hashicorp-memberlist-dev); skipping the real-process comparison");
  } else {
    result.real = await real();
    if (process.env.BENCH_SKIP_MIXED !== "1") result.mixed = await mixed();
  }
}
console.log(JSON.stringify(result));
