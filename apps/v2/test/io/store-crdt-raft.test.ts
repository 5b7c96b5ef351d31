import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CrdtStore } from "../../src/io/store/crdt-store.ts";
import { EmbeddedRaftKv } from "../../src/io/store/raft-kv.ts";
import { EtcdKv } from "../../src/io/store/etcd-kv.ts";
import { KvBackedStore, type RevKv } from "../../src/io/store/kv-store.ts";
import type { StoreEvent } from "../../src/io/store/store.ts";
import type { HealthRecord } from "../../src/core/types.ts";
import { checkBatchConflict } from "../support/batch-conflict.ts";
import { until } from "../support/wait.ts";

// Ports 18920-18929 belong to this file (raft peers); crdt uses port 0.
const dir = mkdtempSync(join(tmpdir(), "heck-v2-store-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rec = (id: string, observer: string, hlcMs: number, status: HealthRecord["status"] = "healthy"): HealthRecord => ({
  id, status, observer, checkedAtMs: hlcMs, sinceMs: hlcMs, hlcMs,
});
const recordOf = (events: StoreEvent[], id: string) =>
  events.filter((e): e is Extract<StoreEvent, { type: "record" }> => e.type === "record" && e.record.id === id).at(-1)?.record;

describe("--store crdt (embedded crdt-kv)", () => {
  it("replicates by gossip, refuses stale records, keeps writing on both sides of a partition and converges after heal", async () => {
    const addrs = new Map<string, string>();
    const make = (id: string) =>
      new CrdtStore({ id, dataDir: join(dir, `crdt-${id}`), host: "127.0.0.1", port: 0, prefix: "heck/", syncIntervalMs: 50, peers: () => [...addrs].filter(([k]) => k !== id).map(([, v]) => v) });
    const stores = ["a", "b", "c"].map(make);
    const events = stores.map(() => [] as StoreEvent[]);
    for (const s of stores) await s.open();
    stores.forEach((s, i) => addrs.set(["a", "b", "c"][i]!, s.address));
    await Promise.all(stores.map((s, i) => s.start((e) => events[i]!.push(e))));
    const [a, b, c] = stores as [CrdtStore, CrdtStore, CrdtStore];

    await a.putOrigin({ id: "web-1", url: "http://127.0.0.1:1/" });
    await until(() => events[2]!.some((e) => e.type === "origin" && e.spec.id === "web-1"), 5_000, "origin gossiped");
    a.writeRecords([rec("web-1", "a", 2_000, "unhealthy")]);
    await until(() => recordOf(events[2]!, "web-1")?.observer === "a", 5_000, "record gossiped");
    c.writeRecords([rec("web-1", "c", 1_000)]);
    expect(c.status().staleRefused).toBe(1);

    // Partition c away from a and b, in both directions.
    c.faults.block([a.address, b.address]);
    a.faults.block([c.address]);
    b.faults.block([c.address]);
    a.writeRecords([rec("web-1", "a", 3_000, "healthy")]);
    c.writeRecords([rec("web-1", "c", 4_000, "unhealthy")]);
    await new Promise((r) => setTimeout(r, 300));
    expect(recordOf(events[1]!, "web-1")?.hlcMs).toBe(3_000);
    expect(recordOf(events[2]!, "web-1")?.hlcMs).toBe(4_000);
    for (const s of stores) s.faults.unblock();
    await until(() => stores.every((_, i) => recordOf(events[i]!, "web-1")?.hlcMs === 4_000), 5_000, "converged after heal");

    expect(await b.removeOrigin("web-1")).toBe(true);
    await until(() => events[0]!.some((e) => e.type === "origin-removed"), 5_000, "removal gossiped");
    await Promise.all(stores.map((s) => s.close()));
  }, 30_000);

  it("writes an origin list in batches and records without blocking on fsync; a reopened replica keeps what was acknowledged", async () => {
    const addrs = new Map<string, string>();
    const make = (id: string) =>
      new CrdtStore({ id, dataDir: join(dir, `crdt-batch-${id}`), host: "127.0.0.1", port: 0, prefix: "heck/", syncIntervalMs: 50, peers: () => [...addrs].filter(([k]) => k !== id).map(([, v]) => v) });
    const [a, b] = [make("a"), make("b")];
    const seen = new Set<string>();
    await a.open();
    await b.open();
    addrs.set("a", a.address);
    addrs.set("b", b.address);
    await a.start(() => {});
    await b.start((e) => {
      if (e.type === "origin") seen.add(e.spec.id);
    });
    // 1,200 origins: three crdt-kv batches (one step, one WAL record and one fsync each), durable when the call resolves.
    await a.putOrigins(Array.from({ length: 1_200 }, (_, i) => ({ id: `o${i}`, url: `http://127.0.0.1:1/${i}` })));
    a.writeRecords(Array.from({ length: 300 }, (_, i) => rec(`o${i}`, "a", 10_000 + i)));
    expect(a.status().recordsWritten).toBe(300); // applied at once
    await until(() => a.status().pendingWrites === 0, 5_000, "records durable");
    await until(() => seen.size === 1_200, 10_000, "origin list gossiped");
    await a.close();
    // Reopen a's data directory: every origin and record is still there.
    const again = make("a");
    const events: StoreEvent[] = [];
    await again.start((e) => events.push(e));
    expect(events.filter((e) => e.type === "origin")).toHaveLength(1_200);
    expect(events.filter((e) => e.type === "record")).toHaveLength(300);
    await again.close();
    await b.close();
  }, 30_000);
});

