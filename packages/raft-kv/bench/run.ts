/**
 * raft-kv next to etcd 3.4 on this machine, same client, same workload.
 *
 * Starts a 3-member raft-kv cluster (separate processes, through the CLI) and
 * a 3-member etcd cluster (Debian's etcd-server), both on loopback with data
 * in a temp dir and fsync on, then drives both with one gRPC client built on
 * raft-kv's etcd .proto subset (etcd speaks the same wire format):
 *
 * - sequential puts (256-byte values): p50, p99, ops/s
 * - puts with 16 and 64 in flight: ops/s
 * - sequential linearizable and serializable gets: p50, ops/s
 * - leases: grants per second (one at a time) and keep-alives per second
 *   (16 leases renewed over one KeepAlive stream, as a client keeping many
 *   sessions does)
 * - locks (the Lock service, each contender with its own lease): acquire and
 *   release latency with nobody else contending, and the acquire latency and
 *   hand-offs per second with 8 contenders taking turns on one lock
 * - kill -9 of the leader → the first acknowledged write: ms
 * - CPU time (user + system, all three members) per put in the sequential
 *   and 64-in-flight phases, from /proc/<pid>/stat: on a small shared
 *   machine this is what throughput comes down to; and the bench client's
 *   own CPU per put (the same client for both, so a difference is what each
 *   server's answers make it do)
 * - elections during the 16- and 64-in-flight phases (the leader's term
 *   before and after): a phase an election hits pays for a failover
 *
 * Each round starts with 1,000 unmeasured puts to the leader, for both
 * systems (HECK_BENCH_WARMUP): after the failover phase the leader is another
 * process, and V8 compiles raft-kv's request path with its optimizing tier
 * only after some hundreds to thousands of requests (see tierUpSooner in
 * src/cli.ts); etcd is compiled ahead of time and needs none.
 *
 * Every figure is the median of ROUNDS rounds; rounds alternate between the
 * two systems (both clusters run throughout, idle when not measured). Prints a table with
 * raft-kv/etcd ratios; the last line is one JSON object.
 *
 *     pnpm --filter @heck/raft-kv bench          (HECK_BENCH_ROUNDS=3 by default)
 *
 * Ports 20000-20008 (raft-kv) and 20100-20107 (etcd); HECK_BENCH_BASE_PORT moves both.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import net from "node:net";
import * as grpc from "@grpc/grpc-js";
import { loadEtcdProto } from "../src/io/grpc-api.ts";
import { LocalCluster } from "../src/io/local-cluster.ts";

const ROUNDS = Number(process.env.HECK_BENCH_ROUNDS ?? 3);
const SEQ_PUTS = Number(process.env.HECK_BENCH_SEQ ?? 1000);
const CONC_PUTS = Number(process.env.HECK_BENCH_CONC ?? 4000);
const GETS = Number(process.env.HECK_BENCH_GETS ?? 1000);
const LEASES = Number(process.env.HECK_BENCH_LEASES ?? 500);
const LOCKS = Number(process.env.HECK_BENCH_LOCKS ?? 300);
const WARMUP = Number(process.env.HECK_BENCH_WARMUP ?? 1000);
const VALUE = Buffer.alloc(256, "v");
/** raft-kv uses BASE..BASE+8, etcd BASE+100..BASE+107 (benchmarks own 20000-31999, one at a time). */
const BASE = Number(process.env.HECK_BENCH_BASE_PORT ?? 20000);

type Obj = Record<string, unknown>;
type Unary = (req: Obj, options: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: Obj) => void) => void;

/** One endpoint's gRPC stubs. */
class Endpoint {
  private readonly kv: Record<string, Unary>;
  private readonly maint: Record<string, Unary>;
  private readonly cluster: Record<string, Unary>;
  private readonly lease: Record<string, Unary>;
  private readonly lock: Record<string, Unary>;
  private readonly clients: grpc.Client[];

