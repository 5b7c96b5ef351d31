import { describe, expect, it } from "vitest";
import { generateOrigins, isOriginCount, parseMemberList, parseOriginsText } from "../src/core/parse.ts";

describe("parseMemberList", () => {
  it("reads ids, weights and host:port ids", () => {
    expect(parseMemberList("a, b=2 ,10.0.0.1:8080=0.5")).toEqual(["a", { id: "b", weight: 2 }, { id: "10.0.0.1:8080", weight: 0.5 }]);
  });

  it("reads a bare count as n1..nN for --members only", () => {
    expect(parseMemberList("3")).toEqual(["n1", "n2", "n3"]);
    expect(parseMemberList("3", "--add")).toEqual(["3"]);
    expect(() => parseMemberList("0")).toThrow(/--members: count must be from 1/);
  });

  it("names the flag and the member in errors", () => {
    expect(() => parseMemberList("a,,b")).toThrow(/--members: member 2 is empty/);
    expect(() => parseMemberList("a,b=x")).toThrow(/--members: weight of "b" must be a number > 0, got "x"/);
    expect(() => parseMemberList("=2", "--add")).toThrow(/--add: member 1 has a weight but no id/);
    expect(() => parseMemberList(" ")).toThrow(/--members: needs a comma-separated list/);
  });
});

describe("origins", () => {
  it("treats digits as a count and generates origin-1..origin-N", () => {
    expect(isOriginCount("12")).toBe(true);
    expect(isOriginCount("./12")).toBe(false);
    expect(generateOrigins("3")).toEqual(["origin-1", "origin-2", "origin-3"]);
    expect(() => generateOrigins("0")).toThrow(/--origins: count must be from 1/);
  });

  it("reads one origin per line, skipping blanks and comments, rejecting duplicates with line numbers", () => {
    expect(parseOriginsText("# checks\nhttps://a/\n\n  https://b/  \r\n", "f.txt")).toEqual(["https://a/", "https://b/"]);
    expect(() => parseOriginsText("x\ny\nx\n", "f.txt")).toThrow(/--origins: f.txt:3: duplicate origin "x" \(first on line 1\)/);
    expect(() => parseOriginsText("# nothing\n", "f.txt")).toThrow(/f.txt has no origins/);
  });
});
