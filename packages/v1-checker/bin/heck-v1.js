#!/usr/bin/env node
// Runs the TypeScript CLI with no build step to remember: at start, a short
// child process bundles src/cli.ts with esbuild into one JavaScript file
// (kept under the system's temp directory by content hash, so reruns of the
// same code share it), and this process runs that file. Running through
// tsx's loader instead would keep a second V8 isolate for the loader hooks,
// and loading esbuild here would keep its state: about 35 and 13 MB of RSS
// that a checker holding 10,000 origins in 256 MB cannot spare. The
// benchmark compiles its worker the same way. Without esbuild, or with
// HECK_V1_TSX=1, it falls back to tsx.
import { spawnSync } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";

const builder = fileURLToPath(new URL("./bundle-cli.js", import.meta.url));

function bundled() {
  if (process.env.HECK_V1_TSX === "1") return undefined;
  const r = spawnSync(process.execPath, [builder], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (r.status === 0 && r.stdout.trim() !== "") return r.stdout.trim();
  if (r.status !== 3) process.stderr.write(`heck-v1: bundling with esbuild failed (${(r.stderr || r.error?.message || "").trim().split("\n")[0]}); running through tsx\n`);
  return undefined;
}

const file = bundled();
if (file !== undefined) await import(pathToFileURL(file).href);
else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../src/cli.ts");
}
