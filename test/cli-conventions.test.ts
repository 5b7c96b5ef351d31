import { spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// Every command line behaves one way (the root README's "Every command line
// behaves the same way"): exit 2 when called wrong, a closed pipe ends the
// output quietly, Ctrl-C takes the graceful path. @heck/cli-kit implements
// each once and tests it in real processes; this checks that every bin the
// workspace declares is built on it, and runs each one called wrong.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

interface Bin {
  name: string;
  /** The bin's script, absolute. */
  script: string;
  /** The package's src/cli.ts, absolute. */
  cli: string;
}

function workspaceBins(): Bin[] {
  const out: Bin[] = [];
  for (const group of ["packages", "apps"]) {
    for (const dir of readdirSync(path.join(root, group)).sort()) {
      const manifest = path.join(root, group, dir, "package.json");
      if (!existsSync(manifest)) continue;
      const bin = (JSON.parse(readFileSync(manifest, "utf8")) as { bin?: Record<string, string> }).bin ?? {};
      for (const [name, script] of Object.entries(bin)) out.push({ name, script: path.join(root, group, dir, script), cli: path.join(root, group, dir, "src", "cli.ts") });
    }
  }
  return out;
}

// heck-scope, the simulation viewer, is not one of the stages' command lines and is not yet on the kit.
const bins = workspaceBins().filter((b) => b.name !== "heck-scope");

/** Runs `node <script> <args>` with bounded time; resolves with its exit code and stderr. */
function run(script: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { cwd: root, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(killer);
      resolve({ code, stderr });
    });
  });
}

describe("every command line", () => {
  it("the workspace declares the ten bins the READMEs run", () => {
    expect(bins.map((b) => b.name).sort()).toEqual(["heck", "heck-crdt", "heck-fleet", "heck-memberlist", "heck-net", "heck-ownership", "heck-raft", "heck-sim", "heck-swim", "heck-v1"]);
  });

  it.each(bins.map((b) => [b.name, b] as const))("%s is built on @heck/cli-kit (exit codes, closed pipes)", (_name, bin) => {
    const source = readFileSync(bin.cli, "utf8");
    expect(source).toMatch(/from "@heck\/cli-kit"/);
    expect(source).toMatch(/\bhandleClosedPipes\(/);
    expect(source).toMatch(/\bexitCodesForUsageErrors\(/);
  });

  it.concurrent.each(bins.map((b) => [b.name, b] as const))("%s called with an unknown flag exits 2 and names the flag", { timeout: 90_000 }, async (_name, bin) => {
    const r = await run(bin.script, ["--no-such-flag"]);
    // heck-memberlist hands its flags to the Go reference member, whose flag package writes "-no-such-flag".
    expect(r.stderr).toContain("no-such-flag");
    expect(r.code).toBe(2);
  });
});
