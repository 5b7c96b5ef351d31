import { describe, expect, it } from "vitest";
import { sameSpec } from "../../src/core/origin-spec.ts";

describe("sameSpec", () => {
  it("ignores key order, also nested", () => {
    expect(sameSpec({ id: "a", url: "http://x", rise: 2 }, { rise: 2, url: "http://x", id: "a" })).toBe(true);
    expect(sameSpec({ id: "a", url: "http://x", headers: { a: "1", b: "2" } }, { id: "a", url: "http://x", headers: { b: "2", a: "1" } })).toBe(true);
    expect(sameSpec({ id: "a", url: "http://x" }, { id: "a", url: "http://y" })).toBe(false);
  });
});
