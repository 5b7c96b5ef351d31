import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createPrng, formatFaultSchedule, parseFaultSchedule, randomFaultSchedule } from "../src/index.ts";

const NODES = ["n1", "n2", "n3", "n4", "n5"];

describe("fault schedules as text", () => {
  it("every random schedule reads back exactly from its text", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (seed) => {
        const steps = randomFaultSchedule({ prng: createPrng(seed).fork("faults"), nodeIds: NODES, safetyPhaseMs: 10_000 });
        const parsed = parseFaultSchedule(formatFaultSchedule(steps), NODES);
        expect(parsed).toEqual({ ok: true, steps });
      }),
      { numRuns: 200 },
    );
  });

  it("writes each kind of fault in its own short form", () => {
    const text = "1200 crash n2; 1800 partition n1,n2|n3; 2100 heal; 2500 one-way n1>n2,n3; 2700 bridge n1,n2<n3>n4,n5; 3000 restart n2; 3100.25 network dropRate=0.1,spikeRate=0.02";
    const parsed = parseFaultSchedule(text, NODES);
    if (!parsed.ok) throw new Error(parsed.error);
    expect(parsed.steps.map((s) => s.fault.kind)).toEqual(["crash", "partition", "heal", "partition", "partition", "restart", "network"]);
    expect(formatFaultSchedule(parsed.steps)).toBe(text);
    expect(parseFaultSchedule("")).toEqual({ ok: true, steps: [] });
  });

  it.each([
    ["soon crash n1", /fault 1 .*expected a simulated time/],
    ["100 crash n9", /unknown node "n9" \(nodes are n1, n2, n3, n4, n5\)/],
    ["100 explode n1", /unknown fault "explode"/],
    ["100 partition n1|n1,n2", /node n1 is in two groups/],
    ["100 bridge n1<n2,n3>n4", /a bridge is one node/],
    ["100 network dropRate=2", /dropRate must be a number from 0 to 1/],
    ["100 network speed=1", /unknown network setting "speed"/],
    ["200 heal; 100 heal", /fault 2 .*before the previous fault's 200 ms/],
  ])("refuses %j, naming the fault and the problem", (text, message) => {
    const parsed = parseFaultSchedule(text, NODES);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toMatch(message);
  });
});
