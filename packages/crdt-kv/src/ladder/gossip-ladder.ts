/**
 * The gossip ladder: how one write reaches n replicas, by the four epidemics
 * of Demers et al. (1987) and by this stage's own anti-entropy, run on the
 * same seeded network (@heck/sim's runner) at n = 16 to 1,024, with and
 * without 10% packet loss:
 *
 * 1. push anti-entropy: simple, but the last replicas wait to be picked;
 * 2. pull anti-entropy: a fast end game, but every replica asks every round;
 * 3. push-pull anti-entropy: the fewest rounds (log3 n), still a message per
 *    replica per round forever, news or not;
 * 4. rumor mongering with a stop rule: few messages, and a residue of
 *    replicas that never hear;
 * 5. crdt-kv's delta anti-entropy (`KvNode`, fanout 3, delta-intervals with
 *    acknowledgements and probes): the stage's design. A replica offers what
 *    a peer has not acknowledged until it does, so nobody is left out (as
 *    with anti-entropy) and nothing is resent once acknowledged; the price,
 *    for a single update, is the probes and acks.
 *
 * Each run: warm up three rounds, write one update on n1, and count rounds
 * and messages until every replica has it (or, for a rumor, until nobody is
 * spreading it any more).
 */
import { NONE, Simulation, type Channel, type Invariant, type NodeId, type Prng, type SimProcess, type SimReady, type TraceEvent } from "@heck/sim";
import { kvCodec, type KvMessage } from "../core/store/messages.ts";
import { KvNode } from "../core/store/node.ts";
import { epidemicBytes, EpidemicReplica, type EpidemicMessage, type EpidemicMode } from "./epidemic.ts";

/** The rungs, bottom to top. */
export type GossipRungKey = "push" | "pull" | "push-pull" | "rumor" | "delta-sync";

/** One run's figures: one update spreading through `nodes` replicas. */
export interface SpreadFigures {
  nodes: number;
  lossRate: number;
  /** Rounds from the write until every replica had it; null if some never did. */
  rounds: number | null;
  /** Messages sent from the write until every replica had it (or the spreading stopped). */
  messages: number;
  /** Replicas that never received it. */
  missed: number;
}

/** The round length every rung uses (crdt-kv's default syncIntervalMs). */
export const GOSSIP_PERIOD_MS = 1000;
/** Rounds of warm-up before the write, and the most rounds a run may take after it. */
const WARMUP_ROUNDS = 3;
const BUDGET_ROUNDS = 60;

/**
 * One seeded run set up with its write scheduled on the runner: step it one
 * event at a time through `simulation.step()`, or not at all, then `finish()`
 * runs it to its end and returns the figures, the same either way.
 */
export interface OpenSpread {
  readonly simulation: { step(): boolean; readonly nowMs: number };
  /** The whole runner (@heck/sim's Simulation of the rung's replicas), for a viewer that also crashes and drops: typed by the caller. */
  readonly runner: unknown;
  /** When the update is written on n1 (ms). */
  readonly writtenAtMs: number;
  /** Whether replica `id` holds the update now (false while it is down). */
  has(id: string): boolean;
  /** What the probes found so far: when every replica had it, or the spreading stopped without (the figures' end), or undefined while it goes on. */
  over(): { atMs: number; all: boolean } | undefined;
  finish(): SpreadFigures;
}

/** What a viewer attaches to a run's runner: every trace event as it happens, and checks after every step. */
export interface SpreadWatch {
  onTrace?: (event: TraceEvent) => void;
  invariants?: ReadonlyArray<Invariant<unknown>>;
}

/** The runner's options for a watch (absent fields left out, so the runner keeps its defaults). */
function watchOptions(watch: SpreadWatch): SpreadWatch {
  return { ...(watch.onTrace !== undefined ? { onTrace: watch.onTrace } : {}), ...(watch.invariants !== undefined ? { invariants: watch.invariants } : {}) };
}

/** One rung: its name, and one seeded run of it. */
export interface GossipRung {
  readonly key: GossipRungKey;
  readonly name: string;
  open(nodes: number, seed: number, lossRate: number, traceLimit?: number, watch?: SpreadWatch): OpenSpread;
  spread(nodes: number, seed: number, lossRate: number): SpreadFigures;
}

/** An epidemic replica as the runner drives it. */
class EpidemicProcess implements SimProcess<EpidemicMessage> {
  constructor(readonly replica: EpidemicReplica) {}

  get id(): NodeId {
    return this.replica.id;
  }

  tick(nowMs: number): void {
    this.replica.tick(nowMs);
  }

