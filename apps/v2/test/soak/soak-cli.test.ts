/**
 * `heck soak`, through the CLI. The short form: three agents on three lab
 * hosts for 10 s of a seeded schedule (a kill, pauses, partitions, loss or
 * delay start and end), checked for the output contract (the seed
 * first, each fault with its time, the table, one JSON line last), for the
 * schedule being the seed's, and for the two figures that must be zero
 * whatever the machine's speed: origins lost and empty or partial answers.
 * The 15-minute form is `pnpm heck soak`; `pnpm test:soak` (HECK_SOAK=full)
 * runs 90 s of 5 agents for each store, and of the fault layer, with the
 * same checks.
 * Ports 21400-21799 belong to this file (the full form's five agents
 * and 200 origins use 360 of them).
 */
import { describeWithLab } from "@heck/net/testing";
import { describe, expect, it } from "vitest";
import { heck, shortSoak } from "../support/soak.ts";

describe("heck soak: called wrong", () => {
  it("refuses bad flags before building anything (exit 2, the flag named)", { timeout: 60_000 }, async () => {
    for (const [flag, value, says] of [
      ["--duration", "5s", /--duration must be 10s\.\.24h/],
      ["--store", "redis", /crdt, raft, etcd/],
    ] as const) {
      const r = await heck(["soak", flag, value], 30_000);
      expect(r.code, `${flag} ${value}`).toBe(2);
      expect(r.stderr).toMatch(says);
    }
  });
});

const FULL = process.env.HECK_SOAK === "full";

describeWithLab("heck soak on a network lab", () => {
  it("runs a seeded schedule of kernel faults on three hosts and prints the seed, each fault, the table and the JSON line; no origin lost, no empty answer", { timeout: 300_000 }, async () => {
    const line = await shortSoak(["--store", "crdt", "--faults", "kernel", "--base-port", "21400"], { seed: 11, durationMs: 10_000, agents: 3, origins: 10 });
    expect(line.store).toBe("crdt");
    expect(line.faults).toBe("kernel");
  });

  // One lab at a time, each on its own subnet: the runs share the port layout.
  for (const [store, faults, seed] of [
    ["crdt", "kernel", 21],
    ["raft", "kernel", 22],
    ["etcd", "kernel", 23],
    ["crdt", "app", 21],
  ] as const) {
    it.runIf(FULL)(`90 s, 5 agents, store ${store}, faults by ${faults === "kernel" ? "the kernel" : "the fault layer"} (HECK_SOAK=full)`, { timeout: 600_000 }, async () => {
      const line = await shortSoak(["--store", store, "--faults", faults, "--base-port", "21400"], { seed, durationMs: 90_000, agents: 5, origins: 200 });
      expect(line.store).toBe(store);
      expect(line.agreementMs.count).toBeGreaterThan(0);
    });
  }
});
