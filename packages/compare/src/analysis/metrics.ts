/**
 * From a raw run to the figures of the report. Definitions (the report
 * repeats them next to each table):
 *
 * - **Write succeeded**: its client learned within the timeout that it took
 *   effect (raft: its entry was applied with its term; crdt: the local write
 *   returned). Latency is measured on those.
 * - **Read succeeded**: it returned a value within the timeout.
 * - **Stale read**: it returned an older version than the newest one some
 *   write had already completed with before the read began. Staleness is how
 *   long before the read that newer version had completed.
 * - **Wrong status**: the returned status differs from the status of that
 *   newest completed write (a stale read may still tell the right status).
 * - **Age**: how old the returned observation was (read time minus the
 *   record's check time): what v2's API reports as the age of information.
 * - **Visible everywhere**: see `Meter`; measured on confirmed writes.
 * - **Per update**: traffic in the workload window divided by the writes that
 *   succeeded in it; payload = record-value bytes, metadata = the rest.
 * - **Downtime** (crash): the probe writes of each surviving node that failed,
 *   times the probe period; the worst surviving node.
 */
import { checkKvHistory, type KvOperation } from "@heck/sim";
import { compareVersion, type Version } from "../sim/records.ts";
import type { NodeCounters } from "../sim/meter.ts";
import type { RawRun } from "../sim/run.ts";
import type { ReadRecord, WriteRecord } from "../sim/workload.ts";
import { cdfPoints, round, share, summarize, type Summary } from "./stats.ts";

/** A deterministic CPU cost model for simulation (real mode measures CPU instead). */
export interface CostModel {
  /** Per message sent or received: syscall, framing, dispatch. */
  perMessageUs: number;
  /** Per byte sent or received: encoding and parsing. */
  perByteUs: number;
  /** Per record update applied to a node's state (apply or merge). */
  perApplyUs: number;
  /** Per client operation served. */
  perOpUs: number;
}

/**
 * Defaults for a Node.js process on a LAN: about 20 µs to move one small
 * message through the kernel and the event loop, 5 ns per byte to encode or
 * parse (200 MB/s of JSON or binary), 5 µs to apply one record, 2 µs per
 * client call. They set the scale of the capacity figures, not their shape:
 * the shape comes from the message and byte counts the protocols produce.
 */
export const DEFAULT_COST_MODEL: CostModel = { perMessageUs: 20, perByteUs: 0.005, perApplyUs: 5, perOpUs: 2 };

/** Read figures of one kind of read. */
export interface ReadFigures {
  attempts: number;
  ok: number;
  okShare: number | null;
  latencyMs: Summary;
  /** Successful reads that were stale (see the file comment). */
  stale: number;
  staleShare: number | null;
  /** Over stale reads: how far behind. */
  stalenessMs: Summary;
  /** Share of successful reads whose status differs from the newest completed write's. */
  wrongStatusShare: number | null;
  /** Over successful reads of a present record: read time minus its check time. */
  ageMs: Summary;
}

/** Write figures. */
export interface WriteFigures {
  attempts: number;
  ok: number;
  okShare: number | null;
  latencyMs: Summary;
}

/** One side of a partition during the fault window. */
export interface SideFigures {
  nodes: string[];
  writes: WriteFigures;
  localReads: ReadFigures;
  linearizableReads: ReadFigures | null;
}

/** Traffic in the workload window. */
export interface TrafficFigures {
  updates: number;
  windowMs: number;
  messages: number;
  bytes: number;
  payloadBytes: number;
  metadataBytes: number;
  perUpdate: { messages: number | null; bytes: number | null; payloadBytes: number | null; metadataBytes: number | null };
  /** The busiest node by modelled CPU: its id and its messages/bytes handled per update. */
  busiest: { node: string; cpuUsPerSec: number; messagesPerUpdate: number | null; bytesPerUpdate: number | null };
  /** Modelled CPU per node, µs per simulated second (same order as the run's nodeIds). */
  cpuUsPerSecByNode: number[];
  /** What grows with the update rate once messages batch: per node, per simulated second, bytes handled (in + out), records applied, client calls. */
  ratesByNode: Array<{ bytes: number; applies: number; ops: number }>;
}

