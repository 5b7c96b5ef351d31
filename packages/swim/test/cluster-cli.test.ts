/**
 * `heck-swim cluster up --json`: n agents, up once every member sees every
 * other alive, one contract line `{ "nodes": [ { "name", "pid", "addr",
 * "http", "netns", "host" } ] }`, every member stopped on SIGTERM. On
 * loopback the members are told apart by port; with `--netns` each is on a
 * network-lab host of its own, in the namespace the line names, and its
 * HTTP API is reachable from here. Ports 14400-14599 belong to this file.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { describeWithLab, runsInNetns } from "@heck/net/testing";
import { membersSeenBy } from "../src/io/local-cluster.ts";

const BIN = fileURLToPath(new URL("../bin/heck-swim.js", import.meta.url));
type Line = { nodes: Array<{ name: string; pid: number; addr: string; http: string; netns: string | null; host: string }> };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs `cluster up`, hands its contract line to `check`, then stops it with SIGTERM and expects every member gone. */
async function withCluster(extra: string[], check: (line: Line) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "heck-swim-cluster-"));
  const child = spawn(process.execPath, [BIN, "cluster", "up", "--nodes", "3", "--data-dir", dir, "--json", ...extra], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (c: Buffer) => {
        out += c.toString();
        if (out.includes("\n")) resolve(out.slice(0, out.indexOf("\n")));
      });
      void exited.then((code) => reject(new Error(`cluster up exited ${code} before its line: ${err}`)));
    });
    const parsed = JSON.parse(line) as Line;
    expect(parsed.nodes.map((n) => Object.keys(n))).toEqual(Array.from({ length: 3 }, () => ["name", "pid", "addr", "http", "netns", "host"]));
    await check(parsed);
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    for (const n of parsed.nodes) expect(alive(n.pid)).toBe(false);
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe("heck-swim cluster up --json", () => {
  it("prints the members once all see each other alive, on loopback ports", async () => {
    await withCluster(["--base-port", "14401"], async ({ nodes }) => {
      expect(nodes.map((n) => [n.name, n.addr, n.http, n.netns, n.host])).toEqual([
        ["a1", "127.0.0.1:14401", "127.0.0.1:14501", null, "127.0.0.1"],
        ["a2", "127.0.0.1:14402", "127.0.0.1:14502", null, "127.0.0.1"],
        ["a3", "127.0.0.1:14403", "127.0.0.1:14503", null, "127.0.0.1"],
      ]);
      const seen = await membersSeenBy(nodes[2]!.http);
      expect(seen.map((m) => [m.name, m.state]).sort()).toEqual([
        ["a1", "alive"],
        ["a2", "alive"],
        ["a3", "alive"],
      ]);
    });
  }, 90_000);
});

describeWithLab("heck-swim cluster up --netns --json", () => {
  it("puts each member on its own host, in the namespace the line names, reachable from here", async () => {
    await withCluster(["--base-port", "14451", "--netns"], async ({ nodes }) => {
      expect(new Set(nodes.map((n) => n.host)).size).toBe(3);
      for (const [i, n] of nodes.entries()) {
        expect(n.addr).toBe(`${n.host}:${14451 + i}`);
        expect(runsInNetns(n.pid, n.netns!), `${n.name} (pid ${n.pid}) runs in ${n.netns}`).toBe(true);
        const seen = await membersSeenBy(n.http);
        expect(seen.filter((m) => m.state === "alive").map((m) => m.name).sort()).toEqual(["a1", "a2", "a3"]);
      }
    });
  }, 120_000);
});
