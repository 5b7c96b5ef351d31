/**
 * `heck-scope` from the command line, as outside scripts call it: the trace
 * hash printed by a Node run, and bad input refused with one clear line and
 * exit code 2.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runScope } from "../src/index.ts";

const BIN = fileURLToPath(new URL("../bin/heck-scope.js", import.meta.url));

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("heck-scope --trace-hash", () => {
  it("prints one line, the hash of the same run in this process", () => {
    const r = cli("raft", "--seed", "7", "--until", "3000", "--trace-hash");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${runScope("raft", 7, 3_000).traceHash()}\n`);
  }, 60_000);

  it("replays --actions", () => {
    const r = cli("crdt", "--seed", "3", "--until", "5000", "--trace-hash", "--json", "--actions", "1000 partition n1,n2|n3,n4,n5; 1500 put n1 x=a; 1500 put n4 x=b; 3000 heal");
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
  ])("refuses %j with a clear line and exit code 2", (args, message) => {
    const r = cli(...args);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  }, 60_000);
});
