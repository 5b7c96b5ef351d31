import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { IndexedMinHeap } from "../src/index.ts";

describe("IndexedMinHeap", () => {
  it("pops in due order, ties in insertion order", () => {
    const h = new IndexedMinHeap<string>();
    h.set("c", 3);
    h.set("a", 1);
    h.set("b", 1);
    h.set("d", 0);
    h.delete("d");
    expect([h.pop()?.key, h.pop()?.key, h.pop()?.key, h.pop()]).toEqual(["a", "b", "c", undefined]);
  });

  it("property: behaves like a sorted list under set/delete/pop", () => {
    type Op = { op: "set"; key: number; due: number } | { op: "delete"; key: number } | { op: "pop" };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ op: fc.constant("set" as const), key: fc.integer({ min: 0, max: 20 }), due: fc.integer({ min: 0, max: 50 }) }),
      fc.record({ op: fc.constant("delete" as const), key: fc.integer({ min: 0, max: 20 }) }),
      fc.record({ op: fc.constant("pop" as const) }),
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 300 }), (ops) => {
        const heap = new IndexedMinHeap<number>();
        const model = new Map<number, { due: number; seq: number }>();
        let seq = 0;
        for (const o of ops) {
          if (o.op === "set") {
            heap.set(o.key, o.due);
            model.set(o.key, { due: o.due, seq: seq++ });
          } else if (o.op === "delete") {
            expect(heap.delete(o.key)).toBe(model.delete(o.key));
          } else {
            const got = heap.pop();
            const want = [...model.entries()].sort((a, b) => a[1].due - b[1].due || a[1].seq - b[1].seq)[0];
            if (!want) expect(got).toBeUndefined();
            else {
              expect(got).toEqual({ key: want[0], dueMs: want[1].due });
              model.delete(want[0]);
            }
          }
          expect(heap.size).toBe(model.size);
          const min = Math.min(...[...model.values()].map((v) => v.due));
          expect(heap.peekDue()).toBe(model.size === 0 ? Infinity : min);
        }
      }),
    );
  });
});
