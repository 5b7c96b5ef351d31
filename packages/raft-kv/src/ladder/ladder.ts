/**
 * The agreement ladder: primary-backup (a fixed order of primaries and a
 * heartbeat failure detector) and then this stage's Raft replica, run through
 * the same story on the same seeded network (@heck/sim's runner), and judged
 * by the same referee, @heck/sim's linearizability checker.
 *
 * The story, on three nodes (times in ms):
 *
 *     300  put x = x0, 350 put y = y0      (through whichever node takes them)
 *     500  the primary (or leader) L is cut off from the other two
 *     800  put x = x1 through the majority side
 *    1200  get x at L                       a stale read, if L still answers
 *    1300  put y = y1 through the majority side
 *    1600  put x = x2 at L                  a second primary, if L still commits
 *    2000  the network heals
 *    2600  get y, 2700 get x                 a lost write, if y = y1 is gone
 *
 * Two background clients read and write key z against whichever node they
 * believe leads throughout, with random timing drawn from the seed. A client
 * gives up after 300 ms: a read that never answered did nothing; a write's
 * outcome is then unknown, which the checker allows either way.
 */
import { checkKvHistory, KvHistoryRecorder, NONE, Simulation, type Channel, type Invariant, type KvInput, type KvOperation, type NodeFactoryArgs, type NodeId, type SimProcess, type SimReady, type TraceEvent } from "@heck/sim";
import { fromUtf8, utf8 } from "../core/kv/bytes.ts";
import { DEFAULT_KV_STORE_CONFIG } from "../core/kv/index.ts";
import type { PersistedState } from "../core/raft/index.ts";
import { recoverStorage, ReplicaNode, type Envelope, type SnapshotImage } from "../core/replica/index.ts";
import { PrimaryBackupNode, type PrimaryBackupMessage } from "./primary-backup.ts";

/** What the story's clients ask of a node, whatever the design behind it. */
export interface AgreementNode {
  readonly id: string;
  /** Starts a write; false when refused at once (nothing happened). `done` runs once it is acknowledged. */
  put(key: string, value: string, nowMs: number, done: () => void): boolean;
  /** Starts a read; false when refused at once. `done` runs with the value read. */
  get(key: string, nowMs: number, done: (value: string | null) => void): boolean;
  /** Whether this node believes it leads (takes writes itself). */
  readonly leads: boolean;
  /** The node this one believes leads, or null. */
  readonly leader: string | null;
  /** What this node's own copy holds for `key` now, with no read protocol (what a viewer shows). */
  copyOf(key: string): string | null;
}

export type { PrimaryBackupMessage } from "./primary-backup.ts";

/** A primary-backup node as the runner drives it (exported so a viewer can show `node`, the protocol's state). */
export class PrimaryBackupMember implements SimProcess<PrimaryBackupMessage>, AgreementNode {
  readonly node: PrimaryBackupNode;

  constructor(args: NodeFactoryArgs) {
    this.node = new PrimaryBackupNode(args.id, args.peers, args.nowMs);
  }

  get id(): string {
    return this.node.id;
  }

  get leads(): boolean {
    return this.node.isPrimary;
  }

  get leader(): string {
    return this.node.primary;
  }

  put(key: string, value: string, _nowMs: number, done: () => void): boolean {
    return this.node.put(key, value, done);
  }

  copyOf(key: string): string | null {
    return this.node.data.get(key) ?? null;
  }

  get(key: string, _nowMs: number, done: (value: string | null) => void): boolean {
    const r = this.node.get(key);
    if (r === undefined) return false;
    done(r.value);
    return true;
  }

  tick(nowMs: number): void {
    this.node.tick(nowMs);
  }

  receive(from: NodeId, message: PrimaryBackupMessage, channel: Channel, nowMs: number): void {
    this.node.receive(from, message, channel, nowMs);
  }

  hasReady(): boolean {
    return this.node.ready().messages.length > 0;
  }

  /** The node's messages: primary-backup here keeps everything in memory (a crash forgets it). */
  ready(): SimReady<PrimaryBackupMessage> {
    return { snapshot: null, records: NONE, mustSync: false, messages: this.node.ready().messages };
  }

  advance(): void {
    this.node.advance();
  }

  nextDeadlineMs(): number {
    return this.node.nextDeadlineMs();
  }
}

