// Bundles src/cli.ts with esbuild and prints the path of the result, a file
// named by its content hash under <tmpdir>/heck-v1-cli (written once, by
// rename, so concurrent starts never see half a file). Exit code 3: esbuild
// is not installed. Run by bin/heck-v1.js in a child process, so the CLI's
// own process never loads esbuild.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

let esbuild;
try {
  esbuild = await import("esbuild");
} catch {
  process.exit(3);
}
const result = await esbuild.build({
  entryPoints: [fileURLToPath(new URL("../src/cli.ts", import.meta.url))],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  write: false,
  logLevel: "silent",
  banner: { js: "import { createRequire as __heckRequire } from 'node:module'; const require = __heckRequire(import.meta.url);" },
});
const code = result.outputFiles[0].contents;
const dir = join(tmpdir(), "heck-v1-cli");
const file = join(dir, `${createHash("sha256").update(code).digest("hex").slice(0, 16)}.mjs`);
if (!existsSync(file)) {
  mkdirSync(dir, { recursive: true });
  const partial = `${file}.${process.pid}`;
  writeFileSync(partial, code);
  renameSync(partial, file);
}
process.stdout.write(file + "\n");
process.exit(0);
