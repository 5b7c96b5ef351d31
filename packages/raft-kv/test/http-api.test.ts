import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster, http, tempDir } from "./support/cluster.ts";
import { RaftKvHttpClient } from "../src/io/http-client.ts";

// Ports 15200-15209 belong to this file (peer listeners); HTTP and gRPC on OS-assigned ports.
let cluster: TestCluster;
let cleanup: () => void;
let leaderHttp: string;
let followerHttp: string;

beforeAll(async () => {
  const t = tempDir();
  cleanup = t.cleanup;
  cluster = await TestCluster.start(3, 15200, t.dir);
  leaderHttp = (await cluster.leader()).httpAddress!;
  followerHttp = (await cluster.follower()).httpAddress!;
}, 30_000);

afterAll(async () => {
  await cluster?.stop();
  cleanup?.();
});

describe("HTTP API: reads and writes", () => {
  it("a write on a follower is forwarded, and a linearizable read on another member sees it", async () => {
    const put = await http(followerHttp, "PUT", "/v1/kv/greeting", { value: "hello" });
    expect(put.status).toBe(200);
    const get = await http(leaderHttp, "GET", "/v1/kv/greeting");
    expect(get.status).toBe(200);
    expect(get.body).toMatchObject({ key: "greeting", value: "hello", version: 1, modRevision: put.body.revision });
    const serial = await http(followerHttp, "GET", "/v1/kv/greeting?consistency=serializable");
    expect([200, 404]).toContain(serial.status);
  });

  it("ranges by prefix in key order, with limit", async () => {
    for (const k of ["app/b", "app/a", "app/c", "other"]) await http(leaderHttp, "PUT", `/v1/kv/${encodeURIComponent(k)}`, { value: k });
    const r = await http(followerHttp, "GET", "/v1/kv?prefix=app/&limit=2");
    expect(r.body.kvs.map((kv: { key: string }) => kv.key)).toEqual(["app/a", "app/b"]);
    expect(r.body).toMatchObject({ count: 3, more: true });
  });

  it("compare-and-set writes only when the compare holds, and says why not (412 with the current value)", async () => {
    await http(leaderHttp, "PUT", "/v1/kv/lock", { value: "free" });
    const ok = await http(followerHttp, "PUT", "/v1/kv/lock", { value: "held-by-a", ifValue: "free" });
    const lost = await http(leaderHttp, "PUT", "/v1/kv/lock", { value: "held-by-b", ifValue: "free" });
    expect(ok.status).toBe(200);
    expect(lost.status).toBe(412);
    expect(lost.body.error.code).toBe("compare_failed");
    expect(lost.body.current.value).toBe("held-by-a");
    const create = await http(leaderHttp, "PUT", "/v1/kv/lock", { value: "x", ifVersion: 0 });
    expect(create.status).toBe(412);
  });

  it("stores binary values as base64 and returns them as base64", async () => {
    const bytes = Buffer.from([0xff, 0x00, 0xfe]).toString("base64");
    expect((await http(leaderHttp, "PUT", "/v1/kv/bin", { value: bytes, encoding: "base64" })).status).toBe(200);
    const g = await http(leaderHttp, "GET", "/v1/kv/bin");
    expect(g.body).toMatchObject({ value: bytes, encoding: "base64" });
  });

  it("runs an etcd-style transaction", async () => {
    const r = await http(followerHttp, "POST", "/v1/txn", {
      compare: [{ key: "txn-k", target: "version", result: "equal", value: 0 }],
      success: [{ op: "put", key: "txn-k", value: "1" }, { op: "get", key: "txn-k" }],
      failure: [{ op: "get", key: "txn-k" }],
    });
    expect(r.status).toBe(200);
    expect(r.body.succeeded).toBe(true);
    expect(r.body.responses[1].kvs[0].value).toBe("1");
  });

  it("deletes a prefix and reports how many", async () => {
    for (const k of ["del/1", "del/2", "del/3"]) await http(leaderHttp, "PUT", `/v1/kv/${encodeURIComponent(k)}`, { value: "x" });
    const d = await http(followerHttp, "DELETE", `/v1/kv/${encodeURIComponent("del/")}?prefix=true`);
    expect(d.body.deleted).toBe(3);
    expect((await http(leaderHttp, "GET", "/v1/kv/del%2F1")).status).toBe(404);
  });
});

