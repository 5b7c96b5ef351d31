/**
 * The causality ladder: one scripted story of reads and writes on two
 * replicas, run through four ways of tracking causality on the same seeded
 * network (@heck/sim's runner; replicas exchange state every second), and
 * checked against the exact answer (full causal histories):
 *
 * 1. Lamport clocks: orders everything, so two concurrent writes become
 *    "one after the other" and one silently disappears;
 * 2. a version vector per client: exact, but the context names every client
 *    that ever wrote;
 * 3. a version vector per replica: compact, but writes through one replica
 *    look concurrent when they are not, and siblings pile up;
 * 4. dotted version vectors, the store itself (`KvNode` in MV mode): exact
 *    and compact.
 *
 * The story (times in seconds; A and B are replicas):
 *
 *   0.0  alice writes "milk" at A                      (blind)
 *   0.1  bob reads at A, 0.2 writes "milk, eggs"        (saw alice's)
 *   0.3  alice writes "milk, bread" with her own write's context: concurrent with bob's
 *   0.4  carol writes "tea" at B                        (blind: concurrent with all)
 *   3.0  read at A and B: three concurrent values must be there
 *   3.1  dave reads at B, 3.2 writes "milk, eggs, bread, tea": supersedes all
 *   4.5  twenty visitors, one after another, read at A and write once
 *   6.0  alice and bob read at A, then write ten times in turn at A, each with
 *        the context of its own last write (they never read again)
 *  10.0  read at A and B: exactly two values (alice's last, bob's last) must be there
 *
 * The client library keeps each client's context (from its last read or
 * write) and sends it back with the next write, as Riak's clients do.
 */
import { NONE, Simulation, type Channel, type Invariant, type NodeId, type Outbound, type Prng, type SimProcess, type SimReady, type TraceEvent } from "@heck/sim";
import type { CausalContext } from "../core/causality/causal-context.ts";
import { kvCodec, type KvMessage } from "../core/store/messages.ts";
import { KvNode } from "../core/store/node.ts";
import { CausalHistoryRegister, ClientVectorRegister, LamportRegister, ReplicaVectorRegister, type Register } from "./registers.ts";

/** The rungs, bottom to top. */
export type CausalityRungKey = "lamport" | "client-vv" | "replica-vv" | "dvv";

/** Anti-entropy period between the two replicas. */
const SYNC_MS = 1000;
const REPLICAS = ["A", "B"] as const;
const KEY = "cart";

/** One client operation of the story. */
type Step =
  | { atMs: number; client: string; replica: string; op: "read" }
  | { atMs: number; client: string; replica: string; op: "write"; value: string; context: "last-read" | "own-write" | "none" }
  | { atMs: number; op: "check"; name: CheckName };

/** The two moments the story checks what replicas show. */
export type CheckName = "concurrent" | "end";

/** The story above, as steps. */
export function story(): Step[] {
  const steps: Step[] = [
    { atMs: 0, client: "alice", replica: "A", op: "write", value: "alice: milk", context: "none" },
    { atMs: 100, client: "bob", replica: "A", op: "read" },
    { atMs: 200, client: "bob", replica: "A", op: "write", value: "bob: milk, eggs", context: "last-read" },
    { atMs: 300, client: "alice", replica: "A", op: "write", value: "alice: milk, bread", context: "own-write" },
    { atMs: 400, client: "carol", replica: "B", op: "write", value: "carol: tea", context: "none" },
    { atMs: 3000, op: "check", name: "concurrent" },
    { atMs: 3100, client: "dave", replica: "B", op: "read" },
    { atMs: 3200, client: "dave", replica: "B", op: "write", value: "dave: milk, eggs, bread, tea", context: "last-read" },
  ];
  for (let i = 1; i <= 20; i++) {
    const at = 4500 + 60 * (i - 1);
    steps.push({ atMs: at, client: `visitor${i}`, replica: "A", op: "read" }, { atMs: at + 20, client: `visitor${i}`, replica: "A", op: "write", value: `visitor${i}: +1 item`, context: "last-read" });
  }
  steps.push({ atMs: 6000, client: "alice", replica: "A", op: "read" }, { atMs: 6050, client: "bob", replica: "A", op: "read" });
  for (let i = 1; i <= 10; i++) {
    const client = i % 2 === 1 ? "alice" : "bob";
    steps.push({ atMs: 6100 + 100 * i, client, replica: "A", op: "write", value: `${client}: edit ${Math.ceil(i / 2)}`, context: i <= 2 ? "last-read" : "own-write" });
  }
  steps.push({ atMs: 10_000, op: "check", name: "end" });
  return steps;
}

