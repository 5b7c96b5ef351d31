import { defineProject } from "vitest/config";

// Every test starts real processes; on a busy machine one start takes seconds.
export default defineProject({
  test: { name: "cli-kit", include: ["test/**/*.test.ts"], testTimeout: 60_000 },
});