describe("HTTP API: client sessions (dissertation §6.3)", () => {
  it("applies a retried write once: the retry gets the cached answer", async () => {
    const { body } = await http(leaderHttp, "POST", "/v1/sessions", {});
    const headers = { "x-heck-client-id": String(body.clientId), "x-heck-seq": "1" };
    const first = await http(leaderHttp, "PUT", "/v1/kv/counter", { value: "1" }, headers);
    // The "retry" goes to another member, as a client does after a timeout.
    const retry = await http(followerHttp, "PUT", "/v1/kv/counter", { value: "1" }, headers);
    expect(retry.body).toEqual({ revision: first.body.revision, duplicate: true });
    const g = await http(leaderHttp, "GET", "/v1/kv/counter");
    expect(g.body.version).toBe(1);
  });

  it("refuses an unknown session with a clear error", async () => {
    const r = await http(leaderHttp, "PUT", "/v1/kv/x", { value: "1" }, { "x-heck-client-id": "999999", "x-heck-seq": "1" });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe("session_expired");
  });

  it("the HTTP client numbers writes and fails over between endpoints", async () => {
    const c = new RaftKvHttpClient({ endpoints: ["127.0.0.1:15209", followerHttp, leaderHttp], timeoutMs: 5_000 });
    await c.put("client-k", "v1");
    expect((await c.get("client-k"))?.value).toBe("v1");
    const cas = await c.cas("client-k", { value: "nope" }, "v2");
    expect(cas.succeeded).toBe(false);
    expect(cas.current?.value).toBe("v1");
  });
});

describe("HTTP API: watch", () => {
  it("streams events from a past revision and then live ones", async () => {
    const first = await http(leaderHttp, "PUT", "/v1/kv/w%2Fa", { value: "1" });
    const events: Array<{ type: string; key: string; value?: string }> = [];
    const c = new RaftKvHttpClient({ endpoints: [followerHttp] });
    const done = new Promise<void>((resolve) => {
      const stop = c.watch({ prefix: "w/" }, { fromRevision: first.body.revision }, (evs) => {
        events.push(...evs);
        if (events.length >= 3) {
          stop();
          resolve();
        }
      });
    });
    await new Promise((r) => setTimeout(r, 100));
    await http(leaderHttp, "PUT", "/v1/kv/w%2Fb", { value: "2" });
    await http(leaderHttp, "DELETE", "/v1/kv/w%2Fa");
    await done;
    expect(events.map((e) => [e.type, e.key])).toEqual([
      ["put", "w/a"],
      ["put", "w/b"],
      ["delete", "w/a"],
    ]);
  });
});

