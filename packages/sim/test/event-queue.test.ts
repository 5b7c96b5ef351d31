import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { EventQueue } from "../src/index.ts";

interface E {
  t: number;
  seq: number;
  label: number;
}

describe("EventQueue", () => {
  it("pops in (time, insertion) order, like a stable sort", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: 0, max: 20 }), fc.constant(-1)), { maxLength: 200 }), (ops) => {
        // -1 means pop, anything else pushes an event at that time.
        const q = new EventQueue<E>();
        const model: E[] = [];
        let label = 0;
        for (const op of ops) {
          if (op === -1) {
            model.sort((a, b) => a.t - b.t || a.label - b.label);
            const expected = model.shift();
            expect(q.pop()?.label).toBe(expected?.label);
          } else {
            const e = { t: op, seq: 0, label: label++ };
            q.push(e);
            model.push(e);
          }
          expect(q.size).toBe(model.length);
        }
        model.sort((a, b) => a.t - b.t || a.label - b.label);
        for (const e of model) expect(q.pop()?.label).toBe(e.label);
        expect(q.pop()).toBeUndefined();
        expect(q.peekTime()).toBe(Infinity);
      }),
    );
  });
});
