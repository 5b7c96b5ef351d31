/**
 * `pnpm --filter @heck/crdt-kv bench:scale`: crdt-kv under the write load of
 * apps/v2 at its target size (10 agents x 10,000 origins), in real
 * processes on loopback with real disks: 10 replicas, ~20,000 keys (the
 * origin list and one health record per origin), records rewritten every
 * refresh and on flips, gossip every 200 ms (v2's default).
 *
 * Prints, per 5 s window, the replicas' CPU, event-loop delay (p99 and max)
 * and log length, and the time for a probe write on a0 to reach every
 * replica. The last line is JSON: medians over the steady windows.
 *
 * Environment: HECK_SCALE_NODES (10), HECK_SCALE_ORIGINS (10000),
 * HECK_SCALE_SECONDS (60), HECK_SCALE_SYNC_MS (200), HECK_SCALE_BATCHED
 * (1: putMany; 0: the loop apps/v2 used before it), HECK_SCALE_PROFILE=1
 * (a0 writes a V8 CPU profile to $TMPDIR/crdt-scale-profiles), HECK_SCALE_CORE (JSON of core
 * options, e.g. '{"maxLogEntries":65536}'). Gossip ports 17900-17999.
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const N = Number(process.env.HECK_SCALE_NODES ?? 10);
const ORIGINS = Number(process.env.HECK_SCALE_ORIGINS ?? 10_000);
const SECONDS = Number(process.env.HECK_SCALE_SECONDS ?? 60);
const SYNC_MS = Number(process.env.HECK_SCALE_SYNC_MS ?? 200);
const BATCHED = process.env.HECK_SCALE_BATCHED !== "0";
const PROFILE = process.env.HECK_SCALE_PROFILE === "1";
const CORE = JSON.parse(process.env.HECK_SCALE_CORE ?? '{"snapshotEveryRecords":20000,"maxLogEntries":65536}') as Record<string, number>;
const BASE_PORT = 17900;
const PROFILE_DIR = join(tmpdir(), "crdt-scale-profiles");
const log = (line: string): void => void process.stdout.write(line + "\n");
const percentile = (xs: number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};
const r1 = (x: number): number => Math.round(x * 10) / 10;

interface Window {
  id: string;
  cpuPct: number;
  loopP99Ms: number;
  loopMaxMs: number;
  keys: number;
  logEntries: number;
  recordsWritten: number;
  bytesSent: number;
  sentKBps: number;
  digestsSent: number;
  fullStatesSent: number;
  rssMb: number;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "crdt-scale-"));
  const script = fileURLToPath(new URL("./scale-node.ts", import.meta.url));
  const children: ChildProcess[] = [];
  const windows: Array<{ at: number; w: Window }> = [];
  const probes = new Map<string, { sentAt: number; seen: number[] }>();
  const t0 = Date.now();
  log(`crdt-kv scale: ${N} replicas, ${ORIGINS} origins, gossip every ${SYNC_MS} ms, ${BATCHED ? "putMany" : "put loop"}, core ${JSON.stringify(CORE)}; load average ${loadavg().map((x) => x.toFixed(1)).join(" ")}`);
  const ups: Promise<void>[] = [];
  for (let i = 0; i < N; i++) {
    const execArgv = ["--import", "tsx"];
    if (PROFILE && i === 0) execArgv.push("--cpu-prof", `--cpu-prof-dir=${PROFILE_DIR}`);
    const child = fork(script, [], { execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
    children.push(child);
    ups.push(
      new Promise((resolve, reject) => {
        child.on("message", (m: { type: string; [k: string]: unknown }) => {
          if (m.type === "up") resolve();
          else if (m.type === "error") reject(new Error(String(m.error)));
          else if (m.type === "log") log(`  ${String(m.line)}`);
          else if (m.type === "window" || m.type === "final") windows.push({ at: Date.now() - t0, w: m as unknown as Window });
          else if (m.type === "probe") {
            const p = probes.get(m.key as string) ?? { sentAt: m.sentAt as number, seen: [] };
            p.seen.push(m.seenAt as number);
            probes.set(m.key as string, p);
          }
        });
      }),
    );
    const peers = Array.from({ length: N }, (_, j) => `127.0.0.1:${BASE_PORT + j}`).filter((_, j) => j !== i);
    child.send({
      type: "start",
      index: i,
      n: N,
      port: BASE_PORT + i,
      peers,
      dataDir: join(dir, `a${i}`),
      origins: ORIGINS,
      intervalMs: 2000,
      refreshMs: 10_000,
      syncIntervalMs: SYNC_MS,
      batched: BATCHED,
      flipsPerSecond: 2,
      core: CORE,
    });
  }
  try {
    await Promise.all(ups);
    let printed = 0;
    const end = Date.now() + SECONDS * 1000;
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, 1000));
      while (windows.length - printed >= N) {
        const batch = windows.slice(printed, printed + N).map((x) => x.w);
        printed += N;
        log(
          `  t=${Math.round((Date.now() - t0) / 1000)}s cpu% ${batch.map((w) => Math.round(w.cpuPct)).join(",")} | loop max ms ${batch.map((w) => Math.round(w.loopMaxMs)).join(",")} | keys ${batch.map((w) => w.keys).join(",")} | sent kB/s ${batch.map((w) => Math.round(w.sentKBps)).join(",")} | log ${Math.max(...batch.map((w) => w.logEntries))} | digests ${batch.reduce((n, w) => n + w.digestsSent, 0)}`,
        );
      }
    }
    for (const c of children) c.send({ type: "stop" });
    await Promise.all(children.map((c) => new Promise((r) => c.once("exit", r))));
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
  // Steady windows: after the first 20 s (origin list written, first records spread).
  const steady = windows.filter((x) => x.at > 20_000).map((x) => x.w);
  const delays: number[] = [];
  let incomplete = 0;
  for (const p of probes.values()) {
    if (p.seen.length < N - 1) incomplete++;
    else delays.push(Math.max(...p.seen) - p.sentAt);
  }
  const fig = {
    nodes: N,
    origins: ORIGINS,
    syncIntervalMs: SYNC_MS,
    batched: BATCHED,
    cpuPctPerReplicaP50: r1(percentile(steady.map((w) => w.cpuPct), 50)),
    loopDelayP99MsP50: r1(percentile(steady.map((w) => w.loopP99Ms), 50)),
    loopDelayMaxMs: r1(Math.max(0, ...windows.map((x) => x.w.loopMaxMs))),
    loopDelayMaxSteadyMs: r1(Math.max(0, ...steady.map((w) => w.loopMaxMs))),
    sentKBpsPerReplicaP50: r1(percentile(steady.map((w) => w.sentKBps), 50)),
    probeToAllP50Ms: percentile(delays, 50),
    probeToAllP99Ms: percentile(delays, 99),
    probesIncomplete: incomplete,
    probes: probes.size,
    keysAtEnd: Math.min(...windows.filter((x) => (x.w as unknown as { type: string }).type === "final").map((x) => x.w.keys)),
    digests: Math.max(0, ...windows.map((x) => x.w.digestsSent)),
    rssMbMax: r1(Math.max(...windows.map((x) => x.w.rssMb))),
    loadAvg1: r1(loadavg()[0]!),
  };
  log(`probe write on a0 -> all ${N}: p50 ${fig.probeToAllP50Ms} ms, p99 ${fig.probeToAllP99Ms} ms (${incomplete}/${probes.size} not everywhere)`);
  log(`steady (after 20 s): cpu per replica p50 ${fig.cpuPctPerReplicaP50}%, sent ${fig.sentKBpsPerReplicaP50} kB/s per replica, event-loop delay p99 (median window) ${fig.loopDelayP99MsP50} ms, worst ${fig.loopDelayMaxSteadyMs} ms (${fig.loopDelayMaxMs} ms including start-up)`);
  log(JSON.stringify(fig));
}

main().catch((e) => {
  process.stderr.write(String((e as Error).stack) + "\n");
  process.exit(1);
});
