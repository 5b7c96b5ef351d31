import { describe, expect, it } from "vitest";
import { ESLint } from "eslint";
import path from "node:path";
import { fileURLToPath } from "node:url";

// The lint config's most important rule set: src/core (and src/ladder, the
// simpler designs each stage's ladder runs in the same simulation, and every
// simulation folder, src/**/sim) stays pure. These tests lint code as if it
// lived in such a folder and in src/io and check that every rule fires where
// it must and stays quiet where it must not.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const eslint = new ESLint({ cwd: root });

async function messagesFor(code: string, file: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(root, file) });
  return (result?.messages ?? []).map((m) => m.message);
}

/** Asynchrony in any form: a core hands its work back in a Ready, it never waits. */
const ASYNC_CASES: Array<[string, string]> = [
  ["an async function", "export async function f(): Promise<number> {\n  return 1;\n}\n"],
  ["an async arrow function", "export const f = async (): Promise<void> => {};\n"],
  ["an async method", "export class C {\n  async m(): Promise<void> {}\n}\n"],
  ["await", "declare const p: PromiseLike<number>;\nexport async function f(): Promise<number> {\n  return await p;\n}\n"],
  ["for await", "declare const xs: AsyncIterable<number>;\nexport async function f(): Promise<void> {\n  for await (const x of xs) void x;\n}\n"],
  ["new Promise", "export function f(): unknown {\n  return new Promise(() => {});\n}\n"],
  ["Promise.resolve", "export function f(): unknown {\n  return Promise.resolve(1);\n}\n"],
  ["a Promise-returning API", "export interface Store {\n  get(key: string): Promise<string>;\n}\n"],
  ["a PromiseLike-returning API", "export type Get = (key: string) => PromiseLike<string>;\n"],
];

describe("src/core purity lint", () => {
  const core = "packages/example/src/core/thing.ts";

  it.each([
    ["Date.now()", "export const t = Date.now();"],
    ["Math.random()", "export const r = Math.random();"],
    ["setTimeout", "setTimeout(() => {}, 10);"],
    ["setInterval", "setInterval(() => {}, 10);"],
    ["new Date()", "export const d = new Date();"],
    ["a node: import", 'import { readFileSync } from "node:fs";\nexport const f = readFileSync;'],
    ["a bare Node module import", 'import dgram from "dgram";\nexport const d = dgram;'],
    ["performance.now()", "export const p = performance.now();"],
    ...ASYNC_CASES,
  ])("rejects %s in src/core", async (_label, code) => {
    const messages = await messagesFor(code, core);
    expect(messages.some((m) => m.includes("src/core is pure"))).toBe(true);
  });

  it("accepts pure code and Math functions other than random", async () => {
    const messages = await messagesFor("export function f(nowMs: number): number {\n  return Math.max(0, Math.floor(nowMs / 2));\n}\n", core);
    expect(messages).toEqual([]);
  });

  it.each(ASYNC_CASES)("rejects %s in src/core naming the reason", async (_label, code) => {
    const messages = await messagesFor(code, core);
    expect(messages.some((m) => /src\/core is pure: no (async functions|await|for await|promises|Promise-returning APIs)/.test(m))).toBe(true);
  });

  it("allows async functions, await and promises in src/io", async () => {
    const messages = await messagesFor("export async function f(p: Promise<number>): Promise<number> {\n  return await p;\n}\n", "packages/example/src/io/driver.ts");
    expect(messages).toEqual([]);
  });

  it("allows timers and node: imports in src/io", async () => {
    const messages = await messagesFor('import { setTimeout as sleep } from "node:timers/promises";\nexport const t = Date.now();\nawait sleep(1);\n', "packages/example/src/io/driver.ts");
    expect(messages).toEqual([]);
  });
});

describe("src/ladder purity lint", () => {
  const ladder = "packages/example/src/ladder/rung.ts";

  it.each([
    ["Date.now()", "export const t = Date.now();"],
    ["Math.random()", "export const r = Math.random();"],
    ["setTimeout", "setTimeout(() => {}, 10);"],
    ["new Date()", "export const d = new Date();"],
    ["a node: import", 'import { readFileSync } from "node:fs";\nexport const f = readFileSync;'],
    ["performance.now()", "export const p = performance.now();"],
    ...ASYNC_CASES,
  ])("rejects %s in src/ladder", async (_label, code) => {
    const messages = await messagesFor(code, ladder);
    expect(messages.some((m) => m.includes("src/ladder is pure"))).toBe(true);
  });

  it("accepts a pure state machine", async () => {
    const code = "export class Rung {\n  private deadlineMs = 0;\n  tick(nowMs: number): void {\n    this.deadlineMs = nowMs + 1000;\n  }\n  nextDeadlineMs(): number {\n    return this.deadlineMs;\n  }\n}\n";
    expect(await messagesFor(code, ladder)).toEqual([]);
  });
});

describe("simulation folder purity lint", () => {
  // Every folder named sim under a src/: a stage's src/sim, and deeper ones such as src/compare/sim.
  const sims = ["packages/example/src/sim/cluster.ts", "apps/example/src/compare/sim/store.ts"];

  it.each([
    ["Date.now()", "export const t = Date.now();"],
    ["Math.random()", "export const r = Math.random();"],
    ["setTimeout", "setTimeout(() => {}, 10);"],
    ["new Date()", "export const d = new Date();"],
    ["a node: import", 'import { readFileSync } from "node:fs";\nexport const f = readFileSync;'],
    ["process", "export const e = process.env;"],
    ...ASYNC_CASES,
  ])("rejects %s in a simulation folder", async (_label, code) => {
    for (const file of sims) {
      const messages = await messagesFor(code, file);
      expect(messages.some((m) => m.includes("a simulation folder (src/**/sim) is pure")), file).toBe(true);
    }
  });

  it("accepts pure code in a simulation folder, and leaves a sim folder outside src alone", async () => {
    for (const file of sims) expect(await messagesFor("export function f(nowMs: number): number {\n  return Math.max(0, nowMs);\n}\n", file)).toEqual([]);
    expect(await messagesFor("export const t = Date.now();\n", "packages/example/bench/sim/run.ts")).toEqual([]);
  });
});
