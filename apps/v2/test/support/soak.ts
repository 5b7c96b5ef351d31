/**
 * Running `heck soak` from a test: the CLI as a child process, and the
 * checks every soak must pass whatever the machine's speed.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createPrng } from "@heck/sim";
import { expect } from "vitest";
import { describeSoakFault, soakSchedule } from "../../src/soak/schedule.ts";
import { scheduleTiming } from "../../src/soak/run.ts";

const HECK = fileURLToPath(new URL("../../bin/heck.js", import.meta.url));

/** Runs `heck <args>`; rejects (after a Ctrl-C to it) past `timeoutMs`. */
export function heck(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HECK, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGINT");
      reject(new Error(`heck ${args.join(" ")} ran past ${timeoutMs} ms; stdout so far:\n${stdout.slice(-2000)}\nstderr:\n${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The soak's last line (the fields these tests read). */
export type SoakLine = {
  seed: number;
  store: string;
  faults: string;
  lostOrigins: number;
  answers: { full: number; empty: number; partial: number; none: number };
  coveragePct: number;
  checksPerOriginPerInterval: Record<string, number | null>;
  agreementMs: { count: number };
  steps: Array<{ atMs: number; ranAtMs: number; fault: string }>;
};

/** Runs a short soak and checks what every soak must print and hold, whatever the machine's speed. */
export async function shortSoak(args: string[], o: { seed: number; durationMs: number; agents: number; origins: number }): Promise<SoakLine> {
  const r = await heck(["soak", "--agents", String(o.agents), "--origins", String(o.origins), "--interval-ms", "500", "--duration", String(o.durationMs), "--seed", String(o.seed), ...args], 240_000);
  expect(r.code, `stderr: ${r.stderr.slice(-2000)}`).toBe(0);
  const lines = r.stdout.trimEnd().split("\n");
  expect(lines[0]).toMatch(new RegExp(`^soak: HECK_SEED=${o.seed}, `));
  expect(lines).toContain("| figure | value |");
  expect(lines.at(-2)).toMatch(/^replay this schedule: pnpm heck soak .* --seed \d+/);
  const last = JSON.parse(lines.at(-1)!) as SoakLine;
  expect(last.seed).toBe(o.seed);
  // Every fault of the seed's schedule ran (none failed), and was printed with its time.
  const agents = Array.from({ length: o.agents }, (_, i) => `n${i + 1}`);
  const expected = soakSchedule({ prng: createPrng(o.seed).fork("soak"), agents, origins: o.origins, durationMs: o.durationMs, ...scheduleTiming(o.durationMs) });
  expect(expected.length).toBeGreaterThan(0);
  const sorted = [...last.steps].sort((a, b) => a.atMs - b.atMs || a.fault.localeCompare(b.fault));
  expect(sorted.map((s) => s.fault)).toEqual([...expected].sort((a, b) => a.atMs - b.atMs || describeSoakFault(a.fault).localeCompare(describeSoakFault(b.fault))).map((s) => describeSoakFault(s.fault)));
  for (const s of last.steps) expect(lines.some((l) => /^t=\s*\d+\.\d s {2}/.test(l) && l.includes(s.fault))).toBe(true);
  // What must hold on any machine: nothing lost, no agent listing fewer origins than there are.
  expect(last.lostOrigins).toBe(0);
  expect(last.answers.empty).toBe(0);
  expect(last.answers.partial).toBe(0);
  expect(last.answers.full).toBeGreaterThan(0);
  expect(last.coveragePct).toBeGreaterThan(0);
  // The fleet answered its counters while it served the checks: some time has a checks-per-interval figure.
  expect(Object.values(last.checksPerOriginPerInterval).some((v) => v !== null), "the fleet's counters were never read").toBe(true);
  return last;
}

