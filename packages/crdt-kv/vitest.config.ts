import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "crdt-kv", include: ["test/**/*.test.ts"] },
});