  receive(from: NodeId, message: EpidemicMessage, channel: Channel, nowMs: number): void {
    this.replica.receive(from, message, channel, nowMs);
  }

  hasReady(): boolean {
    return this.replica.ready().messages.length > 0;
  }

  /** The replica's messages; an epidemic persists nothing. */
  ready(): SimReady<EpidemicMessage> {
    return { snapshot: null, records: NONE, mustSync: false, messages: this.replica.ready().messages };
  }

  advance(): void {
    this.replica.advance();
  }

  nextDeadlineMs(): number {
    return this.replica.nextDeadlineMs();
  }
}

/** The network every rung runs on: LAN latency, loss as asked. */
function network(lossRate: number) {
  return { latency: { minMs: 0.2, meanTailMs: 0.3 }, faults: { dropRate: lossRate } };
}

function ids(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `n${i + 1}`);
}

/**
 * Schedules the write on n1 after the warm-up, and a probe every tenth of a
 * round after it that notes when every replica has it (or the spreading
 * stopped): probes are events of the run, so stepping through it gives the
 * same figures. `finish` runs until a probe says it is over or the budget is
 * spent. The shared measuring loop.
 */
function openSpread<M, R, S, N extends SimProcess<M, R, S>>(
  sim: Simulation<M, R, S, N>,
  nodes: number,
  lossRate: number,
  write: (sim: Simulation<M, R, S, N>) => void,
  has: (node: N) => boolean,
  spreading: (sim: Simulation<M, R, S, N>) => boolean,
): OpenSpread {
  const writtenAt = WARMUP_ROUNDS * GOSSIP_PERIOD_MS;
  const probeMs = GOSSIP_PERIOD_MS / 10;
  const endAt = writtenAt + BUDGET_ROUNDS * GOSSIP_PERIOD_MS;
  let sentBefore = 0;
  let over: { atMs: number; sent: number; all: boolean } | undefined;
  const holders = (s: Simulation<M, R, S, N>): number => s.up.reduce((k, n) => k + (has(n) ? 1 : 0), 0);
  const probe = (s: Simulation<M, R, S, N>): void => {
    if (over !== undefined) return;
    const all = holders(s) === nodes;
    if (all || !spreading(s) || s.nowMs >= endAt) {
      over = { atMs: s.nowMs, sent: s.stats.sent, all };
      s.record({ t: s.nowMs, node: "n1", event: all ? "reached-all" : "spreading-over", msg: { rounds: (s.nowMs - writtenAt) / GOSSIP_PERIOD_MS, missed: nodes - holders(s) } });
    }
  };
  sim.schedule(writtenAt, (s) => {
    sentBefore = s.stats.sent;
    write(s);
    s.record({ t: s.nowMs, node: "n1", event: "write", msg: { update: "the one update of the run" } });
  });
  for (let t = writtenAt + probeMs; t <= endAt + 1e-9; t += probeMs) sim.schedule(t, probe);
  return {
    simulation: sim,
    runner: sim,
    writtenAtMs: writtenAt,
    has: (id) => {
      const n = sim.tryNode(id);
      return n !== undefined && has(n);
    },
    over: () => (over === undefined ? undefined : { atMs: over.atMs, all: over.all }),
    finish() {
      while (over === undefined && sim.nowMs < endAt) sim.runFor(Math.min(probeMs, endAt - sim.nowMs));
      const o = over ?? { atMs: sim.nowMs, sent: sim.stats.sent, all: false };
      return {
        nodes,
        lossRate,
        rounds: o.all ? (o.atMs - writtenAt) / GOSSIP_PERIOD_MS : null,
        messages: o.sent - sentBefore,
        missed: nodes - holders(sim),
      };
    },
  };
}

function epidemicRung(key: GossipRungKey, name: string, mode: EpidemicMode): GossipRung {
  return {
    key,
    name,
    spread(nodes, seed, lossRate) {
      return this.open(nodes, seed, lossRate).finish();
    },
    open(nodes, seed, lossRate, traceLimit = 0, watch = {}) {
      const sim = new Simulation<EpidemicMessage, never, never, EpidemicProcess>({
        seed,
        nodeIds: ids(nodes),
        network: network(lossRate),
        sizeOf: epidemicBytes,
        traceLimit,
        ...watchOptions(watch),
        factory: ({ id, prng, peers, nowMs }) => new EpidemicProcess(new EpidemicReplica(id, peers, prng, nowMs, { mode, periodMs: GOSSIP_PERIOD_MS, stopAfterKnown: 2 })),
      });
      return openSpread(
        sim,
        nodes,
        lossRate,
        (s) => s.node("n1").replica.write(s.nowMs),
        (p) => p.replica.has,
        (s) => s.up.some((p) => p.replica.active) || s.network.pendingEvents > 0,
      );
    },
  };
}

