/**
 * Ownership in the view: rendezvous hashing (Thaler & Ravishankar 1998) over
 * live SWIM membership. The same five-member SWIM cluster as the swim stage;
 * every member computes, from its own member list, which of twenty origins
 * it owns (the highest-scoring live member of each origin). Crash or
 * partition a member and watch only its origins move; restart it and watch
 * exactly those come back.
 *
 * "Each origin owned by one member" is a progress check, not a safety one:
 * while members disagree about who is alive, two may claim an origin (or
 * none), and the flag shows it until their views agree again.
 */
import { ownersOf } from "@heck/ownership";
import { buildSwim } from "./swim.ts";
import { swimView } from "./swim.ts";
import type { StageAdapter, StageContext } from "../core/stage.ts";

const ORIGINS = Array.from({ length: 20 }, (_, i) => `o${i + 1}`);
const ONE_OWNER = "each origin owned by exactly one live member";

/** Builds the ownership stage's adapter. */
export function ownershipStage(context: StageContext): StageAdapter {
  /** member -> the alive members its table was computed from, and the origins it owns. */
  const tables = new Map<string, { view: string; owned: string[] }>();
  const parts = buildSwim(context, (sim) => {
    for (const m of sim.up) {
      const alive = m.node
        .members()
        .filter((x) => x.state === "alive")
        .map((x) => x.name)
        .sort();
      const view = alive.join(",");
      const before = tables.get(m.id);
      if (before?.view === view) continue;
      const owned = ORIGINS.filter((o) => ownersOf(o, alive, 1)[0] === m.id);
      if (before !== undefined) {
        const gained = owned.filter((o) => !before.owned.includes(o));
        const lost = before.owned.filter((o) => !owned.includes(o));
        if (gained.length + lost.length > 0) sim.record({ t: sim.nowMs, node: m.id, event: "owners-moved", msg: { gained, lost, members: alive.length } });
      }
      tables.set(m.id, { view, owned });
    }
    return undefined;
  });
  const { cluster, adapter } = parts;
  const claims = (): Map<string, string[]> => {
    const by = new Map<string, string[]>(ORIGINS.map((o) => [o, []]));
    for (const id of cluster.ids) {
      if (!cluster.sim.isUp(id)) continue;
      for (const o of tables.get(id)?.owned ?? []) by.get(o)!.push(id);
    }
    return by;
  };
  return {
    ...adapter,
    stage: "ownership",
    crash: (id) => {
      adapter.crash(id);
      tables.delete(id);
    },
    nodeView: (id) => {
      const v = swimView(cluster.sim, id);
      if (!v.up) return v;
      const t = tables.get(id);
      return { ...v, owned: t?.owned ?? [], liveView: t?.view.split(",") ?? [] };
    },
    invariants: () => {
      const by = claims();
      const bad = [...by].filter(([, owners]) => owners.length !== 1);
      return [
        ...adapter.invariants(),
        {
          name: ONE_OWNER,
          kind: "progress",
          ok: bad.length === 0,
          ...(bad.length > 0 ? { detail: bad.slice(0, 4).map(([o, owners]) => `${o}: ${owners.length === 0 ? "no owner" : owners.join(" and ")}`).join("; ") } : {}),
        },
      ];
    },
  };
}
