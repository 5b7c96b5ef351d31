// Compares Node/V8 settings (or anything else passed as node arguments) for
// the checker worker, alternating the variants on the same fleet in ABBA
// order (A B C, C B A, A B C, ...) so that a shared machine's changing load
// falls on every variant alike, and prints every window and the medians.
//
//   HECK_ABBA_VARIANTS='v8=HECK_V1_HEAP_GROWING_PERCENT=0;g50=HECK_V1_HEAP_GROWING_PERCENT=50' \
//     npx tsx packages/v1-checker/bench/abba.ts
//
// Environment: HECK_ABBA_VARIANTS (name=space-separated node arguments and
// KEY=VALUE environment variables of the worker, ';' between variants; the
// worker sets the heap growing factor as `heck-v1 run` does, so pass
// HECK_V1_HEAP_GROWING_PERCENT=0 for Node's defaults), HECK_ABBA_PASSES (default 4: each variant runs that
// many windows), HECK_BENCH_ORIGINS (10000), HECK_BENCH_DURATION_S (15).
// Run it inside `flock /tmp/heck-bench.lock` (one big benchmark at a time);
// ports as in bench/run.ts (origins on 127.0.1.1:20000-29999, control 31000-31001).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ORIGINS = Number(process.env["HECK_BENCH_ORIGINS"] ?? 10_000);
const DURATION_S = Number(process.env["HECK_BENCH_DURATION_S"] ?? 15);
const PASSES = Number(process.env["HECK_ABBA_PASSES"] ?? 4);
const VARIANTS = (process.env["HECK_ABBA_VARIANTS"] ?? "v8=HECK_V1_HEAP_GROWING_PERCENT=0;g50=HECK_V1_HEAP_GROWING_PERCENT=50")
  .split(";")
  .filter((v) => v.trim() !== "")
  .map((v) => {
    const eq = v.indexOf("=");
    const args = eq < 0 ? "" : v.slice(eq + 1);
    const tokens = args.split(" ").filter((a) => a !== "");
    // KEY=VALUE tokens are environment variables of the worker, the rest node arguments
    const env = Object.fromEntries(tokens.filter((t) => /^[A-Z_][A-Z0-9_]*=/.test(t)).map((t) => [t.slice(0, t.indexOf("=")), t.slice(t.indexOf("=") + 1)]));
    return { name: (eq < 0 ? v : v.slice(0, eq)).trim(), args: tokens.filter((t) => !/^[A-Z_][A-Z0-9_]*=/.test(t)), env, spec: args.trim() };
  });
const SHARD = 5000;
const FLEET_BIN = fileURLToPath(new URL("../../fleet/bin/heck-fleet.js", import.meta.url));
const CHECKER_SRC = fileURLToPath(new URL("./checker-worker.ts", import.meta.url));

interface Row {
  checksPerSec: number;
  lagP50Ms: number;
  lagP99Ms: number;
  cpuUsPerCheck: number;
  cpuCores: number;
  rssMb: number;
  heapTotalMaxMb: number;
  liveHeapMb: number;
  gc: { minor: number; minorMs: number; major: number; majorMs: number; maxPauseMs: number };
  stalls: { over50: number; over100: number; longestMs: number; longestCpuMs: number; longestGcMs: number; over100WallMs: number; over100CpuMs: number };
  elapsedS: number;
  expectedChecksPerSec: number;
}

const log = (s = ""): void => void process.stdout.write(s + "\n");
const fmt = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : "-");
const median = (xs: number[]): number => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function startFleet(host: string, basePort: number, count: number, controlPort: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [FLEET_BIN, "--count", String(count), "--base-port", String(basePort), "--host", host, "--control", `127.0.0.1:${controlPort}`, "--json"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once("data", () => resolve());
    child.on("exit", (code) => reject(new Error(`heck-fleet exited with ${code}`)));
  });
  return child;
}

