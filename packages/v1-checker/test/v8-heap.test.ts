import { describe, expect, it } from "vitest";
import { DEFAULT_HEAP_GROWING_PERCENT, setHeapGrowingPercent } from "../src/index.ts";

describe("setHeapGrowingPercent", () => {
  it("takes an integer from 0 to 1000 and names the setting otherwise", () => {
    for (const bad of [-1, 1.5, 1001, NaN]) expect(() => setHeapGrowingPercent(bad)).toThrow(/heapGrowingPercent must be an integer from 0 to 1000/);
    expect(DEFAULT_HEAP_GROWING_PERCENT).toBeGreaterThan(0);
    expect(() => setHeapGrowingPercent(0)).not.toThrow(); // 0: V8's own heuristic again (this test process's default)
  });
});
