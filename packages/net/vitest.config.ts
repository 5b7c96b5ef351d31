import { defineProject } from "vitest/config";

// Lab tests build namespaces and start processes: bounded, but slow on a busy machine.
export default defineProject({
  test: { name: "net", include: ["test/**/*.test.ts"], testTimeout: 60_000, hookTimeout: 120_000 },
});
