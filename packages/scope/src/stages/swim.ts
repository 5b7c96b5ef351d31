/**
 * SWIM in the view: the stage's own seeded cluster (`SwimCluster`, as its
 * tests and the `sim` command build it: five members that start knowing each
 * other, the LAN configuration, every packet through the binary codec). Each
 * node shows its member list in the paper's words (state, incarnation, and
 * for a suspect its suspicion's deadline and confirmations) and Lifeguard's
 * local health multiplier; the trace carries every suspect, dead
 * and alive event the members report.
 *
 * Checked after every step by the cluster itself: the view rules (an
 * incarnation never goes back, a dead member comes back only with a higher
 * one, a member never suspects itself; SWIM §4.2).
 */
import { decodeMessage, SwimCluster, VIEW_RULES, type SwimMessage } from "@heck/swim";
import type { Invariant } from "@heck/sim";
import { InvariantBoard, NODE_IDS, type MessageDescription, type NodeView, type StageAdapter, type StageContext } from "../core/stage.ts";

const MEMBERS = NODE_IDS.length;
const CONVERGED = "every live member sees every live member alive";

/** The cluster and the pieces the ownership stage builds on. */
export interface SwimParts {
  cluster: SwimCluster;
  adapter: StageAdapter;
}

type SwimSim = SwimCluster["sim"];

/** Builds the swim stage's cluster (of `members` members, n1...); `observe` (optional) runs after every step, as an invariant. */
export function buildSwim(context: StageContext, observe?: (sim: SwimSim) => string | undefined, members: number = MEMBERS): SwimParts {
  const invariants: Array<Invariant<SwimSim>> = [...(observe !== undefined ? [{ name: "observer", check: (s: SwimSim) => observe(s) }] : []), ...(context.checks ?? [])];
  const cluster = new SwimCluster({ nodes: members, seed: context.seed, bootstrap: "converged", traceLimit: 1, onTrace: context.onTrace, invariants });
  const sim = cluster.sim;
  const board = new InvariantBoard([
    { name: VIEW_RULES, kind: "safety" },
    { name: CONVERGED, kind: "progress" },
  ]);
  const adapter: StageAdapter = {
    stage: "swim",
    sim: sim as unknown as StageAdapter["sim"],
    nodeIds: cluster.ids,
    operations: [],
    origins: [],
    crash: (id) => {
      if (sim.isUp(id)) cluster.kill(id);
    },
    restart: (id) => {
      if (!sim.isUp(id)) cluster.restart(id);
    },
    put: () => undefined,
    flip: () => undefined,
    nodeView: (id) => swimView(sim, id),
    invariants: () => board.statuses((name) => (name === CONVERGED ? { name, kind: "progress", ok: cluster.converged() } : undefined)),
    describe: describeSwim,
  };
  return { cluster, adapter };
}

/** Builds the swim stage's adapter. */
export function swimStage(context: StageContext): StageAdapter {
  return buildSwim(context).adapter;
}

/** One member's view: its incarnation, Lifeguard's health score, and its member list. */
export function swimView(sim: SwimSim, id: string): NodeView {
  const m = sim.tryNode(id);
  if (m === undefined) return { id, up: false };
  const node = m.node;
  return {
    id,
    up: true,
    incarnation: node.incarnation,
    // Lifeguard's Local Health Multiplier (§IV-A): 0 is healthy; each point stretches probe timeouts.
    localHealth: node.healthScore,
    // A suspect carries its suspicion's deadline: dead then unless it refutes, sooner as confirmations come in (Lifeguard §IV-B).
    members: node
      .members()
      .map((x) => {
        const s = x.state === "suspect" ? node.suspicionOf(x.name) : undefined;
        return { name: x.name, state: x.state, incarnation: x.incarnation, ...(s !== undefined ? { suspicion: { deadlineMs: s.deadlineMs, confirmations: s.confirmations, k: s.k } } : {}) };
      })
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
}

/** A SWIM packet's type and fields (the packet is bytes: it went through the codec). */
export function describeSwim(payload: unknown): MessageDescription {
  let message: SwimMessage;
  if (payload instanceof Uint8Array) {
    const r = decodeMessage(payload);
    if (!r.ok) return { type: "undecodable", detail: { error: r.error.message } };
    message = r.message;
  } else message = payload as SwimMessage;
  return { type: message.type === "compound" ? `${message.parts[0]?.type ?? "empty"}+gossip` : message.type, detail: swimDetail(message) };
}

function swimDetail(m: SwimMessage): unknown {
  switch (m.type) {
    case "ping":
    case "ping-req":
      return { type: m.type, seq: m.seq, target: m.target, from: m.fromName };
    case "ack":
    case "nack":
      return { type: m.type, seq: m.seq };
    case "alive":
    case "suspect":
    case "dead":
      return { type: m.type, member: m.name, incarnation: m.incarnation };
    case "compound":
      return { type: m.type, parts: m.parts.map(swimDetail) };
    case "push-pull":
      return { type: m.type, join: m.join, members: m.members.map((x) => `${x.name}:${x.state}@${x.incarnation}`) };
    default:
      return { type: (m as { type: string }).type };
  }
}
