import { describe, expect, it } from "vitest";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseTranscripts } from "./transcript/parse.ts";

// The learner's path through Heck is its READMEs and docs. These tests keep
// them to the house standard: every stage README teaches one idea in under
// 2,500 words under the same seven headings, every relative link resolves,
// and the project's text speaks only of the project (no issue numbers, no
// remarks about who ran what or what else ran on the machine).
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const STAGE_READMES = [
  "packages/v1-checker/README.md",
  "packages/ownership/README.md",
  "packages/swim/README.md",
  "packages/raft-kv/README.md",
  "packages/crdt-kv/README.md",
  "apps/v2/README.md",
  "packages/compare/README.md",
  "packages/fleet/README.md",
  "packages/sim/README.md",
  "packages/net/README.md",
];
const SEVEN_HEADINGS = ["The idea", "Run it", "Read the code in this order", "How it is tested", "Measured", "Exercises", "Further reading"];
const MAX_WORDS = 2500;

/** Words as `wc -w` counts them: runs of non-whitespace. */
function wordCount(text: string): number {
  return text.split(/\s+/).filter((w) => w !== "").length;
}

/** `## ` headings outside fenced code blocks. */
function secondLevelHeadings(markdown: string): string[] {
  const out: string[] = [];
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    else if (!fenced && line.startsWith("## ")) out.push(line.slice(3).trim());
  }
  return out;
}

describe("stage READMEs", () => {
  it.each(STAGE_READMES)("%s is under 2,500 words", (file) => {
    const words = wordCount(readFileSync(path.join(root, file), "utf8"));
    expect(words, `${file} has ${words} words; move run logs and tuning history to bench/NOTES.md`).toBeLessThan(MAX_WORDS);
  });

  it.each(STAGE_READMES)("%s has exactly the seven headings, in order", (file) => {
    const headings = secondLevelHeadings(readFileSync(path.join(root, file), "utf8"));
    expect(headings, `${file}: use ### inside one of the seven headings for anything else`).toEqual(SEVEN_HEADINGS);
  });
});

/** Every file under `dir` (relative to the root) whose name matches, skipping dependencies and build output. */
function filesUnder(dir: string, matches: (name: string) => boolean): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const abs = path.join(root, rel);
    if (!existsSync(abs)) return;
    for (const entry of readdirSync(abs)) {
      if (entry === "node_modules" || entry === "dist" || entry === ".turbo" || entry.startsWith(".")) continue;
      const child = path.join(rel, entry);
      if (statSync(path.join(root, child)).isDirectory()) walk(child);
      else if (matches(entry)) out.push(child);
    }
  };
  walk(dir);
  return out;
}

const TEXT = /\.(ts|js|mjs|cjs|md|go|sh|yaml|yml|json)$/;
const projectText = (): string[] =>
  ["packages", "apps", "docs", "scripts", "test"].flatMap((d) => filesUnder(d, (name) => TEXT.test(name))).concat(["README.md"]).filter((f) => f !== "test/readmes.test.ts");

describe("the project's text speaks of the project", () => {
  // Each pattern is development bookkeeping a learner cannot follow; the
  // fix is the design note or reason the reference stood for.
  const BOOKKEEPING: Array<[string, RegExp]> = [
    ["an issue number", /\bissues? ?#?\d+/i],
    ["\"the issue\" as a source of requirements", /\bthe issue('s)?\b/i],
    ["other people's work on the machine", /\bother (helpers|engineers|sessions|agents'|jobs)\b/i],
    ["who shares the machine", /\bshared with (other|five) (helpers|jobs|engineers|builds|work)|\bmachine (is )?shared\b/i],
    ["a first-person aside about a run", /\b(test|run|benchmark) of mine\b/i],
  ];

  it("has no issue numbers or remarks about other work on the machine", () => {
    const hits: string[] = [];
    for (const file of projectText()) {
      const lines = readFileSync(path.join(root, file), "utf8").split("\n");
      lines.forEach((line, i) => {
        for (const [what, re] of BOOKKEEPING) if (re.test(line)) hits.push(`${file}:${i + 1}: ${what}: ${line.trim().slice(0, 120)}`);
      });
    }
    expect(hits).toEqual([]);
  });

  it("finds bookkeeping when it is there (the patterns are not dead)", () => {
    const samples = ["see issue 7", "as issue #12 asks", "the issue's goal", "shared with other helpers' benchmarks", "a test of mine", "this machine is shared"];
    for (const s of samples) expect(BOOKKEEPING.some(([, re]) => re.test(s)), s).toBe(true);
    for (const s of ["a helper nacks after 80% of the timeout", "client sessions (§6.3)", "for (const key of mine)", "a store shared with other software"]) expect(BOOKKEEPING.some(([, re]) => re.test(s)), s).toBe(false);
  });
});

describe("links in READMEs and docs", () => {
  const docs = [...filesUnder("packages", (n) => n.endsWith(".md")), ...filesUnder("apps", (n) => n.endsWith(".md")), ...filesUnder("docs", (n) => n.endsWith(".md")), "README.md"];

  it("every relative link points at a file that exists", () => {
    const broken: string[] = [];
    for (const file of docs) {
      const text = readFileSync(path.join(root, file), "utf8");
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/i.test(target) || target.startsWith("#")) continue;
        const withoutAnchor = target.split("#")[0]!;
        if (!existsSync(path.join(root, path.dirname(file), withoutAnchor))) broken.push(`${file}: ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });
});

describe("the guided route", () => {
  const learn = readFileSync(path.join(root, "docs/learn.md"), "utf8");

  it("docs/learn.md is the first link in the root README", () => {
    const first = /\]\(([^)\s]+)\)/.exec(readFileSync(path.join(root, "README.md"), "utf8"));
    expect(first?.[1]).toBe("docs/learn.md");
  });

  it("has a section per stage, each with a checkpoint that runs as a transcript, and ends at heck compare's answer", () => {
    const { blocks } = parseTranscripts(learn, "docs/learn.md");
    const headings = secondLevelHeadings(learn);
    const stages = ["v1-checker", "ownership", "swim", "raft-kv", "crdt-kv", "apps/v2"];
    for (const stage of stages) {
      const heading = headings.find((h) => h.includes(`(${stage},`));
      expect(heading, `a "## N. ... (${stage}, about ...)" section`).toBeDefined();
      const runnable = blocks.filter((b) => b.section === heading && !b.options.illustrative && b.commands.length > 0);
      expect(runnable.length, `${heading}: a console block the transcript test runs`).toBeGreaterThan(0);
    }
    expect(headings[headings.length - 1]).toMatch(/raft or CRDTs/);
    expect(learn).toContain("pnpm heck compare");
  });
});
