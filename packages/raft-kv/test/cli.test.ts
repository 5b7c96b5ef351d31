/**
 * The `heck-raft` CLI contract outside scripts rely on:
 * `cluster up --nodes <n> --base-port <p> --data-dir <dir> --json` prints one
 * JSON line `{ "nodes": [ { "id", "pid", "http", "grpc", "netns", "host" } ] }`
 * once a leader is elected, stays up, and stops every member on SIGTERM.
 * Ports 15420-15439 and 15480-15489 belong to this file.
 */
import { execFile, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { describeWithLab, runsInNetns } from "@heck/net/testing";
import { pnpmCommand, REPO_ROOT } from "@heck/cli-kit/testing";
import { CLI_BIN } from "../src/io/local-cluster.ts";
import { tempDir } from "./support/cluster.ts";
import { firstStdoutLine } from "./support/first-line.ts";

const exec = promisify(execFile);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("heck-raft cluster up --json", () => {
  it("prints one JSON line once a leader is elected, serves, and stops every member on SIGTERM", async () => {
    const t = tempDir();
    const child = spawn(process.execPath, [CLI_BIN, "cluster", "up", "--nodes", "3", "--base-port", "15420", "--data-dir", t.dir, "--json"], { stdio: ["ignore", "pipe", "pipe"] });
    try {
      const line = await firstStdoutLine(child);
      const parsed = JSON.parse(line) as { nodes: Array<{ id: string; pid: number; http: string; grpc: string; netns: string | null; host: string }> };
      expect(Object.keys(parsed)).toEqual(["nodes"]);
      expect(parsed.nodes.map((n) => Object.keys(n))).toEqual([
        ["id", "pid", "http", "grpc", "netns", "host"],
        ["id", "pid", "http", "grpc", "netns", "host"],
        ["id", "pid", "http", "grpc", "netns", "host"],
      ]);
      // On loopback: no namespace, and every member's host is 127.0.0.1.
      expect(parsed.nodes.map((n) => [n.netns, n.host])).toEqual([
        [null, "127.0.0.1"],
        [null, "127.0.0.1"],
        [null, "127.0.0.1"],
      ]);
      expect(parsed.nodes.map((n) => [n.id, n.http, n.grpc])).toEqual([
        ["n1", "127.0.0.1:15421", "127.0.0.1:15422"],
        ["n2", "127.0.0.1:15424", "127.0.0.1:15425"],
        ["n3", "127.0.0.1:15427", "127.0.0.1:15428"],
      ]);
      for (const n of parsed.nodes) expect(alive(n.pid)).toBe(true);
      // A leader exists: a write through the CLI succeeds right away.
      const { stdout } = await exec(process.execPath, [CLI_BIN, "--endpoints", parsed.nodes.map((n) => n.http).join(","), "--json", "put", "cli-key", "v"]);
      expect(JSON.parse(stdout).revision).toBeGreaterThan(1);
      // --endpoints takes the line's host:port, and the http:// form other tools print.
      const viaUrl = await exec(process.execPath, [CLI_BIN, "--endpoints", `http://${parsed.nodes[0]!.http}/`, "--json", "get", "cli-key"]);
      expect(JSON.parse(viaUrl.stdout).value).toBe("v");
      // kill -9 a member: cluster up prints the command that restarts it, and that command works as printed
      // (from the repository root, through pnpm, as every hint the CLIs print must).
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
      process.kill(parsed.nodes[2]!.pid, "SIGKILL");
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline && !/restart it with: (.*)\n/.test(stderr)) await new Promise((r) => setTimeout(r, 50));
      const hint = /n3 \(pid \d+\) exited: SIGKILL; restart it with: (.*)\n/.exec(stderr)?.[1];
      expect(hint, stderr).toMatch(/^pnpm heck-raft server --id n3 /);
      const pnpm = pnpmCommand();
      // Job control: the restarted member gets a process group of its own, so the test can stop all of it.
      const shell = `set -m; pnpm() { ${[pnpm.command, ...pnpm.args].map((a) => JSON.stringify(a)).join(" ")} "$@"; }; ${hint!} echo $!`;
      const restarted = Number((await exec("bash", ["-c", shell], { cwd: REPO_ROOT })).stdout.trim());
      try {
        const back = await exec(process.execPath, [CLI_BIN, "--endpoints", "127.0.0.1:15427", "--timeout-ms", "30000", "get", "cli-key"]);
        expect(back.stdout).toBe("cli-key\nv\n");
      } finally {
        try {
          process.kill(-restarted, "SIGKILL");
        } catch {
          process.kill(restarted, "SIGKILL");
        }
      }
      const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      for (const n of parsed.nodes) expect(alive(n.pid)).toBe(false);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      t.cleanup();
    }
  }, 60_000);
});

