import { readdirSync } from "node:fs";
import { defineConfig, type TestProjectConfiguration } from "vitest/config";

// One root config: `pnpm test` runs every package's tests. Each package keeps
// its own vitest.config.ts (a project), so `pnpm --filter @heck/<pkg> test`
// also works on its own.
//
// Two test files run at a time: most of the suite waits on processes,
// sockets and timers rather than computing, so a second file uses the core
// the first leaves idle. Two files never share a fixed port: each file that
// binds one owns a declared range (test/port-ranges.test.ts holds them to it).

/**
 * Files that run alone, after the others, one at a time: those that hold
 * real processes to a time bound the CPU they get decides (the kernel-fault
 * chaos files; v2's clusters, which must fail over within the detection
 * bound plus one interval; v2's CLI, whose graceful leave must reach the
 * seed within its 2 s leave window; v1's checks against 200-500 ms
 * timeouts), and the
 * browser tests, whose Chromium takes a core of its own. They stay in their
 * package's project when it runs on its own (`pnpm --filter <pkg> test`); in
 * the whole suite they form project `alone`.
 */
const RUN_ALONE = [
  "packages/swim/test/chaos.test.ts",
  "packages/raft-kv/test/chaos.test.ts",
  "packages/crdt-kv/test/chaos.test.ts",
  "apps/v2/test/cluster/crdt.test.ts",
  "apps/v2/test/cluster/raft.test.ts",
  "apps/v2/test/cluster/etcd.test.ts",
  "apps/v2/test/cli.test.ts",
  "packages/v1-checker/test/engine.integration.test.ts",
  "packages/v1-checker/test/http-probe-stall.test.ts",
  "packages/scope/test/browser.test.ts",
  "apps/v2/test/dashboard/dashboard.test.ts",
];

/** The project of one package directory, without its files that run alone. */
function packageProject(dir: string): TestProjectConfiguration {
  const config = `./${dir}/vitest.config.ts`;
  const alone = RUN_ALONE.filter((f) => f.startsWith(`${dir}/`)).map((f) => f.slice(dir.length + 1));
  if (alone.length === 0) return config;
  return { extends: config, root: `./${dir}`, test: { exclude: ["**/node_modules/**", ...alone] } };
}

const packageDirs = ["packages", "apps"].flatMap((group) => readdirSync(group, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => `${group}/${d.name}`));

export default defineConfig({
  test: {
    maxWorkers: 2,
    projects: [
      ...packageDirs.filter((dir) => readdirSync(dir).includes("vitest.config.ts")).map(packageProject),
      // A project with one worker runs after every other, one file at a time (vitest's sequential group).
      { test: { name: "alone", include: RUN_ALONE, maxWorkers: 1 } },
      "vitest.root.config.ts",
      // The docs' transcripts run alone too: their sessions use the fixed ports a reader would.
      "vitest.docs.config.ts",
    ],
  },
});
