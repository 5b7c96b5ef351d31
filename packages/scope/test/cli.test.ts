/**
 * `heck-scope` from the command line, as outside scripts call it: the trace
 * hash printed by a Node run, and bad input refused with one clear line and
 * exit code 2.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runScope } from "../src/index.ts";

const BIN = fileURLToPath(new URL("../bin/heck-scope.js", import.meta.url));

/** Runs `heck-scope ...` to completion without blocking, so independent cases run concurrently. */
function cli(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.once("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

describe.concurrent("heck-scope --listen --json", () => {
  it("prints one JSON line with the URL once the page answers, serves it, and exits 0 on SIGTERM", async () => {
    const child = spawn(process.execPath, [BIN, "raft", "--seed", "7", "--listen", "127.0.0.1:0", "--json"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.setEncoding("utf8");
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout.on("data", (chunk: string) => {
        out += chunk;
        if (out.includes("\n")) resolve(out.split("\n")[0]!);
      });
      child.once("exit", (code) => reject(new Error(`exited with ${code} before printing a URL`)));
    });
    const { url } = JSON.parse(line) as { url: string };
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?stage=raft&seed=7$/);
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("heck scope");
    const script = await fetch(new URL("scope.js", url));
    expect(script.status).toBe(200);
    expect((await script.text()).length).toBeGreaterThan(50_000);
    child.kill("SIGTERM");
    const [code] = (await once(child, "exit")) as [number | null];
    expect(code).toBe(0);
    expect(out.trim().split("\n")).toHaveLength(1);
  }, 60_000);
});

// Each case here and above is one process start of a second or so and shares nothing with the others
// (the server binds port 0): they run concurrently.
describe.concurrent("heck-scope --trace-hash", () => {
  it("prints one line, the hash of the same run in this process", async () => {
    const r = await cli("raft", "--seed", "7", "--until", "3000", "--trace-hash");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${runScope("raft", 7, 3_000).traceHash()}\n`);
  }, 60_000);

  it("replays --actions", async () => {
    const r = await cli("crdt", "--seed", "3", "--until", "5000", "--trace-hash", "--json", "--actions", "1000 partition n1,n2|n3,n4,n5; 1500 put n1 x=a; 1500 put n4 x=b; 3000 heal");
    expect(r.status).toBe(0);
    const line = JSON.parse(r.stdout) as { traceHash: string; failure: unknown };
    expect(line.failure).toBeNull();
    expect(line.traceHash).not.toBe(runScope("crdt", 3, 5_000).traceHash());
  }, 60_000);

  it.each([
    [["paxos", "--seed", "1", "--until", "10", "--trace-hash"], /unknown stage "paxos" \(one of swim, raft, crdt, v2, ownership\)/],
    [["raft", "--seed", "-4", "--until", "10", "--trace-hash"], /--seed: seed must be a whole number/],
    [["raft", "--seed", "1e3", "--until", "10", "--trace-hash"], /--seed: seed must be a whole number/],
    [["raft", "--seed", "1", "--until", "soon", "--trace-hash"], /--until: --until must be a simulated time/],
    [["raft", "--seed", "1", "--trace-hash"], /--until: --until must be a simulated time/],
    [["raft", "--seed", "1", "--until", "10", "--trace-hash", "--actions", "5 crash n7"], /--actions: action 1 .*unknown node "n7"/],
    [["raft", "--seed", "1", "--listen", "localhost"], /--listen: expected host:port/],
    [["raft", "--seed", "1", "--at", "later"], /--at: --at must be a simulated time/],
    [["swim", "--scenario", "sweep", "--faults", "100 crash n42", "--until", "10", "--trace-hash"], /faults: "100 crash n42" names n42, but seed 1's cluster is n1, n2, /],
    [["--load", "/nonexistent/seed-1.log", "--trace-hash"], /--load: cannot read \/nonexistent\/seed-1.log: ENOENT/],
  ])("refuses %j with a clear line and exit code 2", async (args, message) => {
    const r = await cli(...args);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  }, 60_000);
});
