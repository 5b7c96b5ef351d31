/** Real `heck-swim agent` processes for integration tests: spawn, read their JSON events, poll their HTTP API. */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../../bin/heck-swim.js", import.meta.url));

/** Short protocol periods so the tests stay bounded (the `local` preset underneath). */
export const FAST_FLAGS = ["--preset", "local", "--probe-interval", "500", "--probe-timeout", "250", "--gossip-interval", "50"];

export interface AgentEvent {
  t: number;
  event: string;
  self?: string;
  member?: string;
  addr?: string;
  http?: string;
  state?: string;
  incarnation?: number;
}

export interface Agent {
  name: string;
  addr: string;
  http: string;
  proc: ChildProcess;
  events: AgentEvent[];
  stderr: string[];
  exited: Promise<number | null>;
}

/** Starts an agent and resolves once it printed its ready line. */
export async function startAgent(name: string, extra: string[] = [], bind = "127.0.0.1:0"): Promise<Agent> {
  const proc = spawn(process.execPath, [BIN, "agent", "--name", name, "--bind", bind, "--http", "127.0.0.1:0", "--json", ...FAST_FLAGS, ...extra], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const events: AgentEvent[] = [];
  const stderr: string[] = [];
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  let buf = "";
  proc.stdout!.on("data", (chunk: Buffer) => {
    buf += chunk.toString("utf8");
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        events.push(JSON.parse(line) as AgentEvent);
      } catch (_e) {
        stderr.push(`(stdout) ${line}`);
      }
    }
  });
  proc.stderr!.on("data", (chunk: Buffer) => stderr.push(chunk.toString("utf8")));
  const ready = await waitFor(() => events.find((e) => e.event === "ready"), 20_000, async () => (proc.exitCode !== null ? `exited ${proc.exitCode}: ${stderr.join("")}` : undefined));
  return { name, addr: ready.addr!, http: ready.http!, proc, events, stderr, exited };
}

/** Polls `probe` every 50 ms until it returns a value; throws with `why()` after `timeoutMs`. */
export async function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number, why?: () => Promise<string | undefined>): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    const reason = why ? await why() : undefined;
    if (reason !== undefined) throw new Error(reason);
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface MemberRow {
  name: string;
  addr: string;
  state: string;
  incarnation: number;
  meta: string;
}

/** GET /v1/members. */
export async function members(agent: Agent): Promise<MemberRow[]> {
  const res = await fetch(`http://${agent.http}/v1/members`);
  return (await res.json()) as MemberRow[];
}

/** The state `agent` holds for `name`, or undefined. */
export async function stateOf(agent: Agent, name: string): Promise<MemberRow | undefined> {
  return (await members(agent)).find((m) => m.name === name);
}

/** Runs the CLI to completion and returns its exit code and output. */
export function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    proc.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    proc.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    proc.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Kills every agent still running (SIGKILL), for afterAll. */
export function killAll(agents: Agent[]): void {
  for (const a of agents) if (a.proc.exitCode === null && a.proc.signalCode === null) a.proc.kill("SIGKILL");
}
