/**
 * `heck-scope <stage> --seed <n>`: parsing, validation and wiring only.
 *
 * - With `--listen host:port` it serves the page (stage and seed in the
 *   URL) and stays in the foreground until SIGINT or SIGTERM; with `--json`
 *   it prints one line `{"url": ...}` once the page answers.
 * - With `--trace-hash` it runs the stage's seeded simulation in Node to
 *   `--until` and prints the hash of its trace, the number the page's
 *   `heckScope.snapshot().traceHash` matches for the same run.
 * - With `--out <dir>` it writes the page as static files.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { Command } from "commander";
import { buildPage } from "./io/bundle.ts";
import { parseListen, startServer } from "./io/server.ts";
import { formatActions, parseActions, type Action } from "./core/actions.ts";
import { checkSeed, checkStage, checkTimeMs, type Checked } from "./core/options.ts";
import { NODE_IDS, STAGES } from "./core/stage.ts";
import { readLoadedFile } from "./core/loaded-file.ts";
import { isScenario, runScope, SCENARIOS } from "./index.ts";
import { formatFaultSchedule, parseFaultSchedule, type FaultStep } from "@heck/sim";

process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  // A closed pipe (`| head`) is not an error worth a stack trace.
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

/** A bad flag: printed as one line, exit code 2. */
class InputError extends Error {}

function need<T>(c: Checked<T>, flag: string): T {
  if (!c.ok) throw new InputError(`${flag}: ${c.error}`);
  return c.value;
}

interface Options {
  seed: string;
  listen?: string;
  out?: string;
  at?: string;
  until?: string;
  traceHash?: boolean;
  actions?: string;
  scenario?: string;
  faults?: string;
  load?: string;
  json?: boolean;
}

