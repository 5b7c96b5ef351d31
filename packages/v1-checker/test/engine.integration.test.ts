import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFleet, testCertificate, type Fleet, type RunningFleet } from "@heck/fleet";
import { BUILTIN_DEFAULTS, CheckEngine, HttpProber, parseTarget, TargetExistsError, TargetInputError, type ResultEvent, type TargetSpec, type TransitionEvent } from "../src/index.ts";
import { waitFor, waitForStatus } from "./support.ts";

describe("CheckEngine against a real fleet", () => {
  let running: RunningFleet;
  let tlsRunning: RunningFleet;
  let fleet: Fleet;

  beforeAll(async () => {
    running = await startFleet({ count: 16 });
    tlsRunning = await startFleet({ count: 1, tls: testCertificate() });
    fleet = running.fleet;
  });
  afterAll(async () => {
    await running.close();
    await tlsRunning.close();
  });

  it("classifies healthy, failing, slow, hanging, refused, wrong-body, reset, TLS and TCP origins with the right named error", async () => {
    await fleet.setBehaviour(1, { mode: "failing", status: 500 });
    await fleet.setBehaviour(2, { mode: "slow", latencyMs: 1500 });
    await fleet.setBehaviour(3, { mode: "hanging" });
    await fleet.setBehaviour(4, { mode: "closed" });
    await fleet.setBehaviour(5, { mode: "wrong-body" });
    await fleet.setBehaviour(6, { mode: "reset" });
    const engine = new CheckEngine({ seed: 7, defaults: { ...BUILTIN_DEFAULTS, intervalMs: 100, timeoutMs: 500, rise: 1, fall: 2 } });
    const body = { bodyContains: '"status":"ok"' };
    const tlsUrl = tlsRunning.fleet.url(0);
    const cases: Array<[string, Record<string, unknown>, "healthy" | "unhealthy", string | null]> = [
      ["healthy", { url: fleet.url(0), ...body }, "healthy", null],
      ["failing", { url: fleet.url(1) }, "unhealthy", "status"],
      ["slow", { url: fleet.url(2) }, "unhealthy", "timeout"],
      ["hanging", { url: fleet.url(3) }, "unhealthy", "timeout"],
      ["refused", { url: fleet.url(4) }, "unhealthy", "refused"],
      ["wrong-body", { url: fleet.url(5), ...body }, "unhealthy", "body"],
      ["wrong-body-regex", { url: fleet.url(5), bodyMatches: '"status"\\s*:\\s*"ok"' }, "unhealthy", "body"],
      ["reset", { url: fleet.url(6) }, "unhealthy", "reset"],
      ["head", { url: fleet.url(0), method: "HEAD" }, "healthy", null],
      ["status-list", { url: fleet.url(1), expectedStatus: [500, "502-504"] }, "healthy", null],
      ["tls-verify", { url: tlsUrl }, "unhealthy", "tls"],
      ["tls-ca", { url: tlsUrl, tlsCa: testCertificate().cert }, "healthy", null],
      ["tls-no-verify", { url: tlsUrl, tlsVerify: false }, "healthy", null],
      ["tcp-open", { url: `tcp://127.0.0.1:${fleet.port(3)}` }, "healthy", null],
      ["tcp-refused", { url: `tcp://127.0.0.1:${fleet.port(4)}` }, "unhealthy", "refused"],
    ];
    for (const [id, t] of cases) engine.add({ id, ...t });
    engine.start();
    try {
      for (const [id, , status] of cases) await waitForStatus(engine, id, status);
      // Every verdict has its named cause.
      for (const [id, , , kind] of cases) {
        const t = engine.get(id)!;
        expect({ id, kind: t.lastError?.kind ?? null }).toEqual({ id, kind });
      }
      expect(engine.get("failing")!.httpStatus).toBe(500);
      expect(engine.get("tls-ca")!.certExpiryDays).toBeGreaterThan(300);
      expect(engine.get("slow")!.latencyMs).toBeGreaterThanOrEqual(490);
    } finally {
      await engine.stop();
      await fleet.reset();
    }
  });

  it("does not follow redirects unless asked", async () => {
    await fleet.setBehaviour(7, { mode: "redirect", location: fleet.url(0) });
    await fleet.setBehaviour(8, { mode: "redirect", location: "/loop" }); // redirects to itself forever
    const engine = new CheckEngine({ seed: 1 });
    const common = { intervalMs: 100, timeoutMs: 500, rise: 1, fall: 1 };
    engine.add({ id: "3xx-accepted", url: fleet.url(7), ...common });
    engine.add({ id: "3xx-rejected", url: fleet.url(7), expectedStatus: "200-299", ...common });
    engine.add({ id: "followed", url: fleet.url(7), expectedStatus: 200, followRedirects: 3, ...common });
    engine.add({ id: "loop", url: fleet.url(8), followRedirects: 2, ...common });
    engine.start();
    try {
      await waitForStatus(engine, "3xx-accepted", "healthy");
      await waitForStatus(engine, "3xx-rejected", "unhealthy");
      await waitForStatus(engine, "followed", "healthy");
      await waitForStatus(engine, "loop", "unhealthy");
      expect(engine.get("3xx-accepted")!.httpStatus).toBe(302);
      expect(engine.get("3xx-rejected")!.lastError?.kind).toBe("status");
      expect(engine.get("followed")!.httpStatus).toBe(200);
      expect(engine.get("loop")!.lastError?.kind).toBe("redirect");
    } finally {
      await engine.stop();
      await fleet.reset();
    }
  });

  it("detects an origin flipped at runtime within fall x interval + timeout (plus the lag it measured), and its recovery within rise x interval + timeout", async () => {
    const intervalMs = 150;
    const timeoutMs = 100;
    const rise = 2;
    const fall = 3;
    const engine = new CheckEngine({ seed: 3 });
    const lags: number[] = [];
    const transitions: TransitionEvent[] = [];
    engine.on("result", (e: ResultEvent) => {
      if (e.id === "flip") lags.push(e.lagMs);
    });
    engine.on("transition", (e) => transitions.push(e));
    engine.add({ id: "flip", url: fleet.url(9), intervalMs, timeoutMs, rise, fall });
    engine.start();
    try {
      await waitForStatus(engine, "flip", "healthy");
      for (const [mode, to, n] of [["failing", "unhealthy", fall], ["healthy", "healthy", rise]] as const) {
        lags.length = 0;
        const flippedAt = engine.nowMs();
        await fleet.setBehaviour(9, { mode });
        await waitForStatus(engine, "flip", to);
        const t = transitions.at(-1)!.transition;
        expect(t.to).toBe(to);
        const allowance = Math.max(0, ...lags) + 30; // scheduler lag it measured, plus timer granularity
        expect(t.atMs - flippedAt).toBeLessThanOrEqual(n * intervalMs + timeoutMs + allowance);
      }
    } finally {
      await engine.stop();
      await fleet.reset();
    }
  });

  it("adds and removes targets at runtime; a removed target gets no more requests", async () => {
    const engine = new CheckEngine({ seed: 5 });
    const common = { intervalMs: 50, timeoutMs: 1000, rise: 1, fall: 1 };
    engine.add({ id: "a", url: fleet.url(10), ...common });
    engine.start();
    try {
      await waitForStatus(engine, "a", "healthy");
      engine.add({ id: "b", url: fleet.url(11), ...common });
      expect(engine.get("b")!.status).toBe("unknown");
      await waitForStatus(engine, "b", "healthy");
      expect(() => engine.add({ id: "b", url: fleet.url(11) })).toThrow(TargetExistsError);
      expect(() => engine.add({ id: "c", url: "gopher://x" })).toThrow(TargetInputError);
      expect(engine.remove("a")).toBe(true);
      expect(engine.get("a")).toBeUndefined();
      await new Promise((r) => setTimeout(r, 100)); // let a check in flight finish
      const before = fleet.requestCounts()[10]!;
      const checksB = engine.get("b")!.checks;
      await waitFor(() => engine.get("b")!.checks >= checksB + 4, "b to keep being checked");
      expect(fleet.requestCounts()[10]).toBe(before);
      // Each check of b is exactly one request to its origin: no retries, no duplicates.
      await engine.stop();
      expect(fleet.requestCounts()[11]).toBe(engine.get("b")!.checks);
    } finally {
      await engine.stop();
    }
  });

  it("never runs two checks of one target at once, even when the timeout exceeds the interval", async () => {
    await fleet.setBehaviour(12, { mode: "hanging" });
    fleet.resetCounts();
    const engine = new CheckEngine({ seed: 9 });
    let inFlightSeen = 0;
    engine.add({ id: "hang", url: fleet.url(12), intervalMs: 50, timeoutMs: 200, rise: 1, fall: 1 });
    engine.on("result", () => (inFlightSeen = Math.max(inFlightSeen, engine.stats().inFlight)));
    const started = performance.now();
    engine.start();
    try {
      await waitFor(() => (engine.get("hang")?.checks ?? 0) >= 4, "4 timed-out checks");
      await engine.stop();
      const elapsed = performance.now() - started;
      // Back to back, never overlapping: at most elapsed / timeout (+1) requests reached the origin.
      expect(fleet.requestCounts()[12]).toBeLessThanOrEqual(Math.floor(elapsed / 200) + 1);
      expect(engine.get("hang")!.lastError?.kind).toBe("timeout");
      expect(inFlightSeen).toBeLessThanOrEqual(1);
    } finally {
      await engine.stop();
      await fleet.reset();
    }
  });

  it("stops cleanly: no events after stop, connections closed", async () => {
    const engine = new CheckEngine({ seed: 11 });
    let after = 0;
    let stopped = false;
    engine.on("result", () => {
      if (stopped) after++;
    });
    for (let i = 0; i < 4; i++) engine.add({ id: `s${i}`, url: fleet.url(i), intervalMs: 20, timeoutMs: 200, rise: 1, fall: 1 });
    engine.start();
    await waitFor(() => engine.stats().checks >= 12, "a few checks");
    await engine.stop();
    stopped = true;
    await new Promise((r) => setTimeout(r, 100));
    expect(after).toBe(0);
    await waitFor(() => fleet.stats().openConnections === 0, "the fleet to see every connection closed", 3000);
    expect(() => engine.start()).toThrow(/cannot restart/);
  });

  it("shares one keep-alive connection per origin between targets, and closes it when the last target is released", async () => {
    const prober = new HttpProber();
    const make = (id: string, path: string, over: Record<string, unknown> = {}): TargetSpec => {
      const p = parseTarget({ id, url: fleet.url(0, path), timeoutMs: 2000, ...over });
      if (!p.ok) throw new Error(p.errors.join("; "));
      return p.value;
    };
    const a = make("a", "/a");
    const b = make("b", "/b");
    const c = make("c", "/c", { timeoutMs: 50 });
    try {
      fleet.resetCounts();
      const before = fleet.origin(0).connections;
      for (let k = 0; k < 3; k++) {
        expect((await prober.check(a)).ok).toBe(true);
        expect((await prober.check(b)).ok).toBe(true);
      }
      expect(prober.origins).toBe(1);
      expect(fleet.origin(0).connections - before).toBe(1); // six checks, one connection
      // A timeout (its own deadline queue) ends the check and its connection, not the prober.
      await fleet.setBehaviour(0, { mode: "hanging" });
      const r = await prober.check(c);
      expect(r.error?.kind).toBe("timeout");
      expect(prober.inFlight).toBe(0);
      await fleet.setBehaviour(0, { mode: "healthy" });
      expect((await prober.check(a)).ok).toBe(true);
      prober.release(a);
      prober.release(c);
      expect(prober.origins).toBe(1);
      prober.release(b);
      expect(prober.origins).toBe(0);
      await waitFor(() => fleet.stats().openConnections === 0, "the released connection to close");
    } finally {
      await fleet.setBehaviour(0, { mode: "healthy" });
      await prober.close();
    }
  });

  it("matches bodyContains on the body's bytes: non-ASCII text, and only within the first maxBodyBytes", async () => {
    await fleet.setBehaviour(7, { mode: "wrong-body", body: `${"x".repeat(3000)}{"note":"café, ok"}` });
    const prober = new HttpProber();
    const make = (id: string, over: Record<string, unknown>): TargetSpec => {
      const p = parseTarget({ id, url: fleet.url(7), ...over });
      if (!p.ok) throw new Error(p.errors.join("; "));
      return p.value;
    };
    try {
      expect((await prober.check(make("cafe", { bodyContains: "café, ok" }))).ok).toBe(true);
      expect((await prober.check(make("tea", { bodyContains: "thé" }))).error?.kind).toBe("body");
      const cut = await prober.check(make("cut", { bodyContains: "café", maxBodyBytes: 3000 }));
      expect(cut.error).toMatchObject({ kind: "body", message: expect.stringContaining("first 3000 bytes") });
      expect((await prober.check(make("regex", { bodyMatches: "caf\\u00e9" }))).ok).toBe(true);
    } finally {
      await fleet.setBehaviour(7, { mode: "healthy" });
      await prober.close();
    }
  });
});
