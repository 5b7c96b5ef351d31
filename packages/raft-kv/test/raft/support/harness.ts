/**
 * Helpers for the direct unit tests: build a RaftNode with a chosen term and
 * log, drain its Ready batches, and pass messages between a handful of nodes
 * by hand (in the spirit of etcd's raft_test.go `network`; the scenario tests
 * use the real simulation runner from @heck/sim instead).
 */
import { createPrng } from "@heck/sim";
import { RaftNode } from "../../../src/core/raft/raft-node.ts";
import type { Entry, HardState, Message, NodeId, RaftConfig, ReadState, Snapshot } from "../../../src/core/raft/types.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Bytes for a test command. */
export function bytes(s: string): Uint8Array {
  return enc.encode(s);
}

/** The text of a test command. */
export function text(b: Uint8Array): string {
  return dec.decode(b);
}

/** Builds entries 1..n with the given terms (data "e<index>"). */
export function entriesWithTerms(terms: readonly number[], from = 1): Entry[] {
  return terms.map((term, i) => ({ index: from + i, term, type: "normal" as const, data: bytes(`e${from + i}`) }));
}

/** Options for {@link newRaft}. */
export interface NewRaftOptions extends Partial<Omit<RaftConfig, "id" | "prng">> {
  term?: number;
  vote?: NodeId | null;
  /** Terms of entries 1..n. */
  logTerms?: number[];
  commit?: number;
  learners?: NodeId[];
  seed?: number;
}

/**
 * A node with membership `voters` and, optionally, a given term/vote/log.
 * Membership rides in a snapshot at index 0 (an empty prefix that only
 * carries the configuration). PreVote and CheckQuorum default to off here so
 * the paper's §5 rules can be tested alone.
 */
export function newRaft(id: NodeId, voters: NodeId[], opts: NewRaftOptions = {}): RaftNode {
  const { term, vote, logTerms, commit, learners, seed, ...cfg } = opts;
  const entries = entriesWithTerms(logTerms ?? []);
  const maxTerm = Math.max(term ?? 0, ...entries.map((e) => e.term));
  const hardState: HardState = { term: maxTerm, vote: vote ?? null, commit: commit ?? 0 };
  const snapshot: Snapshot = { metadata: { index: 0, term: 0, confState: { voters, learners: learners ?? [] } }, data: new Uint8Array(0) };
  return RaftNode.restart(
    { id, prng: createPrng(seed ?? 1).fork(id), preVote: false, checkQuorum: false, ...cfg },
    { hardState, snapshot, entries },
  );
}

/** What one or more Ready batches carried, merged. */
export interface Drained {
  messages: Message[];
  committed: Entry[];
  persisted: Entry[];
  readStates: ReadState[];
  hardState: HardState | null;
  snapshot: Snapshot | null;
}

/** Drains every Ready (persisting nothing: the tests inspect instead) and advances. */
export function drain(r: RaftNode): Drained {
  const out: Drained = { messages: [], committed: [], persisted: [], readStates: [], hardState: null, snapshot: null };
  while (r.hasReady()) {
    const rd = r.ready();
    out.messages.push(...rd.messages);
    out.committed.push(...rd.committedEntries);
    out.persisted.push(...rd.records);
    out.readStates.push(...rd.readStates);
    if (rd.hardState) out.hardState = rd.hardState;
    if (rd.snapshot) out.snapshot = rd.snapshot;
    r.advance();
  }
  return out;
}

/** The messages the node wants to send now. */
export function readMessages(r: RaftNode): Message[] {
  return drain(r).messages;
}

/** Ticks `n` times. */
export function tickN(r: RaftNode, n: number): void {
  for (let i = 0; i < n; i++) r.tick();
}

/**
 * Passes messages between nodes synchronously until none are left (or a
 * step budget runs out). `drop(m)` filters messages, like a partition.
 */
export class Pump {
  readonly nodes = new Map<NodeId, RaftNode>();
  /** Committed entries applied by each node, in order. */
  readonly applied = new Map<NodeId, Entry[]>();
  readonly readStates = new Map<NodeId, ReadState[]>();
  drop: (m: Message) => boolean = () => false;
  /** Rewrites a message in flight (e.g. strips entries, as if the packet carrying them was lost). */
  mutate: (m: Message) => Message = (m) => m;
  /** Every message delivered, for assertions. */
  readonly delivered: Message[] = [];

  constructor(nodes: RaftNode[]) {
    for (const n of nodes) this.add(n);
  }

  add(n: RaftNode): void {
    this.nodes.set(n.id, n);
    if (!this.applied.has(n.id)) this.applied.set(n.id, []);
    if (!this.readStates.has(n.id)) this.readStates.set(n.id, []);
  }

  node(id: NodeId): RaftNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** Isolates `id`: drops everything to and from it. */
  isolate(id: NodeId): void {
    this.drop = (m) => m.from === id || m.to === id;
  }

  heal(): void {
    this.drop = () => false;
  }

  /** Drains and delivers until quiet. */
  settle(extra: Message[] = [], budget = 100_000): void {
    const queue: Message[] = [...extra];
    for (let i = 0; i < budget; i++) {
      for (const n of this.nodes.values()) {
        const d = drain(n);
        queue.push(...d.messages);
        this.applied.get(n.id)!.push(...d.committed);
        this.readStates.get(n.id)!.push(...d.readStates);
      }
      const raw = queue.shift();
      if (raw === undefined) return;
      if (this.drop(raw)) continue;
      const m = this.mutate(raw);
      const to = this.nodes.get(m.to);
      if (!to) continue;
      this.delivered.push(m);
      to.step(m);
    }
    throw new Error("Pump.settle: message budget exhausted");
  }

  /** Campaigns `id` and delivers until quiet. */
  elect(id: NodeId): void {
    this.node(id).campaign();
    this.settle();
  }

  /** Ticks every node once and delivers until quiet. */
  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const node of this.nodes.values()) node.tick();
      this.settle();
    }
  }

  /** The normal entries each node applied, as text (no-ops and conf changes skipped). */
  appliedText(id: NodeId): string[] {
    return this.applied
      .get(id)!
      .filter((e) => e.type === "normal" && e.data.length > 0)
      .map((e) => text(e.data));
  }
}

/** Bootstraps a cluster of founders and elects `leader` with a pump. */
export function bootstrapCluster(ids: NodeId[], leader: NodeId, cfg: Partial<Omit<RaftConfig, "id" | "prng">> = {}, seed = 1): Pump {
  const nodes = ids.map((id) => RaftNode.bootstrap({ id, prng: createPrng(seed).fork(id), ...cfg }, ids));
  const pump = new Pump(nodes);
  pump.settle();
  pump.elect(leader);
  return pump;
}