/** Milliseconds per Raft tick in the ladder's cluster: an election timeout of 100-190 ms. */
const RAFT_TICK_MS = 10;

/** The state a member restarts from when its disk holds nothing durable: empty, never bootstrapped again. */
const EMPTY_STATE: PersistedState = { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] };

/**
 * A member of this stage's design: the package's `Replica` (Raft core with
 * PreVote and CheckQuorum, the key-value state machine, forwarding and the
 * ReadIndex barrier) behind `ReplicaNode`, so the runner drives it as the
 * server drives the replica: each Ready's WAL records written to the node's
 * simulated disk, then its messages sent, then applied; a restart replays
 * that disk through the WAL's own recovery. Exported so other simulations
 * (the browser view) run the same member.
 */
export class RaftMember extends ReplicaNode implements SimProcess<Envelope, Uint8Array, SnapshotImage>, AgreementNode {
  constructor(args: NodeFactoryArgs<Uint8Array, SnapshotImage>) {
    // A node that crashed before its first Ready left nothing durable: it restarts from nothing.
    const persisted = args.disk === undefined ? undefined : (recoverStorage(args.disk) ?? EMPTY_STATE);
    super(
      {
        raft: { id: args.id, prng: args.prng, electionTick: 10, heartbeatTick: 1 },
        start: persisted !== undefined ? { persisted } : { bootstrap: args.peers },
        kvConfig: DEFAULT_KV_STORE_CONFIG,
        incarnation: args.prng.fork("incarnation").nextUint32().toString(16),
        timing: { tickMs: RAFT_TICK_MS, requestTimeoutMs: Infinity, readRetryMs: 100, commitBroadcastDelayMs: -1 },
        snapshotEntries: 0,
        nowMs: args.nowMs,
      },
      // Raft's own messages go as packets (a lost one is retried by the protocol); forwarded requests on streams.
      () => "packet",
    );
  }

  get leads(): boolean {
    return this.replica.role === "leader";
  }

  get leader(): string | null {
    return this.replica.leader;
  }

  put(key: string, value: string, nowMs: number, done: () => void): boolean {
    if (this.replica.leader === null) return false;
    const requestId = this.replica.nextRequestId();
    this.replica.propose({ type: "write", requestId, op: { type: "put", key: utf8(key), value: utf8(value) }, timeMs: Math.round(nowMs) }, false, nowMs, (outcome) => {
      if (outcome.ok && outcome.result.ok) done();
    });
    return true;
  }

  copyOf(key: string): string | null {
    const kv = this.replica.kv.get(utf8(key));
    return kv === undefined ? null : fromUtf8(kv.value);
  }

  get(key: string, nowMs: number, done: (value: string | null) => void): boolean {
    if (this.replica.leader === null) return false;
    this.replica.readBarrier(nowMs, (error) => {
      if (error !== undefined) return;
      const kv = this.replica.kv.get(utf8(key));
      done(kv === undefined ? null : fromUtf8(kv.value));
    });
    return true;
  }
}

/** The rungs, bottom to top. */
export type AgreementRungKey = "primary-backup" | "raft";

/** A cluster of one rung: the runner, and its nodes as the clients see them. */
interface AgreementCluster {
  sim: Simulation<unknown, unknown, unknown, SimProcess<unknown, unknown, unknown> & AgreementNode>;
}

/** What a viewer attaches to a rung's runner: every trace event as it happens, and checks after every step. */
export interface StoryWatch {
  onTrace?: (event: TraceEvent) => void;
  invariants?: ReadonlyArray<Invariant<unknown>>;
}

/** One rung: its name and how to build a three-node cluster of it. */
export interface AgreementRung {
  readonly key: AgreementRungKey;
  readonly name: string;
  cluster(seed: number, traceLimit?: number, watch?: StoryWatch): AgreementCluster;
}

const NODES = ["n1", "n2", "n3"];
const NETWORK = { latency: { minMs: 0.5, meanTailMs: 1 } };

