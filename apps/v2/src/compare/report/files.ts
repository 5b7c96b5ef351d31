/**
 * Writes the report to disk: `results.json`, `report.md` and one SVG per
 * chart into the output directory, and the key-figures block into the
 * learner's chapter between its markers. Stale charts from an earlier run
 * (a chart no longer produced) are removed so the folder matches the report.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CompareResults } from "../types.ts";
import { renderReport } from "./markdown.ts";

/** Markers around the generated block in docs/compare.md. */
export const SUMMARY_START = "<!-- heck compare: key figures (generated; do not edit) -->";
export const SUMMARY_END = "<!-- /heck compare -->";

/** What was written. */
export interface WrittenReport {
  dir: string;
  files: string[];
  chapterUpdated: boolean;
}

/** Writes everything; `chapter` is the path of docs/compare.md (its block is replaced if both markers exist). */
export function writeReport(results: CompareResults, dir: string, chapter?: string): WrittenReport {
  mkdirSync(dir, { recursive: true });
  const rendered = renderReport(results);
  const files: string[] = [];
  const put = (name: string, text: string): void => {
    writeFileSync(join(dir, name), text);
    files.push(name);
  };
  put("results.json", JSON.stringify(results, null, 1) + "\n");
  put("report.md", rendered.markdown);
  for (const c of rendered.charts) put(c.file, c.svg);
  for (const f of readdirSync(dir)) if (f.endsWith(".svg") && !files.includes(f)) rmSync(join(dir, f));
  let chapterUpdated = false;
  if (chapter !== undefined && existsSync(chapter)) {
    const text = readFileSync(chapter, "utf8");
    const a = text.indexOf(SUMMARY_START);
    const b = text.indexOf(SUMMARY_END);
    if (a >= 0 && b > a) {
      const next = `${text.slice(0, a + SUMMARY_START.length)}\n\n${rendered.summary}\n\n${text.slice(b)}`;
      if (next !== text) writeFileSync(chapter, next);
      chapterUpdated = true;
    }
  }
  return { dir, files, chapterUpdated };
}
