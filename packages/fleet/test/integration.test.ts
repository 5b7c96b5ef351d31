import http from "node:http";
import https from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Fleet, FleetClient, startFleet, testCertificate, type RunningFleet } from "../src/index.ts";

type Outcome = { status: number; body: string; headers: http.IncomingHttpHeaders } | { error: string };

/** One GET with a hard deadline; reports the status and body, or the error code. */
function get(url: string, timeoutMs = 1000, agent?: http.Agent, extra: https.RequestOptions = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const mod = url.startsWith("https:") ? https : http;
    const req = mod.get(url, { agent, timeout: timeoutMs, ...extra }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: "TIMEOUT" })));
    req.on("error", (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
  });
}

describe("a running fleet", () => {
  let running: RunningFleet;
  let fleet: Fleet;
  let client: FleetClient;

  beforeAll(async () => {
    running = await startFleet({ count: 12, control: { host: "127.0.0.1", port: 0 } });
    fleet = running.fleet;
    client = new FleetClient(running.control!.url);
  });
  afterAll(async () => {
    await running.close();
  });

  it("serves healthy JSON on every origin, each on its own port", async () => {
    const ports = new Set(Array.from({ length: fleet.count }, (_, i) => fleet.port(i)));
    expect(ports.size).toBe(12);
    const out = await get(fleet.url(0));
    expect(out).toMatchObject({ status: 200, body: '{"status":"ok","origin":0}\n' });
  });

  it("behaves as each mode says, flipped through the control API", async () => {
    await client.setMode(1, { mode: "failing", status: 500 });
    await client.setMode(2, { mode: "slow", latencyMs: 150 });
    await client.setMode(3, { mode: "hanging" });
    await client.setMode(4, { mode: "closed" });
    await client.setMode(5, { mode: "wrong-body" });
    await client.setMode(6, { mode: "reset" });
    await client.setMode(7, { mode: "redirect", location: "/moved" });
    expect(await get(fleet.url(1))).toMatchObject({ status: 500 });
    const t0 = performance.now();
    expect(await get(fleet.url(2))).toMatchObject({ status: 200 });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    expect(await get(fleet.url(2), 50)).toEqual({ error: "TIMEOUT" });
    expect(await get(fleet.url(3), 200)).toEqual({ error: "TIMEOUT" });
    expect(await get(fleet.url(4))).toEqual({ error: "ECONNREFUSED" });
    expect(await get(fleet.url(5))).toMatchObject({ status: 200, body: expect.not.stringContaining('"status":"ok"') });
    expect(await get(fleet.url(6))).toEqual({ error: "ECONNRESET" });
    expect(await get(fleet.url(7))).toMatchObject({ status: 302, headers: { location: "/moved" } });
  });

  it("reopens a closed origin on the same port", async () => {
    const port = fleet.port(8);
    await client.setMode(8, { mode: "closed" });
    expect(await get(fleet.url(8))).toEqual({ error: "ECONNREFUSED" });
    await client.setMode(8, { mode: "healthy" });
    expect(fleet.port(8)).toBe(port);
    expect(await get(fleet.url(8))).toMatchObject({ status: 200 });
  });

  it("flaps between healthy and failing", async () => {
    await client.setMode(9, { mode: "flapping", periodMs: 100 });
    const seen = new Set<number>();
    for (let k = 0; k < 12 && seen.size < 2; k++) {
      const r = await get(fleet.url(9));
      if ("status" in r) seen.add(r.status);
      await new Promise((res) => setTimeout(res, 40));
    }
    expect([...seen].sort()).toEqual([200, 503]);
  });

  it("counts requests per origin, and resets the counts", async () => {
    await client.resetCounts();
    for (let k = 0; k < 3; k++) await get(fleet.url(10));
    await get(fleet.url(11, "/any/path"));
    const counts = await client.requestCounts();
    expect(counts[10]).toBe(3);
    expect(counts[11]).toBe(1);
    expect(counts[0]).toBe(0);
    const origins = await client.origins();
    expect(origins[10]).toMatchObject({ index: 10, requests: 3, mode: "healthy", listening: true });
  });

  it("bulk-flips by range and resets everything", async () => {
    expect(await client.setMany({ from: 0, to: 11 }, { mode: "failing" })).toBe(12);
    expect((await client.stats()).byMode).toEqual({ failing: 12 });
    await client.reset();
    expect((await client.stats()).byMode).toEqual({ healthy: 12 });
    expect(await get(fleet.url(4))).toMatchObject({ status: 200 });
  });

  it("answers bad control requests with 400/404/405 naming the field, and keeps serving", async () => {
    const base = running.control!.url;
    const put = (path: string, body: string) => fetch(base + path, { method: "PUT", body });
    let res = await put("/origins/1", "{not json");
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/^body: not valid JSON/);
    res = await put("/origins/1", JSON.stringify({ mode: "failing", status: "500" }));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { errors: string[] }).errors).toEqual([expect.stringMatching(/^status: /)]);
    res = await put("/origins/99", JSON.stringify({ mode: "failing" }));
    expect(res.status).toBe(404);
    res = await put("/origins", JSON.stringify({ mode: "failing" }));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/^selection: /);
    res = await put("/origins/1", "");
    expect(res.status).toBe(400);
    res = await fetch(base + "/origins/1", { method: "DELETE" });
    expect(res.status).toBe(405);
    res = await fetch(base + "/nowhere");
    expect(res.status).toBe(404);
    expect(await get(fleet.url(1))).toMatchObject({ status: 200 });
  });
});

describe("the connection budget on real sockets", () => {
  it("keeps open connections under maxConnections by closing idle keep-alive ones", async () => {
    const fleet = await Fleet.start({ count: 6, maxConnections: 3 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 6; i++) {
          expect(await get(fleet.url(i), 1000, agent)).toMatchObject({ status: 200 });
          expect(fleet.stats().openConnections).toBeLessThanOrEqual(3);
        }
      }
      const s = fleet.stats();
      expect(s.evictions).toBeGreaterThan(0);
      expect(s.totalRequests).toBe(18);
    } finally {
      agent.destroy();
      await fleet.close();
    }
  });
});

describe("an HTTPS fleet", () => {
  it("serves TLS with the test certificate", async () => {
    const cert = testCertificate();
    const fleet = await Fleet.start({ count: 2, tls: cert });
    try {
      expect(fleet.url(0)).toMatch(/^https:/);
      expect(await get(fleet.url(0), 2000, undefined, { ca: cert.cert })).toMatchObject({ status: 200 });
      expect(await get(fleet.url(1), 2000)).toEqual({ error: "DEPTH_ZERO_SELF_SIGNED_CERT" });
      await fleet.setBehaviour(1, { mode: "failing" });
      expect(await get(fleet.url(1), 2000, undefined, { ca: cert.cert })).toMatchObject({ status: 503 });
      expect(fleet.requestCounts()).toEqual([1, 1]);
    } finally {
      await fleet.close();
    }
  });
});

describe("Fleet.start input", () => {
  it("rejects a bad count or port range with a named field", async () => {
    await expect(Fleet.start({ count: 0 })).rejects.toThrow(/^count: /);
    await expect(Fleet.start({ count: 10, basePort: 65530 })).rejects.toThrow(/^basePort: /);
    const fleet = await Fleet.start({ count: 1 });
    try {
      await expect(fleet.setBehaviour(0, { mode: "slow", latencyMs: "a lot" })).rejects.toThrow(/latencyMs: /);
      await expect(fleet.setBehaviour(1, { mode: "healthy" })).rejects.toThrow(/^index: /);
    } finally {
      await fleet.close();
    }
  });
});