/** The two rungs, bottom to top. */
export const AGREEMENT_RUNGS: readonly AgreementRung[] = [
  {
    key: "primary-backup",
    name: "primary-backup (fixed order, heartbeats)",
    cluster: (seed, traceLimit = 0, watch = {}) => ({
      sim: new Simulation<PrimaryBackupMessage, never, never, PrimaryBackupMember>({ seed, nodeIds: NODES, network: NETWORK, traceLimit, ...watchOptions(watch), factory: (a) => new PrimaryBackupMember(a) }) as unknown as AgreementCluster["sim"],
    }),
  },
  {
    key: "raft",
    name: "Raft (terms, majorities; raft-kv's replica)",
    cluster: (seed, traceLimit = 0, watch = {}) => ({
      sim: new Simulation<Envelope, Uint8Array, SnapshotImage, RaftMember>({ seed, nodeIds: NODES, network: NETWORK, traceLimit, ...watchOptions(watch), factory: (a) => new RaftMember(a) }) as unknown as AgreementCluster["sim"],
    }),
  },
];

/** The runner's options for a watch (absent fields left out, so the runner keeps its defaults). */
function watchOptions(watch: StoryWatch): StoryWatch {
  return { ...(watch.onTrace !== undefined ? { onTrace: watch.onTrace } : {}), ...(watch.invariants !== undefined ? { invariants: watch.invariants } : {}) };
}

/** The rung a key names. */
export function agreementRungOf(key: AgreementRungKey): AgreementRung {
  return AGREEMENT_RUNGS.find((r) => r.key === key)!;
}

/** The rungs' keys, bottom to top. */
export const AGREEMENT_RUNG_KEYS: readonly AgreementRungKey[] = ["primary-backup", "raft"];

/** The command that opens rung `key`'s story for `seed` in the browser view (heck-scope), from the repository root. */
export function rungWatchCommand(key: AgreementRungKey, seed: number): string {
  return `pnpm heck-scope raft --scenario ladder-${key} --seed ${seed}`;
}

/** When the story cuts the leader off and heals, and how long a client waits. */
export const STORY = { partitionAtMs: 500, healAtMs: 2000, endAtMs: 3000, clientTimeoutMs: 300 };

/** What one rung did in the story. */
export interface AgreementRungResult {
  key: AgreementRungKey;
  name: string;
  broke: string;
  /** The node cut off at 500 ms (the one leading then). */
  isolated: string;
  /** The leaders (primaries) under which writes were acknowledged while the network was cut. */
  leadersAcknowledging: string[];
  /** What `get x` at the cut-off node returned (null: nothing, or not answered). */
  readAtIsolated: string | null | "no answer";
  /** What `get y` returned after the heal. */
  readAfterHeal: string | null | "no answer";
  /** The checker's verdicts: on key x (stale read), key y (lost write), and the whole history. */
  staleReadCaught: boolean;
  lostWriteCaught: boolean;
  linearizable: boolean;
  /** Operations recorded (completed or of unknown outcome) and completed. */
  operations: number;
  completed: number;
  /** The checker's explanation of the first violation (empty when linearizable). */
  report: string;
}

/** A whole ladder run. */
export interface AgreementLadderResult {
  seed: number;
  rungs: AgreementRungResult[];
}

/**
 * The story set up on one rung, every step scheduled on its runner: step it
 * one event at a time through `simulation.step()`, or not at all, then
 * `finish()` runs it to the end and judges the history, the same either way.
 */
export interface OpenStory {
  readonly simulation: { step(): boolean; readonly nowMs: number };
  /**
   * The whole runner (@heck/sim's Simulation of the rung's three nodes), for
   * a viewer that also crashes and partitions: typed by the caller.
   */
  readonly runner: unknown;
  /** The checker's verdicts on the history so far (operations still open count as of unknown outcome). */
  judgeSoFar(): AgreementRungResult;
  finish(): AgreementRungResult;
}

/** Runs the story on one rung; a function of the seed only. */
export function runStory(rung: AgreementRung, seed: number): AgreementRungResult {
  return openStory(rung, seed).finish();
}

