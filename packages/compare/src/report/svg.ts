/**
 * A small hand-written SVG renderer for the report's charts: grouped bars
 * (with an optional whisker, e.g. p50 bar to p99, and optional stacked
 * segments) and line charts (linear or log axes, optional dashed fitted
 * curves). Stores are the series. Output is deterministic text: the same
 * data always renders the same file, so regenerated charts diff cleanly.
 */

/** Colour per series name (Okabe-Ito palette: readable for colour-blind readers). */
export const SERIES_COLORS: Record<string, string> = {
  raft: "#0072B2",
  crdt: "#D55E00",
  etcd: "#009E73",
  "raft (linearizable)": "#0072B2",
  "raft (local)": "#56B4E9",
  "crdt (local)": "#D55E00",
};
const FALLBACK = ["#CC79A7", "#E69F00", "#F0E442", "#000000"];

function colorOf(name: string, i: number): string {
  return SERIES_COLORS[name] ?? FALLBACK[i % FALLBACK.length]!;
}

/** Escapes text for SVG. */
export function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Formats a tick or value label compactly (1.2k, 3.4M, 0.05). */
export function fmtNumber(v: number): string {
  if (!Number.isFinite(v)) return "";
  const a = Math.abs(v);
  if (a >= 1e9) return `${trim(v / 1e9)}G`;
  if (a >= 1e6) return `${trim(v / 1e6)}M`;
  if (a >= 1e4) return `${trim(v / 1e3)}k`;
  if (a >= 100) return String(Math.round(v));
  if (a >= 10) return trim(v, 1);
  if (a >= 1) return trim(v, 2);
  if (a === 0) return "0";
  return trim(v, 3);
}

function trim(v: number, digits = 1): string {
  return String(Number(v.toFixed(digits)));
}

/** "Nice" linear ticks covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const start = Math.floor(lo / step) * step;
  const out: number[] = [];
  for (let v = start; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  if (out[out.length - 1]! < hi) out.push(Number((out[out.length - 1]! + step).toPrecision(12)));
  return out;
}

/** Powers of ten covering [lo, hi] (lo > 0), with 2x and 5x between them when the range spans at most two decades. */
export function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  const e0 = Math.floor(Math.log10(lo));
  const e1 = Math.ceil(Math.log10(hi));
  for (let e = e0; e <= e1; e++) {
    out.push(10 ** e);
    if (e < e1 && e1 - e0 <= 2) out.push(2 * 10 ** e, 5 * 10 ** e);
  }
  return out.map((v) => Number(v.toPrecision(6)));
}

interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

