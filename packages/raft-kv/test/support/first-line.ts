import type { ChildProcessWithoutNullStreams, ChildProcessByStdio } from "node:child_process";
import type { Readable } from "node:stream";

/**
 * The first line a child prints on stdout (e.g. `cluster up --json`'s
 * contract line); rejects if it exits first or prints none within
 * `timeoutMs`, quoting what it printed so far.
 */
export function firstStdoutLine(child: ChildProcessWithoutNullStreams | ChildProcessByStdio<null, Readable, Readable>, timeoutMs = 40_000): Promise<string> {
  let out = "";
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no line within ${timeoutMs / 1000} s; stdout so far: ${out}`)), timeoutMs);
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("\n")) {
        clearTimeout(timer);
        resolve(out.slice(0, out.indexOf("\n")));
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the process exited with ${code} before printing a line`));
    });
  });
}
