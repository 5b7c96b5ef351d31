/**
 * Mixed clusters of heck members and hashicorp/memberlist 0.2.2 members, as
 * real processes on loopback, shared by the interoperability tests
 * (test/memberlist-mixed.test.ts, which start heck members through the CLI)
 * and the benchmark (bench/run.ts, which starts the bundled heck-node.ts).
 *
 * A memberlist member is our Go driver (bench/memberlist-node, built by
 * memberlist-build.ts), driven over stdin and read from its JSON lines on
 * stdout. {@link Timings} puts the same protocol timings on both kinds.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { memberlistNodeBinary } from "./memberlist-build.ts";

/** Protocol timings both kinds of member are started with (memberlist's config fields, in ms). */
export interface Timings {
  preset: "lan" | "local";
  probeIntervalMs?: number;
  probeTimeoutMs?: number;
  gossipIntervalMs?: number;
  suspicionMult?: number;
  pushPullIntervalMs?: number;
  gossipToTheDeadMs?: number;
}

/** `heck-swim agent` flags for `t`. */
export function heckTimingFlags(t: Timings): string[] {
  const f = ["--preset", t.preset];
  if (t.probeIntervalMs !== undefined) f.push("--probe-interval", String(t.probeIntervalMs));
  if (t.probeTimeoutMs !== undefined) f.push("--probe-timeout", String(t.probeTimeoutMs));
  if (t.gossipIntervalMs !== undefined) f.push("--gossip-interval", String(t.gossipIntervalMs));
  if (t.suspicionMult !== undefined) f.push("--suspicion-mult", String(t.suspicionMult));
  if (t.pushPullIntervalMs !== undefined) f.push("--push-pull-interval", String(t.pushPullIntervalMs));
  if (t.gossipToTheDeadMs !== undefined) f.push("--gossip-to-the-dead", String(t.gossipToTheDeadMs));
  return f;
}

/** memberlist-node flags for `t`. */
export function goTimingFlags(t: Timings): string[] {
  const f = ["-preset", t.preset];
  if (t.probeIntervalMs !== undefined) f.push("-probe-interval", String(t.probeIntervalMs));
  if (t.probeTimeoutMs !== undefined) f.push("-probe-timeout", String(t.probeTimeoutMs));
  if (t.gossipIntervalMs !== undefined) f.push("-gossip-interval", String(t.gossipIntervalMs));
  if (t.suspicionMult !== undefined) f.push("-suspicion-mult", String(t.suspicionMult));
  if (t.pushPullIntervalMs !== undefined) f.push("-push-pull-interval", String(t.pushPullIntervalMs));
  if (t.gossipToTheDeadMs !== undefined) f.push("-gossip-to-the-dead", String(t.gossipToTheDeadMs));
  return f;
}

/** One line memberlist-node printed. */
export type GoEvent = Record<string, unknown> & { t: number; event: string; member?: string };

/** A member as memberlist-node lists it (memberlist's Members(): alive and suspect members only). */
export interface GoMemberRow {
  name: string;
  addr: string;
  state: string;
  meta: string;
}

/** How to start a memberlist member. */
export interface GoMemberOptions {
  name: string;
  /** "127.0.0.1:port"; port 0 picks one. */
  bind?: string;
  meta?: string;
  /** base64 keys, primary first. */
  keys?: readonly string[];
  timings?: Timings;
  /** memberlist's EnableCompression (its default: on). */
  compress?: boolean;
  /** Record traffic to this file (for golden fixtures). */
  capture?: string;
  /** memberlist's own log lines on stderr (kept in `log`). */
  verbose?: boolean;
}