/** What a rung needs to run the story: the two replicas as runner processes, and a client library. */
export interface StoreUnderTest<C> {
  sim: Simulation<unknown, unknown, unknown, SimProcess<unknown, unknown, unknown>>;
  read(replica: string): { values: string[]; context: C };
  /** Writes and returns the new version's context. */
  write(replica: string, value: string, client: string, context: C | undefined): C;
  contextBytes(context: C): number;
}

/** A register replica as the runner drives it: push the whole state every period, merge what arrives. */
class RegisterReplica<C, S> implements SimProcess<{ state: S }> {
  private outbox: Outbound<{ state: S }>[] = [];
  private nextSyncMs: number;

  constructor(
    readonly id: NodeId,
    readonly register: Register<C, S>,
    private readonly others: readonly NodeId[],
    prng: Prng,
    nowMs: number,
  ) {
    this.nextSyncMs = nowMs + prng.nextFloat() * SYNC_MS;
  }

  tick(nowMs: number): void {
    if (nowMs < this.nextSyncMs) return;
    this.nextSyncMs += SYNC_MS;
    // States are immutable values (every write builds a new one), so sending the object itself is safe.
    for (const o of this.others) this.outbox.push({ to: o, message: { state: this.register.state() } });
  }

  receive(_from: NodeId, message: { state: S }, _channel: Channel, _nowMs: number): void {
    this.register.merge(message.state);
  }

  hasReady(): boolean {
    return this.outbox.length > 0;
  }

  /** The states to push; a register replica here persists nothing. */
  ready(): SimReady<{ state: S }> {
    const messages = this.outbox;
    this.outbox = [];
    return { snapshot: null, records: NONE, mustSync: false, messages };
  }

  advance(): void {}

  nextDeadlineMs(): number {
    return this.nextSyncMs;
  }
}

/** What a viewer attaches to a story's runner: every trace event as it happens, and checks after every step. */
export interface StoryWatch {
  onTrace?: (event: TraceEvent) => void;
  invariants?: ReadonlyArray<Invariant<unknown>>;
}

/** The runner's options for a watch (absent fields left out, so the runner keeps its defaults). */
function watchOptions(watch: StoryWatch): StoryWatch {
  return { ...(watch.onTrace !== undefined ? { onTrace: watch.onTrace } : {}), ...(watch.invariants !== undefined ? { invariants: watch.invariants } : {}) };
}

function registerStore<C, S>(seed: number, make: (replica: string) => Register<C, S>, watch: StoryWatch = {}): StoreUnderTest<C> {
  const sim = new Simulation<{ state: S }, never, never, RegisterReplica<C, S>>({
    seed,
    nodeIds: [...REPLICAS],
    network: { latency: { minMs: 0.2, meanTailMs: 0.3 } },
    traceLimit: 0,
    ...watchOptions(watch),
    factory: ({ id, prng, peers, nowMs }) => new RegisterReplica(id, make(id), peers.filter((p) => p !== id), prng, nowMs),
  });
  return {
    sim: sim as unknown as StoreUnderTest<C>["sim"],
    read: (replica) => sim.node(replica).register.read(),
    write: (replica, value, client, context) => sim.node(replica).register.write(value, client, context),
    contextBytes: (context) => sim.node("A").register.contextBytes(context),
  };
}

/** The store itself: two KvNodes, MV mode, their own delta anti-entropy every second. */
function kvStore(seed: number, watch: StoryWatch = {}): StoreUnderTest<CausalContext> {
  const sim = new Simulation<KvMessage, string, string, KvNode>({
    seed,
    nodeIds: [...REPLICAS],
    network: { latency: { minMs: 0.2, meanTailMs: 0.3 } },
    codec: kvCodec,
    traceLimit: 0,
    ...watchOptions(watch),
    factory: ({ id, prng, peers, nowMs }) => new KvNode({ id, address: id, peers: peers.filter((p) => p !== id), prng, syncIntervalMs: SYNC_MS, defaultMode: "mv" }, nowMs) as unknown as KvNode,
  });
  return {
    sim: sim as unknown as StoreUnderTest<CausalContext>["sim"],
    read: (replica) => {
      const r = sim.node(replica).get(KEY);
      return { values: r.values.map(String), context: r.context };
    },
    write: (replica, value, _client, context) => {
      const r = sim.node(replica).put(KEY, value, { mode: "mv", ...(context === undefined ? {} : { context }) });
      if (!r.ok || !r.applied) throw new Error(`write of ${value} at ${replica} was not applied: ${JSON.stringify(r)}`);
      return r.context;
    },
    contextBytes: (context) => JSON.stringify(context.encode()).length,
  };
}

/** One rung: its name and how to build its store. */
export interface CausalityRung {
  readonly key: CausalityRungKey;
  readonly name: string;
  store(seed: number, watch?: StoryWatch): StoreUnderTest<unknown>;
}

