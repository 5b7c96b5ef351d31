import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "v1-checker", include: ["test/**/*.test.ts"] },
});
