/**
 * Real member processes on loopback for the benchmarks: heck members (the
 * bundled bench/heck-node.ts) and hashicorp/memberlist members (our Go driver
 * in bench/memberlist-node, built offline against Debian's sources), both
 * speaking one JSON-lines protocol on stdin/stdout.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildSync } from "esbuild";
import { memberlistNodeBinary } from "./memberlist-build.ts";

const here = path.dirname(fileURLToPath(import.meta.url));

/** One member process and what it reported. */
export interface Proc {
  name: string;
  child: ChildProcess;
  addr: string;
  /** Members this process currently counts (itself included). */
  present: Set<string>;
  events: Array<Record<string, unknown> & { t: number; event: string }>;
  pending: Array<(e: Record<string, unknown> & { t: number; event: string }) => boolean>;
}

/** Which implementation a process runs. */
export type Impl = "heck" | "memberlist";

/** Paths of the two member programs. */
export interface Bins {
  go: string;
  heck: string;
}

/** The Go driver, built once and cached (memberlist-build.ts). */
export function buildMemberlistDriver(): string {
  return memberlistNodeBinary();
}

/** Bundles bench/heck-node.ts into one JS file, as heck would be deployed (no TypeScript loader at run time). */
export function bundleHeckNode(): string {
  const out = path.join(tmpdir(), "heck-swim-bench-node.mjs");
  buildSync({ entryPoints: [path.join(here, "heck-node.ts")], bundle: true, platform: "node", format: "esm", target: "node20", outfile: out, logLevel: "warning" });
  return out;
}

/**
 * Starts one member process. `nodeArgs` go to Node (heck only); `programArgs`
 * to the member program (heck-node.ts's `--wire memberlist`, or the Go
 * driver's flags).
 */
export function spawnNode(impl: Impl, name: string, bins: Bins, nodeArgs: readonly string[] = [], programArgs: readonly string[] = []): Promise<Proc> {
  const child =
    impl === "heck"
      ? spawn(process.execPath, [...nodeArgs, bins.heck, "--name", name, ...programArgs], { stdio: ["pipe", "pipe", "inherit"] })
      : spawn(bins.go, ["-name", name, ...programArgs], { stdio: ["pipe", "pipe", "inherit"] });
  const proc: Proc = { name, child, addr: "", present: new Set([name]), events: [], pending: [] };
  let buf = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    buf += chunk.toString("utf8");
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let e: Record<string, unknown> & { t: number; event: string };
      try {
        e = JSON.parse(line);
      } catch {
        continue;
      }
      proc.events.push(e);
      const member = e.member as string | undefined;
      if (member !== undefined) {
        if (e.event === "dead" || e.event === "leave") proc.present.delete(member);
        else proc.present.add(member); // join, alive, update, and suspect (memberlist cannot report suspect)
      }
      proc.pending = proc.pending.filter((w) => !w(e));
    }
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${impl} ${name}: no ready line in 60 s`)), 60_000);
    proc.pending.push((e) => {
      if (e.event !== "ready") return false;
      clearTimeout(timer);
      proc.addr = e.addr as string;
      resolve(proc);
      return true;
    });
    child.on("exit", (code) => {
      if (proc.addr === "") reject(new Error(`${impl} ${name} exited with ${code} before ready`));
    });
  });
}

/** Sends `stats` to every process and collects the replies. */
export async function stats(procs: Proc[]): Promise<Array<{ packetsOut: number; bytesOut: number; loopDelayMaxMs?: number }>> {
  return Promise.all(
    procs.map(
      (p) =>
        new Promise<{ packetsOut: number; bytesOut: number; loopDelayMaxMs?: number }>((resolve) => {
          p.pending.push((e) => {
            if (e.event !== "stats") return false;
            // loopDelayMaxMs: heck members only (bench/heck-node.ts), worst event-loop delay since the last join.
            resolve({ packetsOut: Number(e.packetsOut), bytesOut: Number(e.bytesOut), ...(typeof e.loopDelayMaxMs === "number" ? { loopDelayMaxMs: e.loopDelayMaxMs } : {}) });
            return true;
          });
          p.child.stdin!.write("stats\n");
        }),
    ),
  );
}

/**
 * CPU time of a process in nanoseconds, all its threads summed, from
 * /proc/<pid>/task/<tid>/schedstat (the scheduler's own accounting). The
 * utime + stime of /proc/<pid>/stat count 10 ms ticks, too coarse for a
 * member that uses about 1 ms of CPU a second.
 */
export function cpuNs(pid: number): number {
  let total = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      } catch {
        // the thread exited between the listing and the read
      }
    }
  } catch {
    return 0;
  }
  return total;
}

export async function waitUntil(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (predicate()) return true;
    await sleep(20);
  }
  return predicate();
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startAll(impl: Impl, n: number, bins: Bins, nodeArgsFor: (i: number) => readonly string[] = () => [], programArgs: readonly string[] = []): Promise<Proc[]> {
  const procs: Proc[] = [];
  // Start a few at a time: 100 interpreters at once on two cores would only measure the scheduler.
  for (let i = 0; i < n; i += 8) {
    const batch = await Promise.all(Array.from({ length: Math.min(8, n - i) }, (_, k) => spawnNode(impl, `n${i + k}`, bins, nodeArgsFor(i + k), programArgs)));
    procs.push(...batch);
  }
  return procs;
}

export async function stopAll(procs: Proc[]): Promise<void> {
  for (const p of procs) p.child.stdin?.end();
  await sleep(1500);
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
}

