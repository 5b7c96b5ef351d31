import { describe, expect, it } from "vitest";
import { ESLint } from "eslint";
import path from "node:path";
import { fileURLToPath } from "node:url";

// The lint config's most important rule set: src/core (and src/ladder, the
// simpler designs each stage's ladder runs in the same simulation) stays pure.
// These tests lint code as if it lived in a package's src/core, src/ladder and
// src/io and check the rules fire where they must and stay quiet where they
// must not.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const eslint = new ESLint({ cwd: root });

async function messagesFor(code: string, file: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(root, file) });
  return (result?.messages ?? []).map((m) => m.message);
}

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
  ])("rejects %s in src/core", async (_label, code) => {
    const messages = await messagesFor(code, core);
    expect(messages.some((m) => m.includes("src/core is pure"))).toBe(true);
  });

  it("accepts pure code and Math functions other than random", async () => {
    const messages = await messagesFor("export function f(nowMs: number): number {\n  return Math.max(0, Math.floor(nowMs / 2));\n}\n", core);
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
  ])("rejects %s in src/ladder", async (_label, code) => {
    const messages = await messagesFor(code, ladder);
    expect(messages.some((m) => m.includes("src/ladder is pure"))).toBe(true);
  });

  it("accepts a pure state machine", async () => {
    const code = "export class Rung {\n  private deadlineMs = 0;\n  tick(nowMs: number): void {\n    this.deadlineMs = nowMs + 1000;\n  }\n  nextDeadlineMs(): number {\n    return this.deadlineMs;\n  }\n}\n";
    expect(await messagesFor(code, ladder)).toEqual([]);
  });
});
