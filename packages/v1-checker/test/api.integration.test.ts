import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFleet, type RunningFleet } from "@heck/fleet";
import { ApiServer, BUILTIN_DEFAULTS, CheckEngine, CheckerClient, type TargetView, type TransitionView } from "../src/index.ts";
import { waitFor } from "./support.ts";

describe("the HTTP API", () => {
  let running: RunningFleet;
  let engine: CheckEngine;
  let api: ApiServer;
  let base: string;

  beforeAll(async () => {
    running = await startFleet({ count: 6 });
    await running.fleet.setBehaviour(1, { mode: "failing" });
    engine = new CheckEngine({ seed: 2, defaults: { ...BUILTIN_DEFAULTS, intervalMs: 60, timeoutMs: 1000, rise: 1, fall: 1 } });
    engine.add({ id: "ok", url: running.fleet.url(0) });
    engine.add({ id: "bad", url: running.fleet.url(1) });
    api = await ApiServer.start(engine, "127.0.0.1", 0);
    base = api.url;
    engine.start();
    await waitFor(() => engine.stats().byStatus.unknown === 0, "first verdicts");
  });
  afterAll(async () => {
    await api.close();
    await engine.stop();
    await running.close();
  });

  const call = async (method: string, path: string, body?: string) => {
    const res = await fetch(base + path, { method, body: body ?? null, headers: body ? { "content-type": "application/json" } : {} });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text, headers: res.headers };
  };

  it("lists targets with id, url, status and lastError, and filters by status", async () => {
    const all = (await call("GET", "/v1/targets")).json as TargetView[];
    expect(all.map((t) => [t.id, t.status])).toEqual([
      ["ok", "healthy"],
      ["bad", "unhealthy"],
    ]);
    expect(all[0]).toMatchObject({ url: running.fleet.url(0), lastError: null, httpStatus: 200, rise: 1, fall: 1, intervalMs: 60 });
    expect(all[1]!.lastError).toEqual({ kind: "status", message: "HTTP 503, expected 200-399" });
    const unhealthy = (await call("GET", "/v1/targets?status=unhealthy")).json as TargetView[];
    expect(unhealthy.map((t) => t.id)).toEqual(["bad"]);
    const bad = await call("GET", "/v1/targets?status=sick");
    expect(bad.status).toBe(400);
    expect((bad.json as { error: string }).error).toMatch(/^status: must be one of unknown, healthy, unhealthy/);
  });

  it("shows one target with its history, 404 for an unknown id", async () => {
    const one = await call("GET", "/v1/targets/bad");
    expect(one.status).toBe(200);
    expect((one.json as TargetView).history).toEqual([expect.objectContaining({ id: "bad", from: "unknown", to: "unhealthy", errorKind: "status" })]);
    expect((await call("GET", "/v1/targets/nope")).status).toBe(404);
  });

  it("adds, updates and removes targets, rejecting bad bodies with the field named", async () => {
    let r = await call("POST", "/v1/targets", JSON.stringify({ id: "new", url: running.fleet.url(2) }));
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ id: "new", status: "unknown", intervalMs: 60 });
    await waitFor(() => engine.get("new")?.status === "healthy", "new to be healthy");
    r = await call("POST", "/v1/targets", JSON.stringify({ id: "new", url: running.fleet.url(2) }));
    expect(r.status).toBe(409);
    expect((r.json as { error: string }).error).toMatch(/^id: a target "new" already exists/);
    r = await call("POST", "/v1/targets", "{oops");
    expect(r.status).toBe(400);
    expect((r.json as { error: string }).error).toMatch(/^body: not valid JSON/);
    r = await call("POST", "/v1/targets", "");
    expect(r.status).toBe(400);
    r = await call("POST", "/v1/targets", JSON.stringify([1]));
    expect(r.status).toBe(400);
    r = await call("POST", "/v1/targets", JSON.stringify({ id: "x", url: "http://127.0.0.1:1/", timeoutMs: "fast", rise: 0 }));
    expect(r.status).toBe(400);
    expect((r.json as { errors: string[] }).errors).toEqual([expect.stringMatching(/^timeoutMs: /), expect.stringMatching(/^rise: /)]);
    r = await call("PUT", "/v1/targets/new", JSON.stringify({ url: running.fleet.url(2), intervalMs: 500 }));
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ id: "new", intervalMs: 500, status: "healthy" });
    r = await call("PUT", "/v1/targets/new", JSON.stringify({ id: "other", url: running.fleet.url(2) }));
    expect(r.status).toBe(400);
    r = await call("PUT", "/v1/targets/ghost", JSON.stringify({ url: running.fleet.url(2) }));
    expect(r.status).toBe(404);
    r = await call("DELETE", "/v1/targets/new");
    expect(r.status).toBe(200);
    expect((await call("DELETE", "/v1/targets/new")).status).toBe(404);
    expect((await call("PATCH", "/v1/targets/ok")).status).toBe(405);
    expect((await call("GET", "/v2/whatever")).status).toBe(404);
    // Still serving after all that.
    expect((await call("GET", "/healthz")).json).toMatchObject({ status: "ok", targets: 2 });
  });

  it("serves Prometheus metrics with per-target status and a latency histogram", async () => {
    const r = await call("GET", "/metrics");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(r.text).toMatch(/^heck_v1_target_status\{id="ok"\} 1$/m);
    expect(r.text).toMatch(/^heck_v1_target_status\{id="bad"\} 0$/m);
    expect(r.text).toMatch(/^heck_v1_check_duration_seconds_bucket\{le="0.01",result="ok"\} \d+$/m);
    expect(r.text).toMatch(/^heck_v1_check_duration_seconds_count\{result="status"\} [1-9]\d*$/m);
    expect(r.text).toMatch(/^heck_v1_schedule_lag_seconds_count [1-9]\d*$/m);
    expect(r.text).toMatch(/^heck_v1_targets\{status="healthy"\} 1$/m);
    expect(r.text).toMatch(/^process_resident_memory_bytes \d+/m);
  });

  it("streams transitions as server-sent events", async () => {
    const client = new CheckerClient(base);
    const ac = new AbortController();
    const seen: Array<TransitionView & { url: string }> = [];
    const stream = client.events((t) => seen.push(t), ac.signal);
    await new Promise((r) => setTimeout(r, 100)); // the stream is open
    await running.fleet.setBehaviour(0, { mode: "closed" });
    try {
      await waitFor(() => seen.some((t) => t.id === "ok" && t.to === "unhealthy"), "a transition event for ok");
      const t = seen.find((x) => x.id === "ok")!;
      expect(t).toMatchObject({ from: "healthy", to: "unhealthy", errorKind: "refused", url: running.fleet.url(0) });
      expect(Date.parse(t.at)).not.toBeNaN();
    } finally {
      ac.abort();
      await stream;
      await running.fleet.setBehaviour(0, { mode: "healthy" });
    }
  });

  it("lists thousands of targets as one valid JSON array, in insertion order (sent in chunks)", async () => {
    const big = new CheckEngine({ seed: 3 });
    for (let k = 0; k < 1234; k++) big.add({ id: `t${k}`, url: `http://127.0.0.1:1/${k}` });
    const server = await ApiServer.start(big, "127.0.0.1", 0);
    try {
      const res = await fetch(`${server.url}/v1/targets`);
      const list = (await res.json()) as TargetView[];
      expect(list).toHaveLength(1234);
      expect(list.map((t) => t.id)).toEqual(Array.from({ length: 1234 }, (_, k) => `t${k}`));
      expect(list[1233]).toMatchObject({ status: "unknown", lastError: null });
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics.match(/^heck_v1_target_status\{id="t\d+"\} -1$/gm)).toHaveLength(1234);
    } finally {
      await server.close();
      await big.stop();
    }
  });
});
