/**
 * Running the system's network tools (`ip`, `nft`, `iptables`, `tc`), and
 * finding out what this machine offers before anything is built, so a lab
 * that cannot work says why instead of failing halfway.
 */
import { execFile, execFileSync } from "node:child_process";
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import path from "node:path";

/** A tool exited non-zero; the message carries the command and its stderr. */
export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`${command}: ${stderr.trim() || `exit ${exitCode}`}`);
    this.name = "CommandError";
  }
}

/** Runs a command to completion; resolves with its stdout, rejects with a {@link CommandError}. */
export function run(command: string, args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, [...args], { timeout: options.timeoutMs ?? 30_000, maxBuffer: 16 << 20, encoding: "utf8" }, (error, stdout, stderr) => {
      if (error) reject(new CommandError([command, ...args].join(" "), typeof error.code === "number" ? error.code : null, stderr || error.message));
      else resolve(stdout);
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** The synchronous form of {@link run}, for exit handlers; never throws, reports ok and output. */
export function runSync(command: string, args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): { ok: boolean; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(command, [...args], { timeout: options.timeoutMs ?? 30_000, input: options.input ?? "", encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
    return { ok: true, stdout, stderr: "" };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    return { ok: false, stdout: err.stdout ?? "", stderr: err.stderr ?? err.message };
  }
}

/** `[ip, netns, exec, <netns>, command, ...args]`: the argv that runs a command inside a namespace (ip execs it: the pid is the command's). */
export function inNetns(netns: string, command: string, args: readonly string[]): [string, string[]] {
  return ["ip", ["netns", "exec", netns, command, ...args]];
}

/** The first executable named `name` on PATH (plus /usr/sbin and /sbin, where Debian puts ip, nft and tc), or null. */
export function which(name: string): string | null {
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter), "/usr/sbin", "/sbin", "/usr/bin", "/bin"];
  for (const dir of dirs) {
    if (dir === "") continue;
    const p = path.join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

/** What a lab needs from the machine, each as found or missing. */
export interface LabSupport {
  /** True when a lab can be built (root, ip, nft). */
  ok: boolean;
  /** Why not, as one sentence naming the fix; undefined when ok. */
  reason?: string;
  root: boolean;
  ip: string | null;
  nft: string | null;
  tc: string | null;
  iptables: string | null;
  gcc: string | null;
  /** libnetfilter-queue-dev's header, needed to build the delay queue. */
  netfilterQueueHeaders: boolean;
}

const FIX = "scripts/ensure-system-deps.sh test installs it";

/** Checks, without changing anything, whether this process can build a lab. */
export function labSupport(): LabSupport {
  const root = typeof process.geteuid === "function" && process.geteuid() === 0;
  const s: LabSupport = {
    ok: false,
    root,
    ip: which("ip"),
    nft: which("nft"),
    tc: which("tc"),
    iptables: which("iptables"),
    gcc: which("gcc"),
    netfilterQueueHeaders: existsSync("/usr/include/libnetfilter_queue/libnetfilter_queue.h"),
  };
  if (process.platform !== "linux") s.reason = `the network lab needs Linux network namespaces (this is ${process.platform})`;
  else if (!root) s.reason = `the network lab needs root to create network namespaces (running as uid ${process.geteuid?.() ?? "?"}): run it as root, e.g. with sudo`;
  else if (s.ip === null) s.reason = `the network lab needs \`ip\` from iproute2, not found on PATH: ${FIX}`;
  else if (s.nft === null) s.reason = `the network lab needs \`nft\` from nftables (partitions and loss are nftables rules), not found on PATH: ${FIX}`;
  else s.ok = true;
  return s;
}

/** Why delay, jitter and reordering cannot be made on the queue backend, or undefined when they can. */
export function delayQueueSupport(s: LabSupport = labSupport()): string | undefined {
  if (s.iptables === null) return `delay, jitter and reordering without sch_netem need iptables (its NFQUEUE target): ${FIX}`;
  if (s.gcc === null || !s.netfilterQueueHeaders) return `delay, jitter and reordering without sch_netem need gcc and libnetfilter-queue-dev to build heck-delay-queue: ${FIX}`;
  return undefined;
}

/** The start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat), or undefined when it is gone. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses; fields after the last ")" are plain.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[19];
  } catch {
    return undefined;
  }
}

/** True when `pid` is the same process that had `startTime` (a recycled pid is not). */
export function isAlive(pid: number, startTime: string): boolean {
  return processStartTime(pid) === startTime;
}
