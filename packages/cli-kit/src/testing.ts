/**
 * Test support for command lines started the way a reader starts them:
 * through `pnpm <bin>` from the repository root, and bytes thrown at the
 * ports they open.
 *
 * @packageDocumentation
 */
import { existsSync } from "node:fs";
import { connect } from "node:net";
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

/**
 * Writes `bytes` on a new TCP connection to `address` ("host:port"),
 * half-closes it, and resolves once the other side has closed too, or after
 * 2 s (a server may keep a connection it cannot read open). For sending
 * garbage to a running process: it never rejects.
 */
export async function sendRawTcp(address: string, bytes: Uint8Array): Promise<void> {
  const i = address.lastIndexOf(":");
  const socket = connect({ host: address.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(address.slice(i + 1)) });
  socket.on("error", () => {});
  socket.on("data", () => {});
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 2000);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once("connect", () => socket.end(bytes));
  });
  socket.destroy();
}
