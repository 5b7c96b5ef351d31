/**
 * Transcript tests: a Raft scenario written as a story, in the spirit of
 * etcd-io/raft's datadriven interaction tests. A file in `testdata/` is a
 * list of blocks, each a command, a `----` line and the output it must print:
 *
 *     # Comments (lines starting with #) and blank lines tell the story.
 *     campaign n1
 *     ----
 *     n1 becomes pre-candidate in term 1
 *
 * The commands drive real `RaftNode`s by hand, like a driver would: every
 * Ready is persisted to a MemoryStorage (so `crash`/`restart` work), its
 * messages wait in a mailbox per node until `deliver` hands them over, and
 * nothing happens unless a command says so. Commands:
 *
 *     bootstrap n1 n2 n3 [prevote=false] [checkquorum=false] [read-only=lease] [seed=1]
 *                                 a new cluster (a new scene); options as RaftConfig
 *     join n4                     start an empty node that waits to be added
 *     campaign n1                 the election timeout fired (PreVote first when on)
 *     elect n1                    campaign and stabilize, printing only the outcome
 *     <any command> quiet=true    run it, printing only how roles, terms and leaders changed
 *     tick n1 [n2 ...] [3] | tick all [3]   logical clock ticks (heartbeats, timeouts, CheckQuorum)
 *     propose n1 x=1              a client command (leader only)
 *     conf-change n1 add-learner n4   (add-voter, add-learner, promote, remove)
 *     read-index n1 r1            a linearizable read point with context r1
 *     transfer-leadership n1 n2
 *     process-ready n1 [n2 ...]   persist, queue the messages, apply; prints the Ready
 *     deliver n2 [n3 ...]         hands each node its queued messages
 *     stabilize [n1 ...]          process-ready and deliver until nothing moves
 *     cut n1 n2 | isolate n1 | heal   drop messages between nodes (a partition)
 *     crash n1 | restart n1       lose everything but what the Readies persisted
 *     compact n1 5                snapshot the log up to index 5
 *     status n1 | log n1          what a node knows
 *
 * Entries print as `index@term "data"`, messages as `from->to type fields`.
 * After each command the runner also says how roles, terms and leaders
 * changed ("n2 becomes leader in term 2"), so a story reads without a debugger.
 */
import { createPrng } from "@heck/sim";
import { RaftNode } from "../../../src/core/raft/raft-node.ts";
import { decodeConfChange } from "../../../src/core/raft/codec.ts";
import type { ConfChangeType, Entry, Message, NodeId, RaftConfig, Ready, Snapshot } from "../../../src/core/raft/types.ts";
import { MemoryStorage } from "../../../src/core/replica/memory-storage.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** One block of a transcript: the command line, the expected output, and the lines (comments) before it. */
export interface Block {
  readonly preamble: string[];
  readonly command: string;
  readonly expected: string;
  /** 1-based line of the command in the file, for failure messages. */
  readonly line: number;
}

/** Splits a transcript into blocks; `trailer` is what follows the last block (comments, blank lines). */
export function parseTranscript(text: string): { blocks: Block[]; trailer: string[] } {
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const blocks: Block[] = [];
  let preamble: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === "" || line.startsWith("#")) {
      preamble.push(line);
      continue;
    }
    if (lines[i + 1] !== "----") throw new Error(`line ${i + 1}: "${line}" must be followed by a ---- line`);
    const out: string[] = [];
    let j = i + 2;
    for (; j < lines.length && lines[j]!.trim() !== ""; j++) out.push(lines[j]!);
    blocks.push({ preamble, command: line, expected: out.join("\n"), line: i + 1 });
    preamble = [];
    i = j - 1;
  }
  return { blocks, trailer: preamble };
}

/** Writes blocks back as a transcript, each with the given output (rewrite mode). */
export function formatTranscript(blocks: readonly Block[], outputs: readonly string[], trailer: readonly string[]): string {
  const parts: string[] = [];
  blocks.forEach((b, i) => {
    parts.push(...b.preamble, b.command, "----", outputs[i]!, "");
  });
  // One blank line separates blocks already; keep the trailer's comments.
  const text = [...parts.slice(0, -1), ...trailer].join("\n");
  return text.replace(/\n{3,}/g, "\n\n") + "\n";
}

