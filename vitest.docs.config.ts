import { defineProject } from "vitest/config";

// The READMEs' and docs' transcripts, run against real processes
// (test/docs.test.ts). Fast sessions run with every `pnpm test`;
// `pnpm test:docs` runs them all.
export default defineProject({
  test: { name: "docs", include: ["test/docs.test.ts"], testTimeout: 15 * 60_000, hookTimeout: 60_000 },
});
