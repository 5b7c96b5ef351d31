/**
 * heck-delay-queue, the small C program that makes delay, jitter and
 * reordering when the kernel has no sch_netem (see native/delay-queue.c for
 * how it works). It is built from source with gcc on first use, into
 * native/build/, named by a hash of its source so an edit rebuilds it; one
 * runs inside each host namespace that has a delay rule, and is configured
 * over a Unix socket in the lab's state directory.
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync } from "node:fs";
import { connect } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { QUEUE_NUMBER } from "../core/faults.ts";
import { delayQueueSupport, inNetns, processStartTime, run } from "./system.ts";

const NATIVE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../native");
const SOURCE = path.join(NATIVE_DIR, "delay-queue.c");

/** The build in progress in this process, so hosts starting at once share one gcc run. */
let building: Promise<string> | undefined;

/** Builds heck-delay-queue if this source has not been built yet; resolves with the binary's path. */
export function delayQueueBinary(): Promise<string> {
  // A lab starts one delay queue per host at once: without sharing the build, each would run gcc
  // into the same temporary file and one could execute a binary another is still writing.
  building ??= buildDelayQueue().catch((e: unknown) => {
    building = undefined;
    throw e;
  });
  return building;
}

async function buildDelayQueue(): Promise<string> {
  const source = readFileSync(SOURCE);
  const hash = createHash("sha256").update(source).digest("hex").slice(0, 12);
  const out = path.join(NATIVE_DIR, "build", `heck-delay-queue-${hash}`);
  if (existsSync(out)) return out;
  const missing = delayQueueSupport();
  if (missing !== undefined) throw new Error(missing);
  mkdirSync(path.dirname(out), { recursive: true });
  // Build beside the target and rename: two processes starting labs at once both build, and neither sees half a file.
  const tmp = `${out}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await run("gcc", ["-O2", "-Wall", "-o", tmp, SOURCE, "-lnetfilter_queue", "-lnfnetlink"], { timeoutMs: 120_000 });
  renameSync(tmp, out);
  return out;
}

/** A running delay queue. */
export interface DelayQueueProcess {
  pid: number;
  startTime: string;
  control: string;
}

/**
 * Starts a delay queue inside `netns`, detached (it outlives a `heck-net`
 * command that starts it; the lab's teardown kills it), and resolves once it
 * listens on `control`.
 */
export async function startDelayQueue(netns: string, control: string, seed: number, logFile: string): Promise<DelayQueueProcess> {
  const bin = await delayQueueBinary();
  const [cmd, args] = inNetns(netns, bin, ["--queue", String(QUEUE_NUMBER), "--control", control, "--seed", String(seed)]);
  const log = openSync(logFile, "a");
  const child = spawn(cmd, args, { detached: true, stdio: ["ignore", "pipe", log] });
  closeSync(log);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`heck-delay-queue in ${netns}: could not start`);
  await new Promise<void>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => fail(new Error(`heck-delay-queue in ${netns}: not ready within 10 s (log: ${logFile})`)), 10_000);
    const fail = (e: Error): void => {
      clearTimeout(timer);
      reject(e);
    };
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      if (out.includes("ready ")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => fail(new Error(`heck-delay-queue in ${netns} exited (${code}) before it was ready: ${readFileSync(logFile, "utf8").trim().split("\n").slice(-3).join(" | ")}`)));
  });
  // It prints nothing after "ready"; let it run on its own.
  child.stdout!.destroy();
  child.removeAllListeners("exit");
  child.unref();
  return { pid, startTime: processStartTime(pid) ?? "0", control };
}

/** Sends one request to a delay queue and resolves with its answer line (without "ok "); rejects on "error ...". */
export function delayQueueRequest(control: string, request: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(control);
    let answer = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`delay queue ${control}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on("connect", () => socket.end(request));
    socket.on("data", (c: Buffer) => (answer += c.toString()));
    socket.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`delay queue ${control}: ${e.message}`));
    });
    socket.on("close", () => {
      clearTimeout(timer);
      const line = answer.trim();
      if (line.startsWith("ok")) resolve(line.slice(2).trim());
      else reject(new Error(`delay queue ${control}: ${line || "closed without an answer"}`));
    });
  });
}

/** {@link delayQueueRequest}, retried a few times: the queue refuses connections beyond 8 at once. */
async function requestWithRetry(control: string, request: string): Promise<string> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await delayQueueRequest(control, request);
    } catch (e) {
      if (attempt >= 5 || /^delay queue .*: error /.test((e as Error).message)) throw e;
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }
}

/** Replaces a delay queue's rules ("<addr> <delay_us> <jitter_us> <reorder_ppm>" lines). */
export async function configureDelayQueue(control: string, rules: readonly string[]): Promise<void> {
  await requestWithRetry(control, ["set", ...rules, ""].join("\n"));
}

/** A delay queue's counters: packets queued, released, held now, overflowed, unmatched. */
export async function delayQueueStats(control: string): Promise<Record<string, number>> {
  const line = await requestWithRetry(control, "stats\n");
  return Object.fromEntries(line.split(" ").map((kv) => kv.split("=")).map(([k, v]) => [k!, Number(v)]));
}