  constructor(readonly address: string) {
    const pkg = loadEtcdProto() as unknown as Record<string, Record<string, grpc.ServiceClientConstructor>>;
    const make = (name: string, pkgName = "etcdserverpb") => new pkg[pkgName]![name]!(address, grpc.credentials.createInsecure(), { "grpc.initial_reconnect_backoff_ms": 50, "grpc.max_reconnect_backoff_ms": 200 });
    const kv = make("KV");
    const maint = make("Maintenance");
    const cluster = make("Cluster");
    const lease = make("Lease");
    const lock = make("Lock", "v3lockpb");
    this.clients = [kv, maint, cluster, lease, lock];
    this.kv = kv as unknown as Record<string, Unary>;
    this.maint = maint as unknown as Record<string, Unary>;
    this.cluster = cluster as unknown as Record<string, Unary>;
    this.lease = lease as unknown as Record<string, Unary>;
    this.lock = lock as unknown as Record<string, Unary>;
  }

  async grant(ttl: number): Promise<string> {
    return String((await this.call(this.lease, "LeaseGrant", { TTL: String(ttl) }, 10_000)).ID);
  }

  revoke(id: string): Promise<Obj> {
    return this.call(this.lease, "LeaseRevoke", { ID: id }, 10_000);
  }

  /** A KeepAlive stream: `renew(id)` resolves with the TTL the server answered. Answers come in request order. */
  keepAliveStream(): { renew(id: string): Promise<number>; end(): void } {
    const stream = (this.lease as unknown as { LeaseKeepAlive(): grpc.ClientDuplexStream<Obj, Obj> }).LeaseKeepAlive.call(this.lease);
    const waiting: Array<(ttl: number) => void> = [];
    stream.on("data", (r: Obj) => waiting.shift()?.(Number(r.TTL)));
    stream.on("error", () => {});
    return {
      renew: (id) =>
        new Promise((resolve) => {
          waiting.push(resolve);
          stream.write({ ID: id });
        }),
      end: () => stream.end(),
    };
  }

  async acquire(name: string, lease: string): Promise<Buffer> {
    return (await this.call(this.lock, "Lock", { name: Buffer.from(name), lease }, 60_000)).key as Buffer;
  }

  release(key: Buffer): Promise<Obj> {
    return this.call(this.lock, "Unlock", { key }, 10_000);
  }

  private call(stub: Record<string, Unary>, method: string, req: Obj, timeoutMs: number): Promise<Obj> {
    return new Promise((resolve, reject) => stub[method]!.call(stub, req, { deadline: Date.now() + timeoutMs }, (e, r) => (e ? reject(e) : resolve(r))));
  }

  put(key: string, timeoutMs = 10_000): Promise<Obj> {
    return this.call(this.kv, "Put", { key: Buffer.from(key), value: VALUE }, timeoutMs);
  }

  get(key: string, serializable: boolean): Promise<Obj> {
    return this.call(this.kv, "Range", { key: Buffer.from(key), serializable }, 10_000);
  }

  status(timeoutMs = 1_000): Promise<Obj> {
    return this.call(this.maint, "Status", {}, timeoutMs);
  }

  members(): Promise<Obj> {
    return this.call(this.cluster, "MemberList", {}, 2_000);
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}

/** What the bench needs from a cluster under test. */
interface System {
  name: string;
  endpoints: Endpoint[];
  /** Kill -9 the member serving this gRPC address; resolves when it is gone. */
  kill(address: string): Promise<void>;
  /** Start it again (same data dir) and wait until it answers. */
  restart(address: string): Promise<void>;
  /** The member processes' pids (for CPU accounting). */
  pids(): number[];
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU time (user + system) of these processes so far, in ms, from /proc/<pid>/stat (fields 14 and 15, in USER_HZ = 100 ticks/s). */
function cpuMs(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      total += ((Number(f[11]) + Number(f[12])) * 1000) / 100;
    } catch {
      // gone (killed): it spent nothing more
    }
  }
  return total;
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function leaderOf(sys: System): Promise<Endpoint> {
  for (let attempt = 0; attempt < 200; attempt++) {
    for (const e of sys.endpoints) {
      try {
        const s = await e.status(500);
        const header = s.header as Obj;
        if (String(s.leader) !== "0" && String(s.leader) === String(header.member_id)) return e;
      } catch {
        // down or paused: try the next one
      }
    }
    await sleep(50);
  }
  throw new Error(`${sys.name}: no leader found`);
}

async function seqPuts(e: Endpoint, n: number, tag: string): Promise<{ p50: number; p99: number; ops: number }> {
  const lat: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    await e.put(`bench/${tag}/${i}`);
    lat.push(performance.now() - s);
  }
  return { p50: pct(lat, 50), p99: pct(lat, 99), ops: n / ((performance.now() - t0) / 1000) };
}

