/**
 * `heck cluster up` as a learner runs it: the banner, and what Ctrl-C
 * leaves behind (the agents' logs, which the banner points at, stay; their
 * data goes).
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { until } from "./support/wait.ts";

// Ports 19600-19799 belong to this file.
const HECK = fileURLToPath(new URL("../bin/heck.js", import.meta.url));

describe("heck cluster up", () => {
  it("keeps the agents' logs on Ctrl-C, says where, and removes their data", { timeout: 120_000 }, async () => {
    const child = spawn(process.execPath, [HECK, "cluster", "up", "--nodes", "2", "--origins", "2", "--base-port", "19600", "--interval-ms", "500"], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    let logs: string | undefined;
    try {
      await until(() => stdout.includes("Ctrl-C stops everything."), 90_000, `the banner (stderr: ${stderr.slice(-500)})`);
      const m = /^ {2}logs {8}(\S+)\/<id>\.log {3}\(kept after Ctrl-C\)$/m.exec(stdout);
      expect(m, stdout).not.toBeNull();
      logs = m![1]!;
      expect(readdirSync(logs).sort()).toEqual(["n1", "n1.log", "n2", "n2.log"]);
    } finally {
      child.kill("SIGINT");
    }
    expect(await exited).toBe(0);
    try {
      expect(stderr).toContain(`heck cluster: stopped; the agents' logs are kept in ${logs} (rm -r ${logs} removes them)`);
      expect(readdirSync(logs).sort()).toEqual(["n1.log", "n2.log"]);
      expect(readFileSync(`${logs}/n1.log`, "utf8")).toMatch(/\[n1\] agent up: api http:\/\/127\.0\.0\.1:19601/);
    } finally {
      if (logs !== undefined && existsSync(logs)) rmSync(logs, { recursive: true, force: true });
    }
  });
});
