#!/usr/bin/env node
// The whole test suite, as CI runs it: system dependencies, lint, typecheck,
// then every package's vitest project through the root config. vitest's own
// summary is not what CI reads: the last line printed here is
// `N passed, N failed`, summed over every package from vitest's JSON reporter
// (lint and typecheck count as one check each), and the exit code is non-zero
// on any failure.
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const resultsFile = path.join(root, ".vitest-results.json");
const bin = (name) => path.join(root, "node_modules", ".bin", name);
let passed = 0;
let failed = 0;

function run(label, cmd, args, opts = {}) {
  const started = Date.now();
  console.log(`\n=== ${label}: ${cmd} ${args.join(" ")}`);
  const res = spawnSync(cmd, args, { cwd: root, stdio: "inherit", ...opts });
  const ok = res.status === 0;
  console.log(`=== ${label}: ${ok ? "ok" : `FAILED (exit ${res.status ?? res.signal})`} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return ok;
}

// 1. What the tests need from Debian (etcd for --store etcd, chromium for the
// dashboard test): installed by our own script, never by hand.
if (!run("system deps", "bash", [path.join(root, "scripts/ensure-system-deps.sh"), "test"])) {
  console.log("warning: system dependencies could not be installed; tests that need them will fail and say so");
}

// 2. Static checks, each counted as one check. The typecheck is `pnpm
// typecheck`'s: every package in one program, each source checked once
// (per-package programs check each dependency's sources again), and
// heck-scope, whose page has the DOM's types, in its own.
for (const [label, cmd, args] of [
  ["lint", bin("eslint"), ["."]],
  ["typecheck", bin("tsc"), ["-p", "tsconfig.all.json"]],
  ["typecheck (heck-scope, with the DOM)", bin("tsc"), ["-p", "packages/scope/tsconfig.json"]],
]) {
  if (run(label, cmd, args)) passed += 1;
  else failed += 1;
}

// 3. Every package's tests through the root vitest config. CI runs as root,
// where the network lab's suites must run: HECK_NET_REQUIRED=1 turns "cannot
// build a lab here" from a visible skip into a failure.
if (existsSync(resultsFile)) rmSync(resultsFile);
const extra = process.argv.slice(2);
const testEnv = { ...process.env, ...(process.platform === "linux" && process.getuid?.() === 0 ? { HECK_NET_REQUIRED: "1" } : {}) };
run("tests", bin("vitest"), ["run", "--reporter=default", "--reporter=json", `--outputFile.json=${resultsFile}`, ...extra], { env: testEnv });
if (existsSync(resultsFile)) {
  const report = JSON.parse(readFileSync(resultsFile, "utf8"));
  passed += report.numPassedTests ?? 0;
  failed += report.numFailedTests ?? 0;
  // A test file that fails to load has no failed tests but fails the run:
  // count each such file as one failure so it cannot hide.
  for (const file of report.testResults ?? []) {
    const fileFailedTests = (file.assertionResults ?? []).filter((a) => a.status === "failed").length;
    if (file.status === "failed" && fileFailedTests === 0) {
      failed += 1;
      console.log(`failed to run: ${path.relative(root, file.name)}: ${(file.message ?? "").split("\n")[0]}`);
    }
  }
} else {
  console.log("vitest wrote no JSON report");
  failed += 1;
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