/** crdt-kv's replica as it is, with its defaults (fanout 3, BP+RR with probes), on a static peer list. */
const deltaSync: GossipRung = {
  key: "delta-sync",
  name: "crdt-kv delta sync (fanout 3, acks)",
  spread(nodes, seed, lossRate) {
    return this.open(nodes, seed, lossRate).finish();
  },
  open(nodes, seed, lossRate, traceLimit = 0, watch = {}) {
    const all = ids(nodes);
    const sim = new Simulation<KvMessage, string, string, KvNode>({
      seed,
      nodeIds: all,
      network: network(lossRate),
      codec: kvCodec,
      traceLimit,
      ...watchOptions(watch),
      factory: ({ id, prng, nowMs }: { id: string; prng: Prng; nowMs: number }) =>
        new KvNode({ id, address: id, peers: all.filter((p) => p !== id), prng, syncIntervalMs: GOSSIP_PERIOD_MS }, nowMs) as unknown as KvNode,
    });
    return openSpread(
      sim,
      nodes,
      lossRate,
      (s) => s.node("n1").put("news", "hello", { ts: s.nowMs }),
      (node) => node.get("news").exists,
      () => true,
    );
  },
};

/** The five rungs, bottom to top. */
export const GOSSIP_RUNGS: readonly GossipRung[] = [
  epidemicRung("push", "push anti-entropy", "push"),
  epidemicRung("pull", "pull anti-entropy", "pull"),
  epidemicRung("push-pull", "push-pull anti-entropy", "push-pull"),
  epidemicRung("rumor", "rumor mongering (stop after 2 who knew)", "rumor"),
  deltaSync,
];

// ---------------------------------------------------------------------------
// The experiment and its table
// ---------------------------------------------------------------------------

/** Settings of one gossip ladder run; the defaults are the ones the README's table comes from. */
export interface GossipLadderOptions {
  seed: number;
  /** Cluster sizes. Default 16, 64, 256, 1,024. */
  sizes?: readonly number[];
  /** Loss rate of the lossy runs. Default 10%. */
  lossRate?: number;
  /** Runs per cell (each from its own stream of the seed); the table shows the median. Default 3. */
  trials?: number;
  /** Only these rungs (default all). */
  rungs?: readonly GossipRungKey[];
}

/** One rung's results: medians over the trials, per size, without and with loss. */
export interface GossipRungResult {
  key: GossipRungKey;
  name: string;
  broke: string;
  /** Figures without loss, then with loss, per size. */
  clean: SpreadFigures[];
  lossy: SpreadFigures[];
}

