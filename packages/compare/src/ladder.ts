/**
 * The coordination-cost ladder: the comparison's scale experiment (the same
 * seeded health-check workload at growing N, measured by the same cost
 * model) with operators also changing the origin list, run on three ways of
 * storing it:
 *
 * 1. raft-kv for everything: every health record is a coordinated write
 *    through one leader, who sends it to N - 1 followers;
 * 2. raft-kv for the origin list only, crdt-kv for the records
 *    (`HybridStoreNode`): coordinate the one decision that needs it;
 * 3. crdt-kv for everything: nothing waits, the list included.
 *
 * Capacity per N (updates per second before the first node saturates a
 * core), write latency and visibility per N, and a Universal Scalability
 * Law fit per rung; then the sentence that explains the curves with the
 * CALM theorem (Hellerstein and Alvaro, "Keeping CALM", CACM 2020).
 *
 * Each run is `runScenario` (sim/run.ts), so a rung can be stepped in the
 * runner like any comparison run; this file only chooses the runs and reads
 * their figures.
 */
import { DEFAULT_COST_MODEL, figuresOf, type RunFigures } from "./analysis/metrics.ts";
import { round, summarize } from "./analysis/stats.ts";
import type { UslFit } from "./analysis/usl.ts";
import { scaleOf, type ScalePoint } from "./experiment.ts";
import { COORDINATED_PREFIX } from "./sim/hybrid-store.ts";
import { DEFAULT_SIM_SETTINGS, runScenario, startScenario, type RawRun, type ScenarioWatch, type SimSettings, type SimStoreKind, type StartedScenario } from "./sim/run.ts";
import { buildScenarios, FULL_SCALE } from "./sim/scenarios.ts";

export type { StartedScenario, ScenarioWatch } from "./sim/run.ts";
export type { RaftStoreNode } from "./sim/raft-store.ts";
export type { CrdtStoreNode } from "./sim/crdt-store.ts";
export type { HybridStoreNode } from "./sim/hybrid-store.ts";

/** Settings of one ladder run; the defaults are the ones the README's table comes from. */
export interface CoordinationLadderOptions {
  seed: number;
  /** Cluster sizes. Default 3, 5, 9, 17 (the comparison's report goes on to 33 and 65: minutes, not seconds). */
  sizes?: readonly number[];
  /** An operator changes the origin list every this many ms. Default 500. */
  listChangeEveryMs?: number;
  /** Called after each run (progress), with the store and the scenario id. */
  onRun?: (store: SimStoreKind, scenario: string) => void;
}

/** One rung's figures: the JSON contract's `{ name, broke, ...figures }`. */
export interface CoordinationRung {
  store: SimStoreKind;
  name: string;
  broke: string;
  /** Capacity and traffic per N (the comparison's scale points). */
  points: ScalePoint[];
  usl: UslFit | null;
  /** The command that opens this rung's run at the smallest N in the browser view. */
  watch: string;
  /** Latency of acknowledged record writes and of list changes at the largest N, and visibility there (ms). */
  recordWriteMs: { p50: number | null; p99: number | null };
  listChangeMs: { p50: number | null; p99: number | null };
  visibleP99Ms: number | null;
}

/** A whole ladder run. */
export interface CoordinationLadder {
  seed: number;
  sizes: number[];
  listChangeEveryMs: number;
  rungs: CoordinationRung[];
  /** The curve explained by CALM, from the fits. */
  calm: string;
}

/** A rung's store: raft-kv for everything, raft-kv for the origin list only, crdt-kv for everything. */
export type LadderStore = SimStoreKind;

/** The rungs' stores, bottom to top. */
export const LADDER_STORES: readonly LadderStore[] = ["raft", "hybrid", "crdt"];

/** An operator changes the origin list this often unless told otherwise (ms). */
const LIST_CHANGE_EVERY_MS = 500;

/** The comparison's settings with the ladder's origin-list changes. */
function ladderSettings(listChangeEveryMs: number): SimSettings {
  return { ...DEFAULT_SIM_SETTINGS, workload: { ...DEFAULT_SIM_SETTINGS.workload, listChangeEveryMs } };
}

