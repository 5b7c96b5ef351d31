/**
 * What the types mean, example by example: add-wins sets, observed removes,
 * siblings bounded by real concurrency (the DVV point), and roshi's LWW
 * add/remove transition table.
 */
import { describe, expect, it } from "vitest";
import { CausalContext } from "../src/core/causality/causal-context.ts";
import { dvvConcurrent, dvvDescendedBy, dvvJoinAll, dvvObsoletes } from "../src/core/causality/dvv.ts";
import { vvCompare } from "../src/core/causality/version-vector.ts";
import { AworSet, type AworSetState } from "../src/core/crdt/awor-set.ts";
import { GCounter } from "../src/core/crdt/gcounter.ts";
import { LwwRegister } from "../src/core/crdt/lww-register.ts";
import { LwwSet, type LwwSetState } from "../src/core/crdt/lww-set.ts";
import { MvRegister, type MvRegisterState } from "../src/core/crdt/mv-register.ts";
import { PNCounter } from "../src/core/crdt/pncounter.ts";
import { VvRegister } from "../src/core/crdt/vv-register.ts";
import type { Json } from "../src/core/json.ts";

const vv = (o: Record<string, number>) => new Map(Object.entries(o));

describe("counters", () => {
  it("a GCounter sums concurrent increments from every replica", () => {
    let a = GCounter.bottom();
    let b = GCounter.bottom();
    a = GCounter.join(a, GCounter.increment(a, "a", 2));
    b = GCounter.join(b, GCounter.increment(b, "b", 3));
    expect(GCounter.value(GCounter.join(a, b))).toBe(5);
    expect(GCounter.value(GCounter.join(GCounter.join(a, b), a))).toBe(5);
  });
  it("a PNCounter goes down as well as up and converges", () => {
    let a = PNCounter.bottom();
    let b = PNCounter.bottom();
    a = PNCounter.join(a, PNCounter.add(a, "a", 5));
    b = PNCounter.join(b, PNCounter.add(b, "b", -7));
    a = PNCounter.join(a, PNCounter.add(a, "a", -1));
    expect(PNCounter.value(PNCounter.join(a, b))).toBe(-3);
  });
});

describe("AWOR set", () => {
  const apply = (s: AworSetState, d: AworSetState) => AworSet.join(s, d);
  it("add wins over a concurrent remove", () => {
    let a = AworSet.bottom();
    a = apply(a, AworSet.add(a, "x", "a"));
    let b = AworSet.join(AworSet.bottom(), a); // b has seen the first add
    b = apply(b, AworSet.remove(b, "x")); // b removes it...
    a = apply(a, AworSet.add(a, "x", "a")); // ...while a adds it again, concurrently
    expect(AworSet.has(AworSet.join(a, b), "x")).toBe(true);
    expect(AworSet.has(AworSet.join(b, a), "x")).toBe(true);
  });
  it("a remove of an add it never saw does nothing", () => {
    let a = AworSet.bottom();
    let b = AworSet.bottom();
    a = apply(a, AworSet.add(a, "x", "a"));
    const removal = AworSet.remove(b, "x"); // b never saw x
    expect(removal.cc.isEmpty()).toBe(true);
    b = apply(b, removal);
    expect(AworSet.elements(AworSet.join(a, b))).toEqual(["x"]);
  });
  it("re-add after remove works, and the removed element leaves no tombstone", () => {
    let a = AworSet.bottom();
    a = apply(a, AworSet.add(a, "x", "a"));
    a = apply(a, AworSet.remove(a, "x"));
    expect(AworSet.has(a, "x")).toBe(false);
    expect(a.store.size).toBe(0); // nothing but the dot in the context
    expect(a.cc.vector().get("a")).toBe(1);
    a = apply(a, AworSet.add(a, "x", "a"));
    expect(AworSet.has(a, "x")).toBe(true);
  });
});

describe("dotted version vectors", () => {
  it("a DVV obsoletes exactly the dots in its past, and concurrency is decided per dot", () => {
    const w1 = { dot: { node: "s", counter: 1 }, past: vv({}) };
    const w2 = { dot: { node: "s", counter: 2 }, past: vv({}) }; // blind write through the same server
    const w3 = { dot: { node: "s", counter: 3 }, past: vv({ s: 1 }) }; // saw w1 only
    expect(dvvConcurrent(w1, w2)).toBe(true); // a plain vector {s:2} would claim w2 follows w1
    expect(dvvObsoletes(w3, w1)).toBe(true);
    expect(dvvObsoletes(w3, w2)).toBe(false);
    expect(dvvDescendedBy(w1, w3)).toBe(true);
    expect(dvvDescendedBy(w2, w3)).toBe(false);
    // A reader of w1 and w2 has seen s:1..2, summarised without gaps.
    expect(vvCompare(dvvJoinAll([w1, w2]), vv({ s: 2 }))).toBe("equal");
    // A reader of w2 alone has not seen s:1, so its summary must not claim it.
    expect(dvvJoinAll([w2]).get("s") ?? 0).toBe(0);
  });

  it("siblings stay bounded by the truly concurrent writers: 100 writes with plain version vectors give 100 siblings, with DVVs 2", () => {
    // Two clients write through one server, interleaved, 100 writes in all.
    // Neither ever reads: each sends back the context its own last write returned.
    let plain = VvRegister.empty();
    const plainCtx: Array<ReadonlyMap<string, number>> = [vv({}), vv({})];
    let dvv: MvRegisterState = MvRegister.bottom();
    const dvvCtx: Array<CausalContext | undefined> = [undefined, undefined];
    for (let i = 0; i < 100; i++) {
      const client = i % 2;
      plain = VvRegister.write(plain, i, plainCtx[client]!, "s");
      plainCtx[client] = plain.vv;
      const { delta, dvv: clock } = MvRegister.write(dvv, i, "s", dvvCtx[client]);
      dvv = MvRegister.join(dvv, delta);
      dvvCtx[client] = CausalContext.fromDots([clock.dot]);
      expect(MvRegister.siblings(dvv).length).toBeLessThanOrEqual(2);
    }
    expect(plain.siblings.length).toBe(100);
    expect(MvRegister.siblings(dvv).map((s) => s.value)).toEqual([98, 99]);
  });

  it("a write with a read's context replaces exactly the siblings read, across replicas", () => {
    let a: MvRegisterState = MvRegister.bottom();
    let b: MvRegisterState = MvRegister.bottom();
    a = MvRegister.join(a, MvRegister.write(a, "from-a", "a").delta);
    b = MvRegister.join(b, MvRegister.write(b, "from-b", "b").delta);
    a = MvRegister.join(a, b);
    const read = MvRegister.readContext(a);
    expect(MvRegister.siblings(a).map((s) => s.value)).toEqual(["from-a", "from-b"]);
    // Meanwhile c writes concurrently, unseen by the reader.
    let c: MvRegisterState = MvRegister.join(MvRegister.bottom(), b);
    c = MvRegister.join(c, MvRegister.write(c, "from-c", "c", MvRegister.readContext(c)).delta);
    a = MvRegister.join(a, MvRegister.write(a, "merged", "a", read).delta);
    const all = MvRegister.join(a, c);
    expect(MvRegister.siblings(all).map((s) => s.value).sort()).toEqual(["from-c", "merged"]);
  });
});

