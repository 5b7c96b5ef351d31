/**
 * The `heck` CLI as the workspace installs it. apps/v2 depends on this
 * package (to offer `heck compare` and `heck ladder`), never the reverse, so
 * the tests that run those commands end to end find `heck` the way
 * `pnpm heck` does: through the repository root's dependency on @heck/v2,
 * whose package.json names the bin.
 */
import { readFileSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { findRepoRoot } from "../../src/command.ts";

/** The repository root (the directory holding pnpm-workspace.yaml). */
export const ROOT = findRepoRoot(fileURLToPath(new URL(".", import.meta.url)))!;

/** The path of the script `heck` runs (start it with `process.execPath`). */
export function heckBin(): string {
  const dir = realpathSync(join(ROOT, "node_modules", "@heck", "v2"));
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { bin: { heck: string } };
  return join(dir, pkg.bin.heck);
}
