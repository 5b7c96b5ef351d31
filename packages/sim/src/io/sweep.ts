/**
 * The seed sweeper behind `heck-sim sweep`: runs a package's seeded
 * simulation for many seeds in parallel child processes and keeps the logs
 * of the seeds that fail.
 *
 * ## How a package registers its simulation
 *
 * A package exports one function from a *sweep entry* file:
 *
 * ```ts
 * // packages/raft-kv/test/sweep-entry.ts
 * import { runSeeded } from "@heck/sim";
 * export function runSeed(seed: number): void {
 *   runSeeded({ seed, nodeIds: ["n1", "n2", "n3"], factory, invariants, ... });
 * }
 * ```
 *
 * `runSeed(seed)` must be deterministic in `seed` and throw on failure (the
 * `SimulationFailure` that `runSeeded` throws is ideal: its message starts
 * with `HECK_SEED=<n>`). It may return a promise. The sweeper looks for the
 * entry at `heck.sweep` in the package's package.json, else at
 * `test/sweep-entry.ts`, `test/sim/sweep-entry.ts` or `sim/sweep-entry.ts`,
 * else the one `sweep-entry.ts` anywhere under `test/` or `sim/`.
 * The package's own vitest file calls the same `runSeed` for
 * `seedsFromEnv(...)`, so `HECK_SEED=<n> pnpm vitest run <that test file>` replays a swept failure.
 *
 * ## Processes
 *
 * `jobs` workers (bin/sweep-worker.js) each import the entry once, then take
 * seeds from a shared queue, one at a time, so a slow seed does not hold up
 * the others. A seed that runs past `timeoutMs` counts as failed; its worker
 * is killed and replaced. Output a worker prints while running a seed is
 * kept with that seed, and written to `<outDir>/seed-<n>.log` if it fails.
 */
