import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { decodeOriginSpec, sameSpec } from "../../src/core/origin-spec.ts";

describe("decodeOriginSpec", () => {
  it("accepts a full spec", () => {
    const spec = { id: "web-1", url: "http://127.0.0.1:8080/health", intervalMs: 1000, timeoutMs: 500, method: "HEAD", expectStatus: [200, "300-399"], expectBody: "ok", rise: 2, fall: 3 };
    expect(decodeOriginSpec(spec)).toEqual({ ok: true, value: spec });
    expect(decodeOriginSpec({ id: "db", url: "tcp://127.0.0.1:5432" }).ok).toBe(true);
  });
  it("names the offending field", () => {
    const cases: [unknown, string][] = [
      [{ url: "http://x" }, "origin.id"],
      [{ id: "a b", url: "http://x" }, "origin.id"],
      [{ id: "a", url: "not a url" }, "origin.url"],
      [{ id: "a", url: "ftp://x" }, "origin.url"],
      [{ id: "a", url: "tcp://host" }, "origin.url"],
      [{ id: "a", url: "http://x", intervalMs: 0 }, "origin.intervalMs"],
      [{ id: "a", url: "http://x", timeoutMs: "5" }, "origin.timeoutMs"],
      [{ id: "a", url: "http://x", method: "POST" }, "origin.method"],
      [{ id: "a", url: "http://x", expectStatus: [99] }, "origin.expectStatus[0]"],
      [{ id: "a", url: "http://x", rise: 1.5 }, "origin.rise"],
      [{ id: "a", url: "http://x", intervalMS: 5 }, "origin.intervalMS"],
    ];
    for (const [input, field] of cases) {
      const r = decodeOriginSpec(input);
      expect(r.ok, JSON.stringify(input)).toBe(false);
      if (!r.ok) {
        expect(r.field).toBe(field);
        expect(r.message).toContain(field);
      }
    }
  });
  it("never throws on arbitrary JSON", () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => typeof decodeOriginSpec(v).ok === "boolean"));
  });
  it("sameSpec ignores key order", () => {
    expect(sameSpec({ id: "a", url: "http://x", rise: 2 }, { rise: 2, url: "http://x", id: "a" })).toBe(true);
    expect(sameSpec({ id: "a", url: "http://x" }, { id: "a", url: "http://y" })).toBe(false);
  });
});
