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
 * The last line is one JSON object with every figure. Environment knobs:
 * BENCH_RUNS (real runs per size, default 3), BENCH_SIZES (default 10,50,100),
 * BENCH_SKIP_REAL=1 / BENCH_SKIP_SIM=1.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { buildSync } from "esbuild";
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { median } from "../src/sim/cluster.ts";
import { measureDissemination, measureFalsePositives, runScenario } from "../src/sim/scenario.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
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

interface Proc {
  name: string;
  child: ChildProcess;
  addr: string;
  /** Members this process currently counts (itself included). */
  present: Set<string>;
  events: Array<Record<string, unknown> & { t: number; event: string }>;
  pending: Array<(e: Record<string, unknown> & { t: number; event: string }) => boolean>;
}

type Impl = "heck" | "memberlist";

interface RealFigures {
  convergeMs: number | null;
  deadAllMs: number | null;
  pktPerNodeSec: number;
  bytesPerNodeSec: number;
  cpuPctPerNode: number;
  falseSuspicions: number;
}

function buildMemberlistDriver(): string {
  const gopath = path.join(tmpdir(), "heck-swim-bench-go");
  const src = path.join(gopath, "src", "memberlist-node");
  rmSync(gopath, { recursive: true, force: true });
  mkdirSync(path.dirname(src), { recursive: true });
  symlinkSync(path.join(here, "memberlist-node"), src);
  const bin = path.join(gopath, "memberlist-node");
  // GOPATH mode, offline: Debian installs memberlist 0.2.2 and its dependencies under /usr/share/gocode.
  const res = spawnSync("go", ["build", "-o", bin, "."], {
    cwd: src,
    env: { ...process.env, GO111MODULE: "off", GOPATH: `${gopath}:/usr/share/gocode`, GOFLAGS: "", GOCACHE: path.join(gopath, "cache") },
    encoding: "utf8",
  });
  if (res.status !== 0) throw new Error(`go build failed (is golang-github-hashicorp-memberlist-dev installed?):\n${res.stderr}`);
  return bin;
}

/** Bundles bench/heck-node.ts into one JS file, as heck would be deployed (no TypeScript loader at run time). */
function bundleHeckNode(): string {
  const out = path.join(tmpdir(), "heck-swim-bench-node.mjs");
  buildSync({ entryPoints: [path.join(here, "heck-node.ts")], bundle: true, platform: "node", format: "esm", target: "node20", outfile: out, logLevel: "warning" });
  return out;
}

function spawnNode(impl: Impl, name: string, bins: { go: string; heck: string }): Promise<Proc> {
  const child =
    impl === "heck"
      ? spawn(process.execPath, [bins.heck, "--name", name], { stdio: ["pipe", "pipe", "inherit"] })
      : spawn(bins.go, ["-name", name], { stdio: ["pipe", "pipe", "inherit"] });
  const proc: Proc = { name, child, addr: "", present: new Set([name]), events: [], pending: [] };
  let buf = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    buf += chunk.toString("utf8");
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let e: Record<string, unknown> & { t: number; event: string };
      try {
        e = JSON.parse(line);
      } catch {
        continue;
      }
      proc.events.push(e);
      const member = e.member as string | undefined;
      if (member !== undefined) {
        if (e.event === "dead" || e.event === "leave") proc.present.delete(member);
        else proc.present.add(member); // join, alive, update, and suspect (memberlist cannot report suspect)
      }
      proc.pending = proc.pending.filter((w) => !w(e));
    }
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${impl} ${name}: no ready line in 60 s`)), 60_000);
    proc.pending.push((e) => {
      if (e.event !== "ready") return false;
      clearTimeout(timer);
      proc.addr = e.addr as string;
      resolve(proc);
      return true;
    });
    child.on("exit", (code) => {
      if (proc.addr === "") reject(new Error(`${impl} ${name} exited with ${code} before ready`));
    });
  });
}

/** Sends `stats` to every process and collects the replies. */
async function stats(procs: Proc[]): Promise<Array<{ packetsOut: number; bytesOut: number }>> {
  return Promise.all(
    procs.map(
      (p) =>
        new Promise<{ packetsOut: number; bytesOut: number }>((resolve) => {
          p.pending.push((e) => {
            if (e.event !== "stats") return false;
            resolve({ packetsOut: Number(e.packetsOut), bytesOut: Number(e.bytesOut) });
            return true;
          });
          p.child.stdin!.write("stats\n");
        }),
    ),
  );
}

const CLK_TCK = 100;
function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]); // utime + stime
  } catch {
    return 0;
  }
}

async function waitUntil(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (predicate()) return true;
    await sleep(20);
  }
  return predicate();
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function startAll(impl: Impl, n: number, bins: { go: string; heck: string }): Promise<Proc[]> {
  const procs: Proc[] = [];
  // Start a few at a time: 100 interpreters at once on two cores would only measure the scheduler.
  for (let i = 0; i < n; i += 8) {
    const batch = await Promise.all(Array.from({ length: Math.min(8, n - i) }, (_, k) => spawnNode(impl, `n${i + k}`, bins)));
    procs.push(...batch);
  }
  return procs;
}

async function stopAll(procs: Proc[]): Promise<void> {
  for (const p of procs) p.child.stdin?.end();
  await sleep(1500);
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
}

/** One cluster: join convergence, then (when `steady`) the quiet-window load, then kill -9 detection. */
async function runReal(impl: Impl, n: number, bins: { go: string; heck: string }, steady: boolean): Promise<RealFigures> {
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
    const c0 = procs.map((p) => cpuTicks(p.child.pid!));
    const w0 = Date.now();
    await sleep(windowMs);
    const s1 = await stats(procs);
    const c1 = procs.map((p) => cpuTicks(p.child.pid!));
    const seconds = (Date.now() - w0) / 1000;
    let packets = 0;
    let bytes = 0;
    let ticks = 0;
    for (let i = 0; i < n; i++) {
      packets += s1[i]!.packetsOut - s0[i]!.packetsOut;
      bytes += s1[i]!.bytesOut - s0[i]!.bytesOut;
      ticks += c1[i]! - c0[i]!;
    }
    const falseSuspicions = procs.reduce((sum, p, i) => sum + p.events.slice(eventsBefore[i]).filter((e) => e.event === "suspect" || e.event === "dead").length, 0);

    const deadAllMs = await killAndTime(procs);
    return {
      convergeMs,
      deadAllMs,
      pktPerNodeSec: packets / n / seconds,
      bytesPerNodeSec: bytes / n / seconds,
      cpuPctPerNode: ((ticks / CLK_TCK) / seconds / n) * 100,
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

const result: Record<string, unknown> = { bench: "swim", runs: RUNS };
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
  }
}
console.log(JSON.stringify(result));