describeWithLab("heck-raft cluster up --netns --json", () => {
  it("puts each member on its own host: the line names its namespace and address, and clients here reach every member", async () => {
    const t = tempDir();
    const child = spawn(process.execPath, [CLI_BIN, "cluster", "up", "--nodes", "3", "--base-port", "15480", "--data-dir", t.dir, "--netns", "--json"], { stdio: ["ignore", "pipe", "pipe"] });
    try {
      const line = await firstStdoutLine(child, 90_000);
      const parsed = JSON.parse(line) as { nodes: Array<{ id: string; pid: number; http: string; grpc: string; netns: string; host: string }> };
      expect(parsed.nodes.map((n) => Object.keys(n))).toEqual(Array.from({ length: 3 }, () => ["id", "pid", "http", "grpc", "netns", "host"]));
      expect(new Set(parsed.nodes.map((n) => n.host)).size).toBe(3);
      for (const n of parsed.nodes) {
        expect(n.host).not.toBe("127.0.0.1");
        expect(n.http).toBe(`${n.host}:${15480 + 3 * (Number(n.id.slice(1)) - 1) + 1}`);
        expect(runsInNetns(n.pid, n.netns), `${n.id} (pid ${n.pid}) runs in ${n.netns}`).toBe(true);
      }
      const { stdout } = await exec(process.execPath, [CLI_BIN, "--endpoints", parsed.nodes.map((n) => n.http).join(","), "--json", "put", "netns-key", "v"]);
      expect(JSON.parse(stdout).revision).toBeGreaterThan(1);
      const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      for (const n of parsed.nodes) expect(alive(n.pid)).toBe(false);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      t.cleanup();
    }
  }, 120_000);
});

describe("heck-raft bad arguments", () => {
  it("names the bad flag and exits 2", async () => {
    const run = (...args: string[]) => exec(process.execPath, [CLI_BIN, ...args]).then(() => "exit 0", (e: { stderr: string; code: number }) => `exit ${e.code}: ${e.stderr}`);
    // Three refusals that share nothing, started at once: each is a process start.
    const [peers, nodes, ticks] = await Promise.all([
      run("server", "--id", "n1", "--peers", "n1=nowhere", "--data-dir", "/tmp/x"),
      run("cluster", "up", "--nodes", "0"),
      run("server", "--id", "n1", "--peers", "n1=127.0.0.1:15429", "--data-dir", "/tmp/x", "--election-tick", "2", "--heartbeat-tick", "2"),
    ]);
    expect(peers).toMatch(/exit 2: .*--peers: "n1=nowhere" is not id=host:port/);
    expect(nodes).toMatch(/exit 2: .*--nodes must be between 1 and 9/);
    expect(ticks).toMatch(/exit 2: .*--heartbeat-tick must be smaller/);
  }, 30_000);
});

describe("the README's first exercise", () => {
  // Exercise 1 asks what happens when broadcastTime is not much smaller than the election timeout
  // (§5.6). With 1 ms ticks and an election timeout of 2-4 ticks, a heartbeat held up by an fsync, a
  // timer or the scheduler for a few milliseconds starts an election, so leaders must come and go
  // on loopback as well; with the defaults (0.5-1 s) one election is all a run sees.
  it('--server-args "--tick-ms 1 --election-tick 2" makes leadership churn', async () => {
    const t = tempDir();
    const child = spawn(process.execPath, [CLI_BIN, "cluster", "up", "--nodes", "3", "--base-port", "15430", "--data-dir", t.dir, "--server-args", "--tick-ms 1 --election-tick 2", "--json"], { stdio: ["ignore", "pipe", "pipe"] });
    try {
      await firstStdoutLine(child);
      const terms = () => {
        const log = path.join(t.dir, "n1.log");
        const text = existsSync(log) ? readFileSync(log, "utf8") : "";
        return new Set([...text.matchAll(/leader is now \S+ \(this node: \w+, term (\d+)\)/g)].map((m) => m[1]));
      };
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && terms().size < 5) await new Promise((r) => setTimeout(r, 100));
      expect(terms().size).toBeGreaterThanOrEqual(5);
      // A clean exit on SIGTERM is asserted by the --json contract test above; here the stop is
      // only cleanup, and under this churn it has been seen to end by the signal itself.
      const exited = new Promise<void>((r) => child.on("exit", () => r()));
      child.kill("SIGTERM");
      await exited;
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      t.cleanup();
    }
  }, 60_000);
});
