/**
 * A quick in-process measurement of the revisioned stores' write path
 * (`KvBackedStore` over etcd or embedded raft-kv): one writer queues
 * HECK_STORE_RECORDS records (default 10,000, as one refresh of 10,000
 * origins), `HECK_STORE_WATCHERS` other stores (default 3) watch the prefix
 * as other agents do. Prints wall time until every watcher has every record,
 * this process's CPU per record (client side: writer + watchers), the
 * server's CPU per record (etcd), the store requests made, and the load
 * average. Run: `node --import tsx bench/store-writes.ts [etcd|raft]`.
 *
 * Both write paths run in the same process, alternating rounds (ABBA): the
 * old one ("single": one CAS Txn per record, 32 in flight, no linger) and
 * the group commit ("batched"); HECK_STORE_PATH=batched runs one only.
 * HECK_STORE_RATE=<records/s> queues the records at that rate (refreshes
 * trickling in, as in steady state) instead of all at once.
 */
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import type { HealthRecord } from "../src/core/types.ts";
import { EtcdKv } from "../src/io/store/etcd-kv.ts";
import { KvBackedStore, type RevKv } from "../src/io/store/kv-store.ts";
import { EmbeddedRaftKv } from "../src/io/store/raft-kv.ts";
import { startEtcd } from "../test/support/etcd.ts";

// Ports 19980-19989 belong to this script.
const kind = process.argv[2] === "raft" ? "raft" : "etcd";
const N = Number(process.env.HECK_STORE_RECORDS ?? 10_000);
const WATCHERS = Number(process.env.HECK_STORE_WATCHERS ?? 3);
const ROUNDS = Number(process.env.HECK_STORE_ROUNDS ?? 3);
const PATHS = (process.env.HECK_STORE_PATH ?? "single,batched").split(",").map((p) => p.trim()) as ("single" | "batched")[];
const RATE = Number(process.env.HECK_STORE_RATE ?? 0);

const serverCpuMs = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, clock ticks of 10 ms
};

