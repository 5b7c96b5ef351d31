#!/usr/bin/env node
// Runs the TypeScript CLI straight from source through tsx, so `pnpm heck-scope`
// works right after install with no build step.
import { register } from "tsx/esm/api";
register();
await import("../src/cli.ts");
