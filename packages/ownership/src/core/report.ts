/**
 * What the CLI prints: each command's result as a JSON-ready object and as
 * aligned text for a terminal. Pure functions of tables and diffs, so the
 * CLI stays a thin layer of parsing and wiring, and tests can check output.
 */
import type { ComparisonRow } from "./compare.ts";
import type { Member } from "./members.ts";
import type { PreparedOrigins } from "./origins.ts";
import type { OwnershipScheme } from "./scheme.ts";
import { diff, loadStats, type LoadStats, type OwnershipDiff, type OwnershipTable } from "./table.ts";

/** One origin's row in `table --json`: its owner and its (unbounded) failover order. */
export interface TableRow {
  readonly origin: string;
  readonly owner: string;
  readonly priority: readonly string[];
}

/** One member's load in `table --json`. */
export interface MemberLoad {
  readonly member: string;
  readonly weight: number;
  readonly origins: number;
  readonly capacity?: number;
}

/** The JSON document `heck-ownership table --json` prints. */
export interface TableReport {
  readonly command: "table";
  readonly scheme: string;
  readonly label: string;
  readonly k: number;
  readonly boundedLoadEpsilon?: number;
  readonly members: readonly Member[];
  readonly origins: readonly TableRow[];
  readonly loads: readonly MemberLoad[];
  readonly stats: LoadStats;
}

function pad(s: string, width: number): string {
  return s.length >= width ? s : s + " ".repeat(width - s.length);
}

function padStart(s: string, width: number): string {
  return s.length >= width ? s : " ".repeat(width - s.length) + s;
}

function pct(x: number, digits = 1): string {
  return `${(x * 100).toFixed(digits)}%`;
}

/** Aligns rows of cells into columns separated by two spaces (numbers right-aligned). */
export function columns(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((row) =>
    row
      .map((c, i) => (i > 0 && /^[-+0-9.,%x]+$/.test(c) ? padStart(c, widths[i]!) : pad(c, widths[i]!)))
      .join("  ")
      .trimEnd(),
  );
}

/** Builds the `table` report: every origin's owner and failover list, loads, balance. */
export function tableReport(table: OwnershipTable, scheme: OwnershipScheme, origins: PreparedOrigins, k: number): TableReport {
  const rows = origins.ids.map((origin, i) => ({
    origin,
    owner: table.owners[i]!,
    priority: scheme.priorityOf(origins.hi[i]!, origins.lo[i]!, k).map((j) => scheme.members[j]!.id),
  }));
  const loads = table.members.map((m) => ({
    member: m.id,
    weight: m.weight,
    origins: table.loads.get(m.id) ?? 0,
    ...(table.capacities === undefined ? {} : { capacity: table.capacities.get(m.id)! }),
  }));
  return {
    command: "table",
    scheme: table.scheme,
    label: table.label,
    k,
    ...(table.boundedLoadEpsilon === undefined ? {} : { boundedLoadEpsilon: table.boundedLoadEpsilon }),
    members: table.members,
    origins: rows,
    loads,
    stats: loadStats(table),
  };
}

/** The `table` report as text; `limit` caps the origin rows shown (0: all). */
export function formatTable(report: TableReport, limit: number): string {
  const n = report.origins.length;
  const out = [`${report.label}: ${n} origins over ${report.members.length} members`, ""];
  const shown = limit === 0 ? report.origins : report.origins.slice(0, limit);
  const bounded = report.boundedLoadEpsilon !== undefined;
  out.push(
    ...columns([
      ["origin", "owner", bounded ? "priority (unbounded)" : `failover order (k=${report.k})`],
      ...shown.map((r) => [r.origin, r.owner, r.priority.join(" > ")]),
    ]),
  );
  if (shown.length < n) out.push(`... ${n - shown.length} more (--limit 0 shows all, --json prints everything)`);
  out.push("");
  const total = report.members.reduce((s, m) => s + m.weight, 0);
  const maxLoad = Math.max(1, ...report.loads.map((l) => l.origins));
  out.push(
    ...columns([
      ["member", "weight", "origins", "share", ...(bounded ? ["cap"] : []), ""],
      ...report.loads.map((l) => [
        l.member,
        String(l.weight),
        String(l.origins),
        pct(n === 0 ? 0 : l.origins / n),
        ...(bounded ? [String(l.capacity)] : []),
        "#".repeat(Math.round((30 * l.origins) / maxLoad)),
      ]),
    ]),
  );
  const fair = report.members.some((m) => m.weight !== report.members[0]!.weight) ? ` (fair share = n x weight / ${total})` : "";
  out.push("", `max/mean ${report.stats.maxOverMean.toFixed(3)}  std dev ${report.stats.stdDevPct.toFixed(1)}% of the fair share${fair}`);
  return out.join("\n");
}

/** The JSON document `heck-ownership diff --json` prints. */
export interface DiffReport {
  readonly command: "diff";
  readonly scheme: string;
  readonly label: string;
  readonly before: readonly Member[];
  readonly after: readonly Member[];
  readonly origins: number;
  readonly movedCount: number;
  /** The least movement possible for a single add or remove (its fair share), else undefined. */
  readonly optimal?: number;
  readonly movedOverOptimal?: number;
  readonly collateral: number;
  /** For a removal: how many of the dead members' origins went to their own second choice. */
  readonly toSecondChoice?: number;
  readonly flows: OwnershipDiff["flows"];
  readonly moved: OwnershipDiff["moved"];
  readonly membersAdded: readonly string[];
  readonly membersRemoved: readonly string[];
}