interface NodeState {
  role: string;
  term: number;
  leader: NodeId | null;
}

interface SimNode {
  raft: RaftNode;
  storage: MemoryStorage;
  /** Committed entries applied so far, as printed. */
  applied: number;
}

/** The world a transcript runs in. */
export class TranscriptEnv {
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly crashed = new Map<NodeId, MemoryStorage>();
  private readonly mailbox = new Map<NodeId, Message[]>();
  private readonly cuts = new Set<string>();
  private config: Omit<RaftConfig, "id" | "prng"> = {};
  private founders: NodeId[] = [];
  private seed = 1;
  private restarts = 0;

  /** Runs one command line and returns what it printed. */
  run(commandLine: string): string {
    const [cmd, ...rest] = commandLine.trim().split(/\s+/);
    // key=value words are options, except in a proposal's text.
    const args = cmd === "propose" ? rest : rest.filter((a) => !a.includes("="));
    const opts = new Map(rest.filter((a) => a.includes("=")).map((a) => a.split("=", 2) as [string, string]));
    // quiet=true: run it, but print only how roles, terms and leaders changed.
    const quiet = opts.get("quiet") === "true" || cmd === "elect";
    const start = this.states();
    this.seen = start;
    const shown: string[] = [];
    const out = quiet ? [] : shown;
    switch (cmd) {
      case "bootstrap":
        this.bootstrap(args, opts, out);
        break;
      case "join":
        for (const id of args) this.start(id, RaftNode.join(this.raftConfig(id)), new MemoryStorage());
        break;
      case "campaign":
        this.node(args[0]).raft.campaign();
        break;
      case "elect":
        this.node(args[0]).raft.campaign();
        this.stabilize([...this.nodes.keys()], out);
        break;
      case "tick": {
        const count = /^\d+$/.test(args[args.length - 1] ?? "") ? Number(args.pop()) : 1;
        const ids = args[0] === "all" ? [...this.nodes.keys()] : args;
        const n = count;
        for (let i = 0; i < n; i++) for (const id of ids) this.node(id).raft.tick();
        break;
      }
      case "propose": {
        const r = this.node(args[0]).raft.propose(enc.encode(args.slice(1).join(" ")));
        out.push(r.ok ? `proposed at ${r.value.index}@${r.value.term}` : `refused: ${r.error.code} (${r.error.message})`);
        break;
      }
      case "conf-change": {
        const types: Record<string, ConfChangeType> = { "add-voter": "addVoter", "add-learner": "addLearner", promote: "promoteLearner", remove: "removeVoter" };
        const type = types[args[1] ?? ""];
        if (!type) throw new Error(`conf-change: unknown change ${args[1]}; expected ${Object.keys(types).join(", ")}`);
        const r = this.node(args[0]).raft.proposeConfChange({ type, nodeId: this.need(args[2]) });
        out.push(r.ok ? `proposed at ${r.value.index}@${r.value.term}` : `refused: ${r.error.code} (${r.error.message})`);
        break;
      }
      case "read-index": {
        const r = this.node(args[0]).raft.readIndex(this.need(args[1]));
        if (!r.ok) out.push(`refused: ${r.error.code} (${r.error.message})`);
        break;
      }
      case "transfer-leadership": {
        const r = this.node(args[0]).raft.transferLeadership(this.need(args[1]));
        if (!r.ok) out.push(`refused: ${r.error.code} (${r.error.message})`);
        break;
      }
      case "process-ready":
        for (const id of args) this.processReady(id, out);
        break;
      case "deliver":
        for (const id of args) this.deliver(id, out);
        break;
      case "stabilize":
        this.stabilize(args.length > 0 ? args : [...this.nodes.keys()], out);
        break;
      case "cut":
        this.cuts.add(linkKey(this.need(args[0]), this.need(args[1])));
        break;
      case "isolate":
        for (const other of this.allIds()) if (other !== args[0]) this.cuts.add(linkKey(this.need(args[0]), other));
        break;
      case "heal":
        this.cuts.clear();
        break;
      case "crash": {
        const id = this.need(args[0]);
        this.crashed.set(id, this.node(id).storage);
        this.nodes.delete(id);
        this.mailbox.delete(id);
        break;
      }
      case "restart": {
        const id = this.need(args[0]);
        const disk = this.crashed.get(id);
        if (!disk) throw new Error(`restart: ${id} is not crashed`);
        this.crashed.delete(id);
        this.restarts++;
        const storage = new MemoryStorage(disk.persisted());
        this.start(id, RaftNode.restart(this.raftConfig(id), storage.persisted()), storage);
        out.push(`${id} restarts from term=${storage.hardState.term} vote=${storage.hardState.vote ?? "none"} commit=${storage.hardState.commit}, ${storage.entries.length} entries after index ${storage.snapshotIndex()}`);
        break;
      }
      case "compact": {
        const n = this.node(args[0]);
        const r = n.raft.compact(Number(args[1]), enc.encode(`state@${args[1]}`));
        if (!r.ok) out.push(`refused: ${r.error.code} (${r.error.message})`);
        else {
          n.storage.compact({ metadata: r.value, data: enc.encode(`state@${args[1]}`) });
          out.push(`snapshot at ${r.value.index}@${r.value.term}, log starts at ${r.value.index + 1}`);
        }
        break;
      }
      case "status":
        out.push(this.status(this.need(args[0])));
        break;
      case "log": {
        const n = this.node(args[0]);
        const s = n.raft.status();
        const entries = n.raft.logEntries(s.firstIndex, s.lastIndex + 1);
        out.push(entries.length === 0 ? `(empty after index ${s.snapshotIndex})` : entries.map(formatEntry).join("\n"));
        break;
      }
      default:
        throw new Error(`unknown command "${cmd}"`);
    }
    if (quiet) this.seen = start;
    shown.push(...this.changes());
    return shown.length === 0 ? "ok" : shown.join("\n");
  }

