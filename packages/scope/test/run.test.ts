/**
 * The watched run: a function of (stage, seed, actions). The same seed gives
 * the same trace hash, another seed another hash; an action taken live and
 * the same action replayed from the list land on the same trace (which is
 * what makes rewinding exact); a broken invariant stops the run with the
 * runner's HECK_SEED report.
 */
import { describe, expect, it } from "vitest";
import { createStage, parseActions, runScope, ScopeRun, STAGES, type Action } from "../src/index.ts";

const UNTIL_MS = 6_000;

describe("the trace hash", () => {
  it.each(STAGES)("%s: the same seed gives the same hash, another seed another", (stage) => {
    const a = runScope(stage, 7, UNTIL_MS);
    const b = runScope(stage, 7, UNTIL_MS);
    const c = runScope(stage, 8, UNTIL_MS);
    expect(a.failure).toBeNull();
    expect(a.eventCount).toBeGreaterThan(20);
    expect(a.traceHash()).toMatch(/^[0-9a-f]{16}$/);
    expect(b.traceHash()).toBe(a.traceHash());
    expect(c.traceHash()).not.toBe(a.traceHash());
  });

  it("running in chunks or at once gives the same trace", () => {
    const once = runScope("raft", 3, 4_000);
    const chunked = new ScopeRun({ stage: "raft", seed: 3 }, createStage);
    for (let t = 0; t <= 4_000; t += 333) chunked.run(t);
    chunked.run(4_000);
    expect(chunked.traceHash()).toBe(once.traceHash());
    expect(chunked.eventCount).toBe(once.eventCount);
  });
});

describe("actions", () => {
  const live = (stage: "raft" | "crdt" | "v2" | "swim", seed: number, script: (run: ScopeRun) => void): ScopeRun => {
    const run = new ScopeRun({ stage, seed }, createStage);
    script(run);
    return run;
  };

  it.each(["raft", "crdt", "swim", "v2"] as const)("%s: actions taken live replay to the same trace from the recorded list", (stage) => {
    const run = live(stage, 11, (r) => {
      r.run(1_500);
      // Step into the middle of a burst of events, then act: the action waits for the rest of that instant.
      for (let i = 0; i < 7; i++) r.step();
      r.act({ kind: "crash", node: "n2" });
      r.run(2_500);
      if (stage === "raft" || stage === "crdt") r.act({ kind: "put", node: "n3", key: "x", value: "1" });
      if (stage === "v2") r.act({ kind: "flip", origin: "o3" });
      r.act({ kind: "partition", groups: [["n1", "n3"], ["n4", "n5"]] });
      r.run(4_000);
      r.act({ kind: "heal" });
      r.act({ kind: "loss", rate: 0.1 });
      r.act({ kind: "restart", node: "n2" });
      r.run(6_000);
    });
    expect(run.failure).toBeNull();
    const replayed = new ScopeRun({ stage, seed: 11, actions: run.actions }, createStage);
    replayed.run(6_000);
    expect(replayed.traceHash()).toBe(run.traceHash());
    // And through the text form, as the URL carries it.
    const parsed = parseActions(run.snapshot().actions.join(";"));
    expect(parsed.ok).toBe(true);
    const fromText = new ScopeRun({ stage, seed: 11, actions: (parsed as { actions: Action[] }).actions }, createStage);
    fromText.run(6_000);
    expect(fromText.traceHash()).toBe(run.traceHash());
  });

  it("stepping stops at a recorded action and applies it at its time", () => {
    const actions = (parseActions("1000 crash n1") as { actions: Action[] }).actions;
    const run = new ScopeRun({ stage: "raft", seed: 5, actions }, createStage);
    while (run.nowMs < 1_000 || run.snapshot().nodes[0]!.up) expect(run.step()).toBe(true);
    expect(run.nowMs).toBe(1_000);
    run.run(2_000);
    const whole = new ScopeRun({ stage: "raft", seed: 5, actions }, createStage);
    whole.run(2_000);
    expect(run.traceHash()).toBe(whole.traceHash());
  });
});

describe("parseActions", () => {
  it("reads the text form and names the first bad action", () => {
    const ok = parseActions("1200 crash n1; 3400 restart n1;5000 partition n1,n2|n3,n4,n5; 6000 heal; 7000 loss 0.1; 8000 put n1 x=1; 9000 flip o3", ["n1", "n2", "n3", "n4", "n5"]);
    expect(ok.ok).toBe(true);
    expect((ok as { actions: Action[] }).actions.map((a) => a.kind)).toEqual(["crash", "restart", "partition", "heal", "loss", "put", "flip"]);
    const bad = (text: string): string => {
      const r = parseActions(text, ["n1", "n2"]);
      expect(r.ok).toBe(false);
      return (r as { error: string }).error;
    };
    expect(bad("12 crash n9")).toMatch(/action 1 .*unknown node "n9"/);
    expect(bad("12 crash n1; 10 heal")).toMatch(/action 2 .*before the previous/);
    expect(bad("12 explode n1")).toMatch(/unknown action "explode"/);
    expect(bad("crash n1")).toMatch(/simulated time/);
    expect(bad("5 loss 2")).toMatch(/between 0 and 1/);
    expect(bad("5 partition n1|n1")).toMatch(/two groups/);
    expect(bad("5 put n1 x")).toMatch(/key=value/);
  });
});

describe("a broken invariant", () => {
  it("stops the run at that step with the runner's HECK_SEED report; stepping does nothing more", () => {
    const watched: { run?: ScopeRun } = {};
    // A deliberately wrong rule: "n1 never leads" breaks the moment n1 is elected.
    const checks = [{ name: "n1 never leads", check: () => (watched.run?.adapter.nodeView("n1").role === "leader" ? "n1 leads" : undefined) }];
    const seed = [1, 2, 3, 4, 5, 6, 7, 8].find((s) => runScope("raft", s, 3_000).snapshot().nodes[0]!.role === "leader")!;
    const run = new ScopeRun({ stage: "raft", seed, checks }, createStage);
    watched.run = run;
    run.run(3_000);
    expect(run.failure).not.toBeNull();
    expect(run.failure!.what).toBe("n1 never leads");
    expect(run.failure!.report).toContain(`HECK_SEED=${seed}`);
    expect(run.nowMs).toBeLessThan(3_000);
    const at = run.nowMs;
    expect(run.step()).toBe(false);
    run.run(5_000);
    expect(run.nowMs).toBe(at);
    expect(run.snapshot().invariants.find((i) => i.name === "n1 never leads")).toMatchObject({ ok: false, detail: "n1 leads" });
  });
});
