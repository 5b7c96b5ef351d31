/**
 * The edges of `@heck/sim`: things that touch the operating system. Import as
 * `@heck/sim/io` from drivers and CLIs, never from a core.
 */
export { seedsFromEnv, parseSeed, type SeedListOptions } from "./seeds.ts";
