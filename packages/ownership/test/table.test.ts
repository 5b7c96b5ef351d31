import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { assign, boundedCapacities, compareSchemes, diff, loadStats, prepareOrigins } from "../src/index.ts";
import { check, memberIds, originIds } from "./support/check.ts";
import * as naive from "./support/naive.ts";

const origins = (n: number) => Array.from({ length: n }, (_, i) => `origin-${i + 1}`);

describe("assign", () => {
  it("gives every origin exactly one owner and counts loads per member", () => {
    const t = assign(origins(1000), ["a", "b", "c"]);
    expect(t.owners).toHaveLength(1000);
    expect([...t.loads.values()].reduce((s, x) => s + x, 0)).toBe(1000);
    expect(t.owners.every((o) => ["a", "b", "c"].includes(o))).toBe(true);
  });

  it("accepts prepared origins and gives the same table", () => {
    const ids = origins(200);
    expect(assign(prepareOrigins(ids), ["a", "b"]).owners).toEqual(assign(ids, ["a", "b"]).owners);
  });

  it("rejects duplicate or empty origins by index", () => {
    expect(() => assign(["x", "y", "x"], ["a"])).toThrow(/origins\[2\]: duplicate origin "x" \(also at origins\[0\]\)/);
    expect(() => assign(["x", ""], ["a"])).toThrow(/origins\[1\]: must be a non-empty string/);
  });

  it("reports members that own nothing with load 0", () => {
    const t = assign(["only-one"], ["a", "b", "c"]);
    expect([...t.loads.values()].sort()).toEqual([0, 0, 1]);
  });
});

describe("bounded loads (Mirrokni et al.)", () => {
  it("caps at ceil((1+eps) x fair share), exact where float arithmetic is not", () => {
    // (1 + 0.05) * 100000 / 100 is 1050.0000000000002 in doubles; the cap is 1050.
    expect(boundedCapacities(Array.from({ length: 100 }, (_, i) => ({ id: `n${i}`, weight: 1 })), 100000, 0.05)[0]).toBe(1050);
    expect(boundedCapacities([{ id: "a", weight: 1 }, { id: "b", weight: 2 }], 10, 0.1)).toEqual([4, 8]);
  });

  it("never exceeds the cap, for any origins, members, weights and eps", () => {
    check(
      fc.property(originIds(1, 200), memberIds(1, 8), fc.double({ min: 0, max: 2, noNaN: true }), fc.boolean(), fc.constantFrom("rendezvous" as const, "ring" as const), (os, ids, eps, weighted, scheme) => {
        const ms = ids.map((id, i) => ({ id, weight: weighted ? 1 + (i % 4) : 1 }));
        const t = assign(os, ms, { scheme, boundedLoadEpsilon: eps, vnodes: 16 });
        for (const m of ms) expect(t.loads.get(m.id)!).toBeLessThanOrEqual(t.capacities!.get(m.id)!);
        expect(t.owners).toHaveLength(os.length);
      }),
    );
  });

  it("equals the naive reference (exact rational caps, origins in hash order)", () => {
    check(
      fc.property(originIds(1, 80), memberIds(1, 6), fc.constantFrom([0, 1], [1, 20], [1, 4], [1, 1]), fc.boolean(), (os, ids, [num, den], weighted) => {
        const ms = ids.map((id, i) => ({ id, weight: weighted ? 1 + (i % 3) : 1 }));
        const t = assign(os, ms, { boundedLoadEpsilon: num! / den! });
        const ref = naive.boundedAssign(os, ms, num!, den!);
        os.forEach((o, i) => expect(t.owners[i]).toBe(ref.get(o)));
      }),
      100,
    );
  });

  it("does not depend on the order of origins or members", () => {
    check(
      fc.property(originIds(1, 100), memberIds(1, 6), (os, ms) => {
        const a = assign(os, ms, { boundedLoadEpsilon: 0.1 });
        const b = assign([...os].reverse(), [...ms].reverse(), { boundedLoadEpsilon: 0.1 });
        const owner = new Map(b.origins.map((o, i) => [o, b.owners[i]]));
        a.origins.forEach((o, i) => expect(owner.get(o)).toBe(a.owners[i]));
      }),
      50,
    );
  });

  it("brings max/mean to 1 + eps at most", () => {
    const t = assign(origins(20000), Array.from({ length: 50 }, (_, i) => `n${i}`), { boundedLoadEpsilon: 0.05 });
    expect(loadStats(t).maxOverMean).toBeLessThanOrEqual(1.05);
  });

  it("is refused for jump and maglev, by field", () => {
    expect(() => assign(["o"], ["a"], { scheme: "jump", boundedLoadEpsilon: 0.1 })).toThrow(/boundedLoadEpsilon: bounded loads need/);
    expect(() => assign(["o"], ["a"], { boundedLoadEpsilon: -1 })).toThrow(/boundedLoadEpsilon: must be a finite number >= 0/);
  });
});

