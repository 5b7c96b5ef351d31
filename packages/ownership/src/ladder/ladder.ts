/**
 * The ownership ladder: every way this package (and the one-liner before it)
 * can place origins on members, measured the same way on the same draw, so
 * the learner sees what each one breaks and the next one fixes:
 *
 * 1. modulo n: even, but almost every origin moves when n changes;
 * 2. a hash ring with one point per member (Karger et al.): only the
 *    necessary origins move, but arcs, and so loads, are very unequal;
 * 3. the ring with virtual nodes (Dynamo): balance improves as 1/sqrt(points),
 *    at the price of m x 160 points every node must build and agree on;
 * 4. jump hash: near-perfect balance with no state, but it can only drop the
 *    last bucket: any other departure renumbers the rest;
 * 5. Maglev: near-perfect balance, a table to build, and a few needless moves;
 * 6. rendezvous: minimal movement, balance like the ring's at 1,000 points,
 *    no state, and the failover order for free: the stage's design;
 * 7. rendezvous with bounded loads: the same with a cap on every member.
 *
 * Ownership is a pure function of the member list, so there is no network to
 * simulate: the seed draws the origins (with @heck/sim's PRNG, as every
 * simulation in Heck does) and which member leaves; then one member leaves
 * and, separately, one joins. Rows 3 to 7 are `compareSchemes`, the stage's
 * own comparison (the CLI's `compare`), folded into this one table.
 */
import { createPrng } from "@heck/sim";
import { compareSchemes, DEFAULT_BOUNDED_LOAD_EPSILON, movementFigures, type MovementFigures } from "../core/compare.ts";
import { createScheme } from "../core/create-scheme.ts";
import { normalizeMembers, type Member } from "../core/members.ts";
import { prepareOrigins, type PreparedOrigins } from "../core/origins.ts";
import { columns } from "../core/report.ts";
import { assignWith, loadStats, type LoadStats, type TableLike } from "../core/table.ts";
import { moduloTable } from "./modulo.ts";

export type { Member } from "../core/members.ts";
export type { PreparedOrigins } from "../core/origins.ts";
export type { TableLike } from "../core/table.ts";
export { diff } from "../core/table.ts";

/** What one ladder run places and changes. */
export interface LadderOptions {
  seed: number;
  /** Members n1..nM. Default 10. */
  members?: number;
  /** Origins drawn from the seed. Default 10,000. */
  origins?: number;
}

/** One rung's figures: the JSON contract's `{ name, broke, ...figures }`. */
export interface OwnershipRung {
  name: string;
  /** What this rung gets wrong on this draw, and so what the next one is for. */
  broke: string;
  /** The busiest member's load over its fair share (1.000 is perfect). */
  maxOverMean: number;
  stdDevPct: number;
  /** One member leaves (drawn from the seed). */
  leave: MovementFigures;
  /** A new member joins. */
  join: MovementFigures;
}

/** A whole ladder run. */
export interface OwnershipLadder {
  seed: number;
  members: number;
  origins: number;
  leaver: string;
  joiner: string;
  rungs: OwnershipRung[];
}

/** The origin names a seed draws: distinct health-check URLs. */
export function originsFor(seed: number, count: number): string[] {
  const prng = createPrng(seed).fork("origins");
  const seen = new Set<string>();
  while (seen.size < count) seen.add(`https://o${prng.nextUint32().toString(36)}.example/health`);
  return [...seen];
}

/** The ladder's default draw: ten members, 10,000 origins (the README's table, and what the browser view opens). */
export const LADDER_DEFAULTS = { members: 10, origins: 10_000 } as const;

/** What the seed draws: the members in their order, the origins, the member that leaves and the one that joins. */
export interface LadderDraw {
  members: Member[];
  origins: PreparedOrigins;
  leaver: string;
  joiner: string;
}

/** The draw every rung of a ladder run places and changes; a function of its arguments only. */
export function ladderDraw(seed: number, m: number = LADDER_DEFAULTS.members, n: number = LADDER_DEFAULTS.origins): LadderDraw {
  if (!Number.isInteger(m) || m < 2) throw new RangeError(`members: must be an integer >= 2, got ${m}`);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`origins: must be an integer >= 1, got ${n}`);
  const members = normalizeMembers(Array.from({ length: m }, (_, i) => `n${i + 1}`));
  return { members, origins: prepareOrigins(originsFor(seed, n)), leaver: createPrng(seed).fork("leaver").pick(members).id, joiner: `n${m + 1}` };
}