/** Schedules the story on a fresh cluster of `rung`. */
export function openStory(rung: AgreementRung, seed: number, traceLimit = 0, watch: StoryWatch = {}): OpenStory {
  const { sim } = rung.cluster(seed, traceLimit, watch);
  const history = new KvHistoryRecorder();
  const acknowledging = new Set<string>();
  let partitioned = false;
  let isolated = "";
  const answers = new Map<string, string | null>();

  /**
   * One client operation, offered to `candidates` in order until one takes it;
   * `tag` names a scripted read whose answer the table reports.
   */
  const attempt = (s: typeof sim, client: string, input: KvInput, candidates: readonly string[], tag?: string, then?: () => void): void => {
    for (const id of candidates) {
      const node = s.tryNode(id);
      const op = history.invoke(client, input, s.nowMs);
      let settled = false;
      const finish = (apply: () => void): void => {
        if (settled) return;
        settled = true;
        apply();
        then?.();
      };
      const said = input.type === "put" ? `put ${input.key} = ${input.value}` : `get ${input.key}`;
      // In the trace (a viewer's timeline): who asked what of whom, and the answer, so a stale read or a second primary shows where it happened.
      const answered = (result: string): void => s.record({ t: s.nowMs, node: id, event: "answered", msg: { client, op: said, result, ...(tag !== undefined ? { tag } : {}) } });
      const accepted =
        node !== undefined &&
        (input.type === "put"
          ? node.put(input.key, input.value, s.nowMs, () =>
              finish(() => {
                history.ok(op, { type: "put" }, s.nowMs);
                answered(`ok (committed by ${node.leader ?? id})`);
                // Who committed it: the primary itself, or the Raft leader the contacted node follows.
                if (partitioned) acknowledging.add(node.leader ?? id);
              }),
            )
          : input.type === "get"
            ? node.get(input.key, s.nowMs, (value) =>
                finish(() => {
                  history.ok(op, { type: "get", value }, s.nowMs);
                  answered(value ?? "nothing");
                  if (tag !== undefined) answers.set(tag, value);
                }),
              )
            : false);
      if (!accepted) {
        history.fail(op);
        continue;
      }
      s.record({ t: s.nowMs, node: id, event: "request", msg: { client, op: said, ...(tag !== undefined ? { tag } : {}) } });
      // A read that never answers did nothing; a write that never answers may or may not have happened.
      s.schedule(s.nowMs + STORY.clientTimeoutMs, () => finish(() => (input.type === "get" ? history.fail(op) : undefined)));
      return;
    }
    then?.();
  };

  const everyone = (): string[] => [...NODES];
  const majority = (): string[] => NODES.filter((n) => n !== isolated);
  sim.schedule(300, (s) => attempt(s, "s1", { type: "put", key: "x", value: "x0" }, everyone()));
  sim.schedule(350, (s) => attempt(s, "s2", { type: "put", key: "y", value: "y0" }, everyone()));
  sim.schedule(STORY.partitionAtMs, (s) => {
    isolated = s.up.find((n) => n.leads)?.id ?? "n1";
    s.partition([isolated], majority());
    partitioned = true;
  });
  sim.schedule(800, (s) => attempt(s, "s3", { type: "put", key: "x", value: "x1" }, majority()));
  sim.schedule(1200, (s) => attempt(s, "s4", { type: "get", key: "x" }, [isolated], "x at the cut-off node"));
  sim.schedule(1300, (s) => attempt(s, "s5", { type: "put", key: "y", value: "y1" }, majority()));
  sim.schedule(1600, (s) => attempt(s, "s6", { type: "put", key: "x", value: "x2" }, [isolated]));
  sim.schedule(STORY.healAtMs, (s) => {
    s.heal();
    partitioned = false;
  });
  sim.schedule(2600, (s) => attempt(s, "s7", { type: "get", key: "y" }, everyone(), "y after the heal"));
  sim.schedule(2700, (s) => attempt(s, "s8", { type: "get", key: "x" }, everyone()));

  // Background clients on key z, each sequential: the next operation starts when the last one settled.
  const workload = sim.prng.fork("workload");
  for (const c of ["c1", "c2"]) {
    const rng = workload.fork(c);
    let believed = rng.pick(NODES);
    let seq = 0;
    const next = (at: number): void => {
      if (at >= STORY.endAtMs - STORY.clientTimeoutMs) return;
      sim.schedule(at, (s) => {
        const input: KvInput = rng.chance(0.5) ? { type: "get", key: "z" } : { type: "put", key: "z", value: `${c}-${++seq}` };
        if (rng.chance(0.2)) believed = rng.pick(NODES);
        const order = [believed, ...NODES.filter((n) => n !== believed)];
        attempt(s, c, input, order, undefined, () => next(s.nowMs + 10 + rng.nextInt(0, 40)));
      });
    };
    next(rng.nextInt(100, 200));
  }

  return {
    simulation: sim,
    runner: sim,
    judgeSoFar: () => judge(rung, history.history(), isolated, [...acknowledging].sort(), answers),
    finish: () => {
      if (sim.nowMs < STORY.endAtMs) sim.runFor(STORY.endAtMs - sim.nowMs);
      return judge(rung, history.history(), isolated, [...acknowledging].sort(), answers);
    },
  };
}