/** Counts the RevKv calls the store makes. */
function counted(kv: RevKv, calls: Map<string, number>): RevKv {
  return new Proxy(kv, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        calls.set(String(prop), (calls.get(String(prop)) ?? 0) + 1);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

async function main(): Promise<void> {
  let serverPid = process.pid;
  let stopServer: () => Promise<void>;
  let makeKv: (role: "writer" | "watcher") => RevKv;
  let dir = "";
  if (kind === "etcd") {
    const etcd = await startEtcd(19980, 19981);
    serverPid = etcd.pid;
    stopServer = () => etcd.stop();
    makeKv = () => new EtcdKv({ endpoints: [`http://${etcd.endpoint}`] });
  } else {
    dir = mkdtempSync(join(tmpdir(), "heck-v2-store-bench-"));
    const raft = await EmbeddedRaftKv.start({ id: "r1", peers: { r1: "127.0.0.1:19982" }, dataDir: join(dir, "r1"), grpc: "127.0.0.1:19983" });
    stopServer = async () => {
      await raft.close();
      rmSync(dir, { recursive: true, force: true });
    };
    // Writers embed the member (closing their store must not stop it); watchers reach it over gRPC, as other agents do.
    makeKv = (role) => {
      if (role === "writer") return Object.assign(Object.create(raft) as RevKv, { close: async () => undefined });
      return new EtcdKv({ endpoints: [`http://${raft.grpcAddress}`], label: "raft-kv" });
    };
  }
  // Both paths in one run, each on its own prefix with its own writer and watchers, rounds in
  // ABBA order (single, batched, batched, single, ...), so load on this shared machine hits both alike.
  type Path = "single" | "batched";
  const paths: Path[] = PATHS;
  const setups = new Map<Path, { writer: KvBackedStore; watchers: KvBackedStore[]; seen: number[]; calls: Map<string, number> }>();
  let round = 0;
  for (const path of paths) {
    const prefix = `bench-${path}/`;
    const calls = new Map<string, number>();
    const tuning = path === "single" ? { maxBatchRecords: 1, maxInFlight: 32, lingerMs: 0 } : {};
    const writer = new KvBackedStore(counted(makeKv("writer"), calls), { kind, prefix, ...tuning });
    await writer.start(() => undefined);
    const seen: number[] = [];
    const watchers: KvBackedStore[] = [];
    for (let w = 0; w < WATCHERS; w++) {
      seen.push(0);
      const s = new KvBackedStore(makeKv("watcher"), { kind, prefix });
      await s.start((e) => {
        if (e.type === "record" && e.record.hlcMs >= round * 1e6) seen[w]! += 1;
      });
      watchers.push(s);
    }
    setups.set(path, { writer, watchers, seen, calls });
  }
  console.log(`store ${kind}: ${N} records per round${RATE > 0 ? ` at ${RATE}/s` : " at once"}, ${WATCHERS} watchers, paths ${paths.join(" vs ")}, ${ROUNDS} rounds each; load average ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
  type Row = { wallMs: number; clientCpuUsPerRecord: number; serverCpuUsPerRecord: number; requests: number };
  const rows = new Map<Path, Row[]>(paths.map((p) => [p, []]));
  const order: Path[] = [];
  for (let r = 0; r < ROUNDS; r++) order.push(...(r % 2 === 0 ? paths : [...paths].reverse()));
  for (const path of order) {
    round += 1;
    const { writer, seen, calls } = setups.get(path)!;
    seen.fill(0);
    calls.clear();
    const records: HealthRecord[] = Array.from({ length: N }, (_, i) => ({ id: `o${i}`, status: "healthy", observer: "w", checkedAtMs: round * 1e6 + i, sinceMs: 0, hlcMs: round * 1e6 + i, latencyMs: 1.2, lastError: null }));
    const cpu0 = process.cpuUsage();
    const srv0 = serverPid === process.pid ? 0 : serverCpuMs(serverPid);
    const t0 = performance.now();
    if (RATE > 0) {
      // 10 ms slices, each the refreshes that came due in it.
      const perSlice = Math.max(1, Math.round(RATE / 100));
      for (let i = 0; i < N; i += perSlice) {
        writer.writeRecords(records.slice(i, i + perSlice));
        await new Promise((r) => setTimeout(r, 10));
      }
    } else writer.writeRecords(records);
    await writer.flush();
    while (seen.some((x) => x < N)) await new Promise((r) => setTimeout(r, 5));
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const srv = serverPid === process.pid ? 0 : serverCpuMs(serverPid) - srv0;
    const row = {
      wallMs: Math.round(wallMs),
      clientCpuUsPerRecord: Math.round((cpu.user + cpu.system) / N),
      serverCpuUsPerRecord: Math.round((srv * 1000) / N),
      requests: [...calls.values()].reduce((a, b) => a + b, 0),
    };
    rows.get(path)!.push(row);
    console.log(`${path.padEnd(7)}: ${row.wallMs} ms to all watchers, client CPU ${row.clientCpuUsPerRecord} µs/record, server CPU ${row.serverCpuUsPerRecord} µs/record, ${row.requests} store calls (${[...calls].map(([k, v]) => `${k} ${v}`).join(", ")}); load ${loadavg()[0]!.toFixed(1)}`);
  }
  for (const { writer, watchers } of setups.values()) await Promise.all([writer.close(), ...watchers.map((w) => w.close())]);
  await stopServer();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const figures = Object.fromEntries(
    paths.map((p) => {
      const rs = rows.get(p)!;
      return [p, { wallMs: median(rs.map((r) => r.wallMs)), clientCpuUsPerRecord: median(rs.map((r) => r.clientCpuUsPerRecord)), serverCpuUsPerRecord: median(rs.map((r) => r.serverCpuUsPerRecord)), requestsPerRound: median(rs.map((r) => r.requests)) }];
    }),
  );
  console.log(JSON.stringify({ store: kind, ratePerS: RATE || null, records: N, watchers: WATCHERS, rounds: ROUNDS, ...figures, loadAverage: loadavg()[0] }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
