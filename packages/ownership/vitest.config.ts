import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "ownership", include: ["test/**/*.test.ts"] },
});