/** The checker's verdicts on a story's history, and the figures the table shows. */
function judge(rung: AgreementRung, ops: KvOperation[], isolated: string, leadersAcknowledging: string[], answers: ReadonlyMap<string, string | null>): AgreementRungResult {
  const onKey = (key: string): KvOperation[] => ops.filter((o) => o.input.key === key);
  const whole = checkKvHistory(ops);
  const x = checkKvHistory(onKey("x"));
  const y = checkKvHistory(onKey("y"));
  const result = {
    key: rung.key,
    name: rung.name,
    isolated,
    leadersAcknowledging,
    readAtIsolated: answers.has("x at the cut-off node") ? answers.get("x at the cut-off node")! : ("no answer" as const),
    readAfterHeal: answers.has("y after the heal") ? answers.get("y after the heal")! : ("no answer" as const),
    staleReadCaught: x.linearizable === false,
    lostWriteCaught: y.linearizable === false,
    linearizable: whole.linearizable === true,
    operations: ops.length,
    completed: ops.filter((o) => o.output !== undefined).length,
    report: whole.report,
  };
  return { ...result, broke: agreementBroke(result) };
}

function agreementBroke(r: Omit<AgreementRungResult, "broke">): string {
  const shown = (v: string | null | "no answer"): string => (v === "no answer" ? "no answer" : v === null ? "nothing" : v);
  if (r.linearizable) return "nothing here: linearizable";
  const parts: string[] = [];
  if (r.leadersAcknowledging.length > 1) parts.push(`two primaries (${r.leadersAcknowledging.join(", ")})`);
  if (r.staleReadCaught) parts.push(`stale read (x = ${shown(r.readAtIsolated)} after x1)`);
  if (r.lostWriteCaught) parts.push(`lost write (y = ${shown(r.readAfterHeal)} after y1)`);
  return parts.length > 0 ? parts.join(", ") : "not linearizable";
}

/** Runs the story on every rung. */
export function runAgreementLadder(options: { seed: number }): AgreementLadderResult {
  return { seed: options.seed, rungs: AGREEMENT_RUNGS.map((r) => runStory(r, options.seed)) };
}

/** The ladder as one table: rung, figures, what broke. */
export function formatAgreementLadder(result: AgreementLadderResult, explain = false): string {
  const yesNo = (b: boolean): string => (b ? "yes" : "no");
  const rows = [
    ["rung", "cut off", "leaders acknowledging writes while cut", "stale read caught", "lost write caught", "linearizable", "what broke"],
    ...result.rungs.map((r) => [r.name, r.isolated, r.leadersAcknowledging.join(", ") || "-", yesNo(r.staleReadCaught), yesNo(r.lostWriteCaught), yesNo(r.linearizable), r.broke]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? "").length)));
  const table = rows.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n");
  const lines = [table, `three nodes; the leader cut off from ${STORY.partitionAtMs} to ${STORY.healAtMs} ms; checked by @heck/sim's linearizability checker; seed ${result.seed} (replay: --seed ${result.seed})`,
    `watch it: ${rungWatchCommand(AGREEMENT_RUNG_KEYS[0]!, result.seed)} (or ladder-${AGREEMENT_RUNG_KEYS.slice(1).join(", ladder-")})`,
  ];
  if (explain) for (const r of result.rungs) if (r.report !== "") lines.push("", `${r.name}:`, r.report);
  return lines.join("\n");
}

/** The `--json` line: `{ "rungs": [ { "name", "broke", ...figures } ] }`. */
export function agreementLadderJson(result: AgreementLadderResult): string {
  return JSON.stringify({ seed: result.seed, rungs: result.rungs.map(({ name, broke, report: _report, ...figures }) => ({ name, broke, ...figures, watch: rungWatchCommand(figures.key, result.seed) })) });
}