/** The figures of one run. */
export interface RunFigures {
  store: string;
  scenario: string;
  family: string;
  x: number | null;
  seed: number;
  nodes: number;
  origins: number;
  writes: WriteFigures;
  localReads: ReadFigures;
  linearizableReads: ReadFigures | null;
  visibilityMs: Summary & { invisible: number; cdf: Array<[number, number]> };
  traffic: TrafficFigures;
  sides: Record<string, SideFigures> | null;
  heal: { reconvergeMs: number | null; bytes: number; messages: number } | null;
  crash: { node: string; wasLeader: boolean; leaderlessMs: number | null; downtimeMs: number; failedProbes: number; probes: number } | null;
  churn: { joins: number; catchUpMs: Summary; neverCaughtUp: number } | null;
  linearizability: { operations: number; linearizable: boolean | null; witness: number | null; report: string } | null;
  final: RawRun["final"];
}

function okWithin(w: WriteRecord, timeoutMs: number): boolean {
  return w.ok === true && w.resolvedMs !== null && w.resolvedMs - w.invokeMs <= timeoutMs;
}

/** Write figures over `writes`. */
export function writeFigures(writes: readonly WriteRecord[], timeoutMs: number): WriteFigures {
  const ok = writes.filter((w) => okWithin(w, timeoutMs));
  return { attempts: writes.length, ok: ok.length, okShare: share(ok.length, writes.length), latencyMs: summarize(ok.map((w) => w.resolvedMs! - w.invokeMs)) };
}

/** Per key, completed writes sorted by completion time, for staleness. */
export class CompletedWrites {
  private readonly byKey = new Map<string, Array<{ doneMs: number; version: Version; status: string }>>();

  constructor(writes: readonly WriteRecord[]) {
    for (const w of writes) {
      if (w.ok !== true || w.resolvedMs === null) continue;
      let list = this.byKey.get(w.key);
      if (list === undefined) this.byKey.set(w.key, (list = []));
      list.push({ doneMs: w.resolvedMs, version: w.version, status: w.status });
    }
    for (const list of this.byKey.values()) list.sort((a, b) => a.doneMs - b.doneMs);
  }

  /**
   * How stale a read of `key` invoked at `atMs` that returned `version` is:
   * null when it returned the newest version completed before `atMs` (or
   * newer), else ms since the first newer version had completed.
   */
  staleness(key: string, atMs: number, version: Version | null): number | null {
    const list = this.byKey.get(key);
    if (list === undefined) return null;
    let firstNewer: number | null = null;
    for (const w of list) {
      if (w.doneMs >= atMs) break;
      if (version === null || compareVersion(w.version, version) > 0) {
        firstNewer = w.doneMs;
        break;
      }
    }
    return firstNewer === null ? null : atMs - firstNewer;
  }

  /** The status of the newest version completed before `atMs`, or undefined when none was. */
  newestStatus(key: string, atMs: number): string | undefined {
    const list = this.byKey.get(key);
    if (list === undefined) return undefined;
    let best: { version: Version; status: string } | undefined;
    for (const w of list) {
      if (w.doneMs >= atMs) break;
      if (best === undefined || compareVersion(w.version, best.version) > 0) best = w;
    }
    return best?.status;
  }
}

/** Read figures over `reads`. */
export function readFigures(reads: readonly ReadRecord[], completed: CompletedWrites, timeoutMs: number): ReadFigures {
  const ok = reads.filter((r) => r.ok && r.returnMs !== null && r.returnMs - r.invokeMs <= timeoutMs);
  const stale: number[] = [];
  const ages: number[] = [];
  let wrong = 0;
  for (const r of ok) {
    const s = completed.staleness(r.key, r.invokeMs, r.version);
    if (s !== null) stale.push(s);
    const truth = completed.newestStatus(r.key, r.invokeMs);
    if (truth !== undefined && truth !== r.status) wrong++;
    if (r.checkedAtMs !== null) ages.push(r.invokeMs - r.checkedAtMs);
  }
  return {
    attempts: reads.length,
    ok: ok.length,
    okShare: share(ok.length, reads.length),
    latencyMs: summarize(ok.map((r) => r.returnMs! - r.invokeMs)),
    stale: stale.length,
    staleShare: share(stale.length, ok.length),
    stalenessMs: summarize(stale),
    wrongStatusShare: share(wrong, ok.length),
    ageMs: summarize(ages),
  };
}