/** A running memberlist-node process. */
export class GoMember {
  addr = "";
  readonly events: GoEvent[] = [];
  readonly log: string[] = [];
  readonly exited: Promise<number | null>;
  private waiters: Array<(e: GoEvent) => boolean> = [];

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
    let buf = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      buf += chunk.toString("utf8");
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let e: GoEvent;
        try {
          e = JSON.parse(line) as GoEvent;
        } catch {
          this.log.push(`(stdout) ${line}`);
          continue;
        }
        this.events.push(e);
        this.waiters = this.waiters.filter((w) => !w(e));
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => {
      this.log.push(chunk.toString("utf8"));
      if (this.log.length > 2000) this.log.splice(0, 1000);
    });
  }

  /** Starts memberlist-node and resolves once it printed its ready line (rejects if it exits first or within 30 s). */
  static async start(options: GoMemberOptions): Promise<GoMember> {
    const args = ["-name", options.name, "-bind", options.bind ?? "127.0.0.1:0", ...goTimingFlags(options.timings ?? { preset: "lan" })];
    if (options.meta !== undefined && options.meta !== "") args.push("-meta", options.meta);
    for (const k of options.keys ?? []) args.push("-key", k);
    if (options.compress === false) args.push("-compress=false");
    if (options.capture !== undefined) args.push("-capture", options.capture);
    if (options.verbose) args.push("-v");
    const child = spawn(memberlistNodeBinary(), args, { stdio: ["pipe", "pipe", "pipe"] });
    const m = new GoMember(options.name, child);
    const ready = await Promise.race([
      m.next((e) => e.event === "ready" || e.event === "error", 30_000),
      m.exited.then((code) => ({ t: 0, event: "error", message: `exited with ${code}: ${m.log.join("")}` }) as GoEvent),
    ]);
    if (ready.event !== "ready") {
      child.kill("SIGKILL");
      throw new Error(`memberlist-node ${options.name}: ${String(ready.message)}`);
    }
    m.addr = ready.addr as string;
    return m;
  }

  /** Resolves with the next event (from now on) that `match` accepts; rejects after `timeoutMs`. */
  next(match: (e: GoEvent) => boolean, timeoutMs = 10_000): Promise<GoEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`memberlist-node ${this.name}: no matching event in ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (e: GoEvent): boolean => {
        if (!match(e)) return false;
        clearTimeout(timer);
        resolve(e);
        return true;
      };
      this.waiters.push(waiter);
    });
  }

  /** Writes one command line to its stdin (see main.go for the commands). */
  command(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  /** Runs a command that answers with "ok" (or "error"); rejects on an error. */
  async run(line: string, timeoutMs = 10_000): Promise<void> {
    const answer = this.next((e) => e.event === "ok" || e.event === "error", timeoutMs);
    this.command(line);
    const e = await answer;
    if (e.event === "error") throw new Error(`memberlist-node ${this.name}: ${line}: ${String(e.message)}`);
  }

  /** memberlist's member list: alive and suspect members (dead and left ones are not listed). */
  async members(): Promise<GoMemberRow[]> {
    const answer = this.next((e) => e.event === "members");
    this.command("members");
    return ((await answer).members as GoMemberRow[] | null) ?? [];
  }

  /** Counters: packets and bytes sent, alive members, user messages received. */
  async stats(): Promise<{ packetsOut: number; bytesOut: number; members: number; userMessages: number }> {
    const answer = this.next((e) => e.event === "stats");
    this.command("stats");
    const e = await answer;
    return { packetsOut: Number(e.packetsOut), bytesOut: Number(e.bytesOut), members: Number(e.members), userMessages: Number(e.userMessages) };
  }

  /** The time of the first event of `type` about `member` at or after `sinceMs`. */
  eventTime(type: string, member: string, sinceMs = 0): number | undefined {
    return this.events.find((e) => e.event === type && e.member === member && e.t >= sinceMs)?.t;
  }

  /** kill -9, and wait for the process to be gone. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    await this.exited;
  }

  /** Graceful leave, then exit. */
  async leave(): Promise<void> {
    const bye = this.next((e) => e.event === "bye", 15_000);
    this.command("leave");
    await bye;
    this.command("quit");
    await this.exited;
  }
}