async function concurrentPuts(e: Endpoint, inFlight: number, total: number, tag: string): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < total) await e.put(`bench/${tag}/${next++ % 1000}`);
    }),
  );
  return total / ((performance.now() - t0) / 1000);
}

async function seqGets(e: Endpoint, n: number, serializable: boolean): Promise<{ p50: number; ops: number }> {
  const lat: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    await e.get(`bench/seq0/${i % 1000}`, serializable);
    lat.push(performance.now() - s);
  }
  return { p50: pct(lat, 50), ops: n / ((performance.now() - t0) / 1000) };
}

/** Sequential lease grants (then revoked, unmeasured), and keep-alives of 16 leases over one stream. */
async function leases(e: Endpoint, n: number): Promise<{ grantOps: number; keepAliveOps: number }> {
  const ids: string[] = [];
  let t0 = performance.now();
  for (let i = 0; i < n; i++) ids.push(await e.grant(60));
  const grantOps = n / ((performance.now() - t0) / 1000);
  const stream = e.keepAliveStream();
  const renewals = n * 4;
  let next = 0;
  t0 = performance.now();
  await Promise.all(
    ids.slice(0, 16).map(async (id) => {
      while (next++ < renewals) if ((await stream.renew(id)) <= 0) throw new Error(`lease ${id} was not renewed`);
    }),
  );
  const keepAliveOps = renewals / ((performance.now() - t0) / 1000);
  stream.end();
  for (const id of ids) await e.revoke(id);
  return { grantOps, keepAliveOps };
}

/** Lock then unlock, n times, alone: acquire and release latency (p50, ms). */
async function locksAlone(e: Endpoint, n: number, round: number): Promise<{ acquireP50: number; releaseP50: number }> {
  const lease = await e.grant(60);
  const acquire: number[] = [];
  const release: number[] = [];
  for (let i = 0; i < n; i++) {
    let t = performance.now();
    const key = await e.acquire(`bench-lock-${round}`, lease);
    acquire.push(performance.now() - t);
    t = performance.now();
    await e.release(key);
    release.push(performance.now() - t);
  }
  await e.revoke(lease);
  return { acquireP50: pct(acquire, 50), releaseP50: pct(release, 50) };
}

/** 8 contenders, each with its own lease, take one lock n times in all: acquire latency (p50, p99) and hand-offs per second. */
async function locksContended(e: Endpoint, n: number, round: number): Promise<{ acquireP50: number; acquireP99: number; handoffsPerSec: number }> {
  const contenders = 8;
  const leases = await Promise.all(Array.from({ length: contenders }, () => e.grant(60)));
  const acquire: number[] = [];
  let done = 0;
  const t0 = performance.now();
  await Promise.all(
    leases.map(async (lease) => {
      while (done < n) {
        const t = performance.now();
        const key = await e.acquire(`bench-contended-${round}`, lease);
        acquire.push(performance.now() - t);
        done++;
        await e.release(key);
      }
    }),
  );
  const handoffsPerSec = done / ((performance.now() - t0) / 1000);
  for (const lease of leases) await e.revoke(lease);
  return { acquireP50: pct(acquire, 50), acquireP99: pct(acquire, 99), handoffsPerSec };
}

/** kill -9 the leader, then put round-robin on the others (50 ms per attempt) until one is acknowledged. */
async function failover(sys: System, round: number): Promise<number> {
  const leader = await leaderOf(sys);
  await leader.put(`bench/failover/warm`);
  const others = sys.endpoints.filter((e) => e !== leader);
  const t0 = performance.now();
  await sys.kill(leader.address);
  for (let i = 0; ; i++) {
    const e = others[i % others.length]!;
    try {
      await e.put(`bench/failover/${round}`, 50);
      break;
    } catch {
      if (performance.now() - t0 > 30_000) throw new Error(`${sys.name}: no write acknowledged within 30 s of killing the leader`);
    }
  }
  const ms = performance.now() - t0;
  await sys.restart(leader.address);
  return ms;
}

async function waitAnswering(e: Endpoint, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      const s = await e.status(500);
      if (String(s.leader) !== "0") return;
    } catch {
      // still starting
    }
    if (performance.now() > deadline) throw new Error(`${e.address} did not come back`);
    await sleep(100);
  }
}

