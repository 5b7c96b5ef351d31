import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const BIN = fileURLToPath(new URL("../bin/heck-fleet.js", import.meta.url));

describe("heck-fleet CLI", () => {
  it("starts origins on base-port+i with the control API, and stops on SIGTERM", async () => {
    // Fixed ports inside the fleet's range (12000-12999). Ports 12400-12499 belong to this file.
    const child = spawn(process.execPath, [BIN, "--count", "3", "--base-port", "12400", "--control", "127.0.0.1:12490", "--set", "1=failing", "--json"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (c: Buffer) => {
          out += c.toString();
          if (out.includes("\n")) resolve(out.split("\n")[0]!);
        });
        child.on("exit", (code) => reject(new Error(`exited ${code}`)));
        setTimeout(() => reject(new Error("no ready line in 15 s")), 15_000);
      });
      const ready = JSON.parse(line) as { firstPort: number; lastPort: number; control: string };
      // host:port, as every stage's --json line carries addresses.
      expect(ready).toMatchObject({ firstPort: 12400, lastPort: 12402, control: "127.0.0.1:12490" });
      expect((await fetch("http://127.0.0.1:12400/")).status).toBe(200);
      expect((await fetch("http://127.0.0.1:12401/")).status).toBe(503);
      const put = await fetch(`http://${ready.control}/origins/2`, { method: "PUT", body: '{"mode":"failing","status":500}' });
      expect(put.status).toBe(200);
      expect((await fetch("http://127.0.0.1:12402/")).status).toBe(500);
      const counts = (await (await fetch(`http://${ready.control}/origins`)).json()) as { origins: Array<{ requests: number }> };
      expect(counts.origins.map((o) => o.requests)).toEqual([1, 1, 1]);
    } finally {
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    }
  }, 30_000);

  it("--workers 2 splits the origins over two worker processes behind the same control API; a killed primary leaves no worker behind", async () => {
    const child = spawn(process.execPath, [BIN, "--count", "5", "--base-port", "12410", "--control", "127.0.0.1:12491", "--workers", "2", "--set", "4=failing", "--json"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    let workerPids: number[] = [];
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (c: Buffer) => {
          out += c.toString();
          if (out.includes("\n")) resolve(out.split("\n")[0]!);
        });
        child.on("exit", (code) => reject(new Error(`exited ${code}`)));
        setTimeout(() => reject(new Error("no ready line in 15 s")), 15_000);
      });
      const ready = JSON.parse(line) as { firstPort: number; lastPort: number; control: string; pid: number; workers: number; workerPids: number[] };
      expect(ready).toMatchObject({ firstPort: 12410, lastPort: 12414, control: "127.0.0.1:12491", workers: 2 });
      workerPids = ready.workerPids;
      expect(workerPids).toHaveLength(2);
      expect(workerPids).not.toContain(ready.pid);
      // Bodies name the fleet's index, whichever worker serves it; --set reached the second worker.
      expect(await (await fetch("http://127.0.0.1:12413/")).json()).toEqual({ status: "ok", origin: 3 });
      expect((await fetch("http://127.0.0.1:12414/")).status).toBe(503);
      const put = await fetch(`http://${ready.control}/origins/0`, { method: "PUT", body: '{"mode":"failing","status":500}' });
      expect(((await put.json()) as { mode: string }).mode).toBe("failing");
      expect((await fetch("http://127.0.0.1:12410/")).status).toBe(500);
      const bad = await fetch(`http://${ready.control}/origins/1`, { method: "PUT", body: '{"mode":"sideways"}' });
      expect(bad.status).toBe(400);
      const counts = (await (await fetch(`http://${ready.control}/origins/counts`)).json()) as { totalRequests: number; requests: number[] };
      expect(counts).toEqual({ totalRequests: 3, requests: [1, 0, 0, 1, 1] });
      const stats = (await (await fetch(`http://${ready.control}/stats`)).json()) as { count: number; totalRequests: number; byMode: Record<string, number> };
      expect(stats).toMatchObject({ count: 5, totalRequests: 3, byMode: { healthy: 3, failing: 2 } });
      await fetch(`http://${ready.control}/origins/reset-counts`, { method: "POST" });
      expect(((await (await fetch(`http://${ready.control}/origins/counts`)).json()) as { requests: number[] }).requests).toEqual([0, 0, 0, 0, 0]);
      child.kill("SIGKILL");
      await exited;
      // Each worker exits when its channel to the primary closes.
      // A zombie (exited, not yet reaped by whoever adopted it) counts as gone.
      const alive = (pid: number) => {
        try {
          return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
        } catch {
          return false;
        }
      };
      for (let waited = 0; workerPids.some(alive) && waited < 10_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
      expect(workerPids.filter(alive)).toEqual([]);
    } finally {
      child.kill("SIGKILL");
      for (const pid of workerPids) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
  }, 30_000);

  it("rejects bad flags with a message naming the flag", () => {
    const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 15_000 });
    let r = run("--count", "abc");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--count must be an integer/);
    r = run("--count", "-3");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--count must be an integer from 1 to 20000, got "-3"/);
    r = run("--count", "3", "--base-port", "12400", "--control", "nohost");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--control: expected host:port/);
    r = run("--count", "3", "--base-port", "12400", "--control", "127.0.0.1:12401");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--control port 12401 falls inside/);
    r = run("--count", "3", "--workers", "4");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--workers 4 is more than the 3 origins/);
    r = run("--count", "3", "--base-port", "12400", "--control", "127.0.0.1:12490", "--set", "1=sideways");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/mode: must be one of/);
  }, 60_000);
});
