/**
 * Every stage's ladder, run as a learner or a script runs it: `pnpm <bin>
 * ladder ...` from the repository root. Each command keeps its contract
 * (`--json` prints one line `{ "rungs": [ { "name", "broke", ...figures } ] }`,
 * and `--seed` replays it exactly), and each README's "Why not something
 * simpler?" block is what the command prints.
 *
 * The contract runs on small sizes. The two ladders that take seconds
 * (ownership, agreement) are replayed and their README blocks rerun in full
 * every time (unless the docs transcripts of every `pnpm test` already run
 * that block and compare all of it); the three that take most of a minute each (failure detection,
 * gossip and causality, coordination cost) have their README tables checked
 * rung by rung against the small run (their package tests replay seeds
 * in-process), and everything in full with
 * `HECK_LADDERS_FULL=1 pnpm vitest run --project repo test/ladders.test.ts`,
 * which also prints how long each README command took.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseTranscripts, sessionsOf } from "./transcript/parse.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const FULL = process.env.HECK_LADDERS_FULL === "1";

interface Ladder {
  bin: string;
  readme: string;
  /** Flags that make the contract run take seconds. */
  quick: string[];
  /** Whether the README's own command takes seconds (then it is rerun every time). */
  cheap: boolean;
}

const LADDERS: Ladder[] = [
  { bin: "heck-swim", readme: "packages/swim/README.md", quick: ["--sizes", "5,10"], cheap: false },
  { bin: "heck-crdt", readme: "packages/crdt-kv/README.md", quick: ["--sizes", "8,16", "--trials", "1"], cheap: false },
  { bin: "heck-ownership", readme: "packages/ownership/README.md", quick: ["--origins", "2000"], cheap: true },
  { bin: "heck-raft", readme: "packages/raft-kv/README.md", quick: [], cheap: true },
  { bin: "heck", readme: "packages/compare/README.md", quick: ["--sizes", "3,4,5"], cheap: false },
];

/**
 * pnpm as the test itself was started (`npm_execpath` under `pnpm test` or
 * `pnpm vitest`, which may be an `npx` copy not on PATH), else the one on PATH.
 */
