import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { HealthTracker, type HealthStatus } from "../src/index.ts";

/**
 * The rise/fall rule stated declaratively, independently of HealthTracker's
 * counters: split the results into runs of equal outcomes; a success run
 * that reaches `rise` makes the target healthy, a failure run that reaches
 * `fall` makes it unhealthy; the status is set by the last run that reached
 * its threshold (the trailing run counts with its length so far), and is
 * `unknown` if none did.
 */
function modelStatus(results: readonly boolean[], rise: number, fall: number): HealthStatus {
  let status: HealthStatus = "unknown";
  let i = 0;
  while (i < results.length) {
    let j = i;
    while (j < results.length && results[j] === results[i]) j++;
    const len = j - i;
    if (results[i] && len >= rise) status = "healthy";
    if (!results[i] && len >= fall) status = "unhealthy";
    i = j;
  }
  return status;
}

describe("HealthTracker (rise/fall)", () => {
  it("starts unknown and needs rise successes to become healthy", () => {
    const h = new HealthTracker("a", 2, 3, 0);
    expect(h.status).toBe("unknown");
    expect(h.record(true, 1)).toBeUndefined();
    expect(h.status).toBe("unknown");
    expect(h.record(true, 2)).toMatchObject({ from: "unknown", to: "healthy", atMs: 2 });
    expect(h.sinceMs).toBe(2);
  });

  it("needs fall failures in a row to become unhealthy; a success in between resets the run", () => {
    const h = new HealthTracker("a", 1, 3, 0);
    h.record(true, 1);
    h.record(false, 2);
    h.record(false, 3);
    h.record(true, 4); // breaks the failure run
    h.record(false, 5);
    h.record(false, 6);
    expect(h.status).toBe("healthy");
    const t = h.record(false, 7, { kind: "timeout", message: "no answer" });
    expect(t).toMatchObject({ from: "healthy", to: "unhealthy", errorKind: "timeout" });
    expect(t?.reason).toMatch(/3 failed checks in a row \(fall 3\); last: timeout: no answer/);
  });

  it("goes unknown -> unhealthy directly after fall failures", () => {
    const h = new HealthTracker("a", 2, 2, 0);
    h.record(false, 1);
    expect(h.record(false, 2)).toMatchObject({ from: "unknown", to: "unhealthy" });
  });

  it("keeps a bounded history of transitions, oldest first", () => {
    const h = new HealthTracker("a", 1, 1, 0, 3);
    for (let k = 0; k < 10; k++) h.record(k % 2 === 0, k);
    const hist = h.history();
    expect(hist).toHaveLength(3);
    expect(hist.map((t) => t.atMs)).toEqual([7, 8, 9]);
    expect(hist.map((t) => t.to)).toEqual(["unhealthy", "healthy", "unhealthy"]);
  });

  it("property: the status always equals what the rise/fall rules give for the result sequence", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.array(fc.boolean(), { maxLength: 60 }), (rise, fall, results) => {
        const h = new HealthTracker("t", rise, fall, 0, 1000);
        let transitions = 0;
        results.forEach((ok, k) => {
          if (h.record(ok, k + 1)) transitions++;
          expect(h.status).toBe(modelStatus(results.slice(0, k + 1), rise, fall));
        });
        // Every transition changes the status, and the history chains.
        const hist = h.history();
        expect(hist).toHaveLength(transitions);
        hist.forEach((t, k) => {
          expect(t.from).not.toBe(t.to);
          if (k > 0) expect(t.from).toBe(hist[k - 1]!.to);
        });
      }),
    );
  });
});
