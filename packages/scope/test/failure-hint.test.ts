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
 */
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseFaultSchedule, runSeeded, SimulationFailure } from "@heck/sim";
import { swimSweepOptions, type SimMember } from "@heck/swim";
import { runScope } from "../src/index.ts";
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

function failingRun(): SimulationFailure {
  const options = swimSweepOptions(SEED);
  try {
    runSeeded({ ...options, invariants: [...options.invariants, NO_DEATH], maxShrinkRuns: 8, traceTail: 5 });
  } catch (e) {
    if (e instanceof SimulationFailure) return e;
    throw e;
  }
  throw new Error(`seed ${SEED} did not fail: the rule should break when the sweep crashes a member`);
}

describe("a failing seed opens at the failure", () => {
  const failure = failingRun();
  const hint = failure.message.split("\n").find((l) => l.startsWith("Watch it in the browser, opened at the failure: "))?.replace(/^[^:]+: /, "");

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
