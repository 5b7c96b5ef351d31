/**
 * The CLI end to end, as a user runs it: real processes through the bin
 * shim, checking the --json shapes and the error messages.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "bin", "heck-ownership.js");
const dir = mkdtempSync(path.join(tmpdir(), "heck-ownership-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `command ...args` to completion without blocking, so the cases run concurrently; killed after 30 s. */
function spawnAsync(command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.once("close", (status) => {
      clearTimeout(timer);
      resolve({ code: status ?? -1, stdout, stderr });
    });
  });
}

const run = (...args: string[]) => spawnAsync(process.execPath, [bin, ...args]);

// Every case is its own processes and files: they run concurrently. A process start takes seconds on a
// busy machine, hence the timeout.
describe.concurrent("heck-ownership", { timeout: 60_000 }, () => {
  it("table --json: every origin with owner and failover list, loads and stats", async () => {
    const file = path.join(dir, "origins.txt");
    writeFileSync(file, "# my origins\nhttps://a.example/health\nhttps://b.example/health\n\nhttps://c.example/health\n");
    const r = await run("table", "--members", "n1,n2,n3=2", "--origins", file, "--k", "3", "--json");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.command).toBe("table");
    expect(j.scheme).toBe("rendezvous");
    expect(j.origins).toHaveLength(3);
    expect(j.origins[0].origin).toBe("https://a.example/health");
    expect(j.origins[0].priority).toHaveLength(3);
    expect(j.origins[0].owner).toBe(j.origins[0].priority[0]);
    expect(j.loads.map((l: { member: string }) => l.member)).toEqual(["n1", "n2", "n3"]);
    expect(j.loads[2].weight).toBe(2);
    expect(j.stats.origins).toBe(3);
  });

  it("diff --remove: only the dead member's origins move, each to its next choice", async () => {
    const r = await run("diff", "-m", "a,b,c,d", "-o", "2000", "--remove", "b", "--json");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.membersRemoved).toEqual(["b"]);
    expect(j.collateral).toBe(0);
    expect(j.toSecondChoice).toBe(j.movedCount);
    expect(j.moved.every((m: { from: string }) => m.from === "b")).toBe(true);
    expect(j.movedOverOptimal).toBeGreaterThan(0.8);
    expect(j.movedOverOptimal).toBeLessThan(1.2);
  });

  it("diff under jump shows collateral movement in text", async () => {
    const r = await run("diff", "-m", "a,b,c,d", "-o", "2000", "--remove", "a", "--scheme", "jump");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^jump: remove a/);
    expect(r.stdout).toMatch(/collateral [1-9][0-9]* \(moves between members that stayed: unnecessary movement\)/);
  });

  it("compare --json: a row per scheme with balance and movement", async () => {
    const r = await run("compare", "-m", "a,b,c,d,e", "-o", "3000", "--json");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.rows.map((x: { label: string }) => x.label)).toEqual([
      "rendezvous",
      "rendezvous + bounded loads (eps=0.05)",
      "ring (160 vnodes)",
      "jump",
      "maglev (M=65537)",
    ]);
    for (const row of j.rows) expect(Object.keys(row)).toEqual(expect.arrayContaining(["load", "remove", "add"]));
  });

  it("owners: one origin's failover order", async () => {
    const r = await run("owners", "https://x.example/", "-m", "a,b,c", "--json");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).owners.sort()).toEqual(["a", "b", "c"]);
  });

  it("bad input: a clear error naming the flag, exit code 2", async () => {
    const [missing, dup, k, prime, unknown] = await Promise.all([
      run("table", "-m", "a,b", "-o", path.join(dir, "nope.txt")),
      run("diff", "-m", "a,b", "-o", "10", "--remove", "z"),
      run("table", "-m", "a", "-o", "5", "--k", "0"),
      run("table", "-m", "a", "-o", "5", "--scheme", "maglev", "--table-size", "100"),
      run("table", "-m", "a", "-o", "5", "--colour", "red"),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--origins: cannot read file .*nope\.txt.*ENOENT/);
    expect(dup.code).toBe(2);
    expect(dup.stderr).toMatch(/--remove: "z" is not one of --members/);
    expect(k.stderr).toMatch(/--k: must be an integer >= 1/);
    expect(prime.stderr).toMatch(/tableSize: must be a prime/);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown option '--colour'/);
  }, 60_000);

  it("refuses a binary file as origins, naming it, exit code 2", async () => {
    const png = path.join(dir, "logo.png");
    writeFileSync(png, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0xff, 0xfe]));
    const r = await run("table", "-m", "a,b", "-o", png);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`heck-ownership: error: --origins: ${png} is not UTF-8 text (a binary file?); give a file with one origin per line\n`);
    const nul = path.join(dir, "nul.txt");
    writeFileSync(nul, "origin-1\norigin\u00002\n");
    const r2 = await run("table", "-m", "a,b", "-o", nul);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/nul\.txt:2: an origin cannot contain control characters/);
  }, 60_000);

  it("ends quietly when the reader closes the pipe (`| head`)", async () => {
    const r = await spawnAsync("bash", ["-c", `set -o pipefail; "${process.execPath}" "${bin}" diff --members 5 --origins 10000 --remove n1 --scheme jump --limit 0 | head -1`]);
    expect(r.stdout).toBe("jump: remove n1\n");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });
});
