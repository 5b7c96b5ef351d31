/**
 * `@heck/sim/testing`: helpers for other packages' tests: seed lists for
 * simulation tests and the transport contract suite.
 */
export { seedsFromEnv, parseSeed, type SeedListOptions } from "../../src/io/seeds.ts";
