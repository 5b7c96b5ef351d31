/**
 * Runs a transcript session against real processes, the way a reader would
 * type it: one shell (bash with job control, so `cmd &` gets a process group
 * of its own, as in a terminal) in a scratch directory that looks like the
 * repository root (every top-level entry is a symlink), so `pnpm heck-...`
 * and paths like `packages/...` work and whatever the commands write stays
 * out of the repository.
 *
 * Bounded everywhere, like the integration tests: a command gets the block's
 * timeout; `wait=S` re-runs a command until its output matches, for at most S
 * seconds after its first answer; a background command's first lines are waited for as a
 * condition. When the session ends, each background job gets SIGINT on its
 * process group (a Ctrl-C in its terminal), a bounded wait for the group to
 * be gone, then SIGKILL. On failure the scratch directory, every command's
 * output and every background log are kept and named in the report.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { matchOutput, outputLines, substitute, type Bindings, type MatchResult } from "./match.ts";
import type { TranscriptBlock, TranscriptCommand, TranscriptSession } from "./parse.ts";

/** How a session ended. */
export interface SessionResult {
  ok: boolean;
  /** What failed, with the command, the expected and the actual output, and where the logs are. */
  report: string;
  /** The scratch directory (removed on success unless `keep`). */
  scratchDir: string;
  commandsRun: number;
  durationMs: number;
}

/** Options for {@link runSession}. */
export interface RunOptions {
  /** The repository root the scratch directory mirrors. */
  root: string;
  /** Keep the scratch directory even on success. */
  keep?: boolean;
  /** How long background jobs get to stop after SIGINT before SIGKILL. */
  stopGraceMs?: number;
}

const SENTINEL = "__heck_transcript_done__";

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * True while any live process is in the group `pgid`. A zombie does not
 * count: a job whose parent (pnpm) exited first is reparented to the PID
 * namespace's init, which may be a program that never reaps (node under a
 * container or `unshare --pid`), and `kill(-pgid, 0)` would call the group
 * alive forever. Where there is no /proc, a signal probe decides.
 */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
  let entries: string[];
  try {
    entries = readdirSync("/proc").filter((e) => /^\d+$/.test(e));
  } catch {
    return true;
  }
  for (const pid of entries) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // exited while we looked
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) === pgid && fields[0] !== "Z" && fields[0] !== "X") return true;
  }
  return false;
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // Already gone.
  }
}

/** Waits until `condition()` holds or `timeoutMs` passes; true if it held. */
async function waitFor(condition: () => boolean, timeoutMs: number, stepMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (condition()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(stepMs);
  }
}

/** Makes a directory that looks like the repository root: a symlink per top-level entry. */
export function makeScratchDir(root: string, label: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `heck-docs-${label.replace(/[^A-Za-z0-9]+/g, "-").slice(0, 40)}-`));
  for (const entry of readdirSync(root)) {
    if (entry === ".git" || entry.startsWith("heck-") || entry === ".heck") continue;
    symlinkSync(path.join(root, entry), path.join(dir, entry));
  }
  mkdirSync(path.join(dir, ".transcript", "bin"), { recursive: true });
  return dir;
}

/** A `pnpm` on PATH: the one installed, or a shim onto the pnpm running this test (npm_execpath). */
function pnpmShim(binDir: string): void {
  const onPath = (process.env.PATH ?? "").split(path.delimiter).some((d) => d !== "" && existsSync(path.join(d, "pnpm")));
  if (onPath) return;
  const execPath = process.env.npm_execpath;
  if (execPath === undefined || !/pnpm/.test(execPath)) throw new Error("transcripts run `pnpm`, which is neither on PATH nor the package manager running the tests");
  writeFileSync(path.join(binDir, "pnpm"), `#!/bin/sh\nexec "${process.execPath}" "${execPath}" "$@"\n`, { mode: 0o755 });
}

/** The environment every transcript shell starts with: the caller's, minus what would change a run's output. */
function transcriptEnv(binDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith("VITEST") || k.startsWith("HECK_") || k === "NODE_OPTIONS" || k === "FORCE_COLOR") continue;
    env[k] = v;
  }
  return { ...env, PATH: `${binDir}${path.delimiter}${env.PATH ?? ""}`, NO_COLOR: "1", TZ: "UTC", npm_config_update_notifier: "false", COLUMNS: "200" };
}

/** The shell a session's commands run in, with job control (a process group per job, as in a terminal). */
class Shell {
  private readonly child: ChildProcess;
  private stdout = "";
  private exited = false;
  private counter = 0;

