import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "swim", include: ["test/**/*.test.ts"] },
});