describe("HTTP API: bad input gets a clear error naming the field, and never crashes a node", () => {
  const cases: Array<[string, string, string, unknown, number, string]> = [
    ["malformed JSON", "PUT", "/v1/kv/k", "{not json", 400, "body"],
    ["a body that is not an object", "PUT", "/v1/kv/k", "[1,2]", 400, "body"],
    ["a missing value", "PUT", "/v1/kv/k", {}, 400, "value"],
    ["a value of the wrong type", "PUT", "/v1/kv/k", { value: 5 }, 400, "value"],
    ["an unknown field", "PUT", "/v1/kv/k", { value: "v", vaule: "typo" }, 400, "vaule"],
    ["bad base64", "PUT", "/v1/kv/k", { value: "%%%", encoding: "base64" }, 400, "value"],
    ["an unknown encoding", "PUT", "/v1/kv/k", { value: "v", encoding: "rot13" }, 400, "valueEncoding"],
    ["a negative ifVersion", "PUT", "/v1/kv/k", { value: "v", ifVersion: -1 }, 400, "ifVersion"],
    ["an oversized value", "PUT", "/v1/kv/k", { value: "x".repeat(1024 * 1024 + 1) }, 413, "value"],
    ["an oversized key", "PUT", `/v1/kv/${"k".repeat(5000)}`, { value: "v" }, 413, "key"],
    ["a bad limit", "GET", "/v1/kv?prefix=a&limit=ten", undefined, 400, "limit"],
    ["a bad consistency", "GET", "/v1/kv/k?consistency=eventual", undefined, 400, "consistency"],
    ["a txn op without a key", "POST", "/v1/txn", { success: [{ op: "put", value: "1" }] }, 400, "success[0].key"],
    ["a txn with a bad compare result", "POST", "/v1/txn", { compare: [{ key: "a", result: "sorta" }] }, 400, "compare[0].result"],
    ["a txn over the op limit", "POST", "/v1/txn", { success: Array.from({ length: 129 }, (_, i) => ({ op: "put", key: `k${i}`, value: "v" })) }, 413, "txn"],
    ["adding a member without an address", "POST", "/v1/members", { id: "n9" }, 400, "peerAddress"],
    ["removing an unknown member", "DELETE", "/v1/members/n42", undefined, 404, "id"],
    ["a bad session header", "PUT", "/v1/kv/k", { value: "v" }, 400, "x-heck-seq"],
    ["a watch with neither key nor prefix", "GET", "/v1/watch", undefined, 400, "key"],
    ["a bad drop rate", "POST", "/v1/faults", { dropRate: 2 }, 400, "dropRate"],
  ];
  for (const [name, method, path, body, status, field] of cases) {
    it(`${name} -> ${status} naming ${field}`, async () => {
      const headers: Record<string, string> = name === "a bad session header" ? { "x-heck-client-id": "1", "x-heck-seq": "zero" } : {};
      const r = await http(followerHttp, method, path, body, headers);
      expect(r.status).toBe(status);
      if (status !== 413 || field !== "body") expect(r.body.error.field).toBe(field);
      expect(typeof r.body.error.message).toBe("string");
    });
  }

  it("fuzzed: any JSON, and real bodies with a field replaced, get an answer that is not a 500; each refused as malformed is counted", async () => {
    const server = [...cluster.servers.values()].find((s) => s.httpAddress === followerHttp)!;
    const realPut = { value: "v", ifVersion: 1 };
    const realTxn = { compare: [{ key: "fz/a", target: "version", value: 0 }], success: [{ op: "put", key: "fz/a", value: "1" }], failure: [{ op: "get", key: "fz/a" }] };
    const replaced = (real: Record<string, unknown>) =>
      fc.tuple(fc.oneof(fc.constantFrom(...Object.keys(real)), fc.string({ maxLength: 6 })), fc.jsonValue({ maxDepth: 3 })).map(([k, v]) => JSON.stringify({ ...real, [k]: v }));
    const body = fc.oneof(fc.string({ maxLength: 40 }), fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)), replaced(realPut), replaced(realTxn));
    const requests = fc.sample(fc.tuple(fc.constantFrom("PUT /v1/kv/fz/k", "POST /v1/txn"), body), { numRuns: 150, seed: 18 });
    const before = server.malformed().api;
    let malformed = 0;
    for (const [route, text] of requests) {
      const [method, path] = route.split(" ") as [string, string];
      const r = await http(followerHttp, method, path, text);
      expect(r.status, `${route} ${text}: ${JSON.stringify(r.body)}`).toBeLessThan(500);
      if (r.status >= 400 && ["invalid_argument", "too_large"].includes((r.body as { error?: { code?: string } }).error?.code ?? "")) malformed++;
    }
    expect(malformed).toBeGreaterThan(50);
    expect(server.malformed().api - before).toBe(malformed);
    expect((await http(followerHttp, "PUT", "/v1/kv/still-alive", { value: "yes" })).status).toBe(200);
  });

  it("rejects unknown routes and methods, and the cluster keeps serving", async () => {
    expect((await http(leaderHttp, "GET", "/v2/keys")).status).toBe(404);
    expect((await http(leaderHttp, "PATCH", "/v1/kv/k", {})).status).toBe(405);
    const raw = await fetch(`http://${leaderHttp}/v1/kv/%E0%A4%A`);
    expect(raw.status).toBe(400);
    expect((await http(leaderHttp, "PUT", "/v1/kv/still-alive", { value: "yes" })).status).toBe(200);
    for (const s of cluster.servers.values()) expect(s.node.status().role).not.toBe("removed");
  });
});

describe("HTTP API: status and members", () => {
  it("reports role, leader, indexes and members", async () => {
    const s = await http(followerHttp, "GET", "/v1/status");
    expect(s.body).toMatchObject({ role: "follower", leader: (await cluster.leader()).id });
    expect(s.body.members.map((m: { id: string }) => m.id)).toEqual(["n1", "n2", "n3"]);
    expect(s.body.appliedIndex).toBeGreaterThan(0);
    const h = await http(followerHttp, "GET", "/v1/health");
    expect(h.body.health).toBe(true);
  });
});
