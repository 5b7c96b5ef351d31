/**
 * The sweep entry under CI: a fixed set of seeds plus two random ones
 * (printed). `HECK_SEED=<n>` replays one; `heck-sim sweep --package swim
 * --seeds 1000 --jobs 2` runs many in parallel.
 */
import { seedsFromEnv } from "@heck/sim/testing";
import { describe, it } from "vitest";
import { runSeed } from "./sweep-entry.ts";

describe("seeded runs with random faults (VOPR style)", () => {
  // 433: a gossip deadline that floating point put exactly at "now" (a regression seed).
  it.each(seedsFromEnv({ fixed: [1, 2, 3, 4, 5, 6, 433], random: 2 }))("seed %i keeps the view rules and re-converges after heal", (seed) => {
    runSeed(seed);
  });
});
