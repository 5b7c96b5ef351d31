import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EtcdKv } from "../../src/io/store/etcd-kv.ts";
import { KvBackedStore } from "../../src/io/store/kv-store.ts";
import type { StoreEvent } from "../../src/io/store/store.ts";
import type { HealthRecord } from "../../src/core/types.ts";
import { checkBatchConflict } from "../support/batch-conflict.ts";
import { etcdAvailable, startEtcd, type RunningEtcd } from "../support/etcd.ts";

// Ports 18900-18909 belong to this file.
let etcd: RunningEtcd;
beforeAll(async () => {
  if (!etcdAvailable()) throw new Error("etcd is not installed: run scripts/ensure-system-deps.sh test");
  etcd = await startEtcd(18900, 18901);
}, 30_000);
afterAll(async () => {
  await etcd?.stop();
});

const rec = (id: string, observer: string, hlcMs: number, status: HealthRecord["status"] = "healthy"): HealthRecord => ({
  id, status, observer, checkedAtMs: hlcMs, sinceMs: hlcMs, hlcMs,
});

async function until(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

function open(prefix: string) {
  const events: StoreEvent[] = [];
  const store = new KvBackedStore(new EtcdKv({ endpoints: [`http://${etcd.endpoint}`] }), { kind: "etcd", prefix });
  return { store, events, start: () => store.start((e) => events.push(e)) };
}

describe("--store etcd against a real etcd 3.4", () => {
  it("replicates the origin list and records between two agents through watches", async () => {
    const a = open("t1/");
    const b = open("t1/");
    await a.start();
    await b.start();
    await a.store.putOrigin({ id: "web-1", url: "http://127.0.0.1:1/health" });
    await until(() => b.events.some((e) => e.type === "origin" && e.spec.id === "web-1"));
    a.store.writeRecords([rec("web-1", "a", 1_000, "unhealthy")]);
    await until(() => b.events.some((e) => e.type === "record" && e.record.status === "unhealthy"));
    // A third agent started later gets the whole state at start.
    const c = open("t1/");
    await c.start();
    expect(c.events.map((e) => e.type).sort()).toEqual(["origin", "record"]);
    expect(await b.store.removeOrigin("web-1")).toBe(true);
    expect(await b.store.removeOrigin("web-1")).toBe(false);
    await until(() => a.events.some((e) => e.type === "origin-removed" && e.id === "web-1"));
    await Promise.all([a.store.close(), b.store.close(), c.store.close()]);
  });

  it("a stale observer never overwrites a newer record (compare-and-set on the revision)", async () => {
    const a = open("t2/");
    const b = open("t2/");
    await a.start();
    await b.start();
    b.store.writeRecords([rec("o1", "b", 2_000, "unhealthy")]);
    await b.store.flush();
    await until(() => a.events.some((e) => e.type === "record" && e.record.observer === "b"));
    a.store.writeRecords([rec("o1", "a", 1_500, "healthy")]);
    await a.store.flush();
    expect(a.store.status().staleRefused).toBe(1);
    // Even when the writer has not seen the newer record yet, the CAS refuses it.
    const c = new KvBackedStore(new EtcdKv({ endpoints: [`http://${etcd.endpoint}`] }), { kind: "etcd", prefix: "t2/" });
    c.writeRecords([rec("o1", "c", 1_800, "healthy")]); // not started: empty cache, expects "absent"
    await c.flush();
    expect(c.status().staleRefused).toBe(1);
    const d = open("t2/");
    await d.start();
    const stored = d.events.filter((e) => e.type === "record");
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ record: { observer: "b", status: "unhealthy" } });
    await Promise.all([a.store.close(), b.store.close(), c.close(), d.store.close()]);
  });

  it("group commit: a batch is one transaction; a batch with one stale key writes the others one by one and refuses that one", async () => {
    await checkBatchConflict(() => new EtcdKv({ endpoints: [`http://${etcd.endpoint}`] }), "t4/");
  });

  it("adds 300 origins through one call as transactions of 128 puts; another agent receives them all", async () => {
    const a = open("t5/");
    const b = open("t5/");
    await a.start();
    await b.start();
    const specs = Array.from({ length: 300 }, (_, i) => ({ id: `bulk-${i}`, url: `http://127.0.0.1:1/${i}` }));
    await a.store.putOrigins(specs);
    await until(() => b.events.filter((e) => e.type === "origin").length === 300);
    expect(new Set(b.events.flatMap((e) => (e.type === "origin" ? [e.spec.id] : [])))).toEqual(new Set(specs.map((s) => s.id)));
    await Promise.all([a.store.close(), b.store.close()]);
  });

  it("ignores malformed values written by someone else", async () => {
    const kv = new EtcdKv({ endpoints: [`http://${etcd.endpoint}`] });
    await kv.put("t3/health/x", "{not json");
    await kv.put("t3/origins/y", JSON.stringify({ id: "other", url: "http://x" }));
    const lines: string[] = [];
    const store = new KvBackedStore(kv, { kind: "etcd", prefix: "t3/", log: (l) => lines.push(l) });
    const events: StoreEvent[] = [];
    await store.start((e) => events.push(e));
    expect(events).toEqual([]);
    expect(lines.join("\n")).toMatch(/t3\/health\/x/);
    expect(lines.join("\n")).toMatch(/t3\/origins\/y/);
    await store.close();
  });
});