const program = new Command("heck-scope")
  .description("See the protocols: a stage's real core, seeded, step by step.")
  .argument("[stage]", `the stage to watch: ${STAGES.join(", ")} (a loaded failure report names its own)`)
  .option("-s, --seed <n>", "the run's seed (a HECK_SEED value)", "1")
  .option("--until <ms>", "simulated time to run to (with --trace-hash)")
  .option("--trace-hash", "run in Node to --until and print the hash of the trace")
  .option("--actions <list>", 'actions to replay, e.g. "1200 crash n1; 3000 restart n1"')
  .option("--scenario <name>", `one of the stage's seeded test scenarios instead of its own cluster (${Object.entries(SCENARIOS).filter(([, v]) => v.length > 0).map(([k, v]) => `${k}: ${v.join(", ")}`).join("; ")})`)
  .option("--faults <schedule>", 'with --scenario: this fault schedule instead of the seed\'s own, e.g. "1200 crash n2; 1800 partition n1|n2,n3; 2100 heal"')
  .option("--load <file>", "a failure report (a failing test's output, a sweep's seed-<n>.log): open its run at the failure; or a trace file (JSON lines): list it in the page")
  .option("--listen <host:port>", "serve the page here (port 0: any free port)")
  .option("--out <dir>", "write the page as static files to this directory")
  .option("--at <ms>", 'open the page at this simulated time, or "failure" (the moment an invariant broke)')
  .option("--json", "print JSON")
  .showHelpAfterError()
  .action(async (stageArg: string | undefined, o: Options) => {
    let stageText = stageArg;
    let traceText: string | undefined;
    if (o.load !== undefined) {
      let text: string;
      try {
        text = await readFile(o.load, "utf8");
      } catch (e) {
        throw new InputError(`--load: cannot read ${o.load}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      }
      const loaded = readLoadedFile(text);
      if (loaded.kind === "error") throw new InputError(`--load: ${o.load}: ${loaded.error}`);
      if (loaded.kind === "report") {
        // The report names the whole run: its stage, scenario, seed and shrunk faults, opened at the failure.
        const r = loaded.run;
        if (stageArg !== undefined && stageArg !== r.stage) throw new InputError(`--load: the report is a ${r.stage} run, not ${stageArg}`);
        if (o.scenario !== undefined || o.faults !== undefined || o.actions !== undefined) throw new InputError("--load: a failure report names its own scenario and faults; drop --scenario, --faults and --actions");
        stageText = r.stage;
        o.scenario = r.scenario;
        o.seed = String(r.seed);
        o.faults = formatFaultSchedule(r.faults);
        o.at ??= "failure";
      } else {
        if (o.traceHash) throw new InputError("--load: a trace file is listed in the page; --trace-hash replays a failure report, not a trace");
        traceText = text;
      }
    }
    const stage = need(checkStage(stageText), "stage");
    const seed = need(checkSeed(o.seed), "--seed");
    if (o.scenario !== undefined && !isScenario(stage, o.scenario)) {
      throw new InputError(`--scenario: ${stage} has no scenario ${JSON.stringify(o.scenario)}${SCENARIOS[stage].length > 0 ? ` (it has ${SCENARIOS[stage].join(", ")})` : " (it has none)"}`);
    }
    if (o.faults !== undefined && o.scenario === undefined) throw new InputError("--faults: applies to a seeded scenario; add --scenario");
    let actions: Action[] = [];
    if (o.actions !== undefined) {
      // A scenario's cluster size comes from its seed: the run checks the node names.
      const parsed = parseActions(o.actions, o.scenario === undefined ? NODE_IDS : undefined);
      if (!parsed.ok) throw new InputError(`--actions: ${parsed.error}`);
      actions = parsed.actions;
    }
    let faults: FaultStep[] | undefined;
    if (o.faults !== undefined) {
      const parsed = parseFaultSchedule(o.faults);
      if (!parsed.ok) throw new InputError(`--faults: ${parsed.error}`);
      faults = parsed.steps;
    }
    const more = { ...(o.scenario !== undefined ? { scenario: o.scenario } : {}), ...(faults !== undefined ? { faults } : {}) };
    // Building the run once checks what only the cluster knows (its nodes), with a clear message.
    try {
      runScope(stage, seed, 0, actions, more);
    } catch (e) {
      if (e instanceof RangeError) throw new InputError(e.message);
      throw e;
    }
    if (o.traceHash) {
      const untilMs = need(checkTimeMs(o.until, "--until"), "--until");
      const run = runScope(stage, seed, untilMs, actions, more);
      const hash = run.traceHash();
      if (o.json) process.stdout.write(`${JSON.stringify({ stage, seed, untilMs, traceHash: hash, events: run.eventCount, failure: run.failure?.report ?? null })}\n`);
      else process.stdout.write(`${hash}\n`);
      if (run.failure !== null) {
        process.stderr.write(`heck-scope: the run failed at t=${run.failure.atMs} ms:\n${run.failure.report}\n`);
        process.exitCode = 1;
      }
      return;
    }
    const query = new URLSearchParams({ stage, seed: String(seed) });
    if (o.scenario !== undefined) query.set("scenario", o.scenario);
    if (faults !== undefined) query.set("faults", formatFaultSchedule(faults));
    if (actions.length > 0) query.set("actions", formatActions(actions));
    if (traceText !== undefined) query.set("trace", "1");
    if (o.at !== undefined) query.set("t", o.at === "failure" ? "failure" : String(need(checkTimeMs(o.at, "--at"), "--at")));
    if (o.out !== undefined) {
      const dir = resolve(o.out);
      const page = await buildPage();
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, "index.html"), page.html);
      await writeFile(join(dir, "scope.js"), page.script);
      if (traceText !== undefined) await writeFile(join(dir, "trace.jsonl"), traceText);
      const file = `file://${join(dir, "index.html")}?${query.toString()}`;
      process.stdout.write(o.json ? `${JSON.stringify({ dir, url: file })}\n` : `wrote ${dir}/index.html and scope.js; open ${file}\n`);
      return;
    }
    const listen = parseListen(o.listen ?? "127.0.0.1:8090");
    if (typeof listen === "string") throw new InputError(`--listen: ${listen}`);
    const page = await buildPage();
    const server = await startServer(traceText !== undefined ? { ...page, trace: traceText } : page, listen.host, listen.port).catch((e: NodeJS.ErrnoException) => {
      if (e.code === "EADDRINUSE" || e.code === "EADDRNOTAVAIL" || e.code === "EACCES") throw new InputError(`--listen: cannot listen on ${o.listen}: ${e.code}`);
      throw e;
    });
    const url = `${server.baseUrl}/?${query.toString()}`;
    // Announce only once the page answers, so a script can open the URL at once.
    const res = await fetch(url);
    await res.text();
    if (!res.ok) throw new Error(`the page did not answer at ${url} (HTTP ${res.status})`);
    process.stdout.write(o.json ? `${JSON.stringify({ url })}\n` : `heck scope: ${stage}, seed ${seed}: open ${url}\n(Ctrl-C stops it)\n`);
    await new Promise<void>((done) => {
      const stop = (): void => {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        void server.close().then(done);
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
  });

try {
  await program.parseAsync();
} catch (err) {
  if (err instanceof InputError) {
    process.stderr.write(`heck-scope: error: ${err.message}\n`);
    process.exitCode = 2;
  } else {
    throw err;
  }
}
