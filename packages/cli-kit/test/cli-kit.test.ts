import { describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

// The conventions every Heck CLI shares, checked on a small command line
// built on the kit (test/fixtures/cli-fixture.ts) in real processes, started
// as the bins start theirs (test/fixtures/cli-fixture.js).
const here = path.dirname(fileURLToPath(import.meta.url));
const fixture = path.join(here, "fixtures", "cli-fixture.js");
const node = (args: string[]) => spawnSync(process.execPath, [fixture, ...args], { encoding: "utf8", timeout: 30_000 });

describe("a closed pipe", () => {
  it("ends the output quietly with exit 0, not an EPIPE stack trace", () => {
    const r = spawnSync("bash", ["-c", `set -o pipefail; "${process.execPath}" "${fixture}" print 200000 | head -1`], { encoding: "utf8", timeout: 30_000 });
    expect(r.stdout).toBe("line 0\n");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});

describe("exit codes", () => {
  it("exits 2 for a malformed flag, after commander's message", () => {
    const r = node(["count", "--count", "-3"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--count/);
  });

  it("exits 2 for an unknown option or a missing one, and for validation commander cannot do", () => {
    expect(node(["count", "--colour", "red"]).status).toBe(2);
    expect(node(["count"]).status).toBe(2);
    const r = node(["count", "--count", "5", "--max", "3"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("fixture: --max must be at least --count\n");
  });

  it("still exits 0 for --help and for a command that worked", () => {
    expect(node(["--help"]).status).toBe(0);
    const r = node(["count", "--count", "5"]);
    expect([r.status, r.stdout]).toEqual([0, "count 5\n"]);
  });
});

/** Starts `serve`, waits for "ready", sends `signals` (the second after `gapMs`), resolves with the exit and output. */
function serveAndSignal(signals: NodeJS.Signals[], gapMs: number): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fixture, "serve"], { stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    let sent = false;
    const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
      if (!sent && stdout.includes("ready\n")) {
        sent = true;
        child.kill(signals[0]);
        if (signals[1] !== undefined) setTimeout(() => child.kill(signals[1]), gapMs);
      }
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(killer);
      resolve({ code, stdout });
    });
  });
}

describe("Ctrl-C", () => {
  it("takes the graceful path once when pnpm relays it as SIGTERM a moment later", async () => {
    const r = await serveAndSignal(["SIGINT", "SIGTERM"], 1);
    // Sent 1 ms apart, the two can reach Node's handlers in either order (the kernel may hand each to a
    // different thread of the process); either way they are one request: one graceful stop, then the exit.
    expect(r.stdout).toMatch(/^ready\ngraceful stop on SIG(INT|TERM)\nstopped\n$/);
    expect(r.code).toBe(0);
  });

  it("forces the exit on a second Ctrl-C (130, the shell's code for SIGINT)", async () => {
    const r = await serveAndSignal(["SIGINT", "SIGINT"], 50);
    expect(r.stdout).toBe("ready\ngraceful stop on SIGINT\n");
    expect(r.code).toBe(130);
  });

  it("treats SIGTERM alone as a graceful stop", async () => {
    const r = await serveAndSignal(["SIGTERM"], 0);
    expect(r.stdout).toBe("ready\ngraceful stop on SIGTERM\nstopped\n");
    expect(r.code).toBe(0);
  });
});
