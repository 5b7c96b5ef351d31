/**
 * Where a put's time goes. Starts a 3-member raft-kv cluster (separate
 * processes, as the bench does), runs one workload against the leader over
 * gRPC, and prints the CPU time (user + system, from /proc/<pid>/stat) each
 * member and this client spent per put:
 *
 *     npx tsx bench/profile.ts seq 2000            one put at a time
 *     npx tsx bench/profile.ts conc 8000 64        64 puts in flight
 *     npx tsx bench/profile.ts seq 2000 --hops     + the latency of each hop
 *     npx tsx bench/profile.ts conc 8000 64 --hops + the timeline of a batch
 *
 * `--hops` has every member record when each write reaches each stage
 * (src/io/hop-trace.ts) and prints the median time between stages, and the
 * mean of each for the slowest 5% of puts, e.g. "follower: WAL written ->
 * fsync done". With `conc` it prints instead the timeline of the leader's
 * batches (one Ready's new entries): when each stage was reached, in ms
 * after the batch's first request arrived, up to the next batch's first
 * request, i.e. one turn of the loop between client and cluster.
 *
 * HECK_RAFT_NODE_ARGS passes node flags to the members: "--cpu-prof
 * --cpu-prof-dir=/tmp/prof" writes a V8 CPU profile each (its sample times
 * are wall time, so a process waiting for a CPU shows up as whatever it was
 * running; the workload's window is printed). HECK_PROFILE_ATTACH runs a
 * command per member for the duration of the workload, with {pid} and {id}
 * filled in: `strace -c -f -o /tmp/{id}.strace -p {pid}` counts system calls,
 * `perf record -F 1999 -o /tmp/{id}.perf -p {pid}` samples CPU time (add
 * --perf-basic-prof to HECK_RAFT_NODE_ARGS to name JavaScript frames).
 * HECK_RAFT_SERVER_ARGS adds `heck-raft server` flags, for A/B runs;
 * HECK_PROFILE_WARMUP sets the unmeasured puts before the workload (300).
 *
 * Ports 15800-15808, in raft-kv's own range, so it can run beside another
 * package's benchmark (HECK_BENCH_BASE_PORT moves them).
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { loadEtcdProto } from "../src/io/grpc-api.ts";
import { LocalCluster } from "../src/io/local-cluster.ts";

type Obj = Record<string, unknown>;
type Unary = (req: Obj, options: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: Obj) => void) => void;

const BASE = Number(process.env.HECK_BENCH_BASE_PORT ?? 15800);
const VALUE = Buffer.alloc(256, "v");
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

interface Cpu {
  user: number;
  system: number;
}

/** utime and stime of a process in ms (fields 14 and 15 of /proc/<pid>/stat). */
function cpuMs(pid: number): Cpu {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { user: (Number(fields[11]) * 1000) / TICKS_PER_SECOND, system: (Number(fields[12]) * 1000) / TICKS_PER_SECOND };
}

const epochMicros = (performanceMs: number) => Math.round((performance.timeOrigin + performanceMs) * 1000);

/** stage -> index -> first time (µs since the epoch) in one member's hop file. */
function readHops(file: string): Map<string, Map<number, number>> {
  const out = new Map<string, Map<number, number>>();
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    const [stage, index, t] = line.split(" ");
    if (!stage || index === undefined || t === undefined) continue;
    let m = out.get(stage);
    if (!m) out.set(stage, (m = new Map()));
    if (!m.has(Number(index))) m.set(Number(index), Number(t));
  }
  return out;
}

/**
 * The per-hop table of a sequential run: the leader's marks by log index,
 * the followers' likewise, and the client's send/receive times, matched by
 * order (the n-th timed put is the n-th last proposal of the run).
 */
