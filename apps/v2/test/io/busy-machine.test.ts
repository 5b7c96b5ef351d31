/**
 * `heck cluster up` on a machine that is already busy says so before it
 * starts, because checks that time out for want of CPU paint healthy
 * origins red; the hint it gives is a command that parses as written.
 */
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { pnpmCommand, REPO_ROOT } from "@heck/cli-kit/testing";
import { busyMachineNote } from "../../src/io/cluster.ts";

describe("busyMachineNote", () => {
  it("stays quiet below 4 runnable tasks per core", () => {
    expect(busyMachineNote(7.9, 2, { nodes: 5, origins: 1000, store: "crdt" })).toBeUndefined();
    expect(busyMachineNote(0, 0, { nodes: 5, origins: 1000, store: "crdt" })).toBeUndefined();
  });

  it("names the load and the cores, and hints at a fifth of the origins with the same nodes and store", () => {
    const note = busyMachineNote(28.63, 2, { nodes: 5, origins: 1000, store: "raft" });
    expect(note).toBe(
      "this machine is busy (load average 28.6 on 2 cores): the agents and the fleet will wait for CPU, so checks may time out and healthy origins show red; a smaller fleet asks less of it: pnpm heck cluster up --nodes 5 --origins 200 --store raft",
    );
    // Already small: no hint to shrink further.
    expect(busyMachineNote(10, 2, { nodes: 3, origins: 50, store: "crdt" })).not.toContain("pnpm heck");
  });

  it("its hint is a command whose flags `heck cluster up` accepts, run from the repository root", { timeout: 60_000 }, () => {
    const note = busyMachineNote(28, 2, { nodes: 5, origins: 1000, store: "crdt" })!;
    const hint = note.slice(note.indexOf("pnpm heck ")).split(" ");
    const pnpm = pnpmCommand();
    // --help after the flags prints the usage instead of starting a cluster; every flag of the hint must be in it.
    const r = spawnSync(pnpm.command, [...pnpm.args, ...hint.slice(1), "--help"], { cwd: REPO_ROOT, encoding: "utf8", timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    for (const flag of hint.filter((w) => w.startsWith("--"))) expect(r.stdout).toContain(flag);
  });
});
