/**
 * crdt-kv's two ladders (`heck-crdt ladder`) in the view, opened as crdt
 * scenarios from the commands the ladders print under their tables:
 *
 * - a gossip rung, `ladder-<rung>-n<N>` (push, pull, push-pull, rumor,
 *   delta-sync; `-loss` for the table's lossy column): the ladder's first
 *   run of that cell for the seed (its `openGossipCell`), one update written
 *   on n1 after three rounds. Watch push's last replicas wait to be picked,
 *   pull ask every round, rumor mongering go quiet with replicas that never
 *   heard, and crdt-kv's delta sync reach everyone.
 * - a causality rung, `ladder-<rung>` (lamport, client-vv, replica-vv, dvv):
 *   the ladder's story of reads and writes on replicas A and B (its
 *   `openStory`), every step in the trace with what the replica shows right
 *   after it. At each of the story's checks the values shown are compared
 *   with the exact answer (full causal histories): a Lamport clock loses the
 *   concurrent writes, per-replica vectors keep superseded siblings.
 */
import {
  CAUSALITY_RUNG_KEYS,
  CAUSALITY_RUNGS,
  GOSSIP_RUNG_KEYS,
  judgeChecks,
  openGossipCell,
  openStory,
  STORY_KEY,
  storyChecksExact,
  type CausalityRungKey,
  type EpidemicMessage,
  type EpidemicReplica,
  type GossipRungKey,
} from "@heck/crdt-kv/ladder";
import { runnerActions, type InvariantStatus, type MessageDescription, type NodeView, type StageAdapter, type StageContext } from "../core/stage.ts";
import { crdtView, describeKv } from "./crdt.ts";

/** A gossip rung's scenario: `ladder-<rung>-n<N>`, optionally `-loss`. */
const GOSSIP = /^ladder-([a-z-]+?)-n(\d+)(-loss)?$/;

/** The ladder rung a crdt scenario name names, or undefined. */
export function crdtRungOf(name: string): { ladder: "gossip"; key: GossipRungKey; nodes: number; lossy: boolean } | { ladder: "causality"; key: CausalityRungKey } | undefined {
  const g = GOSSIP.exec(name);
  if (g !== null && (GOSSIP_RUNG_KEYS as readonly string[]).includes(g[1]!)) {
    const nodes = Number(g[2]);
    // The table's sizes run from 16 to 1,024; fewer than two replicas have nobody to tell.
    return nodes >= 2 && nodes <= 1024 ? { ladder: "gossip", key: g[1] as GossipRungKey, nodes, lossy: g[3] !== undefined } : undefined;
  }
  const key = name.startsWith("ladder-") ? name.slice("ladder-".length) : "";
  return (CAUSALITY_RUNG_KEYS as readonly string[]).includes(key) ? { ladder: "causality", key: key as CausalityRungKey } : undefined;
}

/** The scenario names as the CLI lists them. */
export const CRDT_RUNG_SCENARIOS: readonly string[] = [`ladder-<${GOSSIP_RUNG_KEYS.join("|")}>-n<N>[-loss]`, ...CAUSALITY_RUNG_KEYS.map((k) => `ladder-${k}`)];

interface Runner {
  readonly nowMs: number;
  readonly network: { messagesInFlight(): unknown[] };
  readonly nodeIds: readonly string[];
  isUp(id: string): boolean;
  tryNode(id: string): unknown;
  crash(id: string): void;
  restart(id: string): void;
}

function watchOf(context: StageContext) {
  return { onTrace: context.onTrace, invariants: (context.checks ?? []).map((c) => ({ name: c.name, check: (s: unknown) => c.check(s) })) };
}

/** Builds the adapter of the rung a scenario names (see {@link crdtRungOf}). */
export function crdtLadderStage(rung: NonNullable<ReturnType<typeof crdtRungOf>>, context: StageContext): StageAdapter {
  return rung.ladder === "gossip" ? gossipStage(rung.key, rung.nodes, rung.lossy, context) : causalityStage(rung.key, context);
}