/** The rungs by key, bottom to top, as the table's rows. */
export const OWNERSHIP_RUNG_KEYS = ["modulo", "ring-1", "ring-vnodes", "jump", "maglev", "rendezvous", "rendezvous-bounded"] as const;

/** One of {@link OWNERSHIP_RUNG_KEYS}. */
export type OwnershipRungKey = (typeof OWNERSHIP_RUNG_KEYS)[number];

/**
 * The table rung `key` makes for `members` (a subset of a draw's, in its
 * order: jump numbers buckets by it) over `origins`, built as the ladder's
 * row is, so the same members give the ladder's own table.
 */
export function rungTable(key: OwnershipRungKey, members: readonly Member[], origins: PreparedOrigins): TableLike {
  switch (key) {
    case "modulo":
      return moduloTable(members, origins);
    case "ring-1":
      return assignWith(createScheme("ring", members, { vnodes: 1 }), origins);
    case "ring-vnodes":
      return assignWith(createScheme("ring", members), origins);
    case "jump":
    case "maglev":
    case "rendezvous":
      return assignWith(createScheme(key, members), origins);
    case "rendezvous-bounded":
      return assignWith(createScheme("rendezvous", members), origins, DEFAULT_BOUNDED_LOAD_EPSILON);
  }
}

/** The command that opens rung `key` on the default draw of `seed` in the browser view (heck-scope), from the repository root. */
export function rungWatchCommand(key: OwnershipRungKey, seed: number): string {
  return `pnpm heck-scope ownership --scenario ladder-${key} --seed ${seed}`;
}

/** Whether a run's draw is the one the browser view opens (the defaults). */
function watchable(l: { members: number; origins: number }): boolean {
  return l.members === LADDER_DEFAULTS.members && l.origins === LADDER_DEFAULTS.origins;
}

/** Runs every rung on the draw of `seed`; a function of the options only. */
export function runLadder(options: LadderOptions): OwnershipLadder {
  const m = options.members ?? LADDER_DEFAULTS.members;
  const n = options.origins ?? LADDER_DEFAULTS.origins;
  const { members, leaver, joiner, origins: prepared } = ladderDraw(options.seed, m, n);
  const rungs: Array<Omit<OwnershipRung, "broke">> = [moduloRung(prepared, members.map((x) => x.id), leaver, joiner)];
  const compare = (schemes: Array<"ring" | "jump" | "maglev" | "rendezvous">, vnodes?: number, eps: number | null = null) =>
    compareSchemes(prepared, members, { schemes, remove: leaver, add: joiner, boundedLoadEpsilon: eps, ...(vnodes === undefined ? {} : { vnodes }) });
  const rows = [...compare(["ring"], 1), ...compare(["ring"]), ...compare(["jump"]), ...compare(["maglev"]), ...compare(["rendezvous"], undefined, 0.05)];
  for (const row of rows) {
    rungs.push({ name: nameOf(row.label), ...figures(row.load!), leave: row.remove!, join: row.add! });
  }
  return { seed: options.seed, members: m, origins: n, leaver, joiner, rungs: rungs.map((r) => ({ ...r, broke: whatBroke(r, rungs, leaver, members.findIndex((x) => x.id === leaver), m) })) };
}

function moduloRung(origins: PreparedOrigins, ids: string[], leaver: string, joiner: string): Omit<OwnershipRung, "broke"> {
  const members = normalizeMembers(ids);
  const before = moduloTable(members, origins);
  const afterLeave = moduloTable(members.filter((x) => x.id !== leaver), origins);
  const afterJoin = moduloTable([...members, { id: joiner, weight: 1 }], origins);
  const n = origins.ids.length;
  const m = members.length;
  return {
    name: "modulo n",
    ...figures(loadStats(before)),
    leave: movementFigures(before, afterLeave, leaver, n / m),
    join: movementFigures(before, afterJoin, joiner, n / (m + 1)),
  };
}

function figures(load: LoadStats): { maxOverMean: number; stdDevPct: number } {
  return { maxOverMean: load.maxOverMean, stdDevPct: load.stdDevPct };
}

