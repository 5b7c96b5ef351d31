import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { createPrng } from "@heck/sim";
import { CheckerCore, parseTarget, type CheckRun, type CheckTask, type CheckerEvent, type TargetSpec } from "../src/index.ts";

function spec(id: string, over: Record<string, unknown> = {}): TargetSpec {
  const p = parseTarget({ id, url: `http://127.0.0.1:1/${id}`, intervalMs: 1000, timeoutMs: 300, rise: 2, fall: 3, ...over });
  if (!p.ok) throw new Error(p.errors.join("; "));
  return p.value;
}

/** Seeds for the simulation: a fixed set, one random (printed), or the one in HECK_SEED to replay. */
function seeds(): number[] {
  const env = process.env["HECK_SEED"];
  if (env !== undefined) return [Number(env)];
  // 999 found the bound for timeouts above the interval; kept as a regression seed.
  return [1, 2, 3, 42, 999, 1234, Math.floor(Math.random() * 2 ** 31)];
}

describe("CheckerCore", () => {
  it("emits a transition before its result, and ignores results of removed targets", () => {
    const core = new CheckerCore({ prng: createPrng(1), maxConcurrentChecks: 10, historySize: 5 });
    core.add(spec("a", { rise: 1 }), 0);
    const [task] = core.tick(core.nextDeadlineMs());
    const events = core.recordResult(task!, { ok: true, latencyMs: 3, httpStatus: 200 }, task!.startedMs + 3);
    expect(events.map((e) => e.type)).toEqual(["transition", "result"]);
    expect(core.get("a")).toMatchObject({ status: "healthy", checks: 1, latencyMs: 3, lastError: null, httpStatus: 200 });
    expect(core.counts()).toEqual({ unknown: 0, healthy: 1, unhealthy: 0 });
    const [next] = core.tick(core.nextDeadlineMs());
    core.remove("a");
    expect(core.recordResult(next!, { ok: false, latencyMs: 1, error: { kind: "refused", message: "x" } }, next!.startedMs + 1)).toEqual([]);
    expect(core.counts()).toEqual({ unknown: 0, healthy: 0, unhealthy: 0 });
  });

  it("can start a target from a known status (a new owner taking over)", () => {
    const core = new CheckerCore({ prng: createPrng(1), maxConcurrentChecks: 10, historySize: 5 });
    core.add(spec("a", { fall: 2 }), 5000, { status: "healthy", sinceMs: 1000 });
    expect(core.get("a")).toMatchObject({ status: "healthy", sinceMs: 1000 });
    expect(core.counts()).toEqual({ unknown: 0, healthy: 1, unhealthy: 0 });
    for (let k = 0; k < 2; k++) {
      const [t] = core.tick(core.nextDeadlineMs());
      core.recordResult(t!, { ok: false, latencyMs: 1, error: { kind: "refused", message: "x" } }, t!.startedMs + 1);
    }
    expect(core.get("a")!.history).toEqual([expect.objectContaining({ from: "healthy", to: "unhealthy" })]);
  });

  it("checks a taken-over target first within firstCheckWithinMs, with or without a known status", () => {
    const core = new CheckerCore({ prng: createPrng(3), maxConcurrentChecks: 1000, historySize: 5 });
    for (let k = 0; k < 100; k++) core.add(spec(`u${k}`), 7000, { firstCheckWithinMs: 200 });
    for (let k = 0; k < 100; k++) core.add(spec(`h${k}`), 7000, { status: "healthy", sinceMs: 1000, firstCheckWithinMs: 200 });
    expect(core.counts()).toEqual({ unknown: 100, healthy: 100, unhealthy: 0 });
    expect(core.get("h0")).toMatchObject({ status: "healthy", sinceMs: 1000 });
    const firsts = core.tick(7200);
    expect(firsts).toHaveLength(200); // every first check due within 200 ms
    const none = new CheckerCore({ prng: createPrng(3), maxConcurrentChecks: 1000, historySize: 5 });
    for (let k = 0; k < 200; k++) none.add(spec(`u${k}`), 7000);
    expect(none.tick(7200).length).toBeLessThan(60); // about a fifth of the interval without the option
    expect(() => core.add(spec("x"), 7000, { firstCheckWithinMs: -5 })).toThrow(/firstCheckWithinMs/);
    expect(core.has("x")).toBe(false);
    expect(core.counts().unknown).toBe(100);
  });

  it("keeps health across an update with the same URL, restarts from unknown with a new URL", () => {
    const core = new CheckerCore({ prng: createPrng(1), maxConcurrentChecks: 10, historySize: 5 });
    core.add(spec("a", { rise: 1 }), 0);
    const [t] = core.tick(core.nextDeadlineMs());
    core.recordResult(t!, { ok: true, latencyMs: 1 }, t!.startedMs + 1);
    expect(core.update(spec("a", { rise: 1, fall: 1, intervalMs: 500 }), 2000)).toBe(true);
    expect(core.get("a")).toMatchObject({ status: "healthy" });
    expect(core.get("a")!.spec.intervalMs).toBe(500);
    expect(core.update({ ...spec("a"), url: "http://127.0.0.1:2/" }, 2000)).toBe(true);
    expect(core.get("a")).toMatchObject({ status: "unknown", checks: 0 });
    expect(core.update(spec("zzz"), 0)).toBe(false);
  });

  it("simulation: a flipped origin is detected within fall x interval + timeout and recovers within rise x interval + timeout (with max(interval, timeout) in place of the interval when checks outlive it)", () => {
    for (const seed of seeds()) {
      try {
        simulate(seed);
      } catch (err) {
        throw new Error(`${(err as Error).message}\n  replay with HECK_SEED=${seed}`, { cause: err });
      }
    }
  });
});

