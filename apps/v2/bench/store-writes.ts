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
 * HECK_STORE_PATH=single reproduces the old path (one CAS Txn per record, 32
 * in flight, no linger) for a before/after in the same run conditions;
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
const SINGLE = process.env.HECK_STORE_PATH === "single";
const RATE = Number(process.env.HECK_STORE_RATE ?? 0);
const tuning = SINGLE ? { maxBatchRecords: 1, maxInFlight: 32, lingerMs: 0 } : {};

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
  let makeKv: () => RevKv;
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
    // The writer embeds the member; the watchers are agents reaching it over gRPC.
    let first = true;
    makeKv = () => {
      if (first) {
        first = false;
        return raft;
      }
      return new EtcdKv({ endpoints: [`http://${raft.grpcAddress}`], label: "raft-kv" });
    };
  }
  const calls = new Map<string, number>();
  const writer = new KvBackedStore(counted(makeKv(), calls), { kind, prefix: "bench/", ...tuning });
  await writer.start(() => undefined);
  const seen: number[] = [];
  const watchers: KvBackedStore[] = [];
  let round = 0;
  for (let w = 0; w < WATCHERS; w++) {
    seen.push(0);
    const s = new KvBackedStore(makeKv(), { kind, prefix: "bench/" });
    await s.start((e) => {
      if (e.type === "record" && e.record.hlcMs >= round * 1e6) seen[w]! += 1;
    });
    watchers.push(s);
  }
  console.log(`store ${kind}, ${SINGLE ? "one CAS per record" : "batched"}: ${N} records per round${RATE > 0 ? ` at ${RATE}/s` : " at once"}, ${WATCHERS} watchers, load average ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
  const rows: { wallMs: number; clientCpuUsPerRecord: number; serverCpuUsPerRecord: number; requests: number }[] = [];
  for (round = 1; round <= ROUNDS; round++) {
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
    while (seen.some((s) => s < N)) await new Promise((r) => setTimeout(r, 5));
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const srv = serverPid === process.pid ? 0 : serverCpuMs(serverPid) - srv0;
    const row = {
      wallMs: Math.round(wallMs),
      clientCpuUsPerRecord: Math.round((cpu.user + cpu.system) / N),
      serverCpuUsPerRecord: Math.round((srv * 1000) / N),
      requests: [...calls.values()].reduce((a, b) => a + b, 0),
    };
    rows.push(row);
    console.log(`round ${round}: ${row.wallMs} ms to all watchers, client CPU ${row.clientCpuUsPerRecord} µs/record, server CPU ${row.serverCpuUsPerRecord} µs/record, ${row.requests} store calls (${[...calls].map(([k, v]) => `${k} ${v}`).join(", ")}), status ${JSON.stringify(writer.status())}`);
  }
  await Promise.all([writer.close(), ...watchers.map((w) => w.close())]);
  await stopServer();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(JSON.stringify({ store: kind, path: SINGLE ? "single" : "batched", ratePerS: RATE || null, records: N, watchers: WATCHERS, wallMs: median(rows.map((r) => r.wallMs)), clientCpuUsPerRecord: median(rows.map((r) => r.clientCpuUsPerRecord)), serverCpuUsPerRecord: median(rows.map((r) => r.serverCpuUsPerRecord)), requestsPerRound: median(rows.map((r) => r.requests)), loadAverage: loadavg()[0] }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
