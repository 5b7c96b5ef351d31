import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { defaultConfig } from "../apps/v2/src/core/config.ts";

// Commands a learner runs from the repository root must not leave data in
// the tree: every default data directory is under the git-ignored scratch
// folder `.heck/`, and the names older defaults used are ignored too.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function ignored(relative: string): boolean {
  return spawnSync("git", ["check-ignore", "-q", relative], { cwd: root }).status === 0;
}

describe("default data directories", () => {
  it("heck agent's default data directory is git-ignored", () => {
    const dir = defaultConfig("n9").dataDir;
    expect(dir).toBe(".heck/data/n9");
    expect(ignored(`${dir}/crdt/wal`)).toBe(true);
  });

  it("heck-raft cluster up's default data directory is git-ignored", { timeout: 30_000 }, () => {
    const help = spawnSync(process.execPath, [path.join(root, "packages/raft-kv/bin/heck-raft.js"), "cluster", "up", "--help"], { encoding: "utf8" });
    const m = /--data-dir <dir>[\s\S]*?\(default:\s+"([^"]+)"\)/.exec(help.stdout);
    expect(m?.[1]).toBe(".heck/raft-cluster");
    expect(ignored(`${m![1]}/n1.log`)).toBe(true);
  });

  it("heck-crdt cluster up's default data directory is git-ignored", { timeout: 30_000 }, () => {
    const help = spawnSync(process.execPath, [path.join(root, "packages/crdt-kv/bin/heck-crdt.js"), "cluster", "up", "--help"], { encoding: "utf8" });
    const m = /--data-dir <dir>[\s\S]*?\(default:\s+"([^"]+)"\)/.exec(help.stdout);
    expect(m?.[1]).toBe(".heck/crdt-cluster");
    expect(ignored(`${m![1]}/cluster.json`)).toBe(true);
  });

  it("the directories older defaults created are ignored", () => {
    expect(ignored("heck-data/n1/crdt/wal")).toBe(true);
    expect(ignored("heck-raft-data/n1.log")).toBe(true);
    expect(ignored("heck-crdt-data/cluster.json")).toBe(true);
  });
});
