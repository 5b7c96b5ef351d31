/**
 * Who counts as a lab's live owner. The state directory is a scratch one
 * (HECK_NET_STATE_DIR), so no lab and no root are needed.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { labDir, labIsLive, pidNamespace, readOwner } from "../src/io/state.ts";
import { processStartTime } from "../src/io/system.ts";

describe("lab owners", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "hecklab-state-"));
    process.env.HECK_NET_STATE_DIR = dir;
  });
  afterEach(() => {
    delete process.env.HECK_NET_STATE_DIR;
    rmSync(dir, { recursive: true, force: true });
  });
  const owner = (k: number, line: string) => {
    mkdirSync(labDir(k), { recursive: true });
    writeFileSync(path.join(labDir(k), "owner"), line);
  };

  it("a lab is live while its owner runs, and a leftover once the owner's pid is gone or recycled", () => {
    owner(1, `${process.pid} ${processStartTime(process.pid)} ${pidNamespace()}\n`);
    expect(labIsLive(1)).toBe(true);
    owner(2, `${process.pid} 0 ${pidNamespace()}\n`);
    expect(labIsLive(2)).toBe(false);
    // Records written before the PID namespace was recorded are judged by pid alone.
    owner(3, `${process.pid} 0\n`);
    expect(readOwner(3)).toEqual({ pid: process.pid, startTime: "0" });
    expect(labIsLive(3)).toBe(false);
  });

  it("a lab owned from another PID namespace counts as live: its pid cannot be checked from here", () => {
    owner(4, `999999 0 4026531836${pidNamespace() === "4026531836" ? "0" : ""}\n`);
    expect(readOwner(4)?.pidNs).toBeDefined();
    expect(labIsLive(4)).toBe(true);
  });
});
