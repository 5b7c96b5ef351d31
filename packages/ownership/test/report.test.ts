import { describe, expect, it } from "vitest";
import { assign, createScheme, prepareOrigins } from "../src/index.ts";
import { columns, diffReport, formatCompare, formatDiff, formatTable, tableReport } from "../src/core/report.ts";
import { compareSchemes } from "../src/core/compare.ts";
import { assignWith } from "../src/core/table.ts";

const origins = prepareOrigins(Array.from({ length: 300 }, (_, i) => `origin-${i + 1}`));

describe("reports", () => {
  it("aligns columns and right-aligns numbers", () => {
    expect(columns([["a", "10"], ["long", "5"]])).toEqual(["a     10", "long   5"]);
  });

  it("table: rows in origin order, owner first in its failover list, loads summing to n", () => {
    const scheme = createScheme("rendezvous", ["a", "b", "c"]);
    const r = tableReport(assignWith(scheme, origins), scheme, origins, 2);
    expect(r.origins.map((x) => x.origin)).toEqual(origins.ids);
    expect(r.origins.every((x) => x.priority[0] === x.owner && x.priority.length === 2)).toBe(true);
    expect(r.loads.reduce((s, l) => s + l.origins, 0)).toBe(300);
    const text = formatTable(r, 3);
    expect(text).toMatch(/^rendezvous: 300 origins over 3 members/);
    expect(text).toMatch(/\.\.\. 297 more/);
    expect(text).toMatch(/max\/mean \d\.\d{3}/);
  });

  it("table with bounded loads shows caps and the unbounded priority", () => {
    const scheme = createScheme("rendezvous", ["a", "b", "c"]);
    const r = tableReport(assignWith(scheme, origins, 0), scheme, origins, 2);
    expect(r.loads.map((l) => l.capacity)).toEqual([100, 100, 100]);
    expect(r.loads.map((l) => l.origins)).toEqual([100, 100, 100]);
    expect(formatTable(r, 0)).toMatch(/priority \(unbounded\)/);
  });

  it("diff: optimal is the removed member's fair share, and every dead origin went to its next choice", () => {
    const ms = ["a", "b", "c", "d"];
    const before = createScheme("rendezvous", ms);
    const r = diffReport(assignWith(before, origins), assign(origins, ["a", "c", "d"]), before, origins);
    expect(r.optimal).toBe(75);
    expect(r.collateral).toBe(0);
    expect(r.toSecondChoice).toBe(r.movedCount);
    expect(formatDiff(r, 2)).toMatch(/^rendezvous: remove b\nmoved \d+ of 300 origins/);
  });

  it("compare: one line per scheme, unsupported ones explained", () => {
    const rows = compareSchemes(origins, ["a", { id: "b", weight: 2 }, "c"]);
    const text = formatCompare({ command: "compare", origins: 300, members: [], rows });
    expect(text).toMatch(/jump\s+unsupported: members\[1\]\.weight: jump consistent hash has no weights/);
    expect(text.split("\n").filter((l) => /^(rendezvous|ring|jump|maglev)/.test(l))).toHaveLength(5);
  });
});
