import { defineConfig } from "vitest/config";

// One root config: `pnpm test` runs every package's tests. Each package keeps
// its own vitest.config.ts (a project), so `pnpm --filter @heck/<pkg> test`
// also works on its own.
export default defineConfig({
  test: {
    projects: ["packages/*/vitest.config.ts", "apps/*/vitest.config.ts", "vitest.root.config.ts", "vitest.docs.config.ts"],
  },
});