function hopReport(hopDir: string, leaderPid: number, client: Array<{ sent: number; received: number }>): string {
  const files = fs.readdirSync(hopDir).filter((f) => f.endsWith(".hops"));
  const leader = readHops(path.join(hopDir, `${leaderPid}.hops`));
  const followers = files.filter((f) => f !== `${leaderPid}.hops`).map((f) => readHops(path.join(hopDir, f)));
  const at = (m: Map<string, Map<number, number>>, stage: string, index: number) => m.get(stage)?.get(index) ?? NaN;
  const proposals = [...(leader.get("prop")?.keys() ?? [])].sort((a, b) => a - b).slice(-client.length);
  const calls = [...(leader.get("gin")?.keys() ?? [])].sort((a, b) => a - b).slice(-client.length);
  const rows = new Map<string, number[]>();
  const add = (label: string, v: number) => {
    let r = rows.get(label);
    if (!r) rows.set(label, (r = []));
    r.push(v);
  };
  proposals.forEach((index, i) => {
    const c = client[i]!;
    const call = calls[i]!;
    const sent = at(leader, "sent", index);
    const synced = at(leader, "synced", index);
    const acks = [...leader.keys()].filter((k) => k.startsWith("ack:")).map((k) => at(leader, k, index)).filter(Number.isFinite).sort((a, b) => a - b);
    const applied = at(leader, "applied", index);
    add("client -> leader's gRPC handler", at(leader, "gin", call) - c.sent);
    add("gRPC handler -> proposed", at(leader, "prop", index) - at(leader, "gin", call));
    add("proposed -> appends sent", sent - at(leader, "prop", index));
    add("appends sent -> leader's WAL written", at(leader, "written", index) - sent);
    add("leader: WAL written -> fsync done", synced - at(leader, "written", index));
    followers.forEach((f, j) => {
      add(`follower ${j + 1}: appends sent -> received`, at(f, "recv", index) - sent);
      add(`follower ${j + 1}: received -> WAL written`, at(f, "written", index) - at(f, "recv", index));
      add(`follower ${j + 1}: WAL written -> fsync done`, at(f, "synced", index) - at(f, "written", index));
      add(`follower ${j + 1}: fsync done -> ack sent`, at(f, "acked", index) - at(f, "synced", index));
    });
    add("appends sent -> first ack back", (acks[0] ?? NaN) - sent);
    add("max(first ack, leader fsync) -> commit", at(leader, "commitReady", index) - Math.max(acks[0] ?? NaN, synced));
    add("commit -> applied", applied - at(leader, "commitReady", index));
    add("applied -> response handed to HTTP/2", at(leader, "gdone", call) - applied);
    add("response handed to HTTP/2 -> client", c.received - at(leader, "gdone", call));
    add("client total", c.received - c.sent);
  });
  const total = rows.get("client total") ?? [];
  const slow = total.map((t, i) => [t, i] as const).sort((a, b) => b[0] - a[0]).slice(0, Math.ceil(total.length * 0.05)).map(([, i]) => i);
  const median = (xs: number[]) => {
    const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
    return s.length ? s[s.length >> 1]! : NaN;
  };
  const mean = (xs: number[]) => {
    const s = xs.filter(Number.isFinite);
    return s.length ? s.reduce((a, b) => a + b, 0) / s.length : NaN;
  };
  const lines = [`${"hop".padEnd(44)}${"median µs".padStart(11)}${"slowest 5%, mean µs".padStart(22)}`];
  for (const [label, v] of rows) lines.push(`${label.padEnd(44)}${median(v).toFixed(0).padStart(11)}${mean(slow.map((i) => v[i]!)).toFixed(0).padStart(22)}`);
  return lines.join("\n");
}

/**
 * The conc workload's batches, from the leader's hop file: for each Ready
 * that appended new entries, the time each stage was reached by its first or
 * last entry, in ms after the batch's first request reached the gRPC server
 * (median and 90th percentile over the batches). Requests are matched to
 * log entries by order, so the figures are per batch, not per put.
 */
