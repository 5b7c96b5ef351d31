import { defineProject } from "vitest/config";

// Tests of the repository itself (lint rules, CI script), not of one package.
export default defineProject({
  // Linting and starting processes take seconds each on a busy machine, hence the timeout.
  test: { name: "repo", include: ["test/**/*.test.ts"], exclude: ["test/docs.test.ts", "**/node_modules/**"], testTimeout: 60_000 },
});
