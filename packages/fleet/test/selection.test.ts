import { describe, expect, it } from "vitest";
import { parseHostPort, parseIndexList, parseSelection } from "../src/index.ts";

describe("parseSelection", () => {
  it("accepts indices, an inclusive from/to range, or all", () => {
    expect(parseSelection({ indices: [3, 1, 3] }, 10)).toEqual({ ok: true, value: [3, 1] });
    expect(parseSelection({ from: 2, to: 4 }, 10)).toEqual({ ok: true, value: [2, 3, 4] });
    expect(parseSelection({ all: true }, 3)).toEqual({ ok: true, value: [0, 1, 2] });
  });

  it("names the bad field", () => {
    expect(parseSelection({}, 10)).toMatchObject({ ok: false, errors: [expect.stringMatching(/^selection: /)] });
    expect(parseSelection({ indices: [1, 10] }, 10)).toMatchObject({ ok: false, errors: [expect.stringMatching(/^indices\[1\]: /)] });
    expect(parseSelection({ from: 5, to: 2 }, 10)).toMatchObject({ ok: false, errors: [expect.stringMatching(/^to: must be >= from/)] });
    expect(parseSelection({ from: 1 }, 10)).toMatchObject({ ok: false, errors: [expect.stringMatching(/^to: /)] });
    expect(parseSelection({ indices: [1], all: true }, 10)).toMatchObject({ ok: false });
  });
});

describe("parseIndexList", () => {
  it("reads ranges and single indices", () => {
    expect(parseIndexList("0-2,5, 7-7", 10)).toEqual({ ok: true, value: [0, 1, 2, 5, 7] });
    expect(parseIndexList("3-1", 10).ok).toBe(false);
    expect(parseIndexList("9-12", 10)).toMatchObject({ ok: false, errors: [expect.stringContaining("out of range")] });
    expect(parseIndexList("a", 10).ok).toBe(false);
  });
});

describe("parseHostPort", () => {
  it("reads host:port and [v6]:port", () => {
    expect(parseHostPort("127.0.0.1:12999", "--control")).toEqual({ ok: true, value: { host: "127.0.0.1", port: 12999 } });
    expect(parseHostPort("[::1]:0", "--control")).toEqual({ ok: true, value: { host: "::1", port: 0 } });
    expect(parseHostPort("localhost", "--control")).toMatchObject({ ok: false, errors: [expect.stringMatching(/^--control: /)] });
    expect(parseHostPort("h:70000", "--control").ok).toBe(false);
  });
});
