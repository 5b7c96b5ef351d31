/**
 * A rung of the coordination ladder (`heck ladder`, @heck/compare) in the
 * view: the comparison's scale workload on N nodes of one store, built by
 * the ladder's own `startRung` with the ladder's seed and settings, so the
 * page steps the very run the ladder measured. Opened as a v2 scenario,
 * `ladder-<store>-n<N>` (store: raft, hybrid or crdt), from the command the
 * ladder prints beside its table.
 *
 * The run starts at the workload's start (raft has elected and handed
 * leadership to n1 by then). Each node shows what its store holds: the Raft
 * state of raft-kv (for the hybrid, of its origin list), the version vector
 * and record count of crdt-kv (for the hybrid, of its records).
 */
import { startRung, LADDER_STORES, type LadderStore } from "@heck/compare/ladder";
import type { CrdtStoreNode, RaftStoreNode, HybridStoreNode } from "@heck/compare/ladder";
import { runnerActions, type InvariantStatus, type MessageDescription, type StageAdapter, type StageContext } from "../core/stage.ts";
import { describeEnvelope } from "./raft.ts";
import { describeKv } from "./crdt.ts";

/** A ladder rung named as a scenario: `ladder-<store>-n<N>`. */
const RUNG = /^ladder-([a-z]+)-n(\d+)$/;

/** The rung a scenario name names, or undefined. */
export function ladderRungOf(name: string): { store: LadderStore; nodes: number } | undefined {
  const m = RUNG.exec(name);
  if (m === null || !(LADDER_STORES as readonly string[]).includes(m[1]!)) return undefined;
  const nodes = Number(m[2]);
  return nodes >= 2 && nodes <= 129 ? { store: m[1] as LadderStore, nodes } : undefined;
}

/** Builds the adapter of rung `store` at `nodes` nodes for the context's seed. */
export function ladderStage(store: LadderStore, nodes: number, context: StageContext): StageAdapter {
  const started = startRung(store, nodes, context.seed, { onTrace: context.onTrace, ...(context.checks !== undefined ? { invariants: context.checks.map((c) => ({ name: c.name, check: (s: unknown) => c.check(s) })) } : {}) });
  const sim = started.sim;
  return {
    stage: "v2",
    sim: sim as unknown as StageAdapter["sim"],
    nodeIds: started.nodeIds,
    ...runnerActions(sim),
    endMs: started.stopMs,
    nodeView: (id) => {
      const n = sim.tryNode(id);
      if (n === undefined) return { id, up: false };
      if (store === "raft") return { id, up: true, ...raftState(n as unknown as RaftStoreNode) };
      if (store === "crdt") return { id, up: true, ...crdtState(n as unknown as CrdtStoreNode) };
      const h = n as unknown as HybridStoreNode;
      // The origin list's Raft state, then the records' replica.
      return { id, up: true, ...raftState(h.raftPart), ...crdtState(h.crdtPart) };
    },
    invariants: (): InvariantStatus[] => {
      if (store === "crdt") return [];
      const leaders = sim.up.filter((n) => (n as unknown as RaftStoreNode).raft.role === "leader").map((n) => n.id);
      return [{ name: "a leader is elected", kind: "progress", ok: leaders.length > 0, detail: leaders.length > 0 ? `leader: ${leaders.join(", ")}` : "no leader" }];
    },
    describe: (payload) => describeRung(store, payload),
  };
}

/** Figure 2's summary of a raft-kv member. */
function raftState(n: RaftStoreNode): Record<string, unknown> {
  const s = n.raft.status();
  return { role: s.role, term: s.term, votedFor: s.vote, leader: s.leader, commitIndex: s.commit, lastApplied: s.applied, lastIndex: s.lastIndex };
}

/** A crdt-kv replica: its version vector and how many records it holds. */
function crdtState(n: CrdtStoreNode): Record<string, unknown> {
  return { vector: Object.fromEntries([...n.inner.vector()].sort((a, b) => (a[0] < b[0] ? -1 : 1))), keys: n.inner.list().length };
}

function describeRung(store: LadderStore, payload: unknown): MessageDescription {
  if (store === "raft") return describeEnvelope(payload);
  if (store === "crdt") return describeKv(payload);
  const m = payload as { part?: string; message?: unknown };
  const d = m.part === "raft" ? describeEnvelope(m.message) : describeKv(m.message);
  return { type: `${m.part ?? "?"}:${d.type}`, detail: d.detail };
}
