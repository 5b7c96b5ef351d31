import { it } from "vitest";
import { seedsFromEnv } from "../src/io/seeds.ts";
import { runSeed } from "./sweep-entry.ts";

// The pattern every stage uses: fixed seeds, two random ones (printed), or
// exactly HECK_SEED when set, so `HECK_SEED=<n> pnpm vitest run <this file>` replays a failure.
it.each(seedsFromEnv({ fixed: [1, 2, 3, 4], random: 2 }))("gossip survives random faults, HECK_SEED=%i", (seed) => {
  runSeed(seed);
});
