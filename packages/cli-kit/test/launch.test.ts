import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

// The launcher every bin starts through: a small TypeScript package in a temp
// dir, started in real processes the way a bin starts its CLI (argv[1] is a
// stand-in for the script path a bin would have). The cases run
// in order: each builds on the cache the one before left.
const launcher = pathToFileURL(fileURLToPath(new URL("../launch/run.js", import.meta.url))).href;
let pkg = "";
let cache = "";

function start(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const script = `const { importEntry } = await import(${JSON.stringify(launcher)}); await importEntry(${JSON.stringify(pathToFileURL(path.join(pkg, "src", "cli.ts")).href)}, { name: "fixture" });`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script, "--", "cli", ...args], { env: { ...process.env, HECK_TSX: "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on("close", (status) => resolve({ status, stdout, stderr })));
}

const bundles = () => readdirSync(cache).filter((n) => n.includes("@"));

beforeAll(() => {
  pkg = mkdtempSync(path.join(tmpdir(), "heck-launch-"));
  cache = path.join(pkg, "node_modules", ".cache", "heck-bundles");
  mkdirSync(path.join(pkg, "src"));
  writeFileSync(path.join(pkg, "package.json"), JSON.stringify({ name: "fixture", type: "module" }));
  writeFileSync(
    path.join(pkg, "src", "cli.ts"),
    [
      `import { greeting } from "./greeting.ts";`,
      `const args: string[] = process.argv.slice(2);`,
      `console.log(greeting(), import.meta.url);`,
      `if (args[0] === "lazy") (await import("./lazy.ts")).lazy();`,
      `if (args[0] === "throw") throw new Error("thrown on line 5");`,
      "",
    ].join("\n"),
  );
  writeFileSync(path.join(pkg, "src", "greeting.ts"), `export const greeting = (): string => "hello";\n`);
  writeFileSync(path.join(pkg, "src", "lazy.ts"), `console.log("lazy loaded");\nexport function lazy(): void {\n  console.log("lazy ran");\n}\n`);
});

afterAll(() => rmSync(pkg, { recursive: true, force: true }));

describe("importEntry", () => {
  it("bundles on the first start and runs the bundle from then on, with each source's own import.meta.url", async () => {
    const first = await start([]);
    expect(first.stderr).toBe("");
    expect(first.stdout).toBe(`hello ${pathToFileURL(path.join(pkg, "src", "cli.ts")).href}\n`);
    expect(bundles()).toHaveLength(1);
    const again = await start([]);
    expect(again.stdout).toBe(first.stdout);
    expect(bundles()).toHaveLength(1);
  });

  it("keeps a dynamic import lazy: the module loads only when the command reaches it", async () => {
    expect((await start([])).stdout).not.toContain("lazy");
    expect((await start(["lazy"])).stdout).toContain("lazy loaded\nlazy ran\n");
  });

  it("never runs a stale bundle: an edit of the same size, even with the old modification time, rebuilds", async () => {
    const file = path.join(pkg, "src", "greeting.ts");
    writeFileSync(file, `export const greeting = (): string => "howdy";\n`);
    utimesSync(file, new Date(2020, 0, 1), new Date(2020, 0, 1));
    expect((await start([])).stdout).toMatch(/^howdy /);
    expect(bundles()).toHaveLength(2);
  });

  it("rebuilds nothing when a file is only touched", async () => {
    utimesSync(path.join(pkg, "src", "cli.ts"), new Date(), new Date());
    expect((await start([])).stdout).toMatch(/^howdy /);
    expect(bundles()).toHaveLength(2);
  });

  it("names the .ts file and line in a stack trace", async () => {
    const r = await start(["throw"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${path.join(pkg, "src", "cli.ts")}:5:`);
  });

  it("runs through tsx with HECK_TSX=1, and when the bundle cannot be built", async () => {
    expect((await start([], { HECK_TSX: "1" })).stdout).toMatch(/^howdy /);
    writeFileSync(path.join(pkg, "src", "greeting.ts"), `export const greeting = (): string => "broken" +;\n`);
    const r = await start([]);
    expect(r.stderr).toContain("fixture: bundling with esbuild failed");
    expect(r.status).not.toBe(0);
    expect(existsSync(cache)).toBe(true);
  });
});