describe("--store raft (embedded raft-kv members, and an external client over gRPC)", () => {
  it("replicates through Raft, and a non-member agent reads and writes over the etcd API", async () => {
    const peers = { r1: "127.0.0.1:18920", r2: "127.0.0.1:18921", r3: "127.0.0.1:18922" };
    const grpc = { r1: "127.0.0.1:18923", r2: "127.0.0.1:18924", r3: "127.0.0.1:18925" };
    const members = await Promise.all(
      (["r1", "r2", "r3"] as const).map((id) => EmbeddedRaftKv.start({ id, peers, dataDir: join(dir, `raft-${id}`), grpc: grpc[id] })),
    );
    const stores = members.map((m) => new KvBackedStore(m, { kind: "raft", prefix: "heck/" }));
    const events = stores.map(() => [] as StoreEvent[]);
    await Promise.all(stores.map((s, i) => s.start((e) => events[i]!.push(e))));
    const outside = new KvBackedStore(new EtcdKv({ endpoints: Object.values(grpc).map((g) => `http://${g}`), label: "raft-kv" }), { kind: "raft", prefix: "heck/" });
    const outsideEvents: StoreEvent[] = [];
    await outside.start((e) => outsideEvents.push(e));

    await stores[0]!.putOrigin({ id: "o1", url: "http://127.0.0.1:1/" });
    await until(() => outsideEvents.some((e) => e.type === "origin"), 10_000, "origin reached the gRPC client");
    // Bulk adds go as transactions of 128 puts, from a member and from a gRPC client alike.
    await stores[1]!.putOrigins(Array.from({ length: 200 }, (_, i) => ({ id: `m${i}`, url: `http://127.0.0.1:1/${i}` })));
    await outside.putOrigins(Array.from({ length: 200 }, (_, i) => ({ id: `g${i}`, url: `http://127.0.0.1:1/${i}` })));
    await until(() => events.every((ev) => ev.filter((e) => e.type === "origin").length === 401), 10_000, "bulk origins on every member");
    outside.writeRecords([rec("o1", "x", 5_000, "unhealthy")]);
    await outside.flush();
    await until(() => events.every((ev) => recordOf(ev, "o1")?.observer === "x"), 10_000, "record reached every member");
    stores[1]!.writeRecords([rec("o1", "y", 4_000)]);
    await stores[1]!.flush();
    expect(stores[1]!.status().staleRefused).toBe(1);
    // Group commit on the embedded member (one Txn proposal) and over gRPC, with a stale key in a batch.
    let next = 0;
    // The member itself, but closing the test's store must not stop it (the stores below close it).
    const member: RevKv = Object.assign(Object.create(members[1]!) as RevKv, { close: async () => undefined });
    const clients = [member, new EtcdKv({ endpoints: [`http://${grpc.r3}`], label: "raft-kv" }), new EtcdKv({ endpoints: [`http://${grpc.r1}`], label: "raft-kv" })];
    await checkBatchConflict(() => clients[next++]!, "batch/");
    await outside.close();
    await Promise.all(stores.map((s) => s.close()));
  }, 40_000);
});

describe("--store raft with the agent's gossip key: encrypted peer traffic", () => {
  it("members holding the key replicate; a member with another key is kept out", async () => {
    const key = randomBytes(32).toString("base64");
    const wrong = randomBytes(32).toString("base64");
    const peers = { k1: "127.0.0.1:18926", k2: "127.0.0.1:18927", k3: "127.0.0.1:18928" };
    const keys = { k1: key, k2: key, k3: wrong };
    const members = await Promise.all(
      (["k1", "k2", "k3"] as const).map((id) => EmbeddedRaftKv.start({ id, peers, dataDir: join(dir, `keyed-${id}`), grpc: "127.0.0.1:0", keys: [keys[id]] })),
    );
    try {
      for (const m of members) expect(m.server.encryption.enabled).toBe(true);
      expect(members[0]!.describe()).toMatch(/peers encrypted, key [0-9a-f]{8}/);
      const [a, b, c] = members.map((m) => new KvBackedStore(m, { kind: "raft", prefix: "heck/" })) as [KvBackedStore, KvBackedStore, KvBackedStore];
      const seen: StoreEvent[] = [];
      const cSeen: StoreEvent[] = [];
      // k1 and k2 are a quorum of three; k3 cannot open their frames (nor they its).
      await Promise.all([a.start(() => undefined), b.start((e) => seen.push(e))]);
      void c.start((e) => cSeen.push(e)).catch(() => undefined);
      a.writeRecords([rec("o1", "k1", 1_000, "unhealthy")]);
      await a.flush();
      await until(() => recordOf(seen, "o1")?.status === "unhealthy", 10_000, "record reached the member with the same key");
      await until(() => members[2]!.server.encryption.decryptFailures > 0 || members.slice(0, 2).some((m) => m.server.encryption.decryptFailures > 0), 10_000, "wrong-key frames refused");
      expect(recordOf(cSeen, "o1")).toBeUndefined();
      await Promise.all([a.close(), b.close()]);
      void c.close().catch(() => undefined);
    } finally {
      await Promise.all(members.map((m) => m.close().catch(() => undefined)));
    }
  }, 40_000);
});
