import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "scope", include: ["test/**/*.test.ts"] },
});
