/**
 * Test support for command lines started the way a reader starts them:
 * through `pnpm <bin>` from the repository root.
 *
 * @packageDocumentation
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (where `pnpm <bin>` is run from). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

/**
 * How to run pnpm here: the `pnpm` on PATH, or the pnpm running the tests
 * (`npm_execpath`, set when tests were started through `pnpm test`). Throws
 * when neither exists: a test of "what `pnpm heck ...` does" must not
 * quietly run something else.
 */
export function pnpmCommand(): { command: string; args: string[] } {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir !== "" && existsSync(path.join(dir, "pnpm"))) return { command: path.join(dir, "pnpm"), args: [] };
  }
  const execPath = process.env.npm_execpath;
  if (execPath !== undefined && /pnpm/.test(execPath)) return { command: process.execPath, args: [execPath] };
  throw new Error("pnpm is neither on PATH nor the package manager running the tests");
}