import { fork, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { FromWorker, ToWorker } from "./sweep-worker.ts";

/** Options for {@link sweep}. */
export interface SweepOptions {
  /** Absolute path of the sweep entry file. */
  entry: string;
  /** The seeds to run, in order of dispatch. */
  seeds: readonly number[];
  /** Parallel worker processes. */
  jobs: number;
  /** Directory for failing seeds' logs and summary.json (created). */
  outDir: string;
  /** Per-seed wall-clock limit. Default 120 000 ms. */
  timeoutMs?: number;
  /** Progress lines (default: nothing). */
  log?: (line: string) => void;
  /** The command that replays one seed, `{seed}` standing for it; failure reports print it. */
  replayCommand?: string;
}

/** One seed's outcome. */
export interface SeedOutcome {
  seed: number;
  ok: boolean;
  cpuMs: number;
  wallMs: number;
  /** First line of the failure (the whole report is in the log file). */
  summary?: string;
  logFile?: string;
}

/** What a sweep found. */
export interface SweepResult {
  entry: string;
  seeds: number;
  passed: number;
  failed: SeedOutcome[];
  /** Sum of the seeds' CPU time. */
  cpuMs: number;
  wallMs: number;
  outDir: string;
}

const workerShim = fileURLToPath(new URL("../../bin/sweep-worker.js", import.meta.url));

/** Finds the directory holding pnpm-workspace.yaml at or above `from`. */
export function findWorkspaceRoot(from: string): string | undefined {
  let dir = path.resolve(from);
  for (;;) {
    if (fs.existsSync(path.join(dir, "pnpm-workspace.yaml"))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Resolves `--package swim` (or `@heck/swim`) to its sweep entry file; throws naming what is missing. */
export function resolveSweepEntry(packageName: string, cwd: string): string {
  const root = findWorkspaceRoot(cwd);
  if (root === undefined) throw new Error(`--package: no pnpm workspace found above ${cwd}`);
  const short = packageName.replace(/^@heck\//, "");
  if (!/^[a-z0-9][a-z0-9-]*$/.test(short)) throw new Error(`--package: ${JSON.stringify(packageName)} is not a package name`);
  const dir = [path.join(root, "packages", short), path.join(root, "apps", short)].find((d) => fs.existsSync(path.join(d, "package.json")));
  if (dir === undefined) throw new Error(`--package: no package ${short} under ${root}/packages or ${root}/apps`);
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { heck?: { sweep?: unknown } };
  const declared = pkg.heck?.sweep;
  const candidates = typeof declared === "string" ? [declared] : ["test/sweep-entry.ts", "test/sim/sweep-entry.ts", "sim/sweep-entry.ts"];
  for (const c of candidates) {
    const p = path.join(dir, c);
    if (fs.existsSync(p)) return p;
  }
  if (typeof declared !== "string") {
    // Otherwise accept exactly one sweep-entry.ts anywhere under test/ or sim/.
    const found = ["test", "sim"].flatMap((sub) => findFiles(path.join(dir, sub), "sweep-entry.ts"));
    if (found.length === 1) return found[0]!;
    if (found.length > 1) throw new Error(`--package ${short}: several sweep entries (${found.map((f) => path.relative(dir, f)).join(", ")}); name one in package.json "heck": { "sweep": ... } or use --entry`);
  }
  throw new Error(`--package ${short}: no sweep entry (looked for ${candidates.join(", ")} and any test/**/sweep-entry.ts in ${dir}; see "Registering a sweep entry" in packages/sim/README.md)`);
}

function findFiles(dir: string, name: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name === "node_modules" || e.name.startsWith(".")) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...findFiles(p, name));
    else if (e.name === name) out.push(p);
  }
  return out;
}

interface Worker {
  child: ChildProcess;
  ready: boolean;
  seed: number | undefined;
  startedAt: number;
  output: string[];
  timer: NodeJS.Timeout | undefined;
}

/** Runs every seed; resolves with the outcome (never rejects for failing seeds). */
export function sweep(options: SweepOptions): Promise<SweepResult> {
  const { entry, seeds, jobs, outDir } = options;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const log = options.log ?? (() => {});
  if (!fs.existsSync(entry)) return Promise.reject(new Error(`sweep entry ${entry} does not exist`));
  fs.mkdirSync(outDir, { recursive: true });
  const queue = [...seeds];
  const outcomes: SeedOutcome[] = [];
  const workers = new Set<Worker>();
  const wall0 = performance.now();
  let fatal: Error | undefined;

  return new Promise<SweepResult>((resolve, reject) => {
    const finishIfDone = (): void => {
      if (fatal !== undefined) {
        for (const w of workers) w.child.kill();
        reject(fatal);
        return;
      }
      if (outcomes.length < seeds.length) return;
      for (const w of workers) {
        w.child.send({ type: "exit" } satisfies ToWorker);
      }
      const failed = outcomes.filter((o) => !o.ok).sort((a, b) => a.seed - b.seed);
      const result: SweepResult = {
        entry,
        seeds: seeds.length,
        passed: outcomes.length - failed.length,
        failed,
        cpuMs: outcomes.reduce((s, o) => s + o.cpuMs, 0),
        wallMs: performance.now() - wall0,
        outDir,
      };
      fs.writeFileSync(path.join(outDir, "summary.json"), JSON.stringify({ ...result, outcomes: [...outcomes].sort((a, b) => a.seed - b.seed) }, null, 2) + "\n");
      resolve(result);
    };

    const record = (w: Worker, outcome: Omit<SeedOutcome, "logFile">, report: string): void => {
      const full: SeedOutcome = { ...outcome };
      if (!outcome.ok) {
        const file = path.join(outDir, `seed-${outcome.seed}.log`);
        fs.writeFileSync(file, `${report}\n\n--- output of the worker while running this seed ---\n${w.output.join("")}`);
        full.logFile = file;
        log(`FAIL HECK_SEED=${outcome.seed} (${outcome.summary ?? ""}) -> ${file}`);
      }
      outcomes.push(full);
      if (outcomes.length % 50 === 0 || outcomes.length === seeds.length) {
        const failedSoFar = outcomes.filter((o) => !o.ok).length;
        log(`${outcomes.length}/${seeds.length} seeds, ${failedSoFar} failed`);
      }
    };

    const dispatch = (w: Worker): void => {
      const seed = queue.shift();
      if (seed === undefined) {
        finishIfDone();
        return;
      }
      w.seed = seed;
      w.output = [];
      w.startedAt = performance.now();
      w.timer = setTimeout(() => {
        // A hung seed (an infinite loop in a node) fails and costs its worker.
        record(w, { seed, ok: false, cpuMs: timeoutMs, wallMs: timeoutMs, summary: `timed out after ${timeoutMs} ms` }, `HECK_SEED=${seed}: timed out after ${timeoutMs} ms`);
        w.seed = undefined;
        w.child.removeAllListeners("exit");
        w.child.kill("SIGKILL");
        workers.delete(w);
        spawn();
        finishIfDone();
      }, timeoutMs);
      w.child.send({ type: "run", seed } satisfies ToWorker);
    };

    const spawn = (): void => {
      if (queue.length === 0) return;
      const child = fork(workerShim, [entry, ...(options.replayCommand !== undefined ? [options.replayCommand] : [])], { stdio: ["ignore", "pipe", "pipe", "ipc"], cwd: path.dirname(entry) });
      const w: Worker = { child, ready: false, seed: undefined, startedAt: 0, output: [], timer: undefined };
      workers.add(w);
      const capture = (chunk: Buffer): void => {
        w.output.push(chunk.toString("utf8"));
      };
      child.stdout?.on("data", capture);
      child.stderr?.on("data", capture);
      child.on("message", (m: FromWorker) => {
        if (m.type === "ready") {
          w.ready = true;
          dispatch(w);
        } else if (m.type === "load-error") {
          fatal = new Error(`sweep entry ${entry} failed to load:\n${m.error}`);
          finishIfDone();
        } else if (m.type === "result" && m.seed === w.seed) {
          clearTimeout(w.timer);
          w.seed = undefined;
          const summary = m.error?.split("\n")[0];
          record(w, { seed: m.seed, ok: m.ok, cpuMs: m.cpuMs, wallMs: m.wallMs, ...(summary !== undefined ? { summary } : {}) }, m.error ?? "");
          dispatch(w);
        }
      });
      child.on("exit", (code) => {
        workers.delete(w);
        if (w.seed !== undefined) {
          // The worker died mid-seed (process.exit, out of memory): a failure.
          clearTimeout(w.timer);
          const seed = w.seed;
          w.seed = undefined;
          record(w, { seed, ok: false, cpuMs: 0, wallMs: performance.now() - w.startedAt, summary: `worker exited with code ${code}` }, `HECK_SEED=${seed}: worker exited with code ${code}`);
          spawn();
          finishIfDone();
        } else if (!w.ready && fatal === undefined && outcomes.length < seeds.length) {
          fatal = new Error(`sweep worker exited with code ${code} before loading ${entry}:\n${w.output.join("")}`);
          finishIfDone();
        }
      });
    };

    if (seeds.length === 0) {
      finishIfDone();
      return;
    }
    for (let i = 0; i < Math.min(jobs, seeds.length); i++) spawn();
  });
}
