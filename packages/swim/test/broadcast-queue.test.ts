import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BroadcastQueue } from "../src/core/broadcast-queue.ts";
import { encodedSize } from "../src/core/codec.ts";
import type { UpdateMessage } from "../src/core/messages.ts";

function alive(name: string, incarnation = 0, metaBytes = 0): UpdateMessage {
  return { type: "alive", name, addr: `${name}:1`, incarnation, meta: new Uint8Array(metaBytes) };
}
function push(q: BroadcastQueue, m: UpdateMessage): void {
  q.enqueue(m.name, m, encodedSize(m));
}
const names = (ms: UpdateMessage[]): string[] => ms.map((m) => m.name);

describe("BroadcastQueue", () => {
  it("sends the newest update first among those sent equally often", () => {
    const q = new BroadcastQueue();
    for (const n of ["a", "b", "c"]) push(q, alive(n));
    expect(names(q.take(1000, 2, 10))).toEqual(["c", "b", "a"]);
  });

  it("sends the least-transmitted updates first", () => {
    const q = new BroadcastQueue();
    push(q, alive("old"));
    q.take(1000, 2, 10); // old: 1 transmit
    push(q, alive("new"));
    expect(names(q.take(1000, 2, 10, 1))).toEqual(["new"]); // tier 0 before tier 1
    expect(names(q.take(1000, 2, 10, 1))).toEqual(["new"]); // both sent once: newest first
    expect(names(q.take(1000, 2, 10, 1))).toEqual(["old"]); // now old is the least sent
  });

  it("replaces an older update about the same member", () => {
    const q = new BroadcastQueue();
    push(q, alive("a", 1));
    push(q, { type: "suspect", name: "a", incarnation: 1, from: "b" });
    expect(q.length).toBe(1);
    expect(q.take(1000, 2, 10)).toEqual([{ type: "suspect", name: "a", incarnation: 1, from: "b" }]);
  });

  it("drops an update after its retransmit limit", () => {
    const q = new BroadcastQueue();
    push(q, alive("a"));
    for (let i = 0; i < 3; i++) expect(names(q.take(1000, 2, 3))).toEqual(["a"]);
    expect(q.take(1000, 2, 3)).toEqual([]);
    expect(q.has("a")).toBe(false);
  });

  it("packs what fits and skips what does not, without exceeding the budget", () => {
    const q = new BroadcastQueue();
    push(q, alive("small"));
    push(q, alive("big", 0, 300)); // newest, but too big for the budget
    const taken = q.take(100, 2, 10);
    expect(names(taken)).toEqual(["small"]);
    expect(q.has("big")).toBe(true);
  });

  it("never exceeds budget or item cap, and never loses a live update (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("a", "b", "c", "d", "e", "f"), fc.nat(50), fc.integer({ min: 0, max: 200 })), { maxLength: 40 }),
        fc.integer({ min: 10, max: 600 }),
        fc.integer({ min: 1, max: 5 }),
        (ops, budget, limit) => {
          const q = new BroadcastQueue();
          const model = new Map<string, { msg: UpdateMessage; sent: number }>();
          for (const [name, inc, metaBytes] of ops) {
            const m = alive(name, inc, metaBytes);
            push(q, m);
            model.set(name, { msg: m, sent: 0 });
            const out = q.take(budget, 2, limit, 3);
            expect(out.length).toBeLessThanOrEqual(3);
            expect(out.reduce((s, x) => s + encodedSize(x) + 2, 0)).toBeLessThanOrEqual(budget);
            for (const x of out) {
              const entry = model.get(x.name)!;
              expect(x).toBe(entry.msg); // only the newest update about a member is ever sent
              if (++entry.sent >= limit) model.delete(x.name);
            }
            expect(q.length).toBe(model.size);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
