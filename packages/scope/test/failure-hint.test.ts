/**
 * A failing seeded test prints a command that opens the view at the failure,
 * with the shrunk fault schedule applied, and that command works.
 *
 * The failure is made the way a learner makes one: a rule the protocol does
 * not keep ("no member is ever declared dead") added to the swim sweep's own
 * invariants. runSeeded fails, shrinks the schedule and prints `pnpm
 * heck-scope swim --scenario sweep --seed <n> --faults "..." --at failure`.
 * The view's run of exactly those arguments (with the same added rule) breaks
 * the same rule at the same simulated instant, and the printed command, run
 * from the repository root as written, serves that page.
 *
 * raft-kv's and crdt-kv's sweeps print their command the same way; for them
 * the rule is "no node ever crashes" (their sweeps crash nodes), the view's
 * run breaks it at the same instant, and the CLI takes the printed arguments
 * (its Node replay of them hashes as the in-process run does).
 */
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseFaultSchedule, runSeeded, SimulationFailure, type SeededRunOptions } from "@heck/sim";
import { swimSweepOptions, type SimMember } from "@heck/swim";
import { raftSweep } from "@heck/raft-kv/sim";
import { crdtSweep } from "@heck/crdt-kv";
import { runScope, type StageName } from "../src/index.ts";
import { readLoadedFile } from "../src/core/loaded-file.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const BIN = fileURLToPath(new URL("../bin/heck-scope.js", import.meta.url));
const SEED = 1;

/** The wrong rule: crashing a member is in the sweep's faults, so someone is declared dead. */
const NO_DEATH = {
  name: "no member is ever declared dead",
  check: (sim: unknown): string | undefined => {
    for (const m of (sim as { up: readonly SimMember[] }).up) for (const x of m.node.members()) if (x.state === "dead") return `${m.id} declared ${x.name} dead`;
    return undefined;
  },
};