  /** A new cluster of founders (a new scene: whatever ran before is gone). */
  private bootstrap(ids: string[], opts: Map<string, string>, out: string[]): void {
    this.nodes.clear();
    this.crashed.clear();
    this.mailbox.clear();
    this.cuts.clear();
    this.restarts = 0;
    this.seen = new Map();
    const flag = (name: string, def: boolean) => (opts.has(name) ? opts.get(name) === "true" : def);
    this.seed = Number(opts.get("seed") ?? 1);
    this.config = {
      electionTick: Number(opts.get("election-tick") ?? 10),
      heartbeatTick: Number(opts.get("heartbeat-tick") ?? 1),
      preVote: flag("prevote", true),
      checkQuorum: flag("checkquorum", true),
      readOnlyOption: opts.get("read-only") === "lease" ? "leaseBased" : "safe",
    };
    this.founders = ids;
    for (const id of ids) this.start(id, RaftNode.bootstrap(this.raftConfig(id), ids), new MemoryStorage());
    // The founding membership is committed by definition: persist it quietly, as every founder does at start.
    for (const id of ids) this.drainQuietly(id);
    for (const id of ids) out.push(this.status(id));
  }

  private raftConfig(id: NodeId): RaftConfig {
    return { id, prng: createPrng(this.seed).fork(`${id}:${this.restarts}`), ...this.config };
  }

  private start(id: NodeId, raft: RaftNode, storage: MemoryStorage): void {
    this.nodes.set(id, { raft, storage, applied: raft.status().applied });
    this.mailbox.set(id, []);
  }

  private drainQuietly(id: NodeId): void {
    const n = this.node(id);
    while (n.raft.hasReady()) {
      const rd = n.raft.ready();
      n.storage.save(rd);
      for (const m of rd.messages) this.post(m);
      n.raft.advance();
    }
  }

