import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { compareVersions, decodeRecord, mergeRecords, observe, versionOf } from "../../src/core/health-record.ts";
import type { HealthRecord } from "../../src/core/types.ts";

const recordArb: fc.Arbitrary<HealthRecord> = fc.record({
  id: fc.constant("o1"),
  status: fc.constantFrom("unknown" as const, "healthy" as const, "unhealthy" as const),
  observer: fc.constantFrom("a", "b", "c"),
  checkedAtMs: fc.integer({ min: 0, max: 50 }),
  sinceMs: fc.integer({ min: 0, max: 50 }),
  hlcMs: fc.integer({ min: 0, max: 8 }),
});

const same = (a: HealthRecord | undefined, b: HealthRecord | undefined) =>
  a === undefined || b === undefined ? a === b : compareVersions(versionOf(a), versionOf(b)) === 0;

describe("mergeRecords is a join (newest observation wins)", () => {
  it("is commutative", () => {
    fc.assert(fc.property(recordArb, recordArb, (a, b) => same(mergeRecords(a, b), mergeRecords(b, a))));
  });
  it("is associative", () => {
    fc.assert(
      fc.property(recordArb, recordArb, recordArb, (a, b, c) => same(mergeRecords(mergeRecords(a, b), c), mergeRecords(a, mergeRecords(b, c)))),
    );
  });
  it("is idempotent and has undefined as identity", () => {
    fc.assert(fc.property(recordArb, (a) => same(mergeRecords(a, a), a) && same(mergeRecords(a, undefined), a) && same(mergeRecords(undefined, a), a)));
  });
  it("gives the same winner for every delivery order", () => {
    fc.assert(
      fc.property(fc.array(recordArb, { minLength: 1, maxLength: 8 }), fc.integer(), (records, seed) => {
        const shuffled = [...records].sort((x, y) => ((JSON.stringify(x).length * seed) % 7) - ((JSON.stringify(y).length * seed) % 7));
        const fold = (rs: HealthRecord[]) => rs.reduce<HealthRecord | undefined>((acc, r) => mergeRecords(acc, r), undefined);
        return same(fold(records), fold(shuffled));
      }),
    );
  });
});

describe("causal versions", () => {
  it("an observation made after reading another wins even with an older clock", () => {
    const byA = observe(undefined, "o1", "a", { status: "healthy", checkedAtMs: 1_000 });
    // b's clock is 500 ms behind, but b read a's record first.
    const byB = observe(byA, "o1", "b", { status: "unhealthy", checkedAtMs: 500 });
    expect(mergeRecords(byA, byB)).toBe(byB);
    expect(mergeRecords(byB, byA)).toBe(byB);
  });

  it("a stale observer's delayed record never overwrites a newer one", () => {
    const r1 = observe(undefined, "o1", "a", { status: "healthy", checkedAtMs: 1_000 });
    const r2 = observe(r1, "o1", "b", { status: "unhealthy", checkedAtMs: 2_000 });
    const r3 = observe(r2, "o1", "b", { status: "unhealthy", checkedAtMs: 3_000 });
    // a's check at 1,500, delivered late (a slow link, a replayed log).
    const stale = observe(r1, "o1", "a", { status: "healthy", checkedAtMs: 1_500 });
    expect(mergeRecords(r3, stale)).toBe(r3);
    expect(mergeRecords(stale, r3)).toBe(r3);
  });

  it("the stamp is never behind the check time and always past what was seen", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom("a", "b"), fc.integer({ min: 0, max: 1_000 })), { minLength: 1, maxLength: 20 }), (steps) => {
        let prev: ReturnType<typeof observe> | undefined;
        for (const [who, t] of steps) {
          const next = observe(prev, "o1", who, { status: "healthy", checkedAtMs: t });
          if (next.hlcMs < t) return false;
          if (prev !== undefined && !(compareVersions(versionOf(next), versionOf(prev)) > 0)) return false;
          prev = next;
        }
        return true;
      }),
    );
  });

  it("concurrent observations are ordered by check time, then observer", () => {
    const base = observe(undefined, "o1", "a", { status: "healthy", checkedAtMs: 1 });
    const x = observe(base, "o1", "x", { status: "healthy", checkedAtMs: 10 });
    const y = observe(base, "o1", "y", { status: "unhealthy", checkedAtMs: 11 });
    expect(mergeRecords(x, y)).toBe(y);
    const z = observe(base, "o1", "z", { status: "unhealthy", checkedAtMs: 10 });
    expect(mergeRecords(x, z)).toBe(z);
  });

  it("keeps sinceMs across observers while the status holds, and keeps a known status while the new engine is unknown", () => {
    const r1 = observe(undefined, "o1", "a", { status: "unhealthy", checkedAtMs: 100 });
    const r2 = observe(r1, "o1", "b", { status: "unknown", checkedAtMs: 200 });
    expect(r2.status).toBe("unhealthy");
    expect(r2.sinceMs).toBe(100);
    const r3 = observe(r2, "o1", "b", { status: "healthy", checkedAtMs: 300 });
    expect(r3.sinceMs).toBe(300);
  });
});

describe("decodeRecord", () => {
  it("accepts a valid record and refuses each bad field by name", () => {
    const good = { id: "o1", status: "healthy", observer: "a", checkedAtMs: 1, sinceMs: 1, hlcMs: 1, latencyMs: 3, lastError: null };
    expect(decodeRecord(good)).toEqual({ ok: true, value: good });
    const cases: [Record<string, unknown>, string][] = [
      [{ ...good, id: "" }, "id"],
      [{ ...good, status: "sick" }, "status"],
      [{ ...good, observer: 3 }, "observer"],
      [{ ...good, checkedAtMs: "x" }, "checkedAtMs"],
      [{ ...good, hlcMs: Infinity }, "hlcMs"],
      [{ ...good, latencyMs: -4 }, "latencyMs"],
      [{ ...good, lastError: 5 }, "lastError"],
    ];
    for (const [input, field] of cases) {
      const r = decodeRecord(input);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.field).toBe(field);
    }
    expect(decodeRecord("nope").ok).toBe(false);
  });
  it("never throws on arbitrary JSON", () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => typeof decodeRecord(v).ok === "boolean"));
  });
});