/** Builds the `diff` report; `beforeScheme` supplies the failover lists to check second choices. */
export function diffReport(before: OwnershipTable, after: OwnershipTable, beforeScheme: OwnershipScheme, origins: PreparedOrigins): DiffReport {
  const d = diff(before, after);
  const n = d.origins;
  let optimal: number | undefined;
  const wBefore = before.members.reduce((s, m) => s + m.weight, 0);
  const wAfter = after.members.reduce((s, m) => s + m.weight, 0);
  if (d.membersRemoved.length === 1 && d.membersAdded.length === 0) {
    optimal = (n * before.members.find((m) => m.id === d.membersRemoved[0])!.weight) / wBefore;
  } else if (d.membersAdded.length === 1 && d.membersRemoved.length === 0) {
    optimal = (n * after.members.find((m) => m.id === d.membersAdded[0])!.weight) / wAfter;
  }
  let toSecondChoice: number | undefined;
  if (d.membersRemoved.length > 0 && before.boundedLoadEpsilon === undefined) {
    // Where each of the dead member's origins went, against its failover list
    // in the old membership: the first entry that survives.
    const removed = new Set(d.membersRemoved);
    const index = new Map(origins.ids.map((o, i) => [o, i]));
    toSecondChoice = 0;
    for (const mv of d.moved) {
      if (!removed.has(mv.from)) continue;
      const i = index.get(mv.origin)!;
      // With r members gone, the first survivor is among the first r + 1 entries.
      const k = Math.min(beforeScheme.members.length, removed.size + 1);
      const list = beforeScheme.priorityOf(origins.hi[i]!, origins.lo[i]!, k).map((j) => beforeScheme.members[j]!.id);
      if (list.find((id) => !removed.has(id)) === mv.to) toSecondChoice++;
    }
  }
  return {
    command: "diff",
    scheme: after.scheme,
    label: after.label,
    before: before.members,
    after: after.members,
    origins: n,
    movedCount: d.moved.length,
    ...(optimal === undefined ? {} : { optimal, movedOverOptimal: optimal === 0 ? 0 : d.moved.length / optimal }),
    collateral: d.collateral,
    ...(toSecondChoice === undefined ? {} : { toSecondChoice }),
    flows: d.flows,
    moved: d.moved,
    membersAdded: d.membersAdded,
    membersRemoved: d.membersRemoved,
  };
}

/** The `diff` report as text; `limit` caps the moved origins listed (0: all). */
export function formatDiff(r: DiffReport, limit: number): string {
  const change = [...r.membersRemoved.map((m) => `remove ${m}`), ...r.membersAdded.map((m) => `add ${m}`)].join(", ") || "no membership change";
  const out = [`${r.label}: ${change}`];
  out.push(`moved ${r.movedCount} of ${r.origins} origins (${pct(r.origins === 0 ? 0 : r.movedCount / r.origins)})`);
  if (r.optimal !== undefined) out.push(`optimal ${r.optimal.toFixed(1)} (the changed member's fair share): moved/optimal ${r.movedOverOptimal!.toFixed(3)}`);
  out.push(`collateral ${r.collateral} (moves between members that stayed: ${r.collateral === 0 ? "none, minimal disruption" : "unnecessary movement"})`);
  if (r.toSecondChoice !== undefined) {
    const fromDead = r.moved.filter((m) => r.membersRemoved.includes(m.from)).length;
    out.push(`the dead member's origins that went to their own next choice: ${r.toSecondChoice} of ${fromDead}`);
  }
  if (r.flows.length > 0) {
    out.push("", ...columns([["from", "to", "origins"], ...r.flows.map((f) => [f.from, f.to, String(f.count)])]));
  }
  if (r.moved.length > 0) {
    const shown = limit === 0 ? r.moved : r.moved.slice(0, limit);
    out.push("", ...columns([["origin", "from", "to"], ...shown.map((m) => [m.origin, m.from, m.to])]));
    if (shown.length < r.moved.length) out.push(`... ${r.moved.length - shown.length} more (--limit 0 shows all)`);
  }
  return out.join("\n");
}

/** The JSON document `heck-ownership compare --json` prints. */
export interface CompareReport {
  readonly command: "compare";
  readonly origins: number;
  readonly members: readonly Member[];
  readonly rows: readonly ComparisonRow[];
}

/** The `compare` report as text: one line per scheme. */
export function formatCompare(r: CompareReport): string {
  const first = r.rows.find((x) => x.remove !== undefined);
  const head = first === undefined ? "" : ` (remove ${first.remove!.member}, add ${first.add!.member})`;
  const out = [`${r.origins} origins over ${r.members.length} members${head}`, ""];
  out.push(
    ...columns([
      ["scheme", "max/mean", "std dev", "remove: moved", "/optimal", "collateral", "add: moved", "/optimal", "collateral"],
      ...r.rows.map((x) =>
        x.unsupported !== undefined
          ? [x.label, `unsupported: ${x.unsupported}`]
          : [
              x.label,
              x.load!.maxOverMean.toFixed(3),
              `${x.load!.stdDevPct.toFixed(1)}%`,
              String(x.remove!.moved),
              `${x.remove!.movedOverOptimal.toFixed(2)}x`,
              String(x.remove!.collateral),
              String(x.add!.moved),
              `${x.add!.movedOverOptimal.toFixed(2)}x`,
              String(x.add!.collateral),
            ],
      ),
    ]),
  );
  out.push("", "max/mean 1.000 is perfect balance; moved/optimal 1.00x and collateral 0 is minimal disruption.");
  return out.join("\n");
}