/** The comparison's labels, in the ladder's words. */
function nameOf(label: string): string {
  if (label === "ring (1 vnode)") return "hash ring, 1 point per member";
  if (label.startsWith("ring (")) return label.replace(/^ring \((\d+) vnodes\)$/, "hash ring, $1 vnodes per member");
  if (label === "rendezvous") return "rendezvous";
  return label;
}

/** The one sentence per rung, written from its figures. */
function whatBroke(r: Omit<OwnershipRung, "broke">, all: ReadonlyArray<Omit<OwnershipRung, "broke">>, leaver: string, leaverIndex: number, m: number): string {
  const pct = (x: number, of: number): string => `${Math.round((100 * x) / of)}%`;
  const origins = r.leave.optimal * m;
  const collateral = r.leave.collateral + r.join.collateral;
  if (r.name === "modulo n") return `${pct(r.leave.moved, origins)} of origins move when ${leaver} leaves (${r.leave.movedOverOptimal.toFixed(1)}x what must)`;
  if (r.name.startsWith("hash ring, 1 point")) return `unbalanced: the busiest member holds ${r.maxOverMean.toFixed(2)}x its share`;
  if (r.name.startsWith("hash ring")) return `${r.maxOverMean.toFixed(2)}x its share at most, ${r.name.match(/\d+/)?.[0] ?? "many"} points per member to keep`;
  if (r.name === "jump") {
    return r.leave.movedOverOptimal > 2 ? `${pct(r.leave.moved, origins)} move when ${leaver} (bucket ${leaverIndex}) leaves: later buckets renumbered` : `cheap only because ${leaver} was the last bucket`;
  }
  if (r.name.startsWith("maglev")) return `${collateral} needless moves; a ${Number(r.name.match(/M=(\d+)/)?.[1] ?? "0").toLocaleString("en")}-slot table to rebuild`;
  if (r.name === "rendezvous") return "nothing here: the stage's design";
  const plain = all.find((x) => x.name === "rendezvous");
  const eps = Number(r.name.match(/eps=([0-9.]+)/)?.[1] ?? "0");
  if (plain !== undefined && plain.maxOverMean <= 1 + eps) return `the ${(1 + eps).toFixed(2)}x cap did not bite on this draw`;
  return `the cap costs ${collateral} needless moves`;
}

/** The ladder as one table: rung, figures, what broke. */
export function formatLadder(l: OwnershipLadder): string {
  const rows = [
    ["rung", "max/mean", "leave: moved", "x optimal", "join: moved", "x optimal", "collateral", "what broke"],
    ...l.rungs.map((r) => [
      r.name,
      r.maxOverMean.toFixed(3),
      String(r.leave.moved),
      `${r.leave.movedOverOptimal.toFixed(2)}x`,
      String(r.join.moved),
      `${r.join.movedOverOptimal.toFixed(2)}x`,
      `${r.leave.collateral}+${r.join.collateral}`,
      r.broke,
    ]),
  ];
  return [
    `${l.origins.toLocaleString("en")} origins over ${l.members} members; ${l.leaver} leaves, or ${l.joiner} joins`,
    "",
    ...columns(rows),
    "",
    `seed ${l.seed} (replay: --seed ${l.seed})`,
    ...(watchable(l) ? [`watch it: ${rungWatchCommand(OWNERSHIP_RUNG_KEYS[0], l.seed)} (or ladder-${OWNERSHIP_RUNG_KEYS.slice(1).join(", ladder-")})`] : []),
  ].join("\n");
}

/** The `--json` line: `{ "rungs": [ { "name", "broke", ...figures } ] }`. */
export function ladderJson(l: OwnershipLadder): string {
  return JSON.stringify({
    seed: l.seed,
    members: l.members,
    origins: l.origins,
    leaver: l.leaver,
    joiner: l.joiner,
    rungs: l.rungs.map((r, i) => ({
      name: r.name,
      broke: r.broke,
      maxOverMean: round(r.maxOverMean, 3),
      stdDevPct: round(r.stdDevPct, 2),
      leaveMoved: r.leave.moved,
      leaveMovedOverOptimal: round(r.leave.movedOverOptimal, 3),
      joinMoved: r.join.moved,
      joinMovedOverOptimal: round(r.join.movedOverOptimal, 3),
      collateral: r.leave.collateral + r.join.collateral,
      // The browser view opens the default draw only.
      ...(watchable(l) ? { watch: rungWatchCommand(OWNERSHIP_RUNG_KEYS[i]!, l.seed) } : {}),
    })),
  });
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
