#!/usr/bin/env node
// Runs the TypeScript CLI with no build step: the first start bundles
// src/cli.ts with esbuild into this package's node_modules/.cache, later
// starts run that bundle while its sources are unchanged (see
// @heck/cli-kit/launch), and without esbuild it runs through tsx.
import { importEntry } from "@heck/cli-kit/launch";
await importEntry(new URL("../src/cli.ts", import.meta.url), { name: "heck-crdt" });