/** The ladder's scale scenarios for `sizes` (each N's run, its 3x-load run and its idle run). */
function ladderScenarios(sizes: readonly number[]) {
  return buildScenarios({ ...FULL_SCALE, scaleNodes: [...sizes] }).filter((s) => s.family === "scale");
}

/**
 * The run a rung makes at `nodes` nodes for `seed` (the scale scenario the
 * table's capacity comes from), set up and not yet run, for a viewer to
 * step: the browser view opens it from {@link rungWatchCommand}.
 */
export function startRung(store: LadderStore, nodes: number, seed: number, watch: ScenarioWatch = {}, listChangeEveryMs = LIST_CHANGE_EVERY_MS): StartedScenario {
  const scenario = ladderScenarios([nodes]).find((s) => s.id === `scale-${nodes}`);
  if (scenario === undefined) throw new RangeError(`no ladder run at N = ${nodes}`);
  return startScenario(store, scenario, seed, ladderSettings(listChangeEveryMs), watch);
}

/** The command that opens rung `store` at `nodes` nodes and `seed` in the browser view (heck-scope), from the repository root. */
export function rungWatchCommand(store: LadderStore, nodes: number, seed: number): string {
  return `pnpm heck-scope v2 --scenario ladder-${store}-n${nodes} --seed ${seed}`;
}

const RUNGS: ReadonlyArray<{ store: SimStoreKind; name: string }> = [
  { store: "raft", name: "raft-kv for every record" },
  { store: "hybrid", name: "raft-kv for the origin list, crdt-kv for records" },
  { store: "crdt", name: "crdt-kv for everything" },
];

/** Write latency over the acknowledged writes of a run whose key matches. */
function writeLatency(run: RawRun, matches: (key: string) => boolean): { p50: number | null; p99: number | null } {
  const s = summarize(run.log.writes.filter((w) => matches(w.key) && w.ok === true && w.resolvedMs !== null && !w.probe).map((w) => w.resolvedMs! - w.invokeMs));
  return { p50: s.p50 === null ? null : round(s.p50, 1), p99: s.p99 === null ? null : round(s.p99, 1) };
}

/** Runs the scale experiment on every rung; a function of the options only. */
export function runCoordinationLadder(o: CoordinationLadderOptions): CoordinationLadder {
  const sizes = [...(o.sizes ?? [3, 5, 9, 17])].sort((a, b) => a - b);
  const listChangeEveryMs = o.listChangeEveryMs ?? LIST_CHANGE_EVERY_MS;
  const settings = ladderSettings(listChangeEveryMs);
  const scenarios = ladderScenarios(sizes);
  const rungs = RUNGS.map(({ store, name }) => {
    const figures: RunFigures[] = [];
    let largest: RawRun | undefined;
    for (const sc of scenarios) {
      const raw = runScenario(store, sc, o.seed, settings);
      o.onRun?.(store, sc.id);
      figures.push(figuresOf(raw, { timeoutMs: settings.workload.timeoutMs, probeEveryMs: settings.probeEveryMs, cost: DEFAULT_COST_MODEL, checkLinearizability: false }));
      if (sc.id === `scale-${sizes[sizes.length - 1]}`) largest = raw;
    }
    const scale = scaleOf(figures, DEFAULT_COST_MODEL);
    const top = scale.points[scale.points.length - 1];
    return {
      store,
      name,
      broke: "",
      watch: rungWatchCommand(store, sizes[0]!, o.seed),
      points: scale.points,
      usl: scale.usl,
      recordWriteMs: largest === undefined ? { p50: null, p99: null } : writeLatency(largest, (k) => !k.startsWith(COORDINATED_PREFIX)),
      listChangeMs: largest === undefined ? { p50: null, p99: null } : writeLatency(largest, (k) => k.startsWith(COORDINATED_PREFIX)),
      visibleP99Ms: top?.visibilityP99Ms ?? null,
    };
  });
  for (const r of rungs) r.broke = coordinationBroke(r, rungs);
  return { seed: o.seed, sizes, listChangeEveryMs, rungs, calm: calmSentence(rungs) };
}

function capacityAt(r: CoordinationRung, i: number): number | null {
  return r.points[i]?.capacityUpdatesPerSec ?? null;
}