/**
 * 30 targets with random intervals, timeouts and thresholds; origins flip
 * between up and down at random times; checks take random time (a down
 * origin either refuses at once or times out). Time advances event by event,
 * no sleeps. After every flip, the target must reach the matching status
 * within the bound, and must not leave it while the origin stays put.
 */
function simulate(seed: number): void {
  const rng = createPrng(seed);
  const core = new CheckerCore({ prng: rng.fork("core"), maxConcurrentChecks: 1000, historySize: 50 });
  const n = 30;
  const specs: TargetSpec[] = [];
  const up: boolean[] = [];
  const flippedAt: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = spec(`t${i}`, { intervalMs: rng.nextInt(100, 2000), timeoutMs: rng.nextInt(10, 500), rise: rng.nextInt(1, 4), fall: rng.nextInt(1, 4) });
    specs.push(s);
    core.add(s, 0);
    up.push(true);
    flippedAt.push(0);
  }
  const settled: Array<number | undefined> = new Array(n).fill(undefined);
  const pending: Array<{ endMs: number; task: CheckTask; ok: boolean; latency: number }> = [];
  let now = 0;
  const endMs = 120_000;
  let nextFlip = rng.exponential(2000);
  while (now < endMs) {
    pending.sort((a, b) => a.endMs - b.endMs);
    const t = Math.min(core.nextDeadlineMs(), pending[0]?.endMs ?? Infinity, nextFlip);
    now = t;
    if (t === nextFlip) {
      const i = rng.nextInt(0, n - 1);
      up[i] = !up[i];
      flippedAt[i] = now;
      settled[i] = undefined;
      nextFlip = now + rng.exponential(2000);
    }
    while (pending.length > 0 && pending[0]!.endMs <= now) {
      const p = pending.shift()!;
      const events: CheckerEvent[] = core.recordResult(
        p.task,
        p.ok ? { ok: true, latencyMs: p.latency } : { ok: false, latencyMs: p.latency, error: { kind: p.latency === 0 ? "refused" : "timeout", message: "down" } },
        now,
      );
      for (const e of events) {
        if (e.type !== "transition") continue;
        const i = Number(e.transition.id.slice(1));
        const want = up[i] ? "healthy" : "unhealthy";
        if (e.transition.to === want && settled[i] === undefined) settled[i] = now;
      }
    }
    for (const task of core.tick(now)) {
      const i = Number(task.id.slice(1));
      const s = specs[i]!;
      // The origin answers as it is when the check starts.
      const ok = up[i]!;
      const latency = ok ? rng.nextInt(0, s.timeoutMs - 1) : rng.chance(0.5) ? 0 : s.timeoutMs;
      pending.push({ endMs: now + latency, task, ok, latency });
    }
    for (let i = 0; i < n; i++) {
      const s = specs[i]!;
      // n checks start at most max(interval, timeout) apart (a check that
      // outlives its interval is followed at once), and the last takes up to
      // a timeout: with timeout <= interval this is n x interval + timeout.
      const bound = (up[i] ? s.rise : s.fall) * Math.max(s.intervalMs, s.timeoutMs) + s.timeoutMs;
      const status = core.get(`t${i}`)!.status;
      const want = up[i] ? "healthy" : "unhealthy";
      if (now - flippedAt[i]! > bound && status !== want) {
        throw new Error(`t${i} went ${up[i] ? "up" : "down"} at ${flippedAt[i]} ms but is still ${status} at ${now} ms (bound ${bound} ms)`);
      }
    }
  }
}

