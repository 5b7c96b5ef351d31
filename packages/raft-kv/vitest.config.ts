import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "raft-kv", include: ["test/**/*.test.ts"] },
});