/** Splits a command line into words as a shell does for the plain and double-quoted words hints use. */
function words(command: string): string[] {
  return [...command.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

/** Another wrong rule, for sweeps whose nodes are not SWIM members: crashing a node is in every sweep's faults. */
const NO_CRASH = {
  name: "no node ever crashes",
  check: (sim: unknown): string | undefined => {
    const s = sim as { nodeIds: readonly string[]; isUp(id: string): boolean };
    const down = s.nodeIds.filter((id) => !s.isUp(id));
    return down.length > 0 ? `${down.join(", ")} crashed` : undefined;
  },
};

/** A sweep's options, whatever its messages and nodes (each case builds its own). */
type AnySweep = SeededRunOptions<never, never, never, never>;

/** Runs a sweep's seed with `rule` added to its invariants and returns its failure report. */
function failingRun(options: AnySweep, rule: typeof NO_CRASH): SimulationFailure {
  try {
    runSeeded({ ...options, invariants: [...options.invariants, rule], maxShrinkRuns: 8, traceTail: 5 });
  } catch (e) {
    if (e instanceof SimulationFailure) return e;
    throw e;
  }
  throw new Error(`seed ${options.seed} did not fail: the rule should break when the sweep crashes a node`);
}

/** The view's command in a failure report, without its "Watch it..." label. */
function hintOf(failure: SimulationFailure): string | undefined {
  return failure.message.split("\n").find((l) => l.startsWith("Watch it in the browser, opened at the failure: "))?.replace(/^[^:]+: /, "");
}

describe("a failing seed opens at the failure", () => {
  const failure = failingRun(swimSweepOptions(SEED) as unknown as AnySweep, NO_DEATH);
  const hint = hintOf(failure);

  it("the report prints the view's command with the shrunk schedule", () => {
    expect(hint).toMatch(new RegExp(`^pnpm heck-scope swim --scenario sweep --seed ${SEED} --faults "[^"]+" --at failure$`));
    expect(failure.message).toMatch(/Fault schedule, shrunk from \d+ to \d+ steps/);
  });

  it("the view, run with the command's arguments, breaks the same rule at the same instant", () => {
    const args = words(hint!);
    const faults = parseFaultSchedule(args[args.indexOf("--faults") + 1]!);
    if (!faults.ok) throw new Error(faults.error);
    const run = runScope("swim", Number(args[args.indexOf("--seed") + 1]), 200_000, [], { scenario: args[args.indexOf("--scenario") + 1]!, faults: faults.steps, checks: [NO_DEATH] });
    expect(run.failure?.what).toBe(NO_DEATH.name);
    expect(run.failure?.atMs).toBe(failure.atMs);
    expect(run.failure?.detail).toBe(failure.detail);
  });

  it("the command, run as printed from the repository root, serves that page", async () => {
    const [bin, ...args] = words(hint!);
    const child = spawn(bin!, [...args, "--listen", "127.0.0.1:0", "--json"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], detached: true });
    try {
      let out = "";
      child.stdout.setEncoding("utf8");
      const line = await new Promise<string>((resolve, reject) => {
        child.stdout.on("data", (chunk: string) => {
          out += chunk;
          if (out.includes("\n")) resolve(out.split("\n")[0]!);
        });
        child.once("exit", (code) => reject(new Error(`exited with ${code} before printing a URL`)));
      });
      const url = new URL((JSON.parse(line) as { url: string }).url);
      expect(url.searchParams.get("stage")).toBe("swim");
      expect(url.searchParams.get("scenario")).toBe("sweep");
      expect(url.searchParams.get("faults")).toBe(args[args.indexOf("--faults") + 1]);
      expect(url.searchParams.get("t")).toBe("failure");
      expect((await fetch(url)).status).toBe(200);
    } finally {
      // pnpm runs the CLI as its child: stop the whole group this test started.
      if (child.exitCode === null) process.kill(-child.pid!, "SIGTERM");
      await once(child, "exit").catch(() => undefined);
    }
  }, 60_000);

  it("the report, loaded as a file (heck-scope --load), opens the same run", () => {
    expect(readLoadedFile('{"name": "not a report"}\n')).toMatchObject({ kind: "error", error: expect.stringMatching(/neither a failure report .* nor a trace .*: line 1/) });
    expect(readLoadedFile("HECK_SEED=9: invariant broken\nReplay exactly this run: HECK_SEED=9 pnpm vitest run x.test.ts\n")).toMatchObject({ kind: "error", error: expect.stringMatching(/has no view.*replay it with HECK_SEED=9 pnpm vitest run x.test.ts/) });
    const loaded = readLoadedFile(`some test output\n${failure.message}\n`);
    if (loaded.kind !== "report") throw new Error(`not read as a report: ${JSON.stringify(loaded)}`);
    expect(loaded.run).toMatchObject({ stage: "swim", scenario: "sweep", seed: SEED });
    const file = join(mkdtempSync(join(tmpdir(), "heck-scope-")), `seed-${SEED}.log`);
    writeFileSync(file, failure.message);
    const r = spawnSync(process.execPath, [BIN, "--load", file, "--until", "20000", "--trace-hash", "--json"], { encoding: "utf8", timeout: 60_000 });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const line = JSON.parse(r.stdout) as { stage: string; seed: number; traceHash: string };
    expect(line).toMatchObject({ stage: "swim", seed: SEED });
    expect(line.traceHash).toBe(runScope("swim", SEED, 20_000, [], { scenario: "sweep", faults: loaded.run.faults }).traceHash());
  }, 60_000);
});

describe("raft-kv's and crdt-kv's failing seeds open at the failure too", () => {
  // Seeds whose sweep crashes a node early, so the shrinking re-runs and the view's run stay short.
  // One case also runs the printed arguments through the CLI: the other's go through the same parsing (stage, scenario, faults), checked here in-process.
  const cases: Array<{ stage: StageName; seed: number; options: () => AnySweep; cli: boolean }> = [
    { stage: "raft", seed: 35, options: () => raftSweep(35).options as unknown as AnySweep, cli: true },
    { stage: "crdt", seed: 1, options: () => crdtSweep(1).options as unknown as AnySweep, cli: false },
  ];

  it.each(cases)("$stage: the report's command replays the same failure in the view", ({ stage, seed, options, cli }) => {
    const failure = failingRun(options(), NO_CRASH);
    const hint = hintOf(failure);
    expect(hint).toMatch(new RegExp(`^pnpm heck-scope ${stage} --scenario sweep --seed ${seed} --faults "[^"]+" --at failure$`));
    expect(failure.message).toMatch(/Fault schedule, shrunk from \d+ to \d+ steps/);
    const args = words(hint!);
    const faults = parseFaultSchedule(args[args.indexOf("--faults") + 1]!);
    if (!faults.ok) throw new Error(faults.error);
    const more = { scenario: args[args.indexOf("--scenario") + 1]!, faults: faults.steps };
    const run = runScope(stage, Number(args[args.indexOf("--seed") + 1]), 200_000, [], { ...more, checks: [NO_CRASH] });
    expect(run.failure?.what).toBe(NO_CRASH.name);
    expect(run.failure?.atMs).toBe(failure.atMs);
    expect(run.failure?.detail).toBe(failure.detail);
    expect(readLoadedFile(failure.message)).toMatchObject({ kind: "report", run: { stage, scenario: "sweep", seed } });
    if (!cli) return;
    // The printed arguments, as the CLI takes them (the Node replay, hashed, instead of serving the page).
    const untilMs = Math.ceil(failure.atMs);
    const r = spawnSync(process.execPath, [BIN, ...args.slice(2), "--until", String(untilMs), "--trace-hash", "--json"], { encoding: "utf8", timeout: 60_000 });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect((JSON.parse(r.stdout) as { traceHash: string }).traceHash).toBe(runScope(stage, seed, untilMs, [], more).traceHash());
  }, 60_000);
});