function gossipStage(key: GossipRungKey, nodes: number, lossy: boolean, context: StageContext): StageAdapter {
  const open = openGossipCell(key, nodes, context.seed, lossy, watchOf(context));
  const sim = open.runner as Runner;
  const EVERYONE = "every replica has the update";
  return {
    stage: "crdt",
    sim: sim as unknown as StageAdapter["sim"],
    nodeIds: [...sim.nodeIds],
    ...runnerActions(sim),
    nodeView: (id): NodeView => {
      if (!sim.isUp(id)) return { id, up: false };
      if (key === "delta-sync") return { ...crdtView(sim as never, id), has: open.has(id) };
      const r = (sim.tryNode(id) as { replica: EpidemicReplica }).replica;
      return { id, up: true, has: r.has, ...(r.hadAtMs !== undefined ? { hadAtMs: r.hadAtMs } : {}), spreading: r.has && r.active };
    },
    invariants: (): InvariantStatus[] => {
      if (sim.nowMs < open.writtenAtMs) return [{ name: EVERYONE, kind: "progress", ok: false, detail: `written on n1 at ${open.writtenAtMs} ms` }];
      // The ladder's own probes (every tenth of a round) say when it was over: its figures.
      const over = open.over();
      const rounds = (atMs: number): string => ((atMs - open.writtenAtMs) / 1000).toFixed(1);
      if (over?.all === true) return [{ name: EVERYONE, kind: "progress", ok: true, detail: `all ${nodes}, ${rounds(over.atMs)} rounds after the write` }];
      const missing = sim.nodeIds.filter((id) => !open.has(id));
      const named = `${missing.slice(0, 8).join(", ")}${missing.length > 8 ? ", ..." : ""}`;
      // A rumor nobody still finds hot, with nothing in flight, will never reach the rest.
      const quiet = key === "rumor" && sim.nodeIds.every((id) => !sim.isUp(id) || !(sim.tryNode(id) as { replica: EpidemicReplica }).replica.active) && sim.network.messagesInFlight().length === 0;
      const detail =
        over !== undefined
          ? `the spreading stopped ${rounds(over.atMs)} rounds after the write: ${missing.length} of ${nodes} never heard (${named})`
          : quiet
            ? `${nodes - missing.length} of ${nodes}, and nobody spreads it any more: ${named} never will hear`
            : `${nodes - missing.length} of ${nodes} after ${rounds(sim.nowMs)} rounds`;
      return [{ name: EVERYONE, kind: "progress", ok: false, detail }];
    },
    describe: (payload) => (key === "delta-sync" ? describeKv(payload) : describeEpidemic(payload as EpidemicMessage)),
  };
}

function describeEpidemic(m: EpidemicMessage): MessageDescription {
  return { type: m.type, detail: { ...m } };
}

function causalityStage(key: CausalityRungKey, context: StageContext): StageAdapter {
  const store = CAUSALITY_RUNGS.find((r) => r.key === key)!.store(context.seed, watchOf(context));
  const story = openStory(store);
  const exact = storyChecksExact(context.seed);
  const sim = store.sim as unknown as Runner;
  const LOST = "no acknowledged write lost (checked at 3 s and 10 s against full causal histories)";
  const STALE = "no superseded value shown as a sibling (same checks)";
  return {
    stage: "crdt",
    sim: sim as unknown as StageAdapter["sim"],
    nodeIds: [...sim.nodeIds],
    ...runnerActions(sim),
    nodeView: (id): NodeView => {
      if (!sim.isUp(id)) return { id, up: false };
      const read = store.read(id);
      const shown = { values: read.values, context: plain(read.context), contextBytes: store.contextBytes(read.context) };
      // The top rung is the store itself: its version vector and dot cloud too.
      return key === "dvv" ? { ...crdtView(sim as never, id), [STORY_KEY]: shown } : { id, up: true, [STORY_KEY]: shown };
    },
    invariants: (): InvariantStatus[] => {
      const { lost, stale } = judgeChecks(story.checks, exact);
      const checked = story.checks.length === 0 ? "not checked yet" : `checks so far: ${story.checks.map((c) => c.name).join(", ")}`;
      return [
        { name: LOST, kind: "safety", ok: lost.size === 0, detail: lost.size === 0 ? checked : `lost: ${[...lost].join("; ")}` },
        { name: STALE, kind: "safety", ok: stale.size === 0, detail: stale.size === 0 ? checked : `shown but superseded: ${[...stale].join("; ")}` },
      ];
    },
    describe: (payload) => (key === "dvv" ? describeKv(payload) : { type: "state", detail: plain((payload as { state: unknown }).state) }),
  };
}

/** A JSON-safe copy: Maps become objects, Sets arrays (the registers' contexts and states). */
function plain(value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), plain(v)]));
  if (value instanceof Set) return [...value].map(plain);
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object") {
    const encode = (value as { encode?: () => unknown }).encode;
    if (typeof encode === "function") return encode.call(value);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}
