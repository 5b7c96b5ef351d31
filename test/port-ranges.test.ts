/**
 * Test files run two at a time, so two files must never bind the same fixed
 * port. A file that binds fixed ports says which in its header,
 * "Ports <from>-<to> belong to this file" (several ranges joined by "and"),
 * and this test holds the files to it: no two files' ranges overlap, and
 * every five-digit port number a file names lies in its own ranges. Pick a
 * new file's range from the gaps in the table this test prints on failure.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

interface Range {
  file: string;
  from: number;
  to: number;
}

/** Every test source under packages/*\/test, apps/*\/test and test/, relative to the root. */
function testSources(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== "node_modules" && entry.name !== "fixtures") walk(rel);
      } else if (/\.(ts|mjs)$/.test(entry.name)) out.push(rel);
    }
  };
  for (const group of ["packages", "apps"]) {
    for (const pkg of readdirSync(path.join(root, group))) {
      try {
        walk(path.join(group, pkg, "test"));
      } catch {
        // A package without tests.
      }
    }
  }
  walk("test");
  return out.sort();
}

/** A comment's text as one line: the `*` and `//` that start its lines removed. */
const flatten = (source: string): string => source.replace(/\n\s*(?:\*(?!\/)|\/\/)?\s*/g, " ");

/** The ranges a file declares, or none. */
function declaredRanges(file: string, source: string): Range[] {
  const m = /Ports ((?:\d+-\d+)(?: and \d+-\d+)*) belong to this file/.exec(flatten(source));
  if (m === null) return [];
  return m[1]!.split(" and ").map((r) => {
    const [from, to] = r.split("-").map(Number) as [number, number];
    return { file, from, to };
  });
}

/** What precedes a five-digit number that is not a port: a timeout, a lease ID, a flag's bounds, metadata text. */
const NOT_A_PORT = /(?:timeout-ms", "|ID: "|leases\/|lease: "?|toEqual\(\["|from 1 to |range \(|api=127\.0\.0\.1:)$/;

/**
 * Port numbers a file names: every five-digit number below the kernel's
 * ephemeral range (32768 and up, where port 0 draws from) that is not part
 * of a longer token or one of the {@link NOT_A_PORT} cases. The project's
 * fixed ports are all five digits.
 */
function portsNamed(source: string): number[] {
  const out: number[] = [];
  for (const m of source.matchAll(/(?<![\w.=-])(\d{5})(?![\w.])/g)) {
    const n = Number(m[1]);
    if (n > 32_767 || NOT_A_PORT.test(source.slice(Math.max(0, m.index - 20), m.index))) continue;
    out.push(n);
  }
  return out;
}

describe("fixed ports in tests", () => {
  const files = testSources().map((file) => ({ file, source: readFileSync(path.join(root, file), "utf8") }));
  const ranges = files.flatMap(({ file, source }) => declaredRanges(file, source)).sort((a, b) => a.from - b.from);
  const table = ranges.map((r) => `${r.from}-${r.to}  ${r.file}`).join("\n");

  it("finds the declarations (and reads one that spans comment lines)", () => {
    expect(ranges.length).toBeGreaterThan(20);
    expect(declaredRanges("x", "/**\n * Ports 1-2 and 5-9 belong to this\n * file.\n */")).toEqual([{ file: "x", from: 1, to: 2 }, { file: "x", from: 5, to: 9 }]);
  });

  it("no two files declare overlapping ranges", () => {
    const overlaps: string[] = [];
    for (let i = 1; i < ranges.length; i++) {
      for (let j = 0; j < i; j++) {
        const a = ranges[j]!;
        const b = ranges[i]!;
        if (a.file !== b.file && b.from <= a.to && a.from <= b.to) overlaps.push(`${a.file} ${a.from}-${a.to} overlaps ${b.file} ${b.from}-${b.to}`);
      }
    }
    expect(overlaps, table).toEqual([]);
  });

  it("every port a declaring file names lies in its own ranges", () => {
    const outside: string[] = [];
    for (const { file, source } of files) {
      const own = declaredRanges(file, source);
      if (own.length === 0) continue;
      for (const port of new Set(portsNamed(source))) {
        if (!own.some((r) => r.from <= port && port <= r.to)) outside.push(`${file}: ${port}`);
      }
    }
    expect(outside, table).toEqual([]);
  });
});
