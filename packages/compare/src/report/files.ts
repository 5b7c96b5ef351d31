/**
 * Writes the report to disk: `results.json`, `report.md` and one SVG per
 * chart into the output directory, and the key-figures block into the
 * learner's chapter between its markers. Stale charts from an earlier run
 * (a chart no longer produced) are removed so the folder matches the report.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CompareResults } from "../types.ts";
import { chapterFigures, renderReport } from "./markdown.ts";

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
    let next = text;
    const a = text.indexOf(SUMMARY_START);
    const b = text.indexOf(SUMMARY_END);
    if (a >= 0 && b > a) {
      next = `${text.slice(0, a + SUMMARY_START.length)}\n\n${rendered.summary}\n\n${text.slice(b)}`;
      chapterUpdated = true;
    }
    const withFigures = refreshFigures(next, chapterFigures(results), chapter);
    if (withFigures !== next) chapterUpdated = true;
    if (withFigures !== text) writeFileSync(chapter, withFigures);
  }
  return { dir, files, chapterUpdated };
}

/** A figure quoted in the chapter's prose: `<!-- fig NAME -->value<!-- /fig -->`. */
export const FIGURE_SPAN = /<!-- fig ([A-Za-z0-9._-]+) -->([\s\S]*?)<!-- \/fig -->/g;

/**
 * Rewrites every figure the chapter's prose quotes with its value from this
 * run. A name this run does not produce is an error naming it (prose must
 * not quote a figure nothing regenerates).
 */
export function refreshFigures(text: string, figures: Record<string, string>, file = "the chapter"): string {
  return text.replace(FIGURE_SPAN, (_span, name: string) => {
    const value = figures[name];
    if (value === undefined) throw new Error(`${file}: quotes the figure "${name}", which heck compare does not produce (it produces ${Object.keys(figures).sort().join(", ")})`);
    return `<!-- fig ${name} -->${value}<!-- /fig -->`;
  });
}