describe("CheckerCore, allocation-free path", () => {
  it("property: nextDue/recordRun drive a target exactly as tick/recordResult do", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.array(
          fc.oneof(
            fc.record({ type: fc.constant("add" as const), id: fc.integer({ min: 0, max: 5 }), interval: fc.integer({ min: 50, max: 500 }) }),
            fc.record({ type: fc.constant("remove" as const), id: fc.integer({ min: 0, max: 5 }) }),
            fc.record({ type: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 400 }), latency: fc.integer({ min: 0, max: 600 }), ok: fc.boolean() }),
          ),
          { maxLength: 80 },
        ),
        (seed, ops) => {
          const a = new CheckerCore({ prng: createPrng(seed), maxConcurrentChecks: 3, historySize: 4 });
          const b = new CheckerCore({ prng: createPrng(seed), maxConcurrentChecks: 3, historySize: 4 });
          let now = 0;
          const runningA: Array<{ end: number; task: CheckTask; ok: boolean }> = [];
          const runningB: Array<{ end: number; run: CheckRun; ok: boolean }> = [];
          for (const op of ops) {
            if (op.type === "add") {
              const s = spec(`t${op.id}`, { intervalMs: op.interval, rise: 1, fall: 2 });
              expect(a.add(s, now)).toBe(b.add(s, now));
            } else if (op.type === "remove") expect(a.remove(`t${op.id}`)).toBe(b.remove(`t${op.id}`));
            else {
              const until = now + op.ms;
              for (;;) {
                runningA.sort((x, y) => x.end - y.end);
                runningB.sort((x, y) => x.end - y.end);
                const t = Math.min(a.nextDeadlineMs(), runningA[0]?.end ?? Infinity);
                expect(Math.min(b.nextDeadlineMs(), runningB[0]?.end ?? Infinity)).toBe(t);
                if (t > until) break;
                now = Math.max(now, t);
                while ((runningA[0]?.end ?? Infinity) <= now) {
                  const ra = runningA.shift()!;
                  const rb = runningB.shift()!;
                  expect(rb.run.id).toBe(ra.task.id);
                  const result = ra.ok ? { ok: true, latencyMs: 1 } : { ok: false, latencyMs: 1, error: { kind: "refused" as const, message: "x" } };
                  const events = a.recordResult(ra.task, result, now);
                  const due = rb.run.runDueMs;
                  const outcome = b.recordRun(rb.run, result, now);
                  expect(outcome === false).toBe(events.length === 0);
                  const tr = events.find((e) => e.type === "transition");
                  expect(outcome === false ? undefined : outcome).toEqual(tr?.type === "transition" ? tr.transition : undefined);
                  const res = events.find((e) => e.type === "result");
                  if (res?.type === "result") expect(res.dueMs).toBe(due);
                }
                const tasks = a.tick(now);
                for (const task of tasks) {
                  const run = b.nextDue(now)!;
                  expect(run.id).toBe(task.id);
                  expect(run.runDueMs).toBe(task.dueMs);
                  expect(run.payload.spec).toBe(task.spec);
                  runningA.push({ end: now + op.latency, task, ok: op.ok });
                  runningB.push({ end: now + op.latency, run, ok: op.ok });
                }
                expect(b.nextDue(now)).toBeUndefined();
              }
              now = until;
            }
            expect(b.counts()).toEqual(a.counts());
            expect(b.list()).toEqual(a.list());
            expect(b.inFlight).toBe(a.inFlight);
          }
        },
      ),
    );
  });
});
