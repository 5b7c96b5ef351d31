#!/usr/bin/env node
// Child process of `heck-sim sweep`: registers tsx so the worker (and the
// package's TypeScript sweep entry) run from source, then starts the worker.
import { register } from "tsx/esm/api";
register();
await import("../src/io/sweep-worker.ts");
