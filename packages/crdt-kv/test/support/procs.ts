/**
 * Real processes for integration tests: spawn the CLI, read its first
 * stdout line, run short commands, and always clean up (by pid) with a
 * bounded wait.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export const BIN = fileURLToPath(new URL("../../bin/heck-crdt.js", import.meta.url));

/** Starts a long-running CLI command; resolves with the child and its first stdout line. */
export function startCli(args: string[], timeoutMs = 40_000): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr!.on("data", (c: Buffer) => (err += c.toString()));
  return new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`heck-crdt ${args.join(" ")}: no output within ${timeoutMs} ms\n${err}`));
    }, timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`heck-crdt ${args.join(" ")} exited ${code}\n${err}`));
    });
    child.stdout!.on("data", (c: Buffer) => {
      buf += c.toString();
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        clearTimeout(timer);
        child.removeAllListeners("exit");
        resolve({ child, line: buf.slice(0, nl) });
      }
    });
  });
}

/** Runs a short CLI command to completion. */
export function runCli(args: string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Sends `signal` and waits (bounded) for the process to exit; SIGKILLs it after the bound. */
export function stop(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM", boundMs = 8000): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    const t = setTimeout(() => child.kill("SIGKILL"), boundMs);
    child.once("exit", (code) => {
      clearTimeout(t);
      resolve(code);
    });
    child.kill(signal);
  });
}

/** Polls `check` every `everyMs` until it returns true or `boundMs` passes. */
export async function eventually(check: () => Promise<boolean>, boundMs: number, everyMs = 200): Promise<boolean> {
  const deadline = Date.now() + boundMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return check();
}
