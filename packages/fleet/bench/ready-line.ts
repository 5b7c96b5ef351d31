/**
 * The benchmarks' wait for a started heck-fleet: its first stdout line (the
 * `--json` ready line), or a rejection if it exits first.
 */
import type { ChildProcess } from "node:child_process";

export function readyLine(child: ChildProcess): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      if (out.includes("\n")) resolve(out.split("\n")[0]!);
    });
    child.on("exit", (code) => reject(new Error(`heck-fleet exited with ${code}`)));
  });
}
