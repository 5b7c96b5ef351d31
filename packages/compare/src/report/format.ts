/**
 * How numbers appear in the report. One formatter per kind of number, used by
 * the markdown generator and by the test that checks every table cell equals
 * the JSON it came from.
 */

/** Shown for a missing figure (no samples, or not applicable). */
export const NONE = "—";

/** Milliseconds: integers from 100 up, one decimal from 10, two below. */
export function fmtMs(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return NONE;
  const a = Math.abs(v);
  if (a >= 100) return Math.round(v).toLocaleString("en-US");
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** A share in [0, 1] as a percentage with one decimal. */
export function fmtShare(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return NONE;
  return `${(v * 100).toFixed(1)}%`;
}

/** A count or a size: grouped integers, or one decimal below 100. */
export function fmtCount(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return NONE;
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString("en-US");
  return v.toFixed(1);
}

/** A model coefficient: four significant digits. */
export function fmtCoef(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return NONE;
  if (v === 0) return "0";
  return Number(v.toPrecision(4)).toString();
}

/** Yes / no / unknown. */
export function fmtBool(v: boolean | null | undefined): string {
  return v === true ? "yes" : v === false ? "no" : NONE;
}

/** Parses the markdown tables of a document: for each table, its header cells and rows of cells. */
export function parseMarkdownTables(md: string): Array<{ header: string[]; rows: string[][] }> {
  const lines = md.split("\n");
  const tables: Array<{ header: string[]; rows: string[][] }> = [];
  // Cells are separated by "|"; an escaped "\|" belongs to the cell.
  const cells = (line: string): string[] =>
    line
      .trim()
      .replace(/^\|/, "")
      .replace(/\|$/, "")
      .split(/(?<!\\)\|/)
      .map((c) => c.trim().replace(/\\\|/g, "|"));
  for (let i = 0; i + 1 < lines.length; i++) {
    if (!lines[i]!.trim().startsWith("|") || !/^\s*\|?\s*:?-{3,}/.test(lines[i + 1]!)) continue;
    const header = cells(lines[i]!);
    const rows: string[][] = [];
    let j = i + 2;
    for (; j < lines.length && lines[j]!.trim().startsWith("|"); j++) rows.push(cells(lines[j]!));
    tables.push({ header, rows });
    i = j;
  }
  return tables;
}