function batchReport(hopDir: string, leaderPid: number, puts: number): string {
  const leader = readHops(path.join(hopDir, `${leaderPid}.hops`));
  const stage = (name: string) => leader.get(name) ?? new Map<number, number>();
  const proposals = [...stage("prop").keys()].sort((a, b) => a - b).slice(-puts);
  const calls = [...stage("gin").keys()].sort((a, b) => a - b).slice(-puts);
  const callOf = new Map(proposals.map((index, i) => [index, calls[i]!]));
  const first = proposals[0] ?? 0;
  const lasts = [...stage("sent").keys()].filter((i) => i >= first).sort((a, b) => a - b);
  const rows = new Map<string, number[]>();
  const add = (label: string, v: number) => {
    let r = rows.get(label);
    if (!r) rows.set(label, (r = []));
    r.push(v);
  };
  let previousLast = first - 1;
  // The first and last batches are cut by the window's edges.
  for (const last of lasts.slice(0, -1)) {
    const start = previousLast + 1;
    previousLast = last;
    if (start === first) continue;
    const t0 = stage("gin").get(callOf.get(start)!)!;
    const at = (name: string, key: number | undefined) => ((key === undefined ? NaN : (stage(name).get(key) ?? NaN)) - t0) / 1000;
    const acks = [...leader.keys()].filter((k) => k.startsWith("ack:")).map((k) => at(k, last)).sort((a, b) => a - b);
    add("entries in the batch", last - start + 1);
    add("last request in", at("gin", callOf.get(last)));
    add("last proposed", at("prop", last));
    add("appends sent to followers", at("sent", last));
    add("leader's WAL written", at("written", last));
    add("leader's fsync done", at("synced", last));
    add("first follower ack in", acks[0] ?? NaN);
    add("committed (Ready)", at("commitReady", last));
    add("applied", at("applied", last));
    add("last answer handed to HTTP/2", at("gdone", callOf.get(last)));
    add("last answer sent by HTTP/2", at("gwrote", callOf.get(last)));
    add("next batch's first request in", at("gin", callOf.get(last + 1)));
  }
  const q = (xs: number[], p: number) => {
    const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
    return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : NaN;
  };
  const lines = [`${lasts.length} batches; ms after the batch's first request reached the leader:`, `${"stage".padEnd(36)}${"median".padStart(9)}${"p90".padStart(9)}`];
  for (const [label, v] of rows) lines.push(`${label.padEnd(36)}${q(v, 0.5).toFixed(1).padStart(9)}${q(v, 0.9).toFixed(1).padStart(9)}`);
  return lines.join("\n");
}

