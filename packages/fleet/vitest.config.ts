import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "fleet", include: ["test/**/*.test.ts"] },
});