describe("diff", () => {
  it("lists moves from whom to whom, grouped into flows", () => {
    const os = origins(3000);
    const d = diff(assign(os, ["a", "b", "c"]), assign(os, ["a", "c"]));
    expect(d.origins).toBe(3000);
    expect(d.membersRemoved).toEqual(["b"]);
    expect(d.membersAdded).toEqual([]);
    expect(d.moved.every((m) => m.from === "b")).toBe(true);
    expect(d.flows.map((f) => f.from)).toEqual(["b", "b"]);
    expect(d.flows.reduce((s, f) => s + f.count, 0)).toBe(d.moved.length);
    expect(d.flows[0]!.count).toBeGreaterThanOrEqual(d.flows[1]!.count);
  });

  it("reports nothing moved for identical tables, and origins present on one side only", () => {
    const t = assign(["x", "y"], ["a", "b"]);
    expect(diff(t, t).moved).toEqual([]);
    const d = diff(assign(["x", "y"], ["a"]), assign(["y", "z"], ["a"]));
    expect(d.onlyBefore).toEqual(["x"]);
    expect(d.onlyAfter).toEqual(["z"]);
    expect(d.origins).toBe(1);
  });

  it("counts collateral moves between members present on both sides", () => {
    const os = origins(2000);
    const d = diff(assign(os, ["a", "b", "c", "d"], { scheme: "jump" }), assign(os, ["b", "c", "d"], { scheme: "jump" }));
    const collateral = d.moved.filter((m) => m.from !== "a").length;
    expect(d.collateral).toBe(collateral);
    expect(collateral).toBeGreaterThan(0);
  });
});

describe("loadStats", () => {
  it("normalizes by fair share so weighted tables can be perfectly balanced", () => {
    const t = {
      scheme: "rendezvous" as const,
      label: "x",
      members: [
        { id: "a", weight: 1 },
        { id: "b", weight: 3 },
      ],
      origins: ["1", "2", "3", "4"],
      owners: ["a", "b", "b", "b"],
      loads: new Map([
        ["a", 1],
        ["b", 3],
      ]),
    };
    const s = loadStats(t);
    expect(s.maxOverMean).toBe(1);
    expect(s.stdDevPct).toBe(0);
    expect(s.mean).toBe(2);
  });
});

describe("compareSchemes", () => {
  it("shows rendezvous and the ring as minimal, jump's renumbering, and Maglev's small collateral", () => {
    const rows = compareSchemes(origins(5000), ["a", "b", "c", "d", "e"]);
    const by = (label: string) => rows.find((r) => r.label.startsWith(label))!;
    expect(rows.map((r) => r.scheme)).toEqual(["rendezvous", "rendezvous", "ring", "jump", "maglev"]);
    expect(by("rendezvous").remove!.collateral).toBe(0);
    expect(by("rendezvous").add!.collateral).toBe(0);
    expect(by("ring").remove!.collateral).toBe(0);
    expect(by("jump").remove!.member).toBe("a");
    expect(by("jump").remove!.movedOverOptimal).toBeGreaterThan(2);
    expect(by("jump").add!.collateral).toBe(0);
    expect(by("rendezvous + bounded").load!.maxOverMean).toBeLessThanOrEqual(1.05);
  });

  it("marks jump unsupported with weights instead of failing the comparison", () => {
    const rows = compareSchemes(origins(100), ["a", { id: "b", weight: 2 }], { boundedLoadEpsilon: null });
    expect(rows.find((r) => r.scheme === "jump")!.unsupported).toMatch(/no weights/);
    expect(rows).toHaveLength(4);
  });

  it("rejects a removal of a non-member and an addition of a member", () => {
    expect(() => compareSchemes(origins(10), ["a", "b"], { remove: "z" })).toThrow(/remove: "z" is not a member/);
    expect(() => compareSchemes(origins(10), ["a", "b"], { add: "a" })).toThrow(/add: "a" is already a member/);
    expect(() => compareSchemes(origins(10), ["a"])).toThrow(/members: compare needs at least 2/);
  });
});
