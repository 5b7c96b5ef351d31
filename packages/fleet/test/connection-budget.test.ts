import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ConnectionBudget } from "../src/index.ts";

/** Simulates a checker visiting n origins in a fixed cycle, one keep-alive connection each. Returns reconnects per cycle in steady state. */
function cyclicReconnects(n: number, budget: number, policy: "mru" | "lru", cycles = 6): number {
  const b = new ConnectionBudget<number>(budget);
  const open = new Set<number>();
  const idleOrder: number[] = []; // for the LRU comparison only
  let reconnects = 0;
  let nextConn = 0;
  const connOf = new Map<number, number>();
  for (let c = 0; c < cycles; c++) {
    if (c === cycles - 1) reconnects = 0; // count the last (steady) cycle
    for (let origin = 0; origin < n; origin++) {
      let conn = connOf.get(origin);
      if (conn === undefined || !open.has(conn)) {
        reconnects++;
        conn = nextConn++;
        connOf.set(origin, conn);
        if (policy === "mru") {
          const victim = b.admit(conn);
          if (victim === "reject") throw new Error("unexpected reject");
          if (victim !== undefined) open.delete(victim);
        } else if (open.size >= budget) {
          const victim = idleOrder.shift()!;
          open.delete(victim);
        }
        open.add(conn);
      }
      b.markBusy(conn);
      b.markIdle(conn);
      const at = idleOrder.indexOf(conn);
      if (at >= 0) idleOrder.splice(at, 1);
      idleOrder.push(conn);
    }
  }
  return reconnects;
}

describe("ConnectionBudget", () => {
  it("evicts the most recently idled connection, never a busy one", () => {
    const b = new ConnectionBudget<string>(2);
    expect(b.admit("a")).toBeUndefined();
    expect(b.admit("b")).toBeUndefined();
    b.markIdle("a");
    b.markIdle("b");
    expect(b.admit("c")).toBe("b");
    b.markBusy("a");
    expect(b.admit("d")).toBe("reject"); // a is busy, c is new (busy until its first response)
    expect(b.evictions).toBe(1);
    expect(b.rejections).toBe(1);
    b.release("a");
    expect(b.admit("e")).toBeUndefined();
    expect(b.open).toBe(2);
  });

  it("reconnects only n - budget times per cycle under a checker's cyclic pattern, where LRU reconnects every time", () => {
    expect(cyclicReconnects(100, 90, "mru")).toBe(10);
    expect(cyclicReconnects(100, 90, "lru")).toBe(100);
    expect(cyclicReconnects(100, 100, "mru")).toBe(0);
  });

  it("never holds more than maxOpen connections", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.tuple(fc.constantFrom("open", "busy", "idle", "close"), fc.integer({ min: 0, max: 15 })), { maxLength: 200 }),
        (max, ops) => {
          const b = new ConnectionBudget<number>(max);
          const open = new Set<number>();
          for (const [op, c] of ops) {
            if (op === "open" && !open.has(c)) {
              const v = b.admit(c);
              if (v === "reject") continue;
              if (v !== undefined) {
                expect(open.has(v)).toBe(true);
                open.delete(v);
              }
              open.add(c);
            } else if (op === "busy" && open.has(c)) b.markBusy(c);
            else if (op === "idle" && open.has(c)) b.markIdle(c);
            else if (op === "close" && open.has(c)) {
              b.release(c);
              open.delete(c);
            }
            expect(open.size).toBeLessThanOrEqual(max);
            expect(b.open).toBe(open.size);
          }
        },
      ),
    );
  });
});