/** Modelled CPU µs of a node's counters. */
export function cpuUs(c: NodeCounters, m: CostModel): number {
  return m.perMessageUs * (c.msgsIn + c.msgsOut) + m.perByteUs * (c.bytesIn + c.bytesOut) + m.perApplyUs * c.applies + m.perOpUs * c.ops;
}

function diff(a: readonly NodeCounters[], b: readonly NodeCounters[]): NodeCounters[] {
  return b.map((c, i) => {
    const z = a[i]!;
    return { msgsOut: c.msgsOut - z.msgsOut, bytesOut: c.bytesOut - z.bytesOut, payloadOut: c.payloadOut - z.payloadOut, msgsIn: c.msgsIn - z.msgsIn, bytesIn: c.bytesIn - z.bytesIn, applies: c.applies - z.applies, ops: c.ops - z.ops };
  });
}

function perUpdate(x: number, updates: number): number | null {
  return updates === 0 ? null : round(x / updates, 2);
}

/** Builds the linearizability history of a run: writes and the reads the store calls linearizable (raft) or all local reads (crdt). */
export function historyOf(run: RawRun): KvOperation[] {
  const ops: KvOperation[] = [];
  let id = 0;
  const clientOf = new Map<string, number>();
  const client = (node: string, kind: string): number => {
    const k = `${node}/${kind}`;
    let c = clientOf.get(k);
    if (c === undefined) clientOf.set(k, (c = clientOf.size));
    return c;
  };
  for (const w of run.log.writes) {
    // Failed writes did nothing, and superseded ones wrote nothing: neither is a put.
    if (w.probe || w.ok === false || w.applied === false) continue;
    const op: KvOperation = { id: id++, client: client(w.node, "w"), input: { type: "put", key: w.key, value: w.value }, callMs: w.invokeMs };
    if (w.ok === true && w.resolvedMs !== null) {
      op.returnMs = w.resolvedMs;
      op.output = { type: "put" };
    }
    ops.push(op);
  }
  const kind = run.store === "raft" ? "linearizable" : "local";
  for (const r of run.log.reads) {
    if (r.kind !== kind || !r.ok || r.returnMs === null) continue;
    ops.push({ id: id++, client: client(r.node, "r"), input: { type: "get", key: r.key }, callMs: r.invokeMs, returnMs: r.returnMs, output: { type: "get", value: r.value } });
  }
  return ops;
}