async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => a !== "--hops");
  const hops = process.argv.includes("--hops");
  const [mode = "seq", nArg = "2000", inFlightArg = "64"] = args;
  if (mode !== "seq" && mode !== "conc") throw new Error(`workload must be seq or conc, got ${mode}`);
  const n = Number(nArg);
  const inFlight = Number(inFlightArg);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "heck-raft-profile-"));
  const hopDir = path.join(dir, "hops");
  if (hops) {
    fs.mkdirSync(hopDir);
    // Set after our own imports ran, so only the members (which inherit the environment) record hops.
    process.env.HECK_RAFT_HOPS = hopDir;
  }
  const cluster = await LocalCluster.up({ nodes: 3, basePort: BASE, dataDir: dir, serverArgs: (process.env.HECK_RAFT_SERVER_ARGS ?? "").split(" ").filter(Boolean) });
  try {
    const leaderId = await cluster.waitForLeader();
    const leader = cluster.node(leaderId);
    const pkg = loadEtcdProto() as unknown as { etcdserverpb: Record<string, grpc.ServiceClientConstructor> };
    const kv = new pkg.etcdserverpb.KV!(leader.grpc, grpc.credentials.createInsecure()) as unknown as Record<string, Unary> & grpc.Client;
    const put = (key: string) => new Promise<void>((resolve, reject) => kv.Put!.call(kv, { key: Buffer.from(key), value: VALUE }, { deadline: Date.now() + 10_000 }, (e) => (e ? reject(e) : resolve())));
    const warm = Number(process.env.HECK_PROFILE_WARMUP ?? 300);
    for (let i = 0; i < warm; i++) await put(`warm/${i}`);
    const attach = process.env.HECK_PROFILE_ATTACH;
    const tracers: ChildProcess[] = [];
    if (attach) {
      for (const m of cluster.nodes) {
        const argv = attach.split(" ").filter(Boolean).map((a) => a.replaceAll("{pid}", String(m.pid)).replaceAll("{id}", m.id === leaderId ? `${m.id}-leader` : m.id));
        tracers.push(spawn(argv[0]!, argv.slice(1), { stdio: "ignore" }));
      }
      await new Promise((r) => setTimeout(r, 1_000));
    }
    const before = cluster.nodes.map((m) => cpuMs(m.pid));
    const selfBefore = process.cpuUsage();
    const load = os.loadavg()[0]!;
    const lat: number[] = [];
    const client: Array<{ sent: number; received: number }> = [];
    const t0 = performance.now();
    const hr0 = process.hrtime.bigint() / 1000n;
    if (mode === "seq") {
      for (let i = 0; i < n; i++) {
        const s = performance.now();
        await put(`p/${i}`);
        const e = performance.now();
        lat.push(e - s);
        client.push({ sent: epochMicros(s), received: epochMicros(e) });
      }
    } else {
      let next = 0;
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (next < n) await put(`p/${next++ % 1000}`);
        }),
      );
    }
    const elapsed = performance.now() - t0;
    const hr1 = process.hrtime.bigint() / 1000n;
    const after = cluster.nodes.map((m) => cpuMs(m.pid));
    const self = process.cpuUsage(selfBefore);
    await Promise.all(tracers.map((t) => new Promise((r) => (t.once("exit", r), t.kill("SIGINT")))));
    kv.close();
    lat.sort((a, b) => a - b);
    const perPut = (ms: number) => ((ms / n) * 1000).toFixed(0);
    const split = (a: Cpu, b: Cpu) => `${perPut(b.user + b.system - a.user - a.system)} (${perPut(b.user - a.user)} user + ${perPut(b.system - a.system)} sys)`;
    console.log(`${mode} ${n}${mode === "seq" ? "" : ` (${inFlight} in flight)`}: ${(n / (elapsed / 1000)).toFixed(0)} puts/s${lat.length ? `, p50 ${lat[lat.length >> 1]!.toFixed(2)} ms, p99 ${lat[Math.floor(lat.length * 0.99)]!.toFixed(2)} ms` : ""}, load ${load.toFixed(1)}`);
    console.log(`CPU per put, µs: ${cluster.nodes.map((m, i) => `${m.id}${m.id === leaderId ? " (leader)" : ""} ${split(before[i]!, after[i]!)}`).join(", ")}, client ${split({ user: 0, system: 0 }, { user: self.user / 1000, system: self.system / 1000 })}`);
    // Snapshots stop a member's event loop while they are written: show them beside the figures.
    for (const m of cluster.nodes) {
      for (const line of fs.readFileSync(path.join(dir, `${m.id}.log`), "utf8").split("\n")) if (line.includes("snapshot at index")) console.log(line);
    }
    console.log(`members: ${cluster.nodes.map((m) => `${m.id} pid ${m.pid}`).join(", ")}; workload window on the monotonic clock V8 profiles use: ${hr0}-${hr1} µs`);
    if (hops) {
      await cluster.down(); // members write their hop files at exit
      console.log(mode === "seq" ? hopReport(hopDir, leader.pid, client) : batchReport(hopDir, leader.pid, n));
    }
  } catch (error) {
    // A member that died says why in its log.
    for (const m of cluster.nodes) process.stderr.write(`--- ${m.id} log tail:\n${fs.readFileSync(path.join(dir, `${m.id}.log`), "utf8").split("\n").slice(-15).join("\n")}\n`);
    throw error;
  } finally {
    await cluster.down();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
