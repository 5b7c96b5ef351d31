import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "v2", include: ["test/**/*.test.ts"] },
});