async function startHeck(dir: string): Promise<System> {
  const cluster = await LocalCluster.up({ nodes: 3, basePort: BASE, dataDir: path.join(dir, "heck") });
  const endpoints = cluster.nodes.map((n) => new Endpoint(n.grpc));
  const idOf = (address: string) => cluster.nodes.find((n) => n.grpc === address)!.id;
  return {
    name: "raft-kv",
    endpoints,
    kill: (address) => cluster.kill9(idOf(address)),
    pids: () => cluster.nodes.filter((n) => n.process).map((n) => n.pid),
    restart: async (address) => {
      cluster.restart(idOf(address));
      await waitAnswering(endpoints.find((e) => e.address === address)!);
    },
    stop: async () => {
      for (const e of endpoints) e.close();
      await cluster.down();
    },
  };
}

async function startEtcd(dir: string): Promise<System> {
  const names = ["e1", "e2", "e3"];
  const client = (i: number) => `127.0.0.1:${BASE + 100 + i}`;
  const peer = (i: number) => `127.0.0.1:${BASE + 105 + i}`;
  const initial = names.map((n, i) => `${n}=http://${peer(i)}`).join(",");
  const procs: Array<ChildProcess | null> = [];
  const spawnMember = (i: number) => {
    const log = fs.openSync(path.join(dir, `${names[i]}.log`), "a");
    const p = spawn(
      "etcd",
      [
        `--name=${names[i]}`,
        `--data-dir=${path.join(dir, names[i]!)}`,
        `--listen-client-urls=http://${client(i)}`,
        `--advertise-client-urls=http://${client(i)}`,
        `--listen-peer-urls=http://${peer(i)}`,
        `--initial-advertise-peer-urls=http://${peer(i)}`,
        `--initial-cluster=${initial}`,
        "--initial-cluster-state=new",
        "--initial-cluster-token=heck-bench",
      ],
      { stdio: ["ignore", log, log] },
    );
    fs.closeSync(log);
    procs[i] = p;
    p.on("exit", () => {
      if (procs[i] === p) procs[i] = null;
    });
  };
  names.forEach((_, i) => spawnMember(i));
  const endpoints = names.map((_, i) => new Endpoint(client(i)));
  for (const e of endpoints) await waitAnswering(e);
  const indexOf = (address: string) => endpoints.findIndex((e) => e.address === address);
  return {
    name: "etcd",
    endpoints,
    pids: () => procs.filter((p): p is ChildProcess => p !== null).map((p) => p.pid ?? 0),
    kill: async (address) => {
      const p = procs[indexOf(address)];
      if (!p) return;
      const gone = new Promise((r) => p.once("exit", r));
      p.kill("SIGKILL");
      await gone;
    },
    restart: async (address) => {
      spawnMember(indexOf(address));
      await waitAnswering(endpoints[indexOf(address)]!);
    },
    stop: async () => {
      for (const e of endpoints) e.close();
      await Promise.all(
        procs.map(async (p) => {
          if (!p) return;
          const gone = new Promise((r) => p.once("exit", r));
          p.kill("SIGTERM");
          await gone;
        }),
      );
    },
  };
}

interface Figures {
  seqPutOps: number;
  seqPutP50Ms: number;
  seqPutP99Ms: number;
  put16Ops: number;
  put64Ops: number;
  linGetP50Ms: number;
  linGetOps: number;
  serGetP50Ms: number;
  serGetOps: number;
  failoverMs: number;
  /** Server CPU (all members) per sequential put, µs. */
  seqPutCpuUs: number;
  /** Server CPU (all members) per put with 64 in flight, µs. */
  put64CpuUs: number;
  /** The bench client's CPU per put with 64 in flight, µs: the same client, so what differs is what each server makes it do. */
  put64ClientCpuUs: number;
  /** Elections (term changes) during the two concurrent phases. */
  concElections: number;
  leaseGrantOps: number;
  keepAliveOps: number;
  lockAcquireP50Ms: number;
  lockReleaseP50Ms: number;
  lock8AcquireP50Ms: number;
  lock8AcquireP99Ms: number;
  lock8HandoffsPerSec: number;
}

/** The leader's Raft term, from Maintenance.Status (both systems report it in the response header). */
async function termOf(e: Endpoint): Promise<number> {
  return Number((((await e.status(2_000)).header ?? {}) as Obj).raft_term ?? 0);
}