function header(f: Frame, title: string, subtitle: string | undefined): string[] {
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f.width}" height="${f.height}" viewBox="0 0 ${f.width} ${f.height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${f.width}" height="${f.height}" fill="#ffffff"/>`,
    `<text x="${f.width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
  if (subtitle !== undefined) out.push(`<text x="${f.width / 2}" y="37" text-anchor="middle" fill="#555555">${esc(subtitle)}</text>`);
  return out;
}

function legend(f: Frame, names: readonly string[], extra: Array<{ name: string; dashed?: boolean; color: string }> = []): string[] {
  const items = [...names.map((n, i) => ({ name: n, color: colorOf(n, i), dashed: false })), ...extra.map((e) => ({ ...e, dashed: e.dashed ?? false }))];
  const out: string[] = [];
  let x = f.left;
  const y = f.height - 12;
  for (const it of items) {
    if (it.dashed) out.push(`<line x1="${x}" y1="${y - 4}" x2="${x + 18}" y2="${y - 4}" stroke="${it.color}" stroke-width="2" stroke-dasharray="4 3"/>`);
    else out.push(`<rect x="${x}" y="${y - 10}" width="12" height="12" fill="${it.color}"/>`);
    out.push(`<text x="${x + 22}" y="${y}">${esc(it.name)}</text>`);
    x += 32 + it.name.length * 7;
  }
  return out;
}

/** Written across an empty chart: the run had nothing of this kind (the report's note under the chart's table says which scenarios it ran). */
export const NO_DATA = "no data: this run did not include these scenarios (see the note in the report)";

/** One bar group: a category with a value per series. */
export interface BarDatum {
  category: string;
  /**
   * series name -> value; `hi` draws a whisker up to it; `parts` stacks
   * segments. A null value (or a missing series) is drawn as "n/a", and the
   * chart says why below the plot: `why`, or "no samples" / "not in this run".
   */
  values: Record<string, { value: number | null; hi?: number | null; parts?: Array<{ label: string; value: number }>; why?: string }>;
}

/** Options of a bar chart. */
export interface BarChartOptions {
  title: string;
  subtitle?: string;
  yLabel: string;
  series: readonly string[];
  data: readonly BarDatum[];
  width?: number;
  height?: number;
  /** Label the bars with their values (default true). */
  labels?: boolean;
  /** Names of stacked segments for the legend (drawn lighter to darker). */
  partNames?: readonly string[];
}

/** A grouped bar chart; see {@link BarChartOptions}. */
export function barChart(o: BarChartOptions): string {
  // Every "n/a" bar says why, in a note under the plot: one line per distinct reason.
  const naNotes: string[] = [];
  for (const d of o.data) for (const s of o.series) {
    const v = d.values[s];
    if (v !== undefined && v.value !== null) continue;
    const why = v === undefined ? `${s} was not measured here in this run` : (v.why ?? `${s}: no samples in this run`);
    const note = `n/a (${d.category}): ${why}`;
    if (!naNotes.includes(note)) naNotes.push(note);
  }
  const notes = naNotes.length > 6 ? [...naNotes.slice(0, 5), `... and ${naNotes.length - 5} more n/a bars for the same kinds of reason`] : naNotes;
  const f: Frame = { width: o.width ?? 760, height: o.height ?? 380, left: 70, right: 20, top: o.subtitle ? 50 : 36, bottom: 80 + 14 * notes.length };
  f.height += 14 * notes.length;
  const plotW = f.width - f.left - f.right;
  const plotH = f.height - f.top - f.bottom;
  let max = 0;
  for (const d of o.data) for (const s of o.series) {
    const v = d.values[s];
    if (v === undefined) continue;
    max = Math.max(max, v.value ?? 0, v.hi ?? 0);
  }
  const ticks = niceTicks(0, max > 0 ? max : 1);
  const top = ticks[ticks.length - 1]!;
  const y = (v: number): number => f.top + plotH - (v / top) * plotH;
  const out = header(f, o.title, o.subtitle);
  for (const t of ticks) {
    out.push(`<line x1="${f.left}" y1="${y(t).toFixed(1)}" x2="${f.left + plotW}" y2="${y(t).toFixed(1)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${f.left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end" fill="#333333">${fmtNumber(t)}</text>`);
  }
  out.push(`<text transform="translate(16 ${f.top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#333333">${esc(o.yLabel)}</text>`);
  const groupW = plotW / Math.max(1, o.data.length);
  const barW = Math.min(40, (groupW * 0.8) / Math.max(1, o.series.length));
  o.data.forEach((d, gi) => {
    const gx = f.left + gi * groupW + (groupW - barW * o.series.length) / 2;
    o.series.forEach((s, si) => {
      const v = d.values[s];
      const x = gx + si * barW;
      const color = colorOf(s, si);
      if (v === undefined || v.value === null) {
        out.push(`<text x="${(x + barW / 2).toFixed(1)}" y="${(y(0) - 4).toFixed(1)}" text-anchor="middle" font-size="9" fill="#888888">n/a</text>`);
        return;
      }
      if (v.parts !== undefined && v.parts.length > 0) {
        let base = 0;
        v.parts.forEach((p, pi) => {
          const opacity = (0.45 + (0.55 * (pi + 1)) / v.parts!.length).toFixed(2);
          out.push(`<rect x="${x.toFixed(1)}" y="${y(base + p.value).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(y(base) - y(base + p.value)).toFixed(1)}" fill="${color}" fill-opacity="${opacity}"><title>${esc(`${s} ${d.category} ${p.label}: ${fmtNumber(p.value)}`)}</title></rect>`);
          base += p.value;
        });
      } else {
        out.push(`<rect x="${x.toFixed(1)}" y="${y(v.value).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(y(0) - y(v.value)).toFixed(1)}" fill="${color}"><title>${esc(`${s} ${d.category}: ${fmtNumber(v.value)}`)}</title></rect>`);
      }
      let labelY = y(v.value) - 4;
      if (v.hi !== undefined && v.hi !== null && v.hi > v.value) {
        const cx = x + (barW - 2) / 2;
        out.push(`<line x1="${cx.toFixed(1)}" y1="${y(v.value).toFixed(1)}" x2="${cx.toFixed(1)}" y2="${y(v.hi).toFixed(1)}" stroke="#222222"/>`);
        out.push(`<line x1="${(cx - 4).toFixed(1)}" y1="${y(v.hi).toFixed(1)}" x2="${(cx + 4).toFixed(1)}" y2="${y(v.hi).toFixed(1)}" stroke="#222222"/>`);
        labelY = y(v.hi) - 4;
      }
      if (o.labels !== false) out.push(`<text x="${(x + barW / 2 - 1).toFixed(1)}" y="${labelY.toFixed(1)}" text-anchor="middle" font-size="9" fill="#222222">${fmtNumber(v.hi ?? v.value)}</text>`);
    });
    // Category label, wrapped at spaces to at most two lines.
    const words = d.category.split(" ");
    const lines: string[] = [""];
    for (const w of words) {
      const cur = lines[lines.length - 1]!;
      if (cur.length > 0 && (cur + " " + w).length > Math.max(10, groupW / 6.5) && lines.length < 3) lines.push(w);
      else lines[lines.length - 1] = cur.length > 0 ? `${cur} ${w}` : w;
    }
    lines.forEach((line, li) => {
      out.push(`<text x="${(f.left + gi * groupW + groupW / 2).toFixed(1)}" y="${(f.top + plotH + 16 + li * 13).toFixed(1)}" text-anchor="middle" fill="#333333" font-size="11">${esc(line)}</text>`);
    });
  });
  out.push(`<line x1="${f.left}" y1="${y(0)}" x2="${f.left + plotW}" y2="${y(0)}" stroke="#333333"/>`);
  notes.forEach((n, i) => out.push(`<text x="${f.left}" y="${(f.top + plotH + 56 + 14 * i).toFixed(1)}" fill="#555555" font-size="11">${esc(n)}</text>`));
  const extra = (o.partNames ?? []).length > 0 ? [] : [];
  out.push(...legend(f, o.series, extra));
  if (o.partNames !== undefined && o.partNames.length > 0) {
    out.push(`<text x="${f.width - f.right}" y="${f.height - 12}" text-anchor="end" fill="#555555">stacked, light to dark: ${esc(o.partNames.join(", "))}</text>`);
  }
  if (o.data.some((d) => o.series.some((s) => d.values[s]?.hi !== undefined && d.values[s]?.hi !== null))) {
    out.push(`<text x="${f.width - f.right}" y="${f.height - 26}" text-anchor="end" fill="#555555">bar: median (p50); whisker: p99</text>`);
  }
  if (o.data.length === 0) out.push(`<text x="${(f.left + plotW / 2).toFixed(1)}" y="${(f.top + plotH / 2).toFixed(1)}" text-anchor="middle" fill="#888888">${esc(NO_DATA)}</text>`);
  out.push("</svg>");
  return out.join("\n") + "\n";
}

/** One line of a line chart. */
export interface LineSeries {
  name: string;
  points: ReadonlyArray<[number, number]>;
  /** Drawn dashed without markers (e.g. a fitted curve); colour of `colorOf` unless given. */
  dashed?: boolean;
  color?: string;
  /** Draw markers at the points (default: true unless dashed). */
  markers?: boolean;
}

/** Options of a line chart. */
export interface LineChartOptions {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  series: readonly LineSeries[];
  xLog?: boolean;
  yLog?: boolean;
  /** Fixed y range (e.g. [0, 1] for a CDF). */
  yRange?: [number, number];
  width?: number;
  height?: number;
}

/** A line chart; see {@link LineChartOptions}. */
export function lineChart(o: LineChartOptions): string {
  const f: Frame = { width: o.width ?? 760, height: o.height ?? 380, left: 70, right: 24, top: o.subtitle ? 50 : 36, bottom: 62 };
  const plotW = f.width - f.left - f.right;
  const plotH = f.height - f.top - f.bottom;
  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of o.series) for (const [x, y] of s.points) {
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    if (o.xLog && x <= 0) continue;
    if (o.yLog && y <= 0) continue;
    xs.push(x);
    ys.push(y);
  }
  const empty = xs.length === 0;
  if (empty) {
    xs.push(o.xLog ? 1 : 0, o.xLog ? 10 : 1);
    ys.push(o.yLog ? 1 : 0, o.yLog ? 10 : 1);
  }
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs);
  const yMin = o.yRange?.[0] ?? Math.min(...ys);
  const yMax = o.yRange?.[1] ?? Math.max(...ys);
  const xTicks = o.xLog ? logTicks(xMin, xMax) : niceTicks(Math.min(0, xMin), xMax);
  const yTicks = o.yLog ? logTicks(yMin, yMax) : o.yRange ? niceTicks(o.yRange[0], o.yRange[1]) : niceTicks(Math.min(0, yMin), yMax);
  const x0 = xTicks[0]!;
  const x1 = xTicks[xTicks.length - 1]!;
  const y0 = yTicks[0]!;
  const y1 = yTicks[yTicks.length - 1]!;
  const sx = (v: number): number => (o.xLog ? f.left + ((Math.log10(v) - Math.log10(x0)) / (Math.log10(x1) - Math.log10(x0) || 1)) * plotW : f.left + ((v - x0) / (x1 - x0 || 1)) * plotW);
  const sy = (v: number): number => (o.yLog ? f.top + plotH - ((Math.log10(v) - Math.log10(y0)) / (Math.log10(y1) - Math.log10(y0) || 1)) * plotH : f.top + plotH - ((v - y0) / (y1 - y0 || 1)) * plotH);
  const out = header(f, o.title, o.subtitle);
  for (const t of yTicks) {
    out.push(`<line x1="${f.left}" y1="${sy(t).toFixed(1)}" x2="${f.left + plotW}" y2="${sy(t).toFixed(1)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${f.left - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end" fill="#333333">${fmtNumber(t)}</text>`);
  }
  for (const t of xTicks) {
    out.push(`<line x1="${sx(t).toFixed(1)}" y1="${f.top}" x2="${sx(t).toFixed(1)}" y2="${f.top + plotH}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${sx(t).toFixed(1)}" y="${f.top + plotH + 16}" text-anchor="middle" fill="#333333">${fmtNumber(t)}</text>`);
  }
  out.push(`<rect x="${f.left}" y="${f.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333333"/>`);
  out.push(`<text x="${f.left + plotW / 2}" y="${f.top + plotH + 34}" text-anchor="middle" fill="#333333">${esc(o.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${f.top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#333333">${esc(o.yLabel)}</text>`);
  const solid = o.series.filter((s) => !s.dashed);
  o.series.forEach((s, i) => {
    const color = s.color ?? colorOf(s.name.replace(/ \(fit\)$/, ""), solid.indexOf(s) >= 0 ? solid.indexOf(s) : i);
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!o.xLog || x > 0) && (!o.yLog || y > 0));
    if (pts.length === 0) return;
    const d = pts.map(([x, y], k) => `${k === 0 ? "M" : "L"}${sx(x).toFixed(1)} ${sy(y).toFixed(1)}`).join(" ");
    out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 4"' : ""}/>`);
    if (s.markers ?? !s.dashed) for (const [x, y] of pts) out.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${color}"><title>${esc(`${s.name}: (${fmtNumber(x)}, ${fmtNumber(y)})`)}</title></circle>`);
  });
  out.push(...legend(f, solid.map((s) => s.name), o.series.filter((s) => s.dashed).map((s) => ({ name: s.name, dashed: true, color: s.color ?? colorOf(s.name.replace(/ \(fit\)$/, ""), 0) }))));
  if (empty) out.push(`<text x="${(f.left + plotW / 2).toFixed(1)}" y="${(f.top + plotH / 2).toFixed(1)}" text-anchor="middle" fill="#888888">${esc(NO_DATA)}</text>`);
  out.push("</svg>");
  return out.join("\n") + "\n";
}