  constructor(
    readonly cwd: string,
    env: NodeJS.ProcessEnv,
    private readonly logDir: string,
  ) {
    this.child = spawn("bash", ["--noprofile", "--norc"], { cwd, env, stdio: ["pipe", "pipe", "pipe"] });
    this.child.stdout!.setEncoding("utf8").on("data", (d: string) => (this.stdout += d));
    // The shell's own messages (job notices, syntax errors) go to a log of their own, never into a command's output.
    const shellLog = path.join(logDir, "shell.log");
    this.child.stderr!.setEncoding("utf8").on("data", (d: string) => writeFileSync(shellLog, d, { flag: "a" }));
    this.child.on("exit", () => (this.exited = true));
    this.child.stdin!.write("set -m\n");
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Background jobs' PIDs: never the foreground command a timeout kills. */
  private readonly background = new Set<number>();

  /** Runs a foreground command; resolves with its output (stdout and stderr in order) and exit status, or a timeout. */
  async run(command: string, timeoutMs: number): Promise<{ output: string; status: number | "timeout"; outFile: string }> {
    const n = ++this.counter;
    const outFile = path.join(this.logDir, `command-${n}.out`);
    const tag = `${SENTINEL} ${n}`;
    this.child.stdin!.write(`{\n${command}\n} > ${JSON.stringify(outFile)} 2>&1 < /dev/null\nprintf '\\n${tag} %s\\n' "$?"\n`);
    const re = new RegExp(`\\n${tag} (\\d+)\\n`);
    let status: number | "timeout" = "timeout";
    const done = await waitFor(() => re.test(this.stdout) || this.exited, timeoutMs, 20);
    if (done) {
      const m = re.exec(this.stdout);
      status = m === null ? 255 : Number(m[1]);
      this.stdout = "";
    } else {
      // Kill only the foreground job this shell started for the command (its own process group), then let the shell report.
      for (const pid of this.childPids()) if (!this.background.has(pid)) signalGroup(pid, "SIGKILL");
      await waitFor(() => re.test(this.stdout) || this.exited, 5_000, 20);
      this.stdout = "";
    }
    const output = existsSync(outFile) ? readFileSync(outFile, "utf8") : "";
    return { output, status, outFile };
  }

  /** Starts a background job; its output goes to `logFile`. Resolves with the job's PID (= its process group). */
  async start(command: string, logFile: string): Promise<number> {
    const n = ++this.counter;
    const tag = `${SENTINEL} ${n}`;
    this.child.stdin!.write(`{\n${command}\n} > ${JSON.stringify(logFile)} 2>&1 < /dev/null &\nprintf '\\n${tag} %s\\n' "$!"\n`);
    const re = new RegExp(`\\n${tag} (\\d+)\\n`);
    await waitFor(() => re.test(this.stdout) || this.exited, 10_000, 10);
    const m = re.exec(this.stdout);
    this.stdout = "";
    if (m === null) throw new Error(`the shell did not start ${JSON.stringify(command)}`);
    this.background.add(Number(m[1]));
    return Number(m[1]);
  }

  /** PIDs of the shell's direct children (its jobs), from /proc. */
  childPids(): number[] {
    try {
      return readFileSync(`/proc/${this.pid}/task/${this.pid}/children`, "utf8")
        .trim()
        .split(/\s+/)
        .filter((s) => s !== "")
        .map(Number);
    } catch {
      return [];
    }
  }

  async close(): Promise<void> {
    if (this.exited) return;
    this.child.stdin!.end("exit\n");
    if (!(await waitFor(() => this.exited, 5_000, 20))) this.child.kill("SIGKILL");
  }
}

interface BackgroundJob {
  command: string;
  pid: number;
  logFile: string;
}

/** Where a command is: its line, and the block it belongs to (line, heading, session), so a reader finds the block that drifted. */
function where(c: TranscriptCommand, block: TranscriptBlock, session: TranscriptSession): string {
  const under = block.section === "" ? "" : ` under "${block.section}"`;
  return `${session.file}:${c.line} (the \`\`\`console block at line ${block.line}${under}, session ${session.name})`;
}

/** The name docs.test.ts gives a session's test; {@link rerunCommand} selects it. */
export function sessionTestName(session: Pick<TranscriptSession, "file" | "name" | "slow">): string {
  return `${session.file} session=${session.name}${session.slow ? " (slow)" : ""}`;
}

/** The command that reruns one session alone (vitest's -t is a regular expression; a file name's dots match themselves). */
export function rerunCommand(session: Pick<TranscriptSession, "file" | "name">): string {
  return `pnpm test:docs -t '${session.file} session=${session.name}( |$)'`;
}

function showLines(lines: string[]): string {
  return lines.length === 0 ? "    (nothing)" : lines.map((l) => `    ${l}`).join("\n");
}

/** Actual output lines of a command, with `[exit N]` appended when it failed, as a transcript shows it. */
export function actualLines(output: string, status: number | "timeout"): string[] {
  const lines = outputLines(output);
  if (status === "timeout") lines.push("[timed out]");
  else if (status !== 0) lines.push(`[exit ${status}]`);
  return lines;
}

/** Runs every block of a session in order; see the file comment. */
export async function runSession(session: TranscriptSession, options: RunOptions): Promise<SessionResult> {
  const started = Date.now();
  const scratchDir = makeScratchDir(options.root, `${session.file}-${session.name}`);
  const logDir = path.join(scratchDir, ".transcript");
  const binDir = path.join(logDir, "bin");
  pnpmShim(binDir);
  const shell = new Shell(scratchDir, transcriptEnv(binDir), logDir);
  const jobs: BackgroundJob[] = [];
  let bindings: Bindings = new Map();
  let commandsRun = 0;
  let failure: string | null = null;

  try {
    outer: for (const block of session.blocks) {
      for (const c of block.commands) {
        commandsRun += 1;
        let text: string;
        try {
          text = substitute(c.text, bindings);
        } catch (e) {
          failure = `${where(c, block, session)}: ${(e as Error).message}`;
          break outer;
        }
        if (c.background) {
          const logFile = path.join(logDir, `background-${jobs.length + 1}.log`);
          const pid = await shell.start(text, logFile);
          jobs.push({ command: text, pid, logFile });
          // Held in an object: the closure below assigns it, which narrowing would not see.
          const seen: { last: MatchResult } = { last: { ok: false, reason: "no output yet" } };
          const matched = await waitFor(
            () => {
              const lines = outputLines(existsSync(logFile) ? readFileSync(logFile, "utf8") : "");
              seen.last = matchOutput(c.expected, lines, bindings, { prefix: true });
              return seen.last.ok || !groupAlive(pid);
            },
            block.options.timeoutMs,
            100,
          );
          const last = seen.last;
          if (last.ok) {
            bindings = last.bindings;
            continue;
          }
          const log = existsSync(logFile) ? readFileSync(logFile, "utf8") : "";
          failure = [
            `${where(c, block, session)}: background command did not print what the transcript shows ${matched ? "before it exited" : `within ${block.options.timeoutMs / 1000} s`}`,
            `  $ ${text} &`,
            `  ${last.reason}`,
            "  expected (first lines):",
            showLines(c.expected),
            "  actual:",
            showLines(outputLines(log)),
            `  log: ${logFile}`,
          ].join("\n");
          break outer;
        }
        // wait=S counts from the first answer: a command that itself takes long on a loaded machine
        // still gets its S seconds of re-runs for the effect to show.
        let deadline = Number.POSITIVE_INFINITY;
        let attempts = 0;
        let firstAttempt: string[] = [];
        for (;;) {
          attempts += 1;
          const r = await shell.run(text, block.options.timeoutMs);
          const lines = actualLines(r.output, r.status);
          if (attempts === 1) {
            firstAttempt = lines;
            deadline = Date.now() + block.options.waitMs;
          }
          const m = matchOutput(c.expected, lines, bindings);
          if (m.ok) {
            bindings = m.bindings;
            break;
          }
          if (r.status !== "timeout" && Date.now() + 250 < deadline) {
            await sleep(250);
            continue;
          }
          failure = [
            `${where(c, block, session)}: the output differs from the transcript${attempts > 1 ? ` (after ${attempts} attempts, re-run for ${block.options.waitMs / 1000} s after the first)` : ""}`,
            `  $ ${text}`,
            `  ${m.reason}`,
            "  expected:",
            showLines(c.expected),
            `  actual${attempts > 1 ? " (last attempt)" : ""}:`,
            showLines(lines),
            // A re-run command may have changed state the first time (`add` then "already exists"): show that one too.
            ...(attempts > 1 ? ["  actual (first attempt):", showLines(firstAttempt)] : []),
            `  output: ${r.outFile}`,
          ].join("\n");
          break outer;
        }
      }
    }
  } catch (e) {
    failure = `${session.file} (session ${session.name}): ${(e as Error).stack ?? String(e)}`;
  } finally {
    // Stop background jobs as a reader would: Ctrl-C (SIGINT to the job's process group), then SIGKILL if it lingers.
    const grace = options.stopGraceMs ?? 20_000;
    for (const job of jobs) signalGroup(job.pid, "SIGINT");
    await waitFor(() => jobs.every((j) => !groupAlive(j.pid)), grace, 100);
    for (const job of jobs) {
      if (groupAlive(job.pid)) {
        signalGroup(job.pid, "SIGKILL");
        if (failure === null) failure = `${session.file} (session ${session.name}): background job still running ${grace / 1000} s after Ctrl-C: ${job.command} (log ${job.logFile})`;
      }
    }
    await waitFor(() => jobs.every((j) => !groupAlive(j.pid)), 5_000, 100);
    await shell.close();
  }
  const ok = failure === null;
  if (ok && !options.keep) rmSync(scratchDir, { recursive: true, force: true });
  const report = ok
    ? `${session.file} (session ${session.name}): ${commandsRun} command(s) as shown`
    : [
        failure,
        `  scratch directory kept: ${scratchDir} (every command's output and background log under .transcript/)`,
        `  rerun this session alone: ${rerunCommand(session)}`,
        "  If the program is right, make the block show what it prints now; if the block is right, the program has regressed.",
      ].join("\n");
  return { ok, report, scratchDir, commandsRun, durationMs: Date.now() - started };
}
