/**
 * The seeded sweep (see sweep-entry.ts for what one seed does). A failure
 * prints `HECK_SEED=<n>`; `HECK_SEED=<n> npx vitest run --project raft-kv
 * test/raft/sweep.test.ts` replays exactly that run. `HECK_SWEEP=1` runs 80
 * seeds with longer fault phases; `HECK_RANDOM_SEEDS=<k>` adds k random seeds.
 */
import { describe, expect, it } from "vitest";
import { seedsFromEnv } from "@heck/sim/testing";
import { runSeed } from "./sweep-entry.ts";

const LONG = process.env.HECK_SWEEP === "1";
const seeds = seedsFromEnv({ fixed: LONG ? Array.from({ length: 60 }, (_, i) => 1000 + i) : Array.from({ length: 12 }, (_, i) => i + 1), random: LONG ? 20 : 1 });

describe("seeded sweep with invariants after every step", () => {
  it.each(seeds)("HECK_SEED=%i: safety under random faults, then convergence", (seed) => {
    const run = runSeed(seed);
    // The workload really ran: operations succeeded despite the faults.
    expect(run.history.filter((o) => o.outcome === "ok").length).toBeGreaterThan(50);
    if (seed % 4 === 3) {
      // Membership seeds really changed the membership (it may end where it started: remove n3, add it back).
      expect(run.confChanges).toBeGreaterThan(0);
      expect(run.membershipChanged).toBe(true);
    }
  });
});