function fmtNum(v: number | null, digits = 0): string {
  return v === null ? "-" : v.toLocaleString("en", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function fmtMs(v: number | null): string {
  return v === null ? "-" : v >= 100 ? `${Math.round(v)} ms` : `${v.toFixed(1)} ms`;
}

/** What each rung pays, written from its figures. */
function coordinationBroke(r: CoordinationRung, _all: readonly CoordinationRung[]): string {
  const first = r.points[0];
  const last = r.points[r.points.length - 1];
  if (first === undefined || last === undefined) return "no scale points";
  switch (r.store) {
    case "raft":
      return `capacity falls ${fmtNum(first.capacityUpdatesPerSec)} -> ${fmtNum(last.capacityUpdatesPerSec)} updates/s (N = ${first.n} -> ${last.n}): every record waits for the leader`;
    case "hybrid":
      return `list changes wait for a majority (${fmtMs(r.listChangeMs.p99)} p99); a minority side cannot change the list`;
    case "crdt":
      return "list changes are not agreed: a removal and a concurrent re-add are settled by timestamp";
  }
}

/** The curves, explained by CALM, with the fitted figures. */
function calmSentence(rungs: readonly CoordinationRung[]): string {
  const fit = (store: SimStoreKind): string => {
    const u = rungs.find((r) => r.store === store)?.usl;
    return u === null || u === undefined ? "no fit" : `σ = ${u.sigma}, κ = ${fmtKappa(u.kappa)}`;
  };
  return (
    `A health record only adds information (a newer observation supersedes an older one: a join in a lattice), so by the CALM theorem ` +
    `it has a coordination-free consistent implementation: with crdt-kv nobody waits, and capacity stays flat as N grows (${fit("crdt")}: ` +
    `σ near 1 because every node applies every update, so nodes add no write capacity; κ near 0 because no pair of nodes must agree). ` +
    `Coordinating every record puts each one through a leader that must reach every follower, a cost that grows with N (${fit("raft")}). ` +
    `Removing an origin retracts a fact, which is not monotone: that is the decision worth coordinating, and since the list changes rarely, ` +
    `coordinating it alone costs almost nothing (${fit("hybrid")}).`
  );
}

/** κ for people: fits put float noise (1e-16) where they mean zero. */
function fmtKappa(kappa: number): string {
  return kappa < 1e-6 ? "0" : String(kappa);
}

/** The ladder as one table, then the CALM sentence. */
export function formatCoordinationLadder(l: CoordinationLadder): string {
  const top = l.sizes[l.sizes.length - 1];
  const rows = [
    ["rung", `capacity, updates/s (N = ${l.sizes.join(" | ")})`, "USL σ / κ", `record write p99 (N = ${top})`, "list change p99", "visible everywhere p99", "what broke"],
    ...l.rungs.map((r) => [
      r.name,
      l.sizes.map((_, i) => fmtNum(capacityAt(r, i))).join(" | "),
      r.usl === null ? "-" : `${r.usl.sigma} / ${fmtKappa(r.usl.kappa)}`,
      fmtMs(r.recordWriteMs.p99),
      fmtMs(r.listChangeMs.p99),
      fmtMs(r.visibleP99Ms),
      r.broke,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? "").length)));
  const table = rows.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n");
  return [
    table,
    `the comparison's scale workload plus an origin-list change every ${l.listChangeEveryMs} ms; capacity under its cost model (docs/compare.md); seed ${l.seed} (replay: --seed ${l.seed})`,
    `watch a rung's run in the browser (N = ${l.sizes[0]}; --scenario ladder-<store>-n<N> for another N of the table):`,
    ...l.rungs.map((r) => `  ${r.name}: ${r.watch}`),
    "",
    l.calm,
  ].join("\n");
}

/** The `--json` line: `{ "rungs": [ { "name", "broke", ...figures } ] }`. */
export function coordinationLadderJson(l: CoordinationLadder): string {
  return JSON.stringify({
    seed: l.seed,
    sizes: l.sizes,
    listChangeEveryMs: l.listChangeEveryMs,
    rungs: l.rungs.map(({ name, broke, ...figures }) => ({ name, broke, ...figures })),
    calm: l.calm,
  });
}