/** Computes every figure of a run. `timeoutMs` is the clients' timeout; `checkLinearizability` runs checkKvHistory. */
export function figuresOf(run: RawRun, opts: { timeoutMs: number; probeEveryMs: number; cost: CostModel; checkLinearizability: boolean }): RunFigures {
  const { timeoutMs } = opts;
  const sc = run.scenario;
  const healthWrites = run.log.writes.filter((w) => !w.probe);
  const completed = new CompletedWrites(run.log.writes);
  const local = run.log.reads.filter((r) => r.kind === "local");
  const lin = run.log.reads.filter((r) => r.kind === "linearizable");

  // Traffic in the workload window.
  const window = diff(run.countersAtStart, run.countersAtStop);
  const windowMs = run.stopMs - run.startMs;
  const updates = run.log.writes.filter((w) => w.invokeMs >= run.startMs && w.invokeMs < run.stopMs && w.ok === true).length;
  let messages = 0;
  let bytes = 0;
  let payload = 0;
  for (const c of window) {
    messages += c.msgsOut;
    bytes += c.bytesOut;
    payload += c.payloadOut;
  }
  const cpu = window.map((c) => round((cpuUs(c, opts.cost) / windowMs) * 1000, 1));
  let bi = 0;
  for (let i = 1; i < cpu.length; i++) if (cpu[i]! > cpu[bi]!) bi = i;
  const busy = window[bi]!;
  const traffic: TrafficFigures = {
    updates,
    windowMs,
    messages,
    bytes,
    payloadBytes: payload,
    metadataBytes: bytes - payload,
    perUpdate: { messages: perUpdate(messages, updates), bytes: perUpdate(bytes, updates), payloadBytes: perUpdate(payload, updates), metadataBytes: perUpdate(bytes - payload, updates) },
    busiest: { node: run.nodeIds[bi]!, cpuUsPerSec: cpu[bi]!, messagesPerUpdate: perUpdate(busy.msgsIn + busy.msgsOut, updates), bytesPerUpdate: perUpdate(busy.bytesIn + busy.bytesOut, updates) },
    cpuUsPerSecByNode: cpu,
    ratesByNode: window.map((c) => ({ bytes: round(((c.bytesIn + c.bytesOut) / windowMs) * 1000, 1), applies: round((c.applies / windowMs) * 1000, 2), ops: round((c.ops / windowMs) * 1000, 2) })),
  };

  // Per side during the fault window.
  let sides: Record<string, SideFigures> | null = null;
  if (sc.window !== undefined) {
    sides = {};
    const from = run.startMs + sc.window.fromMs;
    const to = run.startMs + sc.window.toMs;
    for (const [label, nodes] of Object.entries(sc.window.sides)) {
      const inSide = <T extends { node: string; invokeMs: number }>(xs: readonly T[]): T[] => xs.filter((x) => nodes.includes(x.node) && x.invokeMs >= from && x.invokeMs < to);
      sides[label] = {
        nodes,
        writes: writeFigures(inSide(healthWrites), timeoutMs),
        localReads: readFigures(inSide(local), completed, timeoutMs),
        linearizableReads: lin.length > 0 ? readFigures(inSide(lin), completed, timeoutMs) : null,
      };
    }
  }

  // Crash: downtime from the probes.
  let crash: RunFigures["crash"] = null;
  if (run.crash !== null) {
    const c = run.crash;
    let worst = 0;
    let failed = 0;
    let probes = 0;
    for (const id of run.nodeIds) {
      if (id === c.node) continue;
      const mine = run.log.writes.filter((w) => w.probe && w.node === id);
      const bad = mine.filter((w) => !okWithin(w, timeoutMs)).length;
      probes += mine.length;
      failed += bad;
      worst = Math.max(worst, bad * opts.probeEveryMs);
    }
    crash = { node: c.node, wasLeader: c.wasLeader, leaderlessMs: c.wasLeader ? (c.leaderReadyMs === null ? null : round(c.leaderReadyMs - c.atMs, 1)) : 0, downtimeMs: worst, failedProbes: failed, probes };
  }

  let churn: RunFigures["churn"] = null;
  if (sc.family === "churn") {
    const done = run.catchUps.filter((c) => c.ms !== null).map((c) => c.ms!);
    churn = { joins: run.catchUps.length, catchUpMs: summarize(done), neverCaughtUp: run.catchUps.length - done.length };
  }

  let linearizability: RunFigures["linearizability"] = null;
  if (opts.checkLinearizability) {
    const history = historyOf(run);
    const r = checkKvHistory(history, { maxStepsPerKey: 2_000_000, maxShrinkChecks: 60 });
    linearizability = { operations: history.length, linearizable: r.linearizable ?? null, witness: r.witness?.length ?? null, report: r.report.split("\n").slice(0, 12).join("\n") };
  }

  const vis = run.visibility;
  return {
    store: run.store,
    scenario: sc.id,
    family: sc.family,
    x: sc.x ?? null,
    seed: run.seed,
    nodes: sc.nodes,
    origins: sc.nodes * sc.originsPerNode,
    writes: writeFigures(healthWrites, timeoutMs),
    localReads: readFigures(local, completed, timeoutMs),
    linearizableReads: lin.length > 0 ? readFigures(lin, completed, timeoutMs) : null,
    visibilityMs: { ...summarize(vis.samples), invisible: vis.invisible, cdf: cdfPoints(vis.samples) },
    traffic,
    sides,
    heal: run.heal === null ? null : { reconvergeMs: run.heal.reconvergeMs === null ? null : round(run.heal.reconvergeMs, 1), bytes: run.heal.bytes, messages: run.heal.messages },
    crash,
    churn,
    linearizability,
    final: { ...run.final, quiesceMs: round(run.final.quiesceMs, 1) },
  };
}
