/**
 * A rung of the agreement ladder (`heck-raft ladder`) in the view: the
 * ladder's own story on three nodes for the seed (its `openStory`: the same
 * cluster, clients, partition at 500 ms and heal at 2,000 ms), opened as a
 * raft scenario `ladder-<rung>` from the command the ladder prints under its
 * table. Watch primary-backup's cut-off primary keep answering while the
 * other side promotes a second one, serve x0 after x1 was acknowledged, and
 * overwrite y1 when the network heals; then Raft on the same schedule, where
 * the cut-off leader steps down and only the majority commits.
 *
 * Each node shows what it believes (primary or backup and whom it follows;
 * for Raft, Figure 2's state) and its own copy of the story's keys. The
 * ladder's referee, @heck/sim's linearizability checker, judges the history
 * so far after every step: one primary acknowledging writes, no stale read
 * (key x), no lost write (key y), the whole history linearizable.
 */
import { AGREEMENT_RUNG_KEYS, agreementRungOf, openStory, type AgreementNode, type AgreementRungKey, type AgreementRungResult, type PrimaryBackupMember, type RaftMember } from "@heck/raft-kv/ladder";
import type { PrimaryBackupMessage } from "@heck/raft-kv/ladder";
import { runnerActions, type InvariantStatus, type MessageDescription, type NodeView, type StageAdapter, type StageContext } from "../core/stage.ts";
import { describeEnvelope, raftView } from "./raft.ts";

/** The story's keys: x (the stale read), y (the lost write), z (the background clients). */
const KEYS = ["x", "y", "z"];

/** The rung a scenario name names (`ladder-<rung>`), or undefined. */
export function agreementRungOfScenario(name: string): AgreementRungKey | undefined {
  const key = name.startsWith("ladder-") ? name.slice("ladder-".length) : "";
  return (AGREEMENT_RUNG_KEYS as readonly string[]).includes(key) ? (key as AgreementRungKey) : undefined;
}

/** The scenario names of both rungs, bottom to top. */
export const AGREEMENT_RUNG_SCENARIOS: readonly string[] = AGREEMENT_RUNG_KEYS.map((k) => `ladder-${k}`);

interface StoryRunner {
  readonly nowMs: number;
  readonly nodeIds: readonly string[];
  isUp(id: string): boolean;
  tryNode(id: string): AgreementNode | undefined;
  crash(id: string): void;
  restart(id: string): void;
}

/** Builds the adapter of rung `key`'s story for the context's seed. */
export function agreementLadderStage(key: AgreementRungKey, context: StageContext): StageAdapter {
  const checks = (context.checks ?? []).map((c) => ({ name: c.name, check: (s: unknown) => c.check(s) }));
  let events = 0;
  const story = openStory(agreementRungOf(key), context.seed, 0, {
    onTrace: (e) => {
      events++;
      context.onTrace(e);
    },
    invariants: checks,
  });
  const sim = story.runner as StoryRunner;
  // The checker runs on the history so far; judged again only when the run has moved.
  let judged: { at: number; result: AgreementRungResult } | undefined;
  const verdict = (): AgreementRungResult => {
    if (judged?.at !== events) judged = { at: events, result: story.judgeSoFar() };
    return judged.result;
  };
  return {
    stage: "raft",
    sim: sim as unknown as StageAdapter["sim"],
    nodeIds: [...sim.nodeIds],
    ...runnerActions(sim),
    nodeView: (id) => nodeView(key, sim, id),
    invariants: () => statuses(verdict()),
    describe: (payload) => (key === "raft" ? describeEnvelope(payload) : describePrimaryBackup(payload)),
  };
}

function nodeView(key: AgreementRungKey, sim: StoryRunner, id: string): NodeView {
  const n = sim.tryNode(id);
  if (n === undefined) return { id, up: false };
  const copy = Object.fromEntries(KEYS.map((k) => [k, n.copyOf(k)]));
  if (key === "raft") return { ...raftView(sim as unknown as { tryNode(id: string): RaftMember | undefined }, id), copy };
  const pb = (n as PrimaryBackupMember).node;
  return { id, up: true, role: pb.isPrimary ? "primary" : "backup", primary: pb.primary, holdsAlive: pb.holdsAlive, copy };
}

/** The checker's verdicts so far, in the ladder's words: what broke, where, and the value read. */
function statuses(r: AgreementRungResult): InvariantStatus[] {
  const shown = (v: string | null | "no answer"): string => (v === null ? "nothing" : v);
  return [
    {
      name: "one primary acknowledges writes while cut",
      kind: "safety",
      ok: r.leadersAcknowledging.length <= 1,
      detail: r.leadersAcknowledging.length === 0 ? "none yet" : `acknowledged by ${r.leadersAcknowledging.join(" and ")}`,
    },
    {
      name: "no stale read (key x, the linearizability checker)",
      kind: "safety",
      ok: !r.staleReadCaught,
      ...(r.staleReadCaught ? { detail: `${r.isolated}, cut off, answered x = ${shown(r.readAtIsolated)} after x1 was acknowledged` } : {}),
    },
    {
      name: "no lost write (key y, the linearizability checker)",
      kind: "safety",
      ok: !r.lostWriteCaught,
      ...(r.lostWriteCaught ? { detail: `y = ${shown(r.readAfterHeal)} read after the heal: the acknowledged y1 is gone` } : {}),
    },
    {
      name: "the history is linearizable",
      kind: "safety",
      ok: r.linearizable,
      detail: r.linearizable ? `${r.completed} of ${r.operations} operations completed` : (r.report.split("\n")[0] ?? ""),
    },
  ];
}

function describePrimaryBackup(payload: unknown): MessageDescription {
  const m = payload as PrimaryBackupMessage;
  switch (m.type) {
    case "heartbeat":
      return { type: m.type, detail: {} };
    case "replicate":
      return { type: m.type, detail: { id: m.id, key: m.key, value: m.value } };
    case "replicated":
      return { type: m.type, detail: { id: m.id } };
    case "state":
      return { type: m.type, detail: Object.fromEntries(m.data) };
  }
}