  /** Persist, then send, then apply: the documented order of a Ready. */
  private processReady(idArg: string, out: string[]): boolean {
    const id = this.need(idArg);
    const n = this.node(id);
    if (!n.raft.hasReady()) return false;
    const rd = n.raft.ready();
    out.push(`> ${id} handling Ready`, ...formatReady(rd, (m) => this.cuts.has(linkKey(m.from, m.to))).map((l) => `  ${l}`));
    n.storage.save(rd);
    for (const m of rd.messages) this.post(m);
    n.raft.advance();
    out.push(...this.changes().map((l) => `  ${l}`));
    return true;
  }

  private post(m: Message): void {
    if (this.cuts.has(linkKey(m.from, m.to))) return;
    this.mailbox.get(m.to)?.push(m);
  }

  private deliver(idArg: string, out: string[]): boolean {
    const id = this.need(idArg);
    const box = this.mailbox.get(id);
    if (!box || box.length === 0) return false;
    const msgs = box.splice(0);
    out.push(`> ${id} receiving messages`);
    for (const m of msgs) {
      out.push(`  ${formatMessage(m)}`);
      this.node(id).raft.step(m);
      out.push(...this.changes().map((l) => `  ${l}`));
    }
    return true;
  }

  private stabilize(ids: string[], out: string[]): void {
    for (let round = 0; round < 1_000; round++) {
      let moved = false;
      for (const id of ids) if (this.nodes.has(id) && this.processReady(id, out)) moved = true;
      for (const id of ids) if (this.nodes.has(id) && this.deliver(id, out)) moved = true;
      if (!moved) return;
    }
    throw new Error("stabilize: still busy after 1000 rounds");
  }

  private status(id: NodeId): string {
    const s = this.node(id).raft.status();
    const parts = [`${id}: ${s.role} term=${s.term} vote=${s.vote ?? "none"} leader=${s.leader ?? "none"} commit=${s.commit} applied=${s.applied} last=${s.lastIndex}`];
    parts.push(`voters=${s.confState.voters.join(",") || "none"}${s.confState.learners.length > 0 ? ` learners=${s.confState.learners.join(",")}` : ""}`);
    if (s.progress) {
      for (const [peer, p] of Object.entries(s.progress)) {
        if (peer !== id) parts.push(`\n  ${peer}: ${p.state} match=${p.match} next=${p.next}${p.learner ? " learner" : ""}`);
      }
    }
    return parts.join(" ").replace(/ \n/g, "\n");
  }

  /** What was last reported of each node: role, term, leader. */
  private seen = new Map<NodeId, NodeState>();

  private states(): Map<NodeId, NodeState> {
    const m = new Map<NodeId, NodeState>();
    for (const [id, n] of this.nodes) m.set(id, { role: n.raft.role, term: n.raft.term, leader: n.raft.leader });
    return m;
  }

  /** Sentences for what changed since last reported: roles, terms, leaders. */
  private changes(): string[] {
    const out: string[] = [];
    const now = this.states();
    for (const [id, s] of now) {
      const b = this.seen.get(id);
      if (!b) continue;
      if (s.role === "follower" && s.leader !== null && (b.role !== "follower" || s.term !== b.term || s.leader !== b.leader)) out.push(`${id} follows ${s.leader} in term ${s.term}`);
      else if (s.role !== b.role || s.term !== b.term) out.push(`${id} becomes ${ROLE_NAMES[s.role] ?? s.role} in term ${s.term}`);
      else if (s.leader !== b.leader) out.push(`${id} forgets its leader`);
    }
    this.seen = now;
    return out;
  }

  private node(id: string | undefined): SimNode {
    const n = this.nodes.get(this.need(id));
    if (!n) throw new Error(`no running node ${id}`);
    return n;
  }

  private need(arg: string | undefined): string {
    if (arg === undefined) throw new Error("missing argument");
    return arg;
  }

  private allIds(): NodeId[] {
    return [...new Set([...this.founders, ...this.nodes.keys(), ...this.crashed.keys()])];
  }
}

const ROLE_NAMES: Record<string, string> = { preCandidate: "pre-candidate" };

function linkKey(a: NodeId, b: NodeId): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

