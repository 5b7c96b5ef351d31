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
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { Command } from "commander";
import { buildPage } from "./io/bundle.ts";
import { parseListen, startServer } from "./io/server.ts";
import { formatActions, parseActions, type Action } from "./core/actions.ts";
import { checkSeed, checkStage, checkTimeMs, type Checked } from "./core/options.ts";
import { NODE_IDS, STAGES } from "./core/stage.ts";
import { runScope } from "./index.ts";

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
  json?: boolean;
}

const program = new Command("heck-scope")
  .description("See the protocols: a stage's real core, seeded, step by step.")
  .argument("<stage>", `the stage to watch: ${STAGES.join(", ")}`)
  .option("-s, --seed <n>", "the run's seed (a HECK_SEED value)", "1")
  .option("--until <ms>", "simulated time to run to (with --trace-hash)")
  .option("--trace-hash", "run in Node to --until and print the hash of the trace")
  .option("--actions <list>", 'actions to replay, e.g. "1200 crash n1; 3000 restart n1"')
  .option("--listen <host:port>", "serve the page here (port 0: any free port)")
  .option("--out <dir>", "write the page as static files to this directory")
  .option("--at <ms>", 'open the page at this simulated time, or "failure" (the moment an invariant broke)')
  .option("--json", "print JSON")
  .showHelpAfterError()
  .action(async (stageText: string, o: Options) => {
    const stage = need(checkStage(stageText), "stage");
    const seed = need(checkSeed(o.seed), "--seed");
    let actions: Action[] = [];
    if (o.actions !== undefined) {
      const parsed = parseActions(o.actions, NODE_IDS);
      if (!parsed.ok) throw new InputError(`--actions: ${parsed.error}`);
      actions = parsed.actions;
    }
    if (o.traceHash) {
      const untilMs = need(checkTimeMs(o.until, "--until"), "--until");
      const run = runScope(stage, seed, untilMs, actions);
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
    if (actions.length > 0) query.set("actions", formatActions(actions));
    if (o.at !== undefined) query.set("t", o.at === "failure" ? "failure" : String(need(checkTimeMs(o.at, "--at"), "--at")));
    if (o.out !== undefined) {
      const dir = resolve(o.out);
      const page = await buildPage();
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, "index.html"), page.html);
      await writeFile(join(dir, "scope.js"), page.script);
      const file = `file://${join(dir, "index.html")}?${query.toString()}`;
      process.stdout.write(o.json ? `${JSON.stringify({ dir, url: file })}\n` : `wrote ${dir}/index.html and scope.js; open ${file}\n`);
      return;
    }
    const listen = parseListen(o.listen ?? "127.0.0.1:8090");
    if (typeof listen === "string") throw new InputError(`--listen: ${listen}`);
    const page = await buildPage();
    const server = await startServer(page, listen.host, listen.port).catch((e: NodeJS.ErrnoException) => {
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
