#!/usr/bin/env node
// Runs a hashicorp/memberlist 0.2.2 member you can drive from a terminal: the
// project's Go driver (bench/memberlist-node/main.go), built once from
// Debian's packages and cached. Flags (-name, -bind, -preset, -meta, -key,
// ...) and stdin commands (members, stats, meta <text>, leave, quit) are
// listed at the top of main.go; events print as JSON lines.
import { spawn } from "node:child_process";
import { importEntry } from "@heck/cli-kit/launch";
const { memberlistNodeBinary } = await importEntry(new URL("../bench/memberlist-build.ts", import.meta.url), { name: "heck-memberlist" });
let bin;
try {
  bin = memberlistNodeBinary();
} catch (e) {
  process.stderr.write(`heck-memberlist: ${e.message}\n`);
  process.exit(1);
}
const child = spawn(bin, process.argv.slice(2), { stdio: "inherit" });
// Ctrl-C reaches the Go member too (same process group); it stops without a goodbye, like a crash.
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal === "SIGINT" ? 130 : 1)));
