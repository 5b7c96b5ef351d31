/**
 * `heck-sim`: seed sweeps and trace tools. Parses and validates flags, then
 * calls the drivers in src/io; no logic lives here.
 *
 *   heck-sim sweep --package raft-kv --seeds 1000 --jobs 2
 *   heck-sim sweep --package raft-kv --seed 4242          (replay one seed, full report)
 *   heck-sim trace run.jsonl --node n1 --event deliver --tail 50
 */
import { Command, InvalidArgumentError } from "commander";
import { exitCodesForUsageErrors, handleClosedPipes } from "@heck/cli-kit";
import * as path from "node:path";
import { filterTrace, formatTraceEvent, type TraceEvent } from "./index.ts";
import { parseSeed } from "./io/seeds.ts";
import { findWorkspaceRoot, resolveSweepEntry, sweep } from "./io/sweep.ts";
import { streamTraceFile } from "./io/trace-file.ts";

function intFlag(name: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`${name} must be an integer, got ${JSON.stringify(value)}`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

function numberFlag(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got ${JSON.stringify(value)}`);
    return n;
  };
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, ...value.split(",").filter((s) => s.length > 0)];

// `heck-sim trace run.jsonl | head` closes the pipe early: that ends the output, it is no error.
handleClosedPipes();

const program: Command = exitCodesForUsageErrors(new Command("heck-sim")).description("Deterministic simulation kit: seed sweeps and trace tools.").showHelpAfterError();

program
  .command("sweep")
  .description("run a package's seeded simulation for many seeds in parallel; keep logs of failing seeds")
  .option("--package <name>", "package whose sweep entry to run (swim, raft-kv, @heck/crdt-kv...)")
  .option("--entry <file>", "a sweep entry file (instead of --package)")
  .option("--seeds <n>", "how many seeds", intFlag("--seeds", 1, 10_000_000), 100)
  .option("--start <seed>", "first seed (seeds are start, start+1, ...)", (v) => parseSeed(v, "--start"), 1)
  .option("--seed <seed>", "run exactly this one seed and print its full report", (v) => parseSeed(v, "--seed"))
  .option("--jobs <n>", "parallel worker processes", intFlag("--jobs", 1, 64), 2)
  .option("--timeout-ms <ms>", "per-seed wall-clock limit", intFlag("--timeout-ms", 1, 86_400_000), 120_000)
  .option("--out <dir>", "directory for failing seeds' logs and summary.json (default .heck/sweep/<package>)")
  .action(async (opts: { package?: string; entry?: string; seeds: number; start: number; seed?: number; jobs: number; timeoutMs: number; out?: string }) => {
    if ((opts.package === undefined) === (opts.entry === undefined)) program.error("sweep: give exactly one of --package <name> or --entry <file>");
    let entry: string;
    try {
      entry = opts.entry !== undefined ? path.resolve(opts.entry) : resolveSweepEntry(opts.package!, process.cwd());
    } catch (e) {
      program.error((e as Error).message);
    }
    const label = opts.package?.replace(/^@heck\//, "") ?? path.basename(entry, ".ts");
    const root = findWorkspaceRoot(process.cwd()) ?? process.cwd();
    const outDir = path.resolve(opts.out ?? path.join(root, ".heck", "sweep", label));
    const seeds = opts.seed !== undefined ? [opts.seed] : Array.from({ length: opts.seeds }, (_, i) => (opts.start + i) >>> 0);
    console.log(`sweeping ${seeds.length} seed(s) of ${path.relative(process.cwd(), entry) || entry} with ${Math.min(opts.jobs, seeds.length)} job(s); logs in ${outDir}`);
    const replayCommand = `pnpm heck-sim sweep ${opts.package !== undefined ? `--package ${opts.package}` : `--entry ${opts.entry}`} --seed {seed}`;
    const result = await sweep({ entry, seeds, jobs: opts.jobs, outDir, timeoutMs: opts.timeoutMs, log: (l) => console.log(l), replayCommand });
    console.log(
      `${result.seeds} seeds: ${result.passed} passed, ${result.failed.length} failed; ` +
        `${(result.cpuMs / 1000).toFixed(1)} s CPU in ${(result.wallMs / 1000).toFixed(1)} s wall (${(result.cpuMs / result.seeds).toFixed(0)} ms CPU per seed)`,
    );
    if (result.failed.length > 0) {
      console.log(`failing seeds: ${result.failed.map((f) => `HECK_SEED=${f.seed}`).join(" ")}`);
      if (opts.seed !== undefined) {
        const fs = await import("node:fs");
        console.log(fs.readFileSync(result.failed[0]!.logFile!, "utf8"));
      } else {
        console.log(`replay one: ${replayCommand.replace("{seed}", String(result.failed[0]!.seed))}`);
      }
      process.exitCode = 1;
    }
  });

program
  .command("trace")
  .description("pretty-print a JSONL event trace")
  .argument("<file>", "trace file (JSON lines of {t, node, event, msg})")
  .option("--node <ids>", "only these nodes (repeat or comma-separate)", collect)
  .option("--event <names>", "only these events (repeat or comma-separate)", collect)
  .option("--from <ms>", "only events at or after this time", numberFlag("--from"))
  .option("--to <ms>", "only events at or before this time", numberFlag("--to"))
  .option("--grep <text>", "only events whose JSON contains this text")
  .option("--tail <n>", "only the last n matching events", intFlag("--tail", 1, 100_000_000))
  .option("--width <chars>", "cut message JSON at this many characters", intFlag("--width", 10, 100_000), 160)
  .action(async (file: string, opts: { node?: string[]; event?: string[]; from?: number; to?: number; grep?: string; tail?: number; width: number }) => {
    const filter = {
      ...(opts.node !== undefined ? { nodes: opts.node } : {}),
      ...(opts.event !== undefined ? { events: opts.event } : {}),
      ...(opts.from !== undefined ? { fromMs: opts.from } : {}),
      ...(opts.to !== undefined ? { toMs: opts.to } : {}),
      ...(opts.grep !== undefined ? { grep: opts.grep } : {}),
    };
    const tail: TraceEvent[] = [];
    let bad = 0;
    let shown = 0;
    try {
      for await (const item of streamTraceFile(file)) {
        if ("error" in item) {
          bad++;
          if (bad <= 5) console.error(`skipping ${item.error}`);
          continue;
        }
        if (filterTrace([item.event], filter).length === 0) continue;
        if (opts.tail !== undefined) {
          tail.push(item.event);
          if (tail.length > opts.tail) tail.shift();
        } else {
          console.log(formatTraceEvent(item.event, opts.width));
          shown++;
        }
      }
    } catch (e) {
      program.error(`trace: cannot read ${file}: ${(e as Error).message}`);
    }
    for (const e of tail) console.log(formatTraceEvent(e, opts.width));
    shown += tail.length;
    if (bad > 0) console.error(`${bad} malformed line(s) skipped`);
    if (shown === 0) console.error("no matching events");
  });

await program.parseAsync();