async function measureRound(sys: System, round: number): Promise<Figures> {
  let leader = await leaderOf(sys);
  await seqPuts(leader, WARMUP, `warm${round}`);
  let cpu0 = cpuMs(sys.pids());
  const seq = await seqPuts(leader, SEQ_PUTS, `seq${round}`);
  const seqPutCpuUs = ((cpuMs(sys.pids()) - cpu0) / SEQ_PUTS) * 1000;
  // The concurrent phases go to whoever leads when they start, and count the elections that hit them
  // (a term that moved): on a busy machine a starved member can call one, and the phase then pays for
  // the failover and for the proposals the old leader forwards.
  leader = await leaderOf(sys);
  let term0 = await termOf(leader);
  const put16 = await concurrentPuts(leader, 16, CONC_PUTS, `c16-${round}`);
  const put16Elections = (await termOf(leader)) - term0;
  leader = await leaderOf(sys);
  term0 = await termOf(leader);
  cpu0 = cpuMs(sys.pids());
  const client0 = process.cpuUsage();
  const put64 = await concurrentPuts(leader, 64, CONC_PUTS, `c64-${round}`);
  const put64CpuUs = ((cpuMs(sys.pids()) - cpu0) / CONC_PUTS) * 1000;
  const clientCpu = process.cpuUsage(client0);
  const put64ClientCpuUs = (clientCpu.user + clientCpu.system) / CONC_PUTS;
  const put64Elections = (await termOf(leader)) - term0;
  const lin = await seqGets(leader, GETS, false);
  const ser = await seqGets(leader, GETS, true);
  const lease = await leases(leader, LEASES);
  const alone = await locksAlone(leader, LOCKS, round);
  const contended = await locksContended(leader, LOCKS, round);
  const failoverMs = await failover(sys, round);
  process.stderr.write(`${sys.name.padEnd(8)} round ${round + 1}/${ROUNDS}: seq ${seq.ops.toFixed(0)}/s p50 ${seq.p50.toFixed(2)} ms (${seqPutCpuUs.toFixed(0)} µs server CPU/put), 16 in flight ${put16.toFixed(0)}/s${put16Elections ? ` (${put16Elections} elections)` : ""}, 64 in flight ${put64.toFixed(0)}/s (${put64CpuUs.toFixed(0)} µs server CPU/put, ${put64ClientCpuUs.toFixed(0)} client${put64Elections ? `, ${put64Elections} elections` : ""}), lin get p50 ${lin.p50.toFixed(2)} ms, failover ${failoverMs.toFixed(0)} ms, ${lease.grantOps.toFixed(0)} grants/s, ${lease.keepAliveOps.toFixed(0)} keep-alives/s, lock p50 ${alone.acquireP50.toFixed(2)} ms alone, ${contended.acquireP50.toFixed(2)} ms among 8 (load ${os.loadavg()[0]!.toFixed(1)})\n`);
  return {
    seqPutOps: seq.ops,
    seqPutP50Ms: seq.p50,
    seqPutP99Ms: seq.p99,
    put16Ops: put16,
    put64Ops: put64,
    linGetP50Ms: lin.p50,
    linGetOps: lin.ops,
    serGetP50Ms: ser.p50,
    serGetOps: ser.ops,
    failoverMs,
    seqPutCpuUs,
    put64CpuUs,
    put64ClientCpuUs,
    concElections: put16Elections + put64Elections,
    leaseGrantOps: lease.grantOps,
    keepAliveOps: lease.keepAliveOps,
    lockAcquireP50Ms: alone.acquireP50,
    lockReleaseP50Ms: alone.releaseP50,
    lock8AcquireP50Ms: contended.acquireP50,
    lock8AcquireP99Ms: contended.acquireP99,
    lock8HandoffsPerSec: contended.handoffsPerSec,
  };
}

function medians(runs: Figures[]): Figures {
  const keys = Object.keys(runs[0]!) as Array<keyof Figures>;
  return Object.fromEntries(keys.map((k) => [k, median(runs.map((r) => r[k]))])) as unknown as Figures;
}