function runChecker(js: string, nodeArgs: string[], env: Record<string, string>): Promise<Row> {
  const args = { origins: ORIGINS, hosts: ["127.0.1.1"], perHost: 10_000, basePort: 20_000, intervalMs: 1000, timeoutMs: 1000, warmupS: 6, durationS: DURATION_S, seed: 1 };
  const child = spawn(process.execPath, [...nodeArgs, js, JSON.stringify(args)], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, ...env } });
  let out = "";
  child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  return new Promise((resolve, reject) =>
    child.on("exit", (code) => {
      const last = out.trim().split("\n").pop() ?? "";
      if (code === 0) resolve(JSON.parse(last) as Row);
      else reject(new Error(`worker exited with ${code}: ${last}`));
    }),
  );
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "heck-v1-abba-"));
  const fleets: ChildProcess[] = [];
  try {
    const js = join(dir, "checker-worker.mjs");
    await build({
      entryPoints: [CHECKER_SRC],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      outfile: js,
      logLevel: "warning",
      banner: { js: "import { createRequire as __heckRequire } from 'node:module'; const require = __heckRequire(import.meta.url);" },
    });
    for (let first = 0; first < ORIGINS; first += SHARD) fleets.push(await startFleet("127.0.1.1", 20_000 + first, Math.min(SHARD, ORIGINS - first), 31_000 + first / SHARD));
    log(`ABBA: ${ORIGINS} origins at 1 s, ${DURATION_S} s windows, ${PASSES} passes of ${VARIANTS.map((v) => `${v.name} [${v.spec}]`).join(", ")}`);
    const rows = new Map<string, Array<Row & { load: number }>>(VARIANTS.map((v) => [v.name, []]));
    for (let p = 0; p < PASSES; p++) {
      const order = p % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
      for (const v of order) {
        const load = loadavg()[0]!;
        const r = await runChecker(js, v.args, v.env);
        rows.get(v.name)!.push({ ...r, load });
        const gcPct = (r.gc.minorMs + r.gc.majorMs) / r.elapsedS / 10;
        log(
          `  pass ${p + 1} ${v.name.padEnd(10)} load ${fmt(load, 1).padStart(4)}: ${fmt(r.checksPerSec, 0)} checks/s, lag p50 ${fmt(r.lagP50Ms, 2)} p99 ${fmt(r.lagP99Ms, 1)} ms, ` +
            `${fmt(r.cpuUsPerCheck, 1)} µs/check, RSS ${fmt(r.rssMb, 0)} MB (heap total max ${fmt(r.heapTotalMaxMb, 0)}, live ${fmt(r.liveHeapMb, 0)}), ` +
            `GC ${fmt(gcPct, 1)}% (${r.gc.minor} minor, ${r.gc.major} major, longest ${fmt(r.gc.maxPauseMs, 0)} ms); ` +
            `stalls > 100 ms: ${r.stalls.over100} (${fmt(r.stalls.over100WallMs, 0)} ms, process CPU meanwhile ${fmt(r.stalls.over100CpuMs, 0)} ms), longest ${fmt(r.stalls.longestMs, 0)} ms (CPU ${fmt(r.stalls.longestCpuMs, 0)}, GC ${fmt(r.stalls.longestGcMs, 0)})`,
        );
      }
    }
    log("\nmedians:");
    for (const v of VARIANTS) {
      const rs = rows.get(v.name)!;
      const m = (f: (r: Row) => number): string => fmt(median(rs.map(f)), 1);
      const heldN = rs.filter((r) => r.lagP99Ms < 100 && r.checksPerSec >= 0.95 * r.expectedChecksPerSec).length;
      log(
        `  ${v.name.padEnd(10)} lag p99 ${m((r) => r.lagP99Ms)} ms (held ${heldN}/${rs.length}), ${m((r) => r.cpuUsPerCheck)} µs/check, ${m((r) => r.cpuCores)} cores, RSS ${m((r) => r.rssMb)} MB ` +
          `(max ${fmt(Math.max(...rs.map((r) => r.rssMb)), 0)}), GC ${m((r) => (r.gc.minorMs + r.gc.majorMs) / r.elapsedS / 10)}%, majors ${m((r) => r.gc.major)}, longest pause ${m((r) => r.gc.maxPauseMs)} ms`,
      );
    }
    log(JSON.stringify(Object.fromEntries([...rows].map(([k, rs]) => [k, rs.map((r) => ({ lagP99Ms: r.lagP99Ms, cpuUsPerCheck: r.cpuUsPerCheck, rssMb: r.rssMb, load: r.load, stalls: r.stalls }))]))));
  } finally {
    for (const f of fleets) f.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
