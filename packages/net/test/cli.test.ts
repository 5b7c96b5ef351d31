/**
 * `heck-net` as a user runs it: up in the foreground, faults from another
 * process, ls, down; refusals with clear messages.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it, onTestFinished } from "vitest";
import { describeWithLab } from "./support/index.ts";

const BIN = fileURLToPath(new URL("../bin/heck-net.js", import.meta.url));
/** Runs heck-net to completion; stdout carries stderr after it on failure, so an assertion on stdout shows why. */
const cli = (args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stderr: r.stderr, stdout: r.status === 0 ? r.stdout : `${r.stdout}\n[exit ${r.status ?? r.signal}] ${r.stderr}` };
};

describeWithLab("heck-net", () => {
  it("up prints the contract line; partition, impair, ls and heal work from other processes; down tears it down", async () => {
    const up = spawn(process.execPath, [BIN, "up", "--names", "n1,n2,n3", "--json"], { stdio: ["ignore", "pipe", "pipe"] });
    const exited = new Promise<number | null>((r) => up.once("exit", (code) => r(code)));
    // Whatever fails below, the lab's owner is stopped (and tears the lab down).
    onTestFinished(() => {
      if (up.exitCode === null && up.signalCode === null) up.kill("SIGTERM");
    });
    const line = await new Promise<string>((resolve, reject) => {
      let out = "";
      up.stdout!.on("data", (c: Buffer) => {
        out += c.toString();
        if (out.includes("\n")) resolve(out.split("\n")[0]!);
      });
      up.once("exit", (code) => reject(new Error(`up exited ${code}`)));
    });
    const contract = JSON.parse(line) as { lab: string; subnet: string; root: string; backend: string; hosts: Array<{ name: string; netns: string; address: string }> };
    expect(contract.hosts.map((h) => h.name)).toEqual(["n1", "n2", "n3"]);
    expect(contract.hosts[0]!.netns).toBe(`${contract.lab}-n1`);
    expect(["netem", "queue"]).toContain(contract.backend);
    const lab = ["--lab", contract.lab.split("-")[1]!];

    const part = cli(["partition", "n1", "n2,n3", ...lab]);
    expect(part.stdout).toContain("faults now: cut n1 <-/-> n2; cut n1 <-/-> n3");
    const imp = cli(["impair", "--loss", "5%", "--delay", "50ms", "--jitter", "10", "--from", "n2", "--to", "n3", ...lab]);
    expect(imp.status).toBe(0);
    expect(imp.stdout).toContain("n2 -> n3: loss 5%, delay 50±10 ms");
    const ls = JSON.parse(cli(["ls", "--json"]).stdout) as Array<{ name: string; live: boolean; faults: string[] }>;
    expect(ls.find((l) => l.name === contract.lab)).toMatchObject({ live: true, faults: ["cut n1 <-/-> n2", "cut n1 <-/-> n3", "n2 -> n3: loss 5%, delay 50±10 ms"] });
    const run = cli(["run", "n2", ...lab, "--", "ip", "-br", "-4", "addr", "show", "eth0"]);
    expect(run.stdout).toContain(contract.hosts[1]!.address);
    expect(cli(["heal", "--cuts", ...lab]).stdout).toContain("faults now: n2 -> n3");
    expect(cli(["heal", ...lab]).stdout).toContain("faults now: none");

    const down = cli(["down", ...lab]);
    expect(down.stdout).toContain(`${contract.lab}: torn down`);
    expect(await exited).toBe(0);
    expect(existsSync(`/run/netns/${contract.lab}-n1`)).toBe(false);
  }, 120_000);

});

describe("heck-net input", () => {
  it("refuses bad values naming the problem, before looking for a lab", () => {
    expect(cli(["loss", "150%"]).stderr).toMatch(/<pct> must be a percentage in 0\.\.100/);
    expect(cli(["delay", "2min"]).stderr).toMatch(/<ms> must be a duration up to 60 s/);
    expect(cli(["impair", "--loss", "x"]).stderr).toMatch(/--loss must be a percentage/);
    expect(cli(["impair"]).stderr).toMatch(/give at least one of --loss/);
    expect(cli(["up", "--names", "a,a"]).stderr).toMatch(/host a: named twice/);
  }, 60_000);
});

describe("heck-net without root", () => {
  const setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].find((p) => existsSync(p));
  it.skipIf(setpriv === undefined || process.getuid?.() !== 0)("says it needs root and exits 2 (skipped unless root with setpriv, to drop to nobody)", () => {
    const r = spawnSync(setpriv!, ["--reuid=65534", "--regid=65534", "--clear-groups", "env", "HOME=/tmp", process.execPath, BIN, "up", "--hosts", "2"], { encoding: "utf8", timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("heck-net: the network lab needs root to create network namespaces (running as uid 65534)");
  }, 60_000);
});
