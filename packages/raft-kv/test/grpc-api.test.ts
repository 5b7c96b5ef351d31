import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { Etcd3 } from "etcd3";
import { TestCluster, tempDir } from "./support/cluster.ts";
import { loadEtcdProto } from "../src/io/grpc-api.ts";

// Ports 15250-15259 belong to this file (peer listeners); gRPC on OS-assigned ports.
let cluster: TestCluster;
let cleanup: () => void;
let etcd: Etcd3;
let followerGrpc: string;

beforeAll(async () => {
  const t = tempDir();
  cleanup = t.cleanup;
  cluster = await TestCluster.start(3, 15250, t.dir);
  followerGrpc = (await cluster.follower()).grpcAddress!;
  etcd = new Etcd3({ hosts: `http://${followerGrpc}` });
}, 30_000);

afterAll(async () => {
  etcd?.close();
  await cluster?.stop();
  cleanup?.();
});

type Obj = Record<string, unknown>;
function rawClient(address: string): { call: (service: string, method: string, req: Obj) => Promise<Obj> } {
  const pkg = loadEtcdProto() as unknown as { etcdserverpb: Record<string, grpc.ServiceClientConstructor> };
  const clients = new Map<string, grpc.Client>();
  return {
    call: (service, method, req) =>
      new Promise((resolve, reject) => {
        let c = clients.get(service);
        if (!c) clients.set(service, (c = new pkg.etcdserverpb[service]!(address, grpc.credentials.createInsecure())));
        (c as unknown as Record<string, (r: Obj, cb: (e: grpc.ServiceError | null, v: Obj) => void) => void>)[method]!(req, (e, v) => (e ? reject(e) : resolve(v)));
      }),
  };
}

describe("etcd v3 gRPC API with the etcd3 npm client", () => {
  it("puts, gets, gets a prefix and deletes through a follower", async () => {
    await etcd.put("g/a").value("1");
    await etcd.put("g/b").value("2");
    expect(await etcd.get("g/a").string()).toBe("1");
    expect(await etcd.getAll().prefix("g/").strings()).toEqual({ "g/a": "1", "g/b": "2" });
    await etcd.delete().key("g/a");
    expect(await etcd.get("g/a").string()).toBeNull();
  });

  it("runs a compare-and-swap transaction", async () => {
    await etcd.put("cas").value("old");
    const ok = await etcd.if("cas", "Value", "==", "old").then(etcd.put("cas").value("new")).commit();
    const no = await etcd.if("cas", "Value", "==", "old").then(etcd.put("cas").value("newer")).commit();
    expect([ok.succeeded, no.succeeded]).toEqual([true, false]);
    expect(await etcd.get("cas").string()).toBe("new");
  });

  it("watches a prefix", async () => {
    const watcher = await etcd.watch().prefix("wp/").create();
    const seen: string[] = [];
    const done = new Promise<void>((resolve) => {
      watcher.on("put", (kv) => {
        seen.push(`${kv.key.toString()}=${kv.value.toString()}`);
        if (seen.length === 2) resolve();
      });
    });
    await etcd.put("wp/1").value("a");
    await etcd.put("other").value("x");
    await etcd.put("wp/2").value("b");
    await done;
    await watcher.cancel();
    expect(seen).toEqual(["wp/1=a", "wp/2=b"]);
  });
});

describe("etcd v3 gRPC API: headers and maintenance", () => {
  it("fills every header field etcdctl prints", async () => {
    const c = rawClient(followerGrpc);
    const r = await c.call("KV", "Range", { key: Buffer.from("g/b") });
    const h = r.header as Obj;
    expect(BigInt(h.cluster_id as string)).toBeGreaterThan(0n);
    expect(BigInt(h.member_id as string)).toBeGreaterThan(0n);
    expect(Number(h.revision)).toBeGreaterThan(1);
    expect(Number(h.raft_term)).toBeGreaterThan(0);
    const s = await c.call("Maintenance", "Status", {});
    const leader = await cluster.leader();
    const members = await c.call("Cluster", "MemberList", {});
    const leaderMember = (members.members as Obj[]).find((m) => m.name === leader.id)!;
    expect(s.leader).toBe(leaderMember.ID);
    expect((members.members as Obj[]).map((m) => m.name)).toEqual(["n1", "n2", "n3"]);
    expect((await c.call("Maintenance", "Alarm", { action: "GET" })).alarms).toEqual([]);
  });
});