describe("LWW", () => {
  it("a stale writer never overwrites a newer observation", () => {
    let r = LwwRegister.bottom();
    r = LwwRegister.join(r, LwwRegister.write(r, "new", 10, "observer-1"));
    expect(LwwRegister.write(r, "stale", 8, "observer-2")).toBeNull();
    const elsewhere = LwwRegister.write(LwwRegister.bottom(), "stale", 8, "observer-2");
    expect(LwwRegister.value(LwwRegister.join(elsewhere, r))).toBe("new");
    expect(LwwRegister.value(LwwRegister.join(r, elsewhere))).toBe("new");
  });
  it("equal timestamps break ties by replica id, identically in both orders", () => {
    const x = LwwRegister.write(null, "x", 5, "a");
    const y = LwwRegister.write(null, "y", 5, "b");
    expect(LwwRegister.value(LwwRegister.join(x, y))).toBe("y");
    expect(LwwRegister.value(LwwRegister.join(y, x))).toBe("y");
  });

  // roshi's README table: (state, operation) -> state, A() = add set, R() = remove set.
  type Op = { add: boolean; ts: number };
  const A = (ts: number): LwwSetState => LwwSet.join(LwwSet.bottom(), LwwSet.add(LwwSet.bottom(), "a", ts));
  const R = (ts: number): LwwSetState => LwwSet.join(LwwSet.bottom(), LwwSet.remove(LwwSet.bottom(), "a", ts));
  const table: Array<[string, LwwSetState, Op, "A" | "R", number]> = [
    ["A(a,1) add(a,0)", A(1), { add: true, ts: 0 }, "A", 1],
    ["A(a,1) add(a,1)", A(1), { add: true, ts: 1 }, "A", 1],
    ["A(a,1) add(a,2)", A(1), { add: true, ts: 2 }, "A", 2],
    ["A(a,1) remove(a,0)", A(1), { add: false, ts: 0 }, "A", 1],
    // roshi keeps the first of two equal timestamps; a join cannot depend on arrival order, so remove wins the tie.
    ["A(a,1) remove(a,1) [tie: remove wins]", A(1), { add: false, ts: 1 }, "R", 1],
    ["A(a,1) remove(a,2)", A(1), { add: false, ts: 2 }, "R", 2],
    ["A() R(a,1) add(a,0)", R(1), { add: true, ts: 0 }, "R", 1],
    ["A() R(a,1) add(a,1)", R(1), { add: true, ts: 1 }, "R", 1],
    ["A() R(a,1) add(a,2)", R(1), { add: true, ts: 2 }, "A", 2],
    ["A() R(a,1) remove(a,0)", R(1), { add: false, ts: 0 }, "R", 1],
    ["A() R(a,1) remove(a,1)", R(1), { add: false, ts: 1 }, "R", 1],
    ["A() R(a,1) remove(a,2)", R(1), { add: false, ts: 2 }, "R", 2],
  ];
  for (const [name, start, op, set, ts] of table) {
    it(`roshi transition ${name} -> ${set}(a,${ts}), in either delivery order`, () => {
      const d = op.add ? LwwSet.add(start, "a", op.ts) : LwwSet.remove(start, "a", op.ts);
      const opAlone = op.add ? LwwSet.add(LwwSet.bottom(), "a", op.ts) : LwwSet.remove(LwwSet.bottom(), "a", op.ts);
      for (const result of [LwwSet.join(start, d), LwwSet.join(opAlone, start)]) {
        const reg = result.get("a")!;
        expect(reg?.ts).toBe(ts);
        expect(LwwSet.has(result, "a")).toBe(set === "A");
      }
    });
  }
});

describe("values are data", () => {
  it("LWW values compare by canonical JSON, so key order in objects does not matter", () => {
    const x = LwwRegister.write(null, { b: 1, a: 2 } as Json, 1, "n");
    const y = LwwRegister.write(null, { a: 2, b: 1 } as Json, 1, "n");
    expect(LwwRegister.equals(x, y)).toBe(true);
  });
});