/** The four rungs, bottom to top. */
export const CAUSALITY_RUNGS: readonly CausalityRung[] = [
  { key: "lamport", name: "Lamport clock (last writer wins)", store: (seed, watch) => registerStore(seed, (r) => new LamportRegister(r), watch) as StoreUnderTest<unknown> },
  { key: "client-vv", name: "version vector per client", store: (seed, watch) => registerStore(seed, () => new ClientVectorRegister(), watch) as StoreUnderTest<unknown> },
  { key: "replica-vv", name: "version vector per replica", store: (seed, watch) => registerStore(seed, (r) => new ReplicaVectorRegister(r), watch) as StoreUnderTest<unknown> },
  { key: "dvv", name: "dotted version vectors (crdt-kv MV)", store: (seed, watch) => kvStore(seed, watch) as StoreUnderTest<unknown> },
];

/** The rungs' keys, bottom to top. */
export const CAUSALITY_RUNG_KEYS: readonly CausalityRungKey[] = CAUSALITY_RUNGS.map((r) => r.key);

/** The command that opens rung `key`'s story for `seed` in the browser view (heck-scope), from the repository root. */
export function causalityWatchCommand(key: CausalityRungKey, seed: number): string {
  return `pnpm heck-scope crdt --scenario ladder-${key} --seed ${seed}`;
}

/** The key the story writes. */
export const STORY_KEY = KEY;

/** The story's replicas. */
export const STORY_REPLICAS: readonly string[] = REPLICAS;

/** What the replicas showed at one check. */
export interface CheckResult {
  name: CheckName;
  /** The values each replica showed (A, then B), sorted. */
  shown: string[][];
}

/** The story's outcome for one store. */
export interface StoryOutcome {
  checks: CheckResult[];
  /** The largest context a client was handed (by a read or a write), in bytes. */
  largestContextBytes: number;
}

/**
 * The story set up on one store, every step scheduled on its runner: step it
 * one event at a time through `simulation.step()`, or not at all, then
 * `finish()` runs it to the end, the same either way.
 */
export interface OpenStory {
  readonly simulation: { step(): boolean; readonly nowMs: number };
  /** The checks made so far, in story order. */
  readonly checks: readonly CheckResult[];
  finish(): StoryOutcome;
}

/** Schedules the story on `store`: the client library keeps each client's last read and write context. */
export function openStory(store: StoreUnderTest<unknown>): OpenStory {
  const checks: CheckResult[] = [];
  let largest = 0;
  const held = new Map<string, { read?: unknown; own?: unknown }>();
  const steps = story();
  for (const step of steps) {
    store.sim.schedule(step.atMs, () => {
      if (step.op === "check") {
        const shown = REPLICAS.map((r) => [...store.read(r).values].sort());
        checks.push({ name: step.name, shown });
        store.sim.record({ t: store.sim.nowMs, node: "story", event: "check", msg: { name: step.name, shown: Object.fromEntries(REPLICAS.map((r, i) => [r, shown[i]])) } });
        return;
      }
      const mine = held.get(step.client) ?? {};
      held.set(step.client, mine);
      if (step.op === "read") {
        const r = store.read(step.replica);
        mine.read = r.context;
        largest = Math.max(largest, store.contextBytes(r.context));
        store.sim.record({ t: store.sim.nowMs, node: step.replica, event: "read", msg: { client: step.client, values: r.values } });
      } else {
        const context = step.context === "none" ? undefined : step.context === "last-read" ? mine.read : mine.own;
        mine.own = store.write(step.replica, step.value, step.client, context);
        largest = Math.max(largest, store.contextBytes(mine.own));
        // What the replica shows right after the write: a Lamport clock's shows one value where a concurrent one just vanished.
        store.sim.record({ t: store.sim.nowMs, node: step.replica, event: "write", msg: { client: step.client, value: step.value, context: step.context, shows: store.read(step.replica).values } });
      }
    });
  }
  const endMs = steps[steps.length - 1]!.atMs;
  return {
    simulation: store.sim,
    checks,
    finish() {
      if (store.sim.nowMs < endMs) store.sim.runFor(endMs - store.sim.nowMs);
      return { checks, largestContextBytes: largest };
    },
  };
}

/** Runs the story on one store. */
export function runStory(store: StoreUnderTest<unknown>): StoryOutcome {
  return openStory(store).finish();
}

/** A store of full causal histories, the exact answer. */
export function exactStore(seed: number): StoreUnderTest<unknown> {
  let n = 0;
  return registerStore(seed, () => new CausalHistoryRegister(() => `w${++n}`)) as StoreUnderTest<unknown>;
}