describe("etcd v3 gRPC API: bad input gets etcd's errors, never a crash", () => {
  it("refuses an empty key, a missing lease, an oversized value and a duplicate-key txn with etcd's codes and messages", async () => {
    const c = rawClient(followerGrpc);
    await expect(c.call("KV", "Put", { key: Buffer.alloc(0), value: Buffer.from("v") })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: "etcdserver: key is not provided" });
    await expect(c.call("KV", "Put", { key: Buffer.from("k"), value: Buffer.from("v"), lease: "7" })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND, details: "etcdserver: requested lease not found" });
    await expect(c.call("KV", "Put", { key: Buffer.from("k"), value: Buffer.alloc(1024 * 1024 + 1) })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: "etcdserver: request is too large" });
    const dup = { request: "request_put", request_put: { key: Buffer.from("d"), value: Buffer.from("1") } };
    await expect(c.call("KV", "Txn", { success: [dup, dup] })).rejects.toMatchObject({ details: "etcdserver: duplicate key given in txn request" });
    // A read at a past revision: etcd's code and exact words, which Go's clientv3 maps back to ErrCompacted.
    await expect(c.call("KV", "Range", { key: Buffer.from("k"), revision: "1" })).rejects.toMatchObject({
      code: grpc.status.OUT_OF_RANGE,
      details: "etcdserver: mvcc: required revision has been compacted",
    });
  });

  it("answers bytes that are not a protobuf message with an error and keeps serving", async () => {
    const raw = new grpc.Client(followerGrpc, grpc.credentials.createInsecure());
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x12]);
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      raw.makeUnaryRequest("/etcdserverpb.KV/Put", (b: Buffer) => b, (b: Buffer) => b, garbage, (e) => resolve(e)),
    );
    raw.close();
    expect(err?.code).toBeDefined();
    expect(err?.code).not.toBe(grpc.status.OK);
    await etcd.put("alive").value("yes");
    expect(await etcd.get("alive").string()).toBe("yes");
  });

  it("fuzzed: random bytes and mutated real requests to Range and Put each get a status, those refused as malformed are counted, and the member keeps serving", async () => {
    const server = [...cluster.servers.values()].find((s) => s.grpcAddress === followerGrpc)!;
    const kv = (loadEtcdProto() as unknown as { etcdserverpb: { KV: { service: Record<string, { requestSerialize(v: Obj): Buffer }> } } }).etcdserverpb.KV.service;
    const real = [
      ["/etcdserverpb.KV/Range", kv.Range!.requestSerialize({ key: Buffer.from("fz/a"), range_end: Buffer.from("fz/b"), limit: "3" })],
      ["/etcdserverpb.KV/Put", kv.Put!.requestSerialize({ key: Buffer.from("fz/k"), value: Buffer.from("v"), prev_kv: true })],
    ] as const;
    // A real message with bytes overwritten, cut short, or junk appended; or bytes from nowhere.
    const mutated = fc.tuple(fc.constantFrom(...real), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat(), fc.uint8Array({ maxLength: 8 })).map(([[path, bytes], edits, cut, junk]) => {
      const out = Buffer.from(bytes);
      for (const [at, b] of edits) out[at % out.length] = b;
      return [path, Buffer.concat([out.subarray(0, cut % (out.length + 1)), junk])] as const;
    });
    const random = fc.tuple(fc.constantFrom(...real.map(([p]) => p)), fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)));
    const calls = fc.sample(fc.oneof(mutated, random), { numRuns: 150, seed: 18 });
    const raw = new grpc.Client(followerGrpc, grpc.credentials.createInsecure());
    const before = server.malformed().grpc;
    let parseFailures = 0;
    let refused = 0;
    for (const [path, bytes] of calls) {
      const err = await new Promise<grpc.ServiceError | null>((resolve) => raw.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, bytes, (e) => resolve(e)));
      if (err === null) continue;
      refused++;
      if (err.code === grpc.status.INTERNAL && err.details.startsWith("error parsing")) parseFailures++;
    }
    raw.close();
    // Every message that did not decode is counted; beyond those, only refusals (a field that fails validation) are.
    const counted = server.malformed().grpc - before;
    expect(parseFailures).toBeGreaterThan(10);
    expect(counted).toBeGreaterThanOrEqual(parseFailures);
    expect(counted).toBeLessThanOrEqual(refused);
    await etcd.put("alive-after-fuzz").value("yes");
    expect(await etcd.get("alive-after-fuzz").string()).toBe("yes");
  });

  it("reports unimplemented services as UNIMPLEMENTED", async () => {
    const raw = new grpc.Client(followerGrpc, grpc.credentials.createInsecure());
    const err = await new Promise<grpc.ServiceError | null>((resolve) => raw.makeUnaryRequest("/grpc.health.v1.Health/Check", (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), (e) => resolve(e)));
    raw.close();
    expect(err?.code).toBe(grpc.status.UNIMPLEMENTED);
  });
});