const round2 = (x: number) => Math.round(x * 100) / 100;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ host: "127.0.0.1", port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** Benchmarks share 20000-31999 one at a time: wait (up to 15 min) until our ports are free instead of colliding. */
async function waitForPorts(ports: number[]): Promise<void> {
  const deadline = performance.now() + 15 * 60_000;
  let said = false;
  for (;;) {
    const busy: number[] = [];
    for (const p of ports) if (!(await portFree(p))) busy.push(p);
    if (busy.length === 0) return;
    if (performance.now() > deadline) throw new Error(`ports ${busy.join(", ")} stayed busy for 15 min; set HECK_BENCH_BASE_PORT to another free range`);
    if (!said) process.stderr.write(`waiting: ports ${busy.slice(0, 5).join(", ")}${busy.length > 5 ? "..." : ""} are in use (another benchmark?)\n`);
    said = true;
    await sleep(5_000);
  }
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "heck-raft-bench-"));
  let heck: System | null = null;
  let etcd: System | null = null;
  try {
    process.stderr.write(`raft-kv vs etcd 3.4, 3 members each on loopback, fsync on, 256-byte values, ${ROUNDS} rounds (medians), ${os.cpus().length} CPUs, load ${os.loadavg()[0]!.toFixed(1)}\n`);
    await waitForPorts([...Array.from({ length: 9 }, (_, i) => BASE + i), ...Array.from({ length: 8 }, (_, i) => BASE + 100 + i)]);
    heck = await startHeck(dir);
    fs.mkdirSync(path.join(dir, "etcd"));
    etcd = await startEtcd(path.join(dir, "etcd"));
    // Rounds alternate between the two systems, so a change in the machine's load hits both alike.
    const hr: Figures[] = [];
    const er: Figures[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      hr.push(await measureRound(heck, round));
      er.push(await measureRound(etcd, round));
    }
    const h = medians(hr);
    const e = medians(er);
    await heck.stop();
    heck = null;
    await etcd.stop();
    etcd = null;
    const rows: Array<[string, keyof Figures, boolean]> = [
      ["sequential put ops/s", "seqPutOps", true],
      ["sequential put p50 ms", "seqPutP50Ms", false],
      ["sequential put p99 ms", "seqPutP99Ms", false],
      ["puts, 16 in flight, ops/s", "put16Ops", true],
      ["puts, 64 in flight, ops/s", "put64Ops", true],
      ["linearizable get p50 ms", "linGetP50Ms", false],
      ["linearizable get ops/s", "linGetOps", true],
      ["serializable get p50 ms", "serGetP50Ms", false],
      ["serializable get ops/s", "serGetOps", true],
      ["kill -9 leader -> first ack ms", "failoverMs", false],
      ["server CPU per seq put µs", "seqPutCpuUs", false],
      ["server CPU per put, 64 infl. µs", "put64CpuUs", false],
      ["client CPU per put, 64 infl. µs", "put64ClientCpuUs", false],
      ["elections, 16+64 phases (median)", "concElections", false],
      ["lease grants/s", "leaseGrantOps", true],
      ["lease keep-alives/s (16 leases)", "keepAliveOps", true],
      ["lock acquire p50 ms, alone", "lockAcquireP50Ms", false],
      ["lock release p50 ms, alone", "lockReleaseP50Ms", false],
      ["lock acquire p50 ms, 8 contend", "lock8AcquireP50Ms", false],
      ["lock acquire p99 ms, 8 contend", "lock8AcquireP99Ms", false],
      ["lock hand-offs/s, 8 contenders", "lock8HandoffsPerSec", true],
    ];
    const ratios: Record<string, number> = {};
    console.log(`${"metric".padEnd(32)}${"raft-kv".padStart(12)}${"etcd 3.4".padStart(12)}${"raft-kv/etcd".padStart(14)}`);
    for (const [label, k, higherBetter] of rows) {
      ratios[k] = e[k] === 0 ? NaN : round2(h[k] / e[k]);
      console.log(`${label.padEnd(32)}${h[k].toFixed(2).padStart(12)}${e[k].toFixed(2).padStart(12)}${(e[k] === 0 ? "-" : ratios[k].toFixed(2)).padStart(14)}${higherBetter ? "  (higher is better)" : "  (lower is better)"}`);
    }
    const roundAll = (f: Figures) => Object.fromEntries(Object.entries(f).map(([k, v]) => [k, round2(v)]));
    console.log(JSON.stringify({ heck: roundAll(h), etcd: roundAll(e), ratios, rounds: ROUNDS, warmupPuts: WARMUP, valueBytes: VALUE.length, cpus: os.cpus().length, loadavg: round2(os.loadavg()[0]!) }));
  } finally {
    await heck?.stop().catch(() => undefined);
    await etcd?.stop().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
