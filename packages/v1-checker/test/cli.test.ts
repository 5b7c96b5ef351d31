import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFleet, type RunningFleet } from "@heck/fleet";
import type { TargetView } from "../src/index.ts";
import { waitFor } from "./support.ts";

const BIN = fileURLToPath(new URL("../bin/heck-v1.js", import.meta.url));

/** Runs a CLI command to completion without blocking this process (the fleet under test lives here). */
function runCli(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** Polls an async condition every 100 ms up to `timeoutMs`. */
async function waitForAsync(cond: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await cond())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Spawns a long-running CLI command and resolves with the first stdout line matching `ready`. */
async function startCli(args: string[], ready: RegExp): Promise<{ child: ChildProcessWithoutNullStreams; match: RegExpMatchArray; output: () => string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (out += c.toString()));
  await waitFor(() => ready.test(out) || child.exitCode !== null, `"${ready}" from heck-v1 ${args[0]}`, 20_000);
  const match = ready.exec(out);
  if (!match) throw new Error(`heck-v1 ${args.join(" ")} exited: ${out}`);
  return { child, match, output: () => out };
}

function stop(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.on("exit", (code) => resolve(code));
    child.kill("SIGTERM");
  });
}

// The three cases share nothing but the fleet's origins (each CLI binds port 0), and most of their time is
// process start-up and waiting on checks: they run concurrently.
describe.concurrent("heck-v1 CLI", () => {
  let running: RunningFleet;
  let dir: string;

  beforeAll(async () => {
    running = await startFleet({ count: 4 });
    dir = mkdtempSync(join(tmpdir(), "heck-v1-cli-"));
  });
  afterAll(async () => {
    await running.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs a YAML config; status, add, remove and show talk to it; a broken origin shows up as unhealthy", async () => {
    const f = running.fleet;
    const config = join(dir, "heck.yaml");
    writeFileSync(
      config,
      [
        "defaults:",
        "  intervalMs: 100",
        "  timeoutMs: 1000",
        "  rise: 1",
        "  fall: 2",
        "targets:",
        `  - { id: web-0, url: "${f.url(0)}" }`,
        `  - { id: web-1, url: "${f.url(1)}", bodyContains: '"status":"ok"' }`,
        "",
      ].join("\n"),
    );
    const { child, match } = await startCli(["run", "--config", config, "--listen", "127.0.0.1:0"], /API on (http:\/\/[\d.:]+)/);
    const server = match[1]!;
    try {
      // Poll through the API (cheap); the CLI itself is exercised below.
      const list = async (...extra: string[]) => (await (await fetch(`${server}/v1/targets${extra.length ? "?status=unhealthy" : ""}`)).json()) as TargetView[];
      await waitForAsync(async () => (await list()).every((t) => t.status === "healthy"), "both targets healthy", 20_000);
      // Commands that do not depend on each other run at once: each is a process start of a second or two.
      const [json, table] = await Promise.all([runCli("status", "--json", "--server", server), runCli("status", "--server", server)]);
      expect((JSON.parse(json.stdout) as TargetView[]).map((t) => [t.id, t.status])).toEqual([
        ["web-0", "healthy"],
        ["web-1", "healthy"],
      ]);
      expect(table.stdout).toMatch(/^ID\s+STATUS\s+FOR\s+LATENCY\s+LAST ERROR\s+URL$/m);
      expect(table.stdout).toMatch(/2 targets: 2 healthy, 0 unhealthy, 0 unknown/);

      await f.setBehaviour(1, { mode: "wrong-body" });
      await waitForAsync(async () => (await list("--unhealthy")).length === 1, "web-1 unhealthy", 20_000);
      const [unhealthy, added, badUrl, show] = await Promise.all([
        runCli("status", "--unhealthy", "--server", server),
        runCli("add", "web-2", f.url(2), "--interval-ms", "100", "--rise", "1", "--server", server),
        runCli("add", "web-3", "ftp://nowhere", "--server", server),
        runCli("show", "web-1", "--server", server),
      ]);
      expect(unhealthy.stdout).toMatch(/web-1\s+unhealthy\s+.*body: body/);
      expect(unhealthy.stdout).not.toMatch(/web-0/);
      expect(added.status).toBe(0);
      expect(added.stdout).toMatch(/^added web-2 .*every 100 ms/);
      expect(badUrl.stderr).toMatch(/url: must start with http:\/\/, https:\/\/ or tcp:\/\//);
      const shown = JSON.parse(show.stdout) as TargetView;
      expect(shown).toMatchObject({ id: "web-1", status: "unhealthy", lastError: { kind: "body" } });
      expect(shown.history!.at(-1)).toMatchObject({ from: "healthy", to: "unhealthy", errorKind: "body" });
      let r = await runCli("add", "web-2", f.url(2), "--server", server);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/id: a target "web-2" already exists/);
      r = await runCli("remove", "web-2", "--server", server);
      expect(r.stdout).toMatch(/^removed web-2/);
      r = await runCli("remove", "web-2", "--server", server);
      expect(r.stderr).toMatch(/no target "web-2"/);
    } finally {
      expect(await stop(child)).toBe(0);
      await f.reset();
    }
  }, 90_000);

  it("refuses a bad config, flag or address with a message naming it, and never starts", async () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ defaults: { rise: 0 }, targets: [{ id: "a", url: "http://127.0.0.1:1/", intervalMS: 5 }] }));
    // Independent refusals, run in parallel to keep the test short.
    const [badConfig, missing, badListen, unreachable, badFlag, badHeap] = await Promise.all([
      runCli("run", "--config", bad, "--listen", "127.0.0.1:0"),
      runCli("run", "--config", join(dir, "missing.yaml")),
      runCli("run", "--listen", "nowhere"),
      runCli("status", "--server", "http://127.0.0.1:1"),
      runCli("demo", "--origins", "0"),
      runCli("run", "--heap-growing-percent", "1.5", "--listen", "127.0.0.1:0"),
    ]);
    expect(badConfig.status).toBe(2);
    expect(badConfig.stderr).toMatch(/defaults\.rise: must be an integer from 1 to 100, got 0/);
    expect(badConfig.stderr).toMatch(/targets\[0\]\.intervalMS: unknown field \(did you mean intervalMs\?\)/);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/--config: cannot read .*missing\.yaml: ENOENT/);
    expect(badListen.status).not.toBe(0);
    expect(badListen.stderr).toMatch(/--listen must be host:port/);
    expect(unreachable.status).toBe(1);
    expect(unreachable.stderr).toMatch(/cannot reach the checker at http:\/\/127\.0\.0\.1:1/);
    expect(badFlag.status).not.toBe(0);
    expect(badFlag.stderr).toMatch(/--origins must be from 1 to 10000/);
    expect(badHeap.status).not.toBe(0);
    expect(badHeap.stderr).toMatch(/--heap-growing-percent must be an integer from 0 to 1000, got "1\.5"/);
  }, 90_000);

  it("runs the demo for a bounded time and summarises it", async () => {
    const r = await runCli("demo", "--origins", "24", "--interval-ms", "200", "--timeout-ms", "100", "--duration-s", "3", "--plain", "--listen", "127.0.0.1:0", "--fleet-control", "127.0.0.1:0");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^heck-v1 demo: 24 origins checked every 200 ms/m);
    expect(r.stdout).toMatch(/unknown -> unhealthy .*timeout/);
    expect(r.stdout).toMatch(/unknown -> unhealthy .*refused/);
    expect(r.stdout).toMatch(/^t=\d+\.\ds\s+healthy \d+\s+unhealthy \d+/m);
    expect(r.stdout).toMatch(/demo over: \d+ checks of 24 origins/);
  }, 60_000);
});
