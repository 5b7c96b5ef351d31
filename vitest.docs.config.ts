import { defineProject } from "vitest/config";

// The READMEs' and docs' transcripts, run against real processes
// (test/docs.test.ts). Fast sessions run with every `pnpm test`;
// `pnpm test:docs` runs them all. One worker: in the whole suite this file
// then runs after every other, alone, because its sessions use the fixed
// ports a reader would (the CLIs' defaults), which no test file owns.
export default defineProject({
  test: { name: "docs", include: ["test/docs.test.ts"], testTimeout: 15 * 60_000, hookTimeout: 60_000, maxWorkers: 1 },
});
