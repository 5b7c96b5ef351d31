/**
 * `heck cluster up --netns --json`: each agent on its own network-lab host.
 * The contract line keeps `nodes[].{id,pid,api}` and `fleet.{pid,control}`,
 * adds per node the namespace and host address, and (the agents being off
 * loopback) the API token; the agents' APIs and the fleet's control address
 * stay reachable from this namespace, and the agents check origins that the
 * fleet serves on this namespace's side of the lab.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { describeWithLab, runsInNetns } from "@heck/net/testing";
import { AgentClient } from "../src/io/client.ts";
import { until } from "./support/wait.ts";

// Ports 19800-19979 belong to this file.
const HECK = fileURLToPath(new URL("../bin/heck.js", import.meta.url));

type Line = { nodes: Array<{ id: string; pid: number; api: string; netns: string; host: string }>; fleet: { pid: number; control: string }; token: string };

describeWithLab("heck cluster up --netns", () => {
  it("prints the contract line with netns, host and token; APIs and the fleet answer from here; origins get checked", { timeout: 180_000 }, async () => {
    const child = spawn(process.execPath, [HECK, "cluster", "up", "--nodes", "3", "--origins", "2", "--base-port", "19800", "--interval-ms", "500", "--netns", "--json"], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    try {
      await until(() => stdout.includes("\n") || child.exitCode !== null, 150_000, `the contract line (stderr: ${stderr.slice(-500)})`);
      const line = JSON.parse(stdout.slice(0, stdout.indexOf("\n"))) as Line;
      expect(Object.keys(line)).toEqual(["nodes", "fleet", "token"]);
      expect(line.nodes.map((n) => Object.keys(n))).toEqual(Array.from({ length: 3 }, () => ["id", "pid", "api", "netns", "host"]));
      expect(Object.keys(line.fleet).sort()).toEqual(["control", "pid"]);
      expect(new Set(line.nodes.map((n) => n.host)).size).toBe(3);
      for (const n of line.nodes) {
        expect(n.api.startsWith(`${n.host}:`)).toBe(true);
        expect(runsInNetns(n.pid, n.netns), `${n.id} (pid ${n.pid}) runs in ${n.netns}`).toBe(true);
        // Off loopback the API refuses a request without the token, and answers one with it.
        await expect(new AgentClient(n.api, "", 5_000).get("/v1/members")).rejects.toMatchObject({ status: 401 });
        const members = await new AgentClient(n.api, line.token, 5_000).get<Array<{ state: string }>>("/v1/members");
        expect(members.filter((m) => m.state === "alive")).toHaveLength(3);
      }
      const fleet = await fetch(`http://${line.fleet.control}/origins`, { signal: AbortSignal.timeout(5_000) });
      expect(fleet.ok).toBe(true);
      await fleet.body?.cancel();
      // The agents, on their hosts, reach the origins the fleet serves in this namespace.
      const client = new AgentClient(line.nodes[1]!.api, line.token, 5_000);
      await until(async () => {
        const list = await client.get<Array<{ status: string }>>("/v1/origins").catch(() => []);
        return list.length === 2 && list.every((o) => o.status === "healthy");
      }, 60_000, "both origins checked healthy");
    } finally {
      child.kill("SIGINT");
    }
    expect(await exited).toBe(0);
  });
});