/** An entry as `index@term "data"` (a conf change as its decoded change, the leader's no-op as `(empty)`). */
export function formatEntry(e: Entry): string {
  if (e.type === "confChange") {
    const cc = decodeConfChange(e.data);
    return `${e.index}@${e.term} conf-change ${cc.ok ? `${cc.value.type} ${cc.value.nodeId}` : "(undecodable)"}`;
  }
  return `${e.index}@${e.term} ${e.data.length === 0 ? "(empty)" : JSON.stringify(dec.decode(e.data))}`;
}

function formatSnapshot(s: Snapshot): string {
  const c = s.metadata.confState;
  return `${s.metadata.index}@${s.metadata.term} voters=${c.voters.join(",")}${c.learners.length > 0 ? ` learners=${c.learners.join(",")}` : ""}`;
}

/** One message as `from->to type fields`. */
export function formatMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} term=${m.term}`;
  switch (m.type) {
    case "append":
      return `${head} prev=${m.prevLogIndex}@${m.prevLogTerm} commit=${m.commit}${m.entries.length > 0 ? ` entries=[${m.entries.map(formatEntry).join(", ")}]` : ""}`;
    case "appendResponse":
      return m.reject ? `${head} reject index=${m.index} hint=${m.rejectHint}@${m.logTerm}` : `${head} index=${m.index}`;
    case "heartbeat":
      return `${head} commit=${m.commit}${m.context ? ` ctx=${m.context}` : ""}`;
    case "heartbeatResponse":
      return `${head}${m.context ? ` ctx=${m.context}` : ""}`;
    case "requestVote":
    case "requestPreVote":
      return `${head} last=${m.lastLogIndex}@${m.lastLogTerm}${m.transfer ? " transfer" : ""}`;
    case "voteResponse":
    case "preVoteResponse":
      return `${head} ${m.granted ? "granted" : "rejected"}`;
    case "installSnapshot":
      return `${head} snapshot=${formatSnapshot(m.snapshot)}`;
    case "timeoutNow":
      return head;
    case "readIndex":
      return `${head} ctx=${m.context}`;
    case "readIndexResponse":
      return `${head} ctx=${m.context} index=${m.index}`;
  }
}

/** A Ready, field by field in the order a driver handles them. */
export function formatReady(rd: Ready, dropped: (m: Message) => boolean = () => false): string[] {
  const out: string[] = [];
  if (rd.softState) out.push(`soft state: ${ROLE_NAMES[rd.softState.role] ?? rd.softState.role}, leader ${rd.softState.leader ?? "none"}`);
  if (rd.hardState || rd.snapshot || rd.records.length > 0) {
    // Only a new commit index may skip the fsync: it is volatile state (Figure 2) a leader re-sends.
    out.push(rd.mustSync ? "persist, then fsync:" : "persist (no fsync: only the commit index changed):");
    if (rd.hardState) out.push(`  hard state term=${rd.hardState.term} vote=${rd.hardState.vote ?? "none"} commit=${rd.hardState.commit}`);
    if (rd.snapshot) out.push(`  snapshot ${formatSnapshot(rd.snapshot)}`);
    for (const e of rd.records) out.push(`  entry ${formatEntry(e)}`);
  }
  if (rd.messages.length > 0) out.push("send:", ...rd.messages.map((m) => `  ${formatMessage(m)}${dropped(m) ? " (lost: partition)" : ""}`));
  if (rd.snapshot || rd.committedEntries.length > 0) {
    out.push("apply:");
    if (rd.snapshot) out.push(`  snapshot ${rd.snapshot.metadata.index}@${rd.snapshot.metadata.term} (replaces the state machine)`);
    out.push(...rd.committedEntries.map((e) => `  ${formatEntry(e)}`));
  }
  for (const rs of rd.readStates) out.push(`read ${rs.requestCtx} may be served once index ${rs.index} is applied`);
  if (rd.confState) out.push(`membership: voters=${rd.confState.voters.join(",") || "none"}${rd.confState.learners.length > 0 ? ` learners=${rd.confState.learners.join(",")}` : ""}`);
  return out;
}
