/**
 * A rung of the ownership ladder (`heck-ownership ladder`) in the view: the
 * ladder's own draw for the seed (ten members, 10,000 origins, the member
 * that leaves), placed by that rung's scheme over live SWIM membership, as
 * the ownership page places origins by rendezvous. Opened as an ownership
 * scenario `ladder-<rung>` from the command the ladder prints under its
 * table.
 *
 * The drawn member crashes 3 s in; as SWIM declares it dead, each survivor
 * recomputes its table from the members it holds alive (kept in the draw's
 * order, as the ladder keeps them) and the trace says what moved. Once every
 * survivor agrees, each table is the ladder's own: the origins that moved
 * are the table's "leave: moved", and those that moved between two
 * survivors its collateral. Watch modulo n hand over nine tenths of all
 * origins, and rendezvous only the dead member's tenth.
 */
import { diff, ladderDraw, OWNERSHIP_RUNG_KEYS, rungTable, type Member, type OwnershipRungKey, type TableLike } from "@heck/ownership/ladder";
import type { InvariantStatus, NodeView, StageAdapter, StageContext } from "../core/stage.ts";
import { buildSwim, swimView } from "./swim.ts";

/** When the drawn member crashes (ms). */
export const LEAVE_AT_MS = 3000;
/** Origins a node lists of those it gained or lost (the counts cover all). */
const LISTED = 5;
const ONLY_FORCED = "only a departed member's origins move";
const AGREE = "every live member computes the same table";

/** The rung a scenario name names (`ladder-<rung>`), or undefined. */
export function ownershipRungOf(name: string): OwnershipRungKey | undefined {
  const key = name.startsWith("ladder-") ? name.slice("ladder-".length) : "";
  return (OWNERSHIP_RUNG_KEYS as readonly string[]).includes(key) ? (key as OwnershipRungKey) : undefined;
}

/** The scenario names of every rung, bottom to top. */
export const OWNERSHIP_RUNG_SCENARIOS: readonly string[] = OWNERSHIP_RUNG_KEYS.map((k) => `ladder-${k}`);

/** Builds the adapter of rung `key` on the seed's draw. */
export function ownershipLadderStage(key: OwnershipRungKey, context: StageContext): StageAdapter {
  const draw = ladderDraw(context.seed);
  const n = draw.origins.ids.length;
  /** Tables by the live members they were computed from: a pure function of that list, so shared. */
  const tables = new Map<string, TableLike>();
  const tableOf = (live: readonly Member[]): TableLike => {
    const view = live.map((m) => m.id).join(",");
    let t = tables.get(view);
    if (t === undefined) tables.set(view, (t = rungTable(key, live, draw.origins)));
    return t;
  };
  const start = tableOf(draw.members);
  /** member -> the live view its current table comes from. */
  const views = new Map<string, string>();
  const parts = buildSwim(
    context,
    (sim) => {
      for (const m of sim.up) {
        const alive = new Set(m.node.members().filter((x) => x.state === "alive").map((x) => x.name));
        const live = draw.members.filter((x) => alive.has(x.id));
        const view = live.map((x) => x.id).join(",");
        const before = views.get(m.id);
        if (before === view) continue;
        views.set(m.id, view);
        if (before === undefined) continue;
        const d = diff(tableOf(draw.members.filter((x) => before.split(",").includes(x.id))), tableOf(live));
        if (d.moved.length > 0) sim.record({ t: sim.nowMs, node: m.id, event: "owners-moved", msg: { moved: d.moved.length, betweenSurvivors: d.collateral, members: live.length } });
      }
      return undefined;
    },
    draw.members.length,
  );
  const { cluster, adapter } = parts;
  cluster.sim.schedule(LEAVE_AT_MS, (s) => {
    s.record({ t: s.nowMs, node: draw.leaver, event: "leaves", msg: { drawnBy: `seed ${context.seed}` } });
    cluster.kill(draw.leaver);
  });
  const current = (id: string): TableLike | undefined => {
    const view = views.get(id);
    return view === undefined ? undefined : tableOf(draw.members.filter((x) => view.split(",").includes(x.id)));
  };
  /** What moved from the start to a table, by the table's live view (the page asks on every frame). */
  const diffs = new Map<TableLike, ReturnType<typeof diff>>();
  const sinceStart = (t: TableLike): ReturnType<typeof diff> => {
    let d = diffs.get(t);
    if (d === undefined) diffs.set(t, (d = diff(start, t)));
    return d;
  };
  return {
    ...adapter,
    stage: "ownership",
    nodeView: (id): NodeView => {
      const v = swimView(cluster.sim, id);
      const t = current(id);
      if (!v.up || t === undefined) return v;
      const d = sinceStart(t);
      const gained = d.moved.filter((x) => x.to === id).map((x) => x.origin);
      const lost = d.moved.filter((x) => x.from === id).map((x) => x.origin);
      return {
        ...v,
        liveView: t.members.map((m) => m.id),
        owned: t.loads.get(id) ?? 0,
        // Since the start, in this member's table: every origin that changed owner, and those it took or gave up.
        movedSinceStart: d.moved.length,
        betweenSurvivors: d.collateral,
        gained: { count: gained.length, first: gained.slice(0, LISTED) },
        lost: { count: lost.length, first: lost.slice(0, LISTED) },
      };
    },
    invariants: (): InvariantStatus[] => {
      const up = cluster.ids.filter((id) => cluster.sim.isUp(id));
      const distinct = new Set(up.map((id) => views.get(id)));
      const statuses: InvariantStatus[] = [...adapter.invariants(), { name: AGREE, kind: "progress", ok: distinct.size === 1, detail: distinct.size === 1 ? `${n.toLocaleString("en")} origins over ${up.length}` : `${distinct.size} different live views` }];
      // The worst table any live member holds: moves between two members that are both still there were never forced.
      let worst: { id: string; moved: number; collateral: number } | undefined;
      for (const id of up) {
        const t = current(id);
        if (t === undefined) continue;
        const d = sinceStart(t);
        if (worst === undefined || d.collateral > worst.collateral) worst = { id, moved: d.moved.length, collateral: d.collateral };
      }
      const ok = worst === undefined || worst.collateral === 0;
      const detail =
        worst === undefined || worst.moved === 0
          ? `nothing moved yet (${draw.leaver} leaves at ${LEAVE_AT_MS} ms)`
          : `${worst.id}'s table: ${worst.moved.toLocaleString("en")} of ${n.toLocaleString("en")} origins moved (${Math.round((100 * worst.moved) / n)}%), ${worst.collateral.toLocaleString("en")} of them between members still there`;
      return [...statuses, { name: ONLY_FORCED, kind: "safety", ok, detail }];
    },
  };
}