/** A whole gossip ladder run. */
export interface GossipLadderResult {
  seed: number;
  lossRate: number;
  trials: number;
  rungs: GossipRungResult[];
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The median run of several: rounds (null counts as never), messages and missed replicas. */
function medianOf(runs: readonly SpreadFigures[]): SpreadFigures {
  const first = runs[0]!;
  const rounds = runs.map((r) => r.rounds ?? Infinity);
  const m = median(rounds);
  return { nodes: first.nodes, lossRate: first.lossRate, rounds: Number.isFinite(m) ? m : null, messages: median(runs.map((r) => r.messages)), missed: median(runs.map((r) => r.missed)) };
}

/** The rungs' keys, bottom to top. */
export const GOSSIP_RUNG_KEYS: readonly GossipRungKey[] = GOSSIP_RUNGS.map((r) => r.key);

/** The loss rate of the table's lossy runs. */
export const GOSSIP_LOSS_RATE = 0.1;

/**
 * The first trial of the ladder's cell (rung `key`, `nodes` replicas, with or
 * without the table's loss) for the ladder's `seed`, set up and not yet run,
 * for a viewer to step: the browser view opens it from {@link gossipWatchCommand}.
 */
export function openGossipCell(key: GossipRungKey, nodes: number, seed: number, lossy: boolean, watch: SpreadWatch = {}): OpenSpread {
  const lossRate = lossy ? GOSSIP_LOSS_RATE : 0;
  return GOSSIP_RUNGS.find((r) => r.key === key)!.open(nodes, trialSeed(seed, nodes, lossRate, 0), lossRate, 0, watch);
}

/** The command that opens rung `key`'s first run at `nodes` replicas (no loss) for the ladder's `seed` in the browser view (heck-scope), from the repository root. */
export function gossipWatchCommand(key: GossipRungKey, nodes: number, seed: number): string {
  return `pnpm heck-scope crdt --scenario ladder-${key}-n${nodes} --seed ${seed}`;
}

/** The seed of trial `t` of a cell: different cells and trials never share a run. */
function trialSeed(seed: number, nodes: number, lossRate: number, t: number): number {
  return (((seed * 1_000_003) ^ (nodes * 7919) ^ Math.round(lossRate * 1000) * 104_729 ^ (t * 15_485_863)) >>> 0);
}

/** Runs every rung at every size, without and with loss; a function of the options only. */
export function runGossipLadder(options: GossipLadderOptions): GossipLadderResult {
  const sizes = options.sizes ?? [16, 64, 256, 1024];
  const lossRate = options.lossRate ?? GOSSIP_LOSS_RATE;
  const trials = options.trials ?? 3;
  const rungs = GOSSIP_RUNGS.filter((r) => options.rungs === undefined || options.rungs.includes(r.key));
  const cell = (rung: GossipRung, n: number, loss: number): SpreadFigures =>
    medianOf(Array.from({ length: trials }, (_, t) => rung.spread(n, trialSeed(options.seed, n, loss, t), loss)));
  const results = rungs.map((rung) => {
    const clean = sizes.map((n) => cell(rung, n, 0));
    const lossy = sizes.map((n) => cell(rung, n, lossRate));
    return { key: rung.key, name: rung.name, clean, lossy, broke: "" };
  });
  for (const r of results) r.broke = gossipBroke(r, results, lossRate);
  return { seed: options.seed, lossRate, trials, rungs: results };
}

/** The one sentence per rung: where it loses, or wins, written from its figures. */
function gossipBroke(r: GossipRungResult, _all: readonly GossipRungResult[], lossRate: number): string {
  const top = r.clean[r.clean.length - 1]!;
  const topLossy = r.lossy[r.lossy.length - 1]!;
  const n = top.nodes.toLocaleString("en");
  const rounds = (f: SpreadFigures): string => (f.rounds === null ? "never" : f.rounds.toFixed(1));
  const perReplica = (f: SpreadFigures): string => (f.messages / f.nodes).toFixed(1);
  switch (r.key) {
    case "push":
      return `slow end game: ${rounds(top)} rounds at n = ${n}`;
    case "pull":
      return `every replica asks every round: ${perReplica(top)} messages per replica`;
    case "push-pull":
      return `fewest rounds (${rounds(top)}), but sends every round, forever`;
    case "rumor":
      return top.missed > 0 || topLossy.missed > 0 ? `${top.missed} of ${n} never heard (${topLossy.missed} at ${Math.round(lossRate * 100)}% loss)` : `stops by itself; no replica missed it on this seed`;
    case "delta-sync":
      return `misses none; ${perReplica(top)} messages per replica for one update (probes, acks)`;
  }
}

/** Left-aligned columns separated by two spaces. */
function table(rows: ReadonlyArray<readonly string[]>): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n");
}

/** The gossip ladder as one table: rung, figures, what broke. */
export function formatGossipLadder(result: GossipLadderResult): string {
  const sizes = result.rungs[0]?.clean.map((f) => f.nodes) ?? [];
  const top = sizes[sizes.length - 1] ?? 0;
  const loss = `${Math.round(result.lossRate * 100)}% loss`;
  const rounds = (f: SpreadFigures): string => (f.rounds === null ? "never" : f.rounds.toFixed(1));
  const rows = [
    [
      "rung",
      `rounds to reach all (n = ${sizes.map((n) => n.toLocaleString("en")).join(" | ")})`,
      `same at ${loss}`,
      `messages per replica (n = ${top.toLocaleString("en")}; ${loss})`,
      `replicas missed (n = ${top.toLocaleString("en")}; ${loss})`,
      "what broke",
    ],
    ...result.rungs.map((r) => {
      const a = r.clean[r.clean.length - 1]!;
      const b = r.lossy[r.lossy.length - 1]!;
      return [
        r.name,
        r.clean.map(rounds).join(" | "),
        r.lossy.map(rounds).join(" | "),
        `${(a.messages / a.nodes).toFixed(1)}; ${(b.messages / b.nodes).toFixed(1)}`,
        `${a.missed}; ${b.missed}`,
        r.broke,
      ];
    }),
  ];
  const smallest = sizes[0] ?? 16;
  const others = GOSSIP_RUNG_KEYS.slice(1).map((k) => `ladder-${k}-n${smallest}`).join(", ");
  return [
    table(rows),
    `one update written on n1; medians of ${result.trials} runs; seed ${result.seed}`,
    `watch it: ${gossipWatchCommand(GOSSIP_RUNG_KEYS[0]!, smallest, result.seed)} (or ${others}; another n: -n<N>; with loss: -n<N>-loss)`,
  ].join("\n");
}