/** One rung's figures: the JSON contract's `{ name, broke, ...figures }`. */
export interface CausalityRungResult {
  key: CausalityRungKey;
  name: string;
  broke: string;
  /** Of the three concurrent writes, how many replica A showed at the first check. */
  concurrentKept: number;
  /** Values replica A showed at the end (exactly 2 are right). */
  siblingsAtEnd: number;
  /** Distinct acknowledged writes missing where the exact answer shows them, at any check, on any replica. */
  lostWrites: number;
  /** Distinct superseded values still shown, at any check, on any replica. */
  staleSiblings: number;
  /** The largest context a client carried, in bytes of JSON. */
  contextBytes: number;
}

/** A whole causality ladder run. */
export interface CausalityLadderResult {
  seed: number;
  /** The exact answers: concurrent values at the first check, siblings at the end, and the causal histories' largest context. */
  exact: { concurrent: number; siblingsAtEnd: number; contextBytes: number };
  rungs: CausalityRungResult[];
}

/** The exact answer at each check for `seed`: what full causal histories show (the same on both replicas once synced). */
export function storyChecksExact(seed: number): ReadonlyMap<CheckName, string[]> {
  return new Map(runStory(exactStore(seed)).checks.map((c) => [c.name, c.shown[0]!]));
}

/**
 * Checks made so far against the exact answers: the acknowledged writes a
 * replica failed to show (lost) and the superseded values it still showed
 * (stale siblings), each value once.
 */
export function judgeChecks(checks: readonly CheckResult[], exact: ReadonlyMap<CheckName, readonly string[]>): { lost: Set<string>; stale: Set<string> } {
  const lost = new Set<string>();
  const stale = new Set<string>();
  for (const c of checks) {
    const right = exact.get(c.name)!;
    for (const shown of c.shown) {
      for (const v of right) if (!shown.includes(v)) lost.add(v);
      for (const v of shown) if (!right.includes(v)) stale.add(v);
    }
  }
  return { lost, stale };
}

/** Runs the story through every rung; a function of the seed only. */
export function runCausalityLadder(options: { seed: number; rungs?: readonly CausalityRungKey[] }): CausalityLadderResult {
  const reference = runStory(exactStore(options.seed));
  const exactChecks = new Map(reference.checks.map((c) => [c.name, c.shown[0]!]));
  const exactAt = (name: CheckName): string[] => exactChecks.get(name)!;
  const rungs = CAUSALITY_RUNGS.filter((r) => options.rungs === undefined || options.rungs.includes(r.key)).map((rung): CausalityRungResult => {
    const outcome = runStory(rung.store(options.seed));
    const { lost, stale } = judgeChecks(outcome.checks, exactChecks);
    const first = outcome.checks.find((c) => c.name === "concurrent")!;
    const end = outcome.checks.find((c) => c.name === "end")!;
    const figures = {
      key: rung.key,
      name: rung.name,
      concurrentKept: first.shown[0]!.filter((v) => exactAt("concurrent").includes(v)).length,
      siblingsAtEnd: end.shown[0]!.length,
      lostWrites: lost.size,
      staleSiblings: stale.size,
      contextBytes: outcome.largestContextBytes,
    };
    return { ...figures, broke: causalityBroke(figures, lost, stale, exactAt("end").length) };
  });
  return {
    seed: options.seed,
    exact: { concurrent: exactAt("concurrent").length, siblingsAtEnd: exactAt("end").length, contextBytes: reference.largestContextBytes },
    rungs,
  };
}

function causalityBroke(r: Omit<CausalityRungResult, "broke">, _lost: ReadonlySet<string>, _stale: ReadonlySet<string>, exactEnd: number): string {
  if (r.lostWrites > 0) return `lost ${r.lostWrites} acknowledged write${r.lostWrites === 1 ? "" : "s"} to concurrent ones`;
  if (r.staleSiblings > 0) return `false concurrency: ${r.siblingsAtEnd} siblings where ${exactEnd} are right`;
  if (r.key === "client-vv") return `context names every client: ${r.contextBytes} bytes after 24 clients`;
  return "nothing here: exact and compact (the stage's design)";
}

/** The causality ladder as one table: rung, figures, what broke. */
export function formatCausalityLadder(result: CausalityLadderResult): string {
  const rows = [
    ["rung", `concurrent writes kept (of ${result.exact.concurrent})`, `siblings at the end (exact: ${result.exact.siblingsAtEnd})`, "writes lost", "stale siblings", "context bytes", "what broke"],
    ...result.rungs.map((r) => [r.name, String(r.concurrentKept), String(r.siblingsAtEnd), String(r.lostWrites), String(r.staleSiblings), String(r.contextBytes), r.broke]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  const body = rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n");
  const others = CAUSALITY_RUNG_KEYS.slice(1).map((k) => `ladder-${k}`).join(", ");
  return [
    body,
    `exact answer from full causal histories (context ${result.exact.contextBytes} bytes, growing with every write); seed ${result.seed}`,
    `watch it: ${causalityWatchCommand(CAUSALITY_RUNG_KEYS[0]!, result.seed)} (or ${others})`,
  ].join("\n");
}
