import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ExpiryQueue } from "../src/index.ts";

describe("ExpiryQueue", () => {
  it("expires items in deadline order, skips cancelled ones, and reports the earliest live deadline", () => {
    const q = new ExpiryQueue<string>(2);
    const ta = q.push("a", 10);
    q.push("b", 20);
    const tc = q.push("c", 30);
    q.push("d", 40);
    q.cancel(ta, "a");
    expect(q.peekDeadline()).toBe(20);
    q.cancel(tc, "c");
    const out: string[] = [];
    q.popExpired(35, (x) => out.push(x));
    expect(out).toEqual(["b"]);
    expect(q.peekDeadline()).toBe(40);
    q.popExpired(40, (x) => out.push(x));
    expect(out).toEqual(["b", "d"]);
    expect(q.peekDeadline()).toBe(Infinity);
    expect(q.size).toBe(0);
  });

  it("ignores a stale cancel whose slot was reused", () => {
    const q = new ExpiryQueue<string>(1);
    const t = q.push("a", 1);
    q.popExpired(1, () => undefined);
    q.push("b", 2); // same slot as "a" in a ring of one
    q.cancel(t, "a");
    const out: string[] = [];
    q.popExpired(2, (x) => out.push(x));
    expect(out).toEqual(["b"]);
  });

  it("property: behaves like a list of (deadline, item) with removal, through growth", () => {
    type Op = { op: "push"; dt: number } | { op: "cancel"; pick: number } | { op: "pop"; dt: number };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ op: fc.constant("push" as const), dt: fc.integer({ min: 0, max: 5 }) }),
      fc.record({ op: fc.constant("cancel" as const), pick: fc.nat() }),
      fc.record({ op: fc.constant("pop" as const), dt: fc.integer({ min: 0, max: 30 }) }),
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 400 }), (ops) => {
        const q = new ExpiryQueue<number>(1);
        const model: Array<{ item: number; deadline: number; ticket: number }> = [];
        let now = 0;
        let last = 0;
        let next = 0;
        for (const o of ops) {
          if (o.op === "push") {
            last += o.dt; // deadlines never decrease, as with one timeout and a monotonic clock
            const item = next++;
            model.push({ item, deadline: last, ticket: q.push(item, last) });
          } else if (o.op === "cancel") {
            if (model.length === 0) continue;
            const [gone] = model.splice(o.pick % model.length, 1);
            q.cancel(gone!.ticket, gone!.item);
          } else {
            now += o.dt;
            const got: number[] = [];
            q.popExpired(now, (x) => got.push(x));
            const want = model.filter((m) => m.deadline <= now).map((m) => m.item);
            expect(got).toEqual(want);
            model.splice(0, model.length, ...model.filter((m) => m.deadline > now));
          }
          expect(q.peekDeadline()).toBe(model.length === 0 ? Infinity : model[0]!.deadline);
        }
      }),
    );
  });
});
