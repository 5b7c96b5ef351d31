import { defineProject } from "vitest/config";

// Tests of the repository itself (lint rules, CI script), not of one package.
export default defineProject({
  test: { name: "repo", include: ["test/**/*.test.ts"], exclude: ["test/docs.test.ts", "**/node_modules/**"] },
});
