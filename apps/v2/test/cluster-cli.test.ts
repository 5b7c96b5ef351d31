/**
 * `heck cluster up` as a learner runs it: the banner's "break things" steps,
 * run exactly as printed, each checked for the effect the banner says the
 * learner will see; then what Ctrl-C leaves behind (the agents' logs, which
 * the banner points at, stay; their data goes).
 *
 * CI runs the first step (an origin fails, any agent lists it, it recovers)
 * and checks that the other steps name the right agents and pid;
 * `pnpm test:chaos` (HECK_CHAOS=full) also cuts the last agent off and heals
 * it, then kills another, which takes about a minute of SWIM's timers.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { AgentClient } from "../src/io/client.ts";
import { until } from "./support/wait.ts";

// Ports 19600-19799 belong to this file.
const HECK = fileURLToPath(new URL("../bin/heck.js", import.meta.url));
const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const FULL = process.env.HECK_CHAOS === "full";

interface Agent {
  id: string;
  api: string;
  pid: number;
}

/**
 * Runs one printed command as a learner would paste it (from the repository root), without its
 * trailing comment; asynchronously, so the test's own HTTP connections keep being served meanwhile.
 */
async function runStep(line: string): Promise<string> {
  const child = spawn("sh", ["-c", line.replace(/\s+# .*$/, "")], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 });
  let out = "";
  let err = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (err += c.toString()));
  const code = await new Promise<number | null>((r) => child.once("close", (c) => r(c)));
  expect(code, `${line}\n${err}`).toBe(0);
  return out;
}

describe("heck cluster up", () => {
  it(`prints break-things steps that each do what they say${FULL ? "" : " (the origin step run, the others' commands checked)"}, and keeps the agents' logs on Ctrl-C`, { timeout: FULL ? 400_000 : 150_000 }, async () => {
    const child = spawn(process.execPath, [HECK, "cluster", "up", "--nodes", "3", "--origins", "6", "--base-port", "19600", "--interval-ms", "500"], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    let logs: string | undefined;
    try {
      await until(() => stdout.includes("Ctrl-C stops everything."), 120_000, `the banner (stderr: ${stderr.slice(-500)})`);
      const m = /^ {2}logs {8}(\S+)\/<id>\.log {3}\(kept after Ctrl-C\)$/m.exec(stdout);
      expect(m, stdout).not.toBeNull();
      logs = m![1]!;
      expect(readdirSync(logs).sort()).toEqual(["n1", "n1.log", "n2", "n2.log", "n3", "n3.log"]);
      const steps = stdout.split("\n").filter((l) => /^ {5}(curl|pnpm|kill) /.test(l)).map((l) => l.trim());
      const agents: Agent[] = [...stdout.matchAll(/^ {2}agent (n\d)\s+http:\/\/(\S+)\s+pid (\d+)$/gm)].map((m) => ({ id: m[1]!, api: m[2]!, pid: Number(m[3]) }));
      expect(agents.map((a) => a.id)).toEqual(["n1", "n2", "n3"]);
      const [n1, n2, n3] = agents as [Agent, Agent, Agent];
      const client = (n: Agent) => new AgentClient(n.api, "", 3_000);
      const members = async (n: Agent) => Object.fromEntries((await client(n).get<{ id: string; state: string }[]>("/v1/members")).map((m) => [m.id, m.state]));
      const checking = async (n: Agent) => (await client(n).get<{ checking: number }>("/healthz")).checking;
      const statusEverywhere = async (id: string) => Promise.all(agents.map(async (n) => (await client(n).get<{ status: string }>(`/v1/origins/${id}`)).status));

      // Every command in the banner is one of the steps below, in this order: the cut isolates the
      // last agent from both others (a cut between two agents that both hear a third changes nothing
      // visible), and the crash is a different agent, so no step undoes another.
      expect(steps.map((l) => l.split(" ").slice(0, 4).join(" "))).toEqual([
        "curl -X PUT http://127.0.0.1:19730/origins/3",
        "pnpm heck origins ls",
        "curl -X PUT http://127.0.0.1:19730/origins/3",
        `curl -X POST http://${n3.api}/v1/admin/faults`,
        `curl -X POST http://${n3.api}/v1/admin/faults`,
        `kill -9 ${n2.pid}`,
      ]);
      expect(steps[3]).toContain(`'{"block":["n1","n2"]}'`);
      expect(steps[4]).toContain(`'{"unblock":"all"}'`);
      expect(stdout).toContain(`'{"mode":"healthy"}'    # back to green after 2 good checks`);
      await until(async () => (await statusEverywhere("o3")).every((s) => s === "healthy"), 60_000, "o3 healthy everywhere before the steps");

      async function partitionThenCrash(): Promise<void> {
        // 2. n3 is cut off: each side holds the other dead, n3 checks every origin, the others split them; both answer.
        await runStep(steps[3]!);
        await until(async () => (await members(n1)).n3 === "dead" && (await members(n2)).n3 === "dead", 90_000, "n1 and n2 hold n3 dead");
        await until(async () => {
          const m = await members(n3);
          return m.n1 === "dead" && m.n2 === "dead";
        }, 90_000, "n3 holds n1 and n2 dead");
        await until(async () => (await checking(n3)) === 6 && (await checking(n1)) + (await checking(n2)) === 6, 30_000, "each side checks every origin");
        // The dashboard's data: n3 is dead in n1's SWIM view but answers, so it is shown cut off, not crashed.
        const seen = await client(n1).get<{ nodes: { id: string; state: string; ok: boolean }[] }>("/v1/cluster");
        expect(seen.nodes.find((x) => x.id === "n3")).toMatchObject({ state: "dead", ok: true });
        await runStep(steps[4]!);
        await until(async () => (await Promise.all(agents.map(members))).every((m) => Object.values(m).every((st) => st === "alive")), 120_000, "one view again after the heal");

        // 3. n2 crashes: the others hold it dead and take only its origins.
        const before = await client(n1).get<{ origins: { id: string; owners: string[] }[] }>("/v1/ownership");
        await runStep(steps[5]!);
        await until(async () => (await members(n1)).n2 === "dead" && (await members(n3)).n2 === "dead", 90_000, "n2 dead in every view");
        const after = await client(n1).get<{ origins: { id: string; owners: string[] }[] }>("/v1/ownership");
        for (const o of before.origins) if (o.owners[0] !== "n2") expect(after.origins.find((x) => x.id === o.id)?.owners[0], o.id).toBe(o.owners[0]);
        await until(async () => (await checking(n1)) + (await checking(n3)) === 6, 30_000, "the survivors check every origin");
      }

      // 1. o3 fails: every agent reports it unhealthy; the printed query lists it; "healthy" brings it back.
      await runStep(steps[0]!);
      await until(async () => (await statusEverywhere("o3")).every((s) => s === "unhealthy"), 60_000, "o3 unhealthy on every agent");
      expect(await runStep(steps[1]!)).toMatch(/^o3\s+unhealthy\s/m);
      await runStep(steps[2]!);
      await until(async () => (await statusEverywhere("o3")).every((s) => s === "healthy"), 60_000, "o3 healthy again on every agent");
      if (FULL) await partitionThenCrash();
    } finally {
      child.kill("SIGINT");
    }
    expect(await exited).toBe(0);
    try {
      expect(stderr).toContain(`heck cluster: stopped; the agents' logs are kept in ${logs} (rm -r ${logs} removes them)`);
      expect(readdirSync(logs).sort()).toEqual(["n1.log", "n2.log", "n3.log"]);
      expect(readFileSync(`${logs}/n1.log`, "utf8")).toMatch(/\[n1\] agent up: api http:\/\/127\.0\.0\.1:19601/);
    } finally {
      if (logs !== undefined && existsSync(logs)) rmSync(logs, { recursive: true, force: true });
    }
  });
});
