/**
 * Real-process mode, end to end, on one store: opt in with
 * HECK_COMPARE_REAL=1 (it starts a local v2 cluster through
 * `heck cluster up`, about a minute, on ports 20000+, a benchmark's range).
 * Without the variable only the probes that explain a missing CLI run.
 */
import { describe, expect, it } from "vitest";
import { probeClusterUp, runRealMode } from "../src/real/real-mode.ts";
import { heckBin } from "./support/heck-bin.ts";

describe("real mode", () => {
  it("says exactly what is missing when the heck CLI cannot run cluster up", () => {
    expect(probeClusterUp([process.execPath, "/nonexistent/heck.js"])).toMatch(/heck CLI is missing/);
  });

  it("reports itself unavailable, saying why, when it was given no heck CLI to start", async () => {
    const r = await runRealMode({ quick: true, stores: ["crdt"], log: () => {} });
    expect(r.available).toBe(false);
    expect(r.reason).toMatch(/no heck CLI to start the agents with/);
  });

  it.skipIf(!process.env.HECK_COMPARE_REAL)(
    "measures flips, a partition and a kill -9 on a real crdt cluster",
    async () => {
      const lines: string[] = [];
      const r = await runRealMode({ quick: true, stores: ["crdt"], log: (l) => lines.push(l), heck: [process.execPath, heckBin()] });
      expect(r.available, r.reason ?? "").toBe(true);
      const s = r.stores[0]!;
      expect(s.error, lines.join("\n")).toBeNull();
      expect(s.steady.flips).toBeGreaterThan(0);
      expect(s.steady.notSeen).toBe(0);
      expect(s.steady.visibleMs.p50!).toBeGreaterThan(0);
      expect(s.cpuPctPerNode.length).toBe(s.nodes);
      // AP: both sides of the partition keep reporting flips.
      expect(s.partition!.sides.minority!.sawShare).toBe(1);
      expect(s.partition!.sides.majority!.sawShare).toBe(1);
      expect(s.partition!.healAgreeMs).not.toBeNull();
      expect(s.crash!.visibleMs).not.toBeNull();
    },
    240_000,
  );
});
