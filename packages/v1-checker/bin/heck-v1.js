#!/usr/bin/env node
// Runs the TypeScript CLI with no build step: the first start bundles
// src/cli.ts with esbuild into this package's node_modules/.cache, later
// starts run that bundle while its sources are unchanged (see
// @heck/cli-kit/launch). Besides a faster start, the checker then carries
// neither tsx's loader (a second V8 isolate for its hooks) nor esbuild's
// state, memory that a checker holding 10,000 origins in 256 MB cannot
// spare. Without esbuild, or with HECK_V1_TSX=1, it runs through tsx.
import { importEntry } from "@heck/cli-kit/launch";
await importEntry(new URL("../src/cli.ts", import.meta.url), { name: "heck-v1", useTsx: process.env.HECK_V1_TSX === "1" || process.env.HECK_TSX === "1" });
