/**
 * The composed v2 in the view: five agents, each the real SWIM, crdt-kv and
 * AgentCore cores with rendezvous ownership in one simulated process
 * (`V2Process`, the composed simulation its tests run), checking twenty
 * modelled origins. Each node shows its members, the origins it checks (and
 * why: primary, promoted, hand-off) and the health records it holds with
 * their observers. Flip an origin to see its record change on every node;
 * crash an agent to see its origins move.
 *
 * Checked after every step, as the composed simulation test does: coverage
 * (no origin goes unchecked beyond the detection bound plus two intervals)
 * and exclusivity (in a quiet cluster each origin has exactly one checker).
 */
import { Simulation } from "@heck/sim";
import { ownersOf } from "@heck/ownership";
import { detectionBoundMs } from "@heck/swim";
import { simSwimConfig, V2Process, World, type V2Message, type V2Record, type V2Snapshot } from "@heck/v2/sim";
import { describeSwim } from "./swim.ts";
import { describeKv } from "./crdt.ts";
import { InvariantBoard, NODE_IDS, type MessageDescription, type NodeView, type StageAdapter, type StageContext } from "../core/stage.ts";

const NODES = [...NODE_IDS];
const ORIGINS = Array.from({ length: 20 }, (_, i) => `o${i}`);
const INTERVAL_MS = 1_000;
const COVERAGE = "coverage: no origin unchecked beyond the bound";
const EXCLUSIVE = "exclusivity: in a quiet cluster each origin has exactly one checker";
const AGREE = "every live agent holds the same health records";

type V2Sim = Simulation<V2Message, V2Record, V2Snapshot, V2Process>;

/** Builds the v2 stage's adapter. */
export function v2Stage(context: StageContext): StageAdapter {
  const swim = simSwimConfig();
  const detection = detectionBoundMs(swim, NODES.length);
  const world = new World(ORIGINS, detection + 2 * INTERVAL_MS + 500);
  // First checks are spread over the first intervals while the origin list gossips out.
  world.judgeAfterMs = 4 * INTERVAL_MS;
  const options = {
    world,
    scheme: { ownersOf: (o: string, m: readonly string[], k: number) => ownersOf(o, m, k) },
    intervalMs: INTERVAL_MS,
    swim,
    kvSyncIntervalMs: 200,
    core: { replicas: 1, refreshMs: 5 * INTERVAL_MS, handoffGraceMs: 2 * INTERVAL_MS + 1_000, promoteAfterMs: 0 },
    initialMembers: NODES,
    seeds: NODES,
    originWriter: "n1",
  };
  const board = new InvariantBoard([
    { name: COVERAGE, kind: "safety" },
    { name: EXCLUSIVE, kind: "safety" },
    { name: AGREE, kind: "progress" },
  ]);
  const active = new Map<string, string[]>();

  const observe = (s: V2Sim): string | undefined => {
    for (const n of s.up) {
      const now = [...n.core.activeOrigins().keys()].sort();
      const before = active.get(n.id);
      if (before !== undefined && before.join() !== now.join()) {
        const gained = now.filter((o) => !before.includes(o));
        const lost = before.filter((o) => !now.includes(o));
        s.record({ t: s.nowMs, node: n.id, event: "owners-moved", msg: { gained, lost } });
      }
      active.set(n.id, now);
    }
    if (world.gapViolation !== undefined && board.fail(COVERAGE, world.gapViolation)) return world.gapViolation;
    const exclusive = exclusivityViolation(s);
    if (exclusive !== undefined && board.fail(EXCLUSIVE, exclusive)) return exclusive;
    return undefined;
  };

  const sim: V2Sim = new Simulation<V2Message, V2Record, V2Snapshot, V2Process>({
    seed: context.seed,
    nodeIds: NODES,
    factory: ({ id, prng, disk, nowMs }) => new V2Process(id, options, { prng, nowMs, disk, fresh: nowMs === 0 }),
    traceLimit: 1,
    onTrace: context.onTrace,
    invariants: [{ name: "v2 observer", check: (s) => observe(s) }, ...(context.checks ?? [])],
  });

  return {
    stage: "v2",
    sim: sim as unknown as StageAdapter["sim"],
    nodeIds: NODES,
    operations: ["flip"],
    origins: ORIGINS,
    crash: (id) => {
      sim.crash(id);
      active.delete(id);
    },
    restart: (id) => sim.restart(id),
    put: () => undefined,
    flip: (origin) => {
      const before = world.truth.get(origin);
      if (before === undefined) {
        sim.record({ t: sim.nowMs, node: "world", event: "client-refused", msg: { origin, why: "unknown origin" } });
        return;
      }
      const status = before === "healthy" ? "unhealthy" : "healthy";
      world.truth.set(origin, status);
      sim.record({ t: sim.nowMs, node: "world", event: "origin-flipped", msg: { origin, status } });
    },
    nodeView: (id) => v2View(sim, world, id),
    invariants: () =>
      board.statuses((name) => {
        if (name !== AGREE) return undefined;
        const [first, ...rest] = sim.up;
        const ok = first !== undefined && ORIGINS.every((o) => rest.every((n) => n.core.record(o)?.status === first.core.record(o)?.status));
        return { name, kind: "progress", ok };
      }),
    describe: describeV2,
  };
}

/** The composed test's exclusivity rule: only judged when every agent agrees on membership and is settled. */
function exclusivityViolation(s: V2Sim): string | undefined {
  const up = new Set(s.up.map((n) => n.id));
  if (!s.up.every((n) => n.viewIs(up) && [...n.core.activeOrigins().values()].every((r) => r === "primary"))) return undefined;
  if (s.up.some((n) => n.core.originList().length !== ORIGINS.length)) return undefined;
  const seen = new Map<string, string>();
  for (const n of s.up) {
    for (const o of n.core.activeOrigins().keys()) {
      if (seen.has(o)) return `${o} checked by ${seen.get(o)} and ${n.id} at t=${s.nowMs}`;
      seen.set(o, n.id);
    }
  }
  return seen.size === ORIGINS.length ? undefined : `only ${seen.size}/${ORIGINS.length} origins have a checker at t=${s.nowMs}`;
}

function v2View(sim: V2Sim, world: World, id: string): NodeView {
  const n = sim.tryNode(id);
  if (n === undefined) return { id, up: false };
  const records: Record<string, { status: string; observer: string }> = {};
  for (const o of ORIGINS) {
    const r = n.core.record(o);
    if (r !== undefined) records[o] = { status: r.status, observer: r.observer };
  }
  return {
    id,
    up: true,
    members: [...n.core.members()],
    incarnation: n.swim.incarnation,
    owned: Object.fromEntries([...n.core.activeOrigins()].sort((a, b) => (a[0] < b[0] ? -1 : 1))),
    records,
    truth: Object.fromEntries([...world.truth].filter(([, s]) => s !== "healthy")),
  };
}

/** A v2 message: one of its two protocols. */
function describeV2(payload: unknown): MessageDescription {
  const m = payload as V2Message;
  if (m.p === "swim") return describeSwim(m.m);
  const d = describeKv(m.m);
  return { type: `kv-${d.type}`, detail: d.detail };
}
