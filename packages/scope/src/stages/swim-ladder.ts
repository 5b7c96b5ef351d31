/**
 * A rung of the failure-detection ladder (`heck-swim ladder`) in the view:
 * the ladder's own scale run at n = 10 for the seed (its `openScale`, so the
 * same members, network and crash: the victim goes down 3 s in), opened as a
 * swim scenario `ladder-<rung>` from the command the ladder prints under its
 * table. Watch all-to-all heartbeats flood the network, gossip heartbeats
 * carry every counter in every packet, and the SWIM rungs send two small
 * packets per member per period; set the drop rate to 10% and watch SWIM
 * without suspicion declare live members dead where SWIM does not.
 *
 * Each node shows what its detector concluded about every other member, in
 * the swim stage's shape (name, state); "no live member declared dead" is
 * shown as a progress check, the failure the lower rungs exist to show.
 */
import { openScale, rungOf, RUNG_KEYS, type RungKey } from "@heck/swim/ladder";
import { describeSwim } from "./swim.ts";
import type { InvariantStatus, MessageDescription, StageAdapter, StageContext } from "../core/stage.ts";

/** The ladder's smallest scale run: ten members. */
const MEMBERS = 10;
const NO_FALSE_DEATHS = "no live member declared dead";

/** The rung a scenario name names (`ladder-<rung>`), or undefined. */
export function swimRungOf(name: string): RungKey | undefined {
  const key = name.startsWith("ladder-") ? name.slice("ladder-".length) : "";
  return (RUNG_KEYS as readonly string[]).includes(key) ? (key as RungKey) : undefined;
}

/** The scenario names of every rung, bottom to top. */
export const SWIM_RUNG_SCENARIOS: readonly string[] = RUNG_KEYS.map((k) => `ladder-${k}`);

/** Builds the adapter of rung `key`'s scale run for the context's seed. */
export function swimLadderStage(key: RungKey, context: StageContext): StageAdapter {
  const checks = (context.checks ?? []).map((c) => ({ name: c.name, check: (s: unknown) => c.check(s) }));
  const { cluster } = openScale(rungOf(key), MEMBERS, context.seed, undefined, undefined, 0, { onTrace: context.onTrace, invariants: checks });
  const sim = cluster.runner as StageAdapter["sim"];
  return {
    stage: "swim",
    sim,
    nodeIds: cluster.ids,
    operations: [],
    origins: [],
    crash: (id) => {
      if (sim.isUp(id)) cluster.kill(id);
    },
    restart: (id) => cluster.restart(id),
    put: () => undefined,
    flip: () => undefined,
    nodeView: (id) => {
      if (!sim.isUp(id)) return { id, up: false };
      const beliefs = cluster.beliefs(id);
      return { id, up: true, members: cluster.ids.filter((m) => m !== id).map((m) => ({ name: m, state: beliefs.get(m) ?? "alive" })) };
    },
    invariants: (): InvariantStatus[] => {
      const falsely = [...cluster.falselyDead].sort();
      return [{ name: NO_FALSE_DEATHS, kind: "progress", ok: falsely.length === 0, detail: falsely.length === 0 ? "none so far" : `declared dead while up: ${falsely.join(", ")}` }];
    },
    describe: (payload) => describeRung(payload),
  };
}

/** A heartbeat, a gossip table or a SWIM message (the SWIM rungs' messages are the stage's own). */
function describeRung(payload: unknown): MessageDescription {
  const m = payload as { type?: string; from?: string; seq?: number; counters?: unknown[] };
  if (m.type === "heartbeat") return { type: "heartbeat", detail: { from: m.from, seq: m.seq } };
  if (m.type === "gossip") return { type: "gossip", detail: { from: m.from, counters: m.counters?.length } };
  return describeSwim(payload);
}