function pnpm(): { command: string; prefix: string[] } {
  const exec = process.env.npm_execpath;
  if (exec !== undefined && /pnpm/.test(path.basename(exec))) return /\.[cm]?js$/.test(exec) ? { command: process.execPath, prefix: [exec] } : { command: exec, prefix: [] };
  return { command: "pnpm", prefix: [] };
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

/**
 * Runs `pnpm <args>` from the repository root, as the READMEs tell a learner to, without blocking:
 * the ladders run concurrently, since each is mostly process start-up and one core's simulation.
 */
function runPnpm(args: readonly string[]): Promise<Run> {
  const { command, prefix } = pnpm();
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(command, [...prefix, "--silent", ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.once("close", (status) => resolve({ status, stdout, stderr, seconds: (performance.now() - started) / 1000 }));
  });
}

/**
 * Whether `pnpm test`'s docs transcripts (test/docs.test.ts, a fast session) already run the README's
 * `pnpm <bin> ladder` command and compare every line it prints, with no placeholder: then rerunning it
 * here checks nothing more.
 */
function transcribedOnEveryRun(ladder: Ladder): boolean {
  const { blocks } = parseTranscripts(readFileSync(path.join(root, ladder.readme), "utf8"), ladder.readme);
  return sessionsOf(blocks).some(
    (session) => !session.slow && session.blocks.some((b) => b.commands.some((c) => c.text.startsWith(`pnpm ${ladder.bin} ladder`) && !c.background && !c.expected.some((l) => l.includes("{{") || l.trim() === "..."))),
  );
}

/** The README's console block that starts with `$ pnpm <bin> ladder`: the command and the lines it prints. */
function readmeBlock(ladder: Ladder): { args: string[]; output: string } {
  const text = readFileSync(path.join(root, ladder.readme), "utf8");
  const start = text.indexOf(`\`\`\`console\n$ pnpm ${ladder.bin} ladder`);
  expect(start, `${ladder.readme} shows \`pnpm ${ladder.bin} ladder\` in a console block`).toBeGreaterThanOrEqual(0);
  const body = text.slice(text.indexOf("\n", start) + 1, text.indexOf("\n```", start + 1));
  const [commandLine, ...output] = body.split("\n");
  return { args: commandLine!.replace(/^\$ pnpm /, "").split(/\s+/), output: output.join("\n") };
}

interface Contract {
  rungs: Array<Record<string, unknown> & { name: string; broke: string }>;
}

function parseContract(stdout: string): Contract {
  const lines = stdout.split("\n").filter((l) => l !== "");
  expect(lines, "one JSON line").toHaveLength(1);
  const parsed = JSON.parse(lines[0]!) as Contract;
  expect(Array.isArray(parsed.rungs)).toBe(true);
  expect(parsed.rungs.length).toBeGreaterThanOrEqual(2);
  return parsed;
}

const contractRuns = new Map<string, Promise<Run>>();

/** `pnpm <bin> ladder --json --seed 3 <quick flags>`, run once per ladder and shared by both tests. */
function contractRun(ladder: Ladder): Promise<Run> {
  let run = contractRuns.get(ladder.bin);
  if (run === undefined) {
    run = runPnpm([ladder.bin, "ladder", "--json", "--seed", "3", ...ladder.quick]);
    contractRuns.set(ladder.bin, run);
  }
  return run;
}

// The short runs go concurrently; the full ones one at a time, so the seconds printed are each command's own.
const eachLadder = FULL ? describe.each(LADDERS) : describe.concurrent.each(LADDERS);

eachLadder("pnpm $bin ladder", (ladder) => {
  it("--json prints one line { rungs: [{ name, broke, ...figures }] }", { timeout: 240_000 }, async () => {
    const first = await contractRun(ladder);
    expect(first.status, first.stderr).toBe(0);
    const contract = parseContract(first.stdout);
    const names = contract.rungs.map((r) => r.name);
    expect(new Set(names).size, "rung names are distinct").toBe(names.length);
    for (const rung of contract.rungs) {
      expect(typeof rung.name === "string" && rung.name.length > 0).toBe(true);
      expect(typeof rung.broke === "string" && rung.broke.length > 0, `${rung.name}: broke`).toBe(true);
      expect(Object.keys(rung).filter((k) => k !== "name" && k !== "broke").length, `${rung.name}: figures`).toBeGreaterThan(0);
    }
  });

  // The slow ladders' own tests replay a seed in-process through the same function the CLI prints.
  it.runIf(ladder.cheap || FULL)("the same --seed prints the same line again", { timeout: 240_000 }, async () => {
    const [first, again] = await Promise.all([contractRun(ladder), runPnpm([ladder.bin, "ladder", "--json", "--seed", "3", ...ladder.quick])]);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout, "--seed 3 replays").toBe(first.stdout);
  });

  it("the README's table is what the command prints", { timeout: 240_000 }, async () => {
    const block = readmeBlock(ladder);
    expect(block.args.slice(0, 2)).toEqual([ladder.bin, "ladder"]);
    if ((ladder.cheap && !transcribedOnEveryRun(ladder)) || FULL) {
      const r = await runPnpm(block.args);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.trimEnd()).toBe(block.output);
      if (FULL) console.log(`pnpm ${block.args.join(" ")}: ${r.seconds.toFixed(1)} s`);
      return;
    }
    // Short form: every rung the command has today (on small sizes) is a row of the README's table.
    const r = await contractRun(ladder);
    expect(r.status, r.stderr).toBe(0);
    const rows = block.output.split("\n");
    for (const rung of parseContract(r.stdout).rungs) expect(rows.some((row) => row.startsWith(`${rung.name}  `)), `README row for ${rung.name}`).toBe(true);
  });
});
