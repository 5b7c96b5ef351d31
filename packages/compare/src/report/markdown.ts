/**
 * The report: `docs/compare/report.md` and its charts, generated from the
 * results object alone (nothing here measures anything), plus the summary
 * block that `heck compare` writes into the learner's chapter.
 */
import type { ReadFigures, RunFigures } from "../analysis/metrics.ts";
import { uslThroughput } from "../analysis/usl.ts";
import type { AggregatedRun, SimResults } from "../experiment.ts";
import type { CompareResults, RealResults } from "../types.ts";
import { fmtBool, fmtCoef, fmtCount, fmtMs, fmtShare, NONE } from "./format.ts";
import { barChart, lineChart, type BarDatum, type LineSeries } from "./svg.ts";

/** A generated chart file. */
export interface Chart {
  file: string;
  svg: string;
}

/** What the generator produces. */
export interface RenderedReport {
  markdown: string;
  charts: Chart[];
  /** The key-figures block for docs/compare.md. */
  summary: string;
}

/** Short category names for charts. */
export function shortName(id: string): string {
  const names: Record<string, string> = {
    steady: "steady",
    "crash-leader": "leader crash",
    "crash-follower": "follower crash",
    "partition-leader-minority": "partition, leader in minority",
    "partition-leader-majority": "partition, leader in majority",
    bridge: "bridge",
    churn: "churn",
  };
  if (names[id] !== undefined) return names[id];
  const loss = /^loss-(\d+)$/.exec(id);
  if (loss) return `loss ${loss[1]}%`;
  const scale = /^scale-(\d+)$/.exec(id);
  if (scale) return `N=${scale[1]}`;
  return id;
}

/**
 * A markdown table; a "|" inside a cell is escaped so it cannot split the
 * cell. A table with no rows is replaced by `whenEmpty`, which says why (a
 * header with nothing under it reads as a broken report).
 */
function table(header: string[], rows: string[][], whenEmpty = "No rows: this run measured nothing of this kind."): string {
  if (rows.length === 0) return `*${whenEmpty}*`;
  const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`;
  return [line(header), `| ${header.map(() => "---").join(" | ")} |`, ...rows.map(line)].join("\n");
}

/** Why a simulation table is empty: the run did not include those scenarios (run with --only). */
function notRun(l: Lookup, what: string): string {
  return `No rows: this run did not include ${what} (it ran ${l.sim.scenarios.map((x) => x.id).join(", ") || "no scenario"}); a run without --only runs them all.`;
}

class Lookup {
  constructor(readonly sim: SimResults) {}
  run(store: string, scenario: string): AggregatedRun | undefined {
    return this.sim.runs.find((r) => r.store === store && r.scenario === scenario);
  }
  scenarios(filter: (family: string, id: string) => boolean): SimResults["scenarios"] {
    return this.sim.scenarios.filter((s) => filter(s.family, s.id));
  }
}

/** The scenarios every per-scenario table shows (not the scale runs). */
function mainScenarios(l: Lookup): SimResults["scenarios"] {
  return l.scenarios((family) => family !== "scale");
}

function setupSection(sim: SimResults): string {
  const s = sim.settings;
  const w = s.workload;
  const c = sim.cost;
  const steady = sim.scenarios.find((x) => x.id === "steady");
  const scale = sim.scenarios.find((x) => x.family === "scale");
  const rows = [
    ["cluster (all but scale)", steady === undefined ? NONE : `${steady.nodes} nodes, n1..n${steady.nodes}; raft leadership moved to n1 before the workload starts`],
    ["origins", `${steady?.origins ?? NONE}${scale === undefined ? "" : ` (scale runs: ${Math.round(scale.origins / scale.nodes)} per node, and 3x that)`}`],
    ["checks", `every origin every ${w.checkIntervalMs} ms at its own phase; status flips with probability ${w.flipProbability} per check`],
    ["writes", `by the origin's owner (rendezvous hash over the members it sees) when the status changed or the record is ${w.refreshEveryChecks} checks old`],
    ["reads", `every node reads one random origin every ${w.readIntervalMs} ms: locally (both), and through ReadIndex (raft, not in scale runs)`],
    ["client timeout", `${w.timeoutMs} ms (a write or read answered later counts as failed)`],
    ["failure detection", `membership views follow a crash, partition or heal after ${w.detectionDelayMs} ms (graceful leave and join: at once)`],
    ["raft (raft-kv defaults, as v2 embeds it)", `tick ${s.raft.tickMs} ms, election after ${s.raft.electionTick}-${2 * s.raft.electionTick - 1} ticks, heartbeat every ${s.raft.heartbeatTick} tick; PreVote, CheckQuorum; log compacted every ${s.raft.compactEvery} entries; all nodes voters; writes are compare-and-swap on the key's mod revision (as v2 does), so an older observation never overwrites a newer one; TCP-like streams`],
    ["crdt (v2's settings)", `anti-entropy every ${s.crdt.syncIntervalMs} ms to ${s.crdt.fanout} random peers, BP+RR delta sync; packets up to 60 kB, larger messages on streams`],
    ["network", `one-way latency ${s.latency.minMs} ms + exponential tail of mean ${s.latency.meanTailMs} ms; loss p: a packet is lost with probability p, a stream message is delayed by a retransmission timeout (~${s.retransmitMs} ms) with probability p`],
    ["CPU cost model (simulation)", `${c.perMessageUs} µs per message sent or received, ${c.perByteUs * 1000} ns per byte, ${c.perApplyUs} µs per record applied, ${c.perOpUs} µs per client call`],
    ["seeds", `${sim.seeds.join(", ")}: every figure is the median over these seeds (scale: the first only); a seed drives checks, flips, reads, latencies and faults identically for both stores`],
  ];
  return table(["setting", "value"], rows);
}

function writeSection(l: Lookup, charts: Chart[]): string {
  const scen = mainScenarios(l);
  const rows: string[][] = [];
  const data: BarDatum[] = [];
  const success: BarDatum[] = [];
  for (const s of scen) {
    const d: BarDatum = { category: shortName(s.id), values: {} };
    const sd: BarDatum = { category: shortName(s.id), values: {} };
    for (const store of l.sim.stores) {
      const r = l.run(store, s.id);
      if (r === undefined) continue;
      rows.push([s.id, store, fmtCount(r.writes.attempts), fmtShare(r.writes.okShare), fmtMs(r.writes.latencyMs.p50), fmtMs(r.writes.latencyMs.p99), fmtMs(r.writes.latencyMs.max)]);
      d.values[store] = { value: r.writes.latencyMs.p50, hi: r.writes.latencyMs.p99 };
      sd.values[store] = { value: r.writes.okShare === null ? null : r.writes.okShare * 100, why: `${store}: no writes were made in this scenario` };
    }
    data.push(d);
    success.push(sd);
  }
  charts.push({ file: "write-latency.svg", svg: barChart({ title: "Write latency", subtitle: "until the writer's client learns the write took effect", yLabel: "ms", series: l.sim.stores, data, width: 1100 }) });
  charts.push({ file: "write-success.svg", svg: barChart({ title: "Writes that succeed", subtitle: "whole run, both sides of any partition", yLabel: "% of writes", series: l.sim.stores, data: success, width: 1100 }) });
  return [
    "![write latency](write-latency.svg)",
    "",
    "![write success](write-success.svg)",
    "",
    table(["scenario", "store", "writes", "succeeded", "p50 ms", "p99 ms", "max ms"], rows, notRun(l, "any scenario but the scale runs")),
  ].join("\n");
}

function visibilitySection(l: Lookup, charts: Chart[]): string {
  const rows: string[][] = [];
  const data: BarDatum[] = [];
  for (const s of mainScenarios(l)) {
    const d: BarDatum = { category: shortName(s.id), values: {} };
    for (const store of l.sim.stores) {
      const r = l.run(store, s.id);
      if (r === undefined) continue;
      const v = r.visibilityMs;
      rows.push([s.id, store, fmtCount(v.count), fmtMs(v.p50), fmtMs(v.p90), fmtMs(v.p99), fmtMs(v.max), fmtCount(v.invisible)]);
      d.values[store] = { value: v.p50, hi: v.p99 };
    }
    data.push(d);
  }
  charts.push({ file: "visibility.svg", svg: barChart({ title: "Time until a write is visible on every node", subtitle: "confirmed writes; a node that holds a newer version has seen it", yLabel: "ms", series: l.sim.stores, data, width: 1100 }) });
  const cdf: LineSeries[] = l.sim.stores.flatMap((store) => {
    const r = l.run(store, "steady");
    return r === undefined ? [] : [{ name: store, points: r.visibilityMs.cdf.filter(([x]) => x > 0).map(([x, y]) => [x, y] as [number, number]), markers: false }];
  });
  charts.push({ file: "visibility-cdf.svg", svg: lineChart({ title: "Visibility on every node, steady state (CDF)", xLabel: "ms after the write (log scale)", yLabel: "share of writes", series: cdf, xLog: true, yRange: [0, 1] }) });
  return [
    "![visibility](visibility.svg)",
    "",
    "![visibility distribution](visibility-cdf.svg)",
    "",
    table(["scenario", "store", "writes", "p50 ms", "p90 ms", "p99 ms", "max ms", "never visible"], rows, notRun(l, "any scenario but the scale runs")),
  ].join("\n");
}

function readCells(r: ReadFigures | null): string[] {
  if (r === null) return [NONE, NONE, NONE, NONE, NONE];
  return [fmtShare(r.okShare), fmtShare(r.staleShare), fmtShare(r.wrongStatusShare), fmtMs(r.ageMs.p50), fmtMs(r.ageMs.max)];
}

function partitionSection(l: Lookup, charts: Chart[]): string {
  const scen = l.scenarios((family) => family === "partition");
  const rows: string[][] = [];
  const writes: BarDatum[] = [];
  const reads: BarDatum[] = [];
  const age: BarDatum[] = [];
  const readSeries = ["raft (linearizable)", "raft (local)", "crdt (local)"].filter((n) => l.sim.stores.includes(n.split(" ")[0] as "raft"));
  for (const s of scen) {
    const sides = l.run(l.sim.stores[0]!, s.id)?.sides ?? {};
    for (const side of Object.keys(sides)) {
      const cat = `${shortName(s.id)}: ${side}`;
      const wd: BarDatum = { category: cat, values: {} };
      const rd: BarDatum = { category: cat, values: {} };
      const ad: BarDatum = { category: cat, values: {} };
      for (const store of l.sim.stores) {
        const f = l.run(store, s.id)?.sides?.[side];
        if (f === undefined) continue;
        rows.push([s.id, side, store, fmtShare(f.writes.okShare), ...readCells(f.localReads), ...(f.linearizableReads ? [fmtShare(f.linearizableReads.okShare), fmtShare(f.linearizableReads.staleShare)] : [NONE, NONE])]);
        const none = (what: string) => `${store}: no ${what} on this side while the partition held`;
        const noneOk = (what: string) => `${store}: no ${what} on this side succeeded, so there is no age to show`;
        wd.values[store] = { value: f.writes.okShare === null ? null : f.writes.okShare * 100, why: none("writes were invoked") };
        if (store === "raft") {
          rd.values["raft (linearizable)"] = { value: f.linearizableReads?.okShare == null ? null : f.linearizableReads.okShare * 100, why: none("linearizable reads were invoked") };
          rd.values["raft (local)"] = { value: f.localReads.okShare === null ? null : f.localReads.okShare * 100, why: none("local reads were invoked") };
          ad.values["raft (local)"] = { value: f.localReads.ageMs.p50, hi: f.localReads.ageMs.p99, why: noneOk("local read") };
          ad.values["raft (linearizable)"] = { value: f.linearizableReads?.ageMs.p50 ?? null, hi: f.linearizableReads?.ageMs.p99 ?? null, why: noneOk("linearizable read") };
        } else {
          rd.values[`${store} (local)`] = { value: f.localReads.okShare === null ? null : f.localReads.okShare * 100, why: none("local reads were invoked") };
          ad.values[`${store} (local)`] = { value: f.localReads.ageMs.p50, hi: f.localReads.ageMs.p99, why: noneOk("local read") };
        }
      }
      writes.push(wd);
      reads.push(rd);
      age.push(ad);
    }
  }
  charts.push({ file: "partition-writes.svg", svg: barChart({ title: "Writes that succeed on each side of a partition", subtitle: "operations invoked while the partition held", yLabel: "% of writes", series: l.sim.stores, data: writes, width: 1100 }) });
  charts.push({ file: "partition-reads.svg", svg: barChart({ title: "Reads that succeed on each side of a partition", yLabel: "% of reads", series: readSeries, data: reads, width: 1100 }) });
  charts.push({ file: "partition-age.svg", svg: barChart({ title: "Age of what reads return during a partition", subtitle: "read time minus the returned record's check time", yLabel: "ms", series: readSeries, data: age, width: 1100 }) });
  return [
    "![partition writes](partition-writes.svg)",
    "",
    "![partition reads](partition-reads.svg)",
    "",
    "![partition age](partition-age.svg)",
    "",
    table(["scenario", "side", "store", "writes ok", "local reads ok", "stale", "wrong status", "age p50 ms", "age max ms", "linearizable reads ok", "linearizable stale"], rows, notRun(l, "the partition scenarios")),
  ].join("\n");
}

function crashSection(l: Lookup, charts: Chart[]): string {
  const rows: string[][] = [];
  const data: BarDatum[] = [];
  for (const s of l.scenarios((f) => f === "crash")) {
    const d: BarDatum = { category: shortName(s.id), values: {} };
    for (const store of l.sim.stores) {
      const c = l.run(store, s.id)?.crash;
      if (c == null) continue;
      rows.push([s.id, store, c.node, fmtMs(c.downtimeMs), `${c.failedProbes} / ${c.probes}`, store === "raft" ? fmtMs(c.leaderlessMs) : NONE]);
      d.values[store] = { value: c.downtimeMs };
    }
    data.push(d);
  }
  charts.push({ file: "downtime.svg", svg: barChart({ title: "Write downtime after a crash", subtitle: "failed probe writes x probe period, worst surviving node", yLabel: "ms", series: l.sim.stores, data }) });
  return ["![downtime](downtime.svg)", "", table(["scenario", "store", "crashed", "downtime ms", "failed probes", "leaderless ms"], rows, notRun(l, "the crash scenarios"))].join("\n");
}

function trafficSection(l: Lookup, charts: Chart[]): string {
  const rows: string[][] = [];
  const bytes: BarDatum[] = [];
  const msgs: BarDatum[] = [];
  for (const s of l.scenarios((f) => f !== "scale" && f !== "crash")) {
    const bd: BarDatum = { category: shortName(s.id), values: {} };
    const md: BarDatum = { category: shortName(s.id), values: {} };
    for (const store of l.sim.stores) {
      const t = l.run(store, s.id)?.traffic;
      if (t === undefined) continue;
      const p = t.perUpdate;
      rows.push([s.id, store, fmtCount(t.updates), fmtCount(p.messages), fmtCount(p.bytes), fmtCount(p.payloadBytes), fmtCount(p.metadataBytes)]);
      bd.values[store] = { value: p.bytes, parts: [{ label: "payload", value: p.payloadBytes ?? 0 }, { label: "metadata", value: p.metadataBytes ?? 0 }] };
      md.values[store] = { value: p.messages };
    }
    bytes.push(bd);
    msgs.push(md);
  }
  charts.push({ file: "bytes-per-update.svg", svg: barChart({ title: "Bytes sent per update, all nodes", subtitle: "payload = record values; metadata = everything else (headers, terms, dots, contexts, acks, heartbeats)", yLabel: "bytes", series: l.sim.stores, data: bytes, partNames: ["payload", "metadata"], width: 1100 }) });
  charts.push({ file: "messages-per-update.svg", svg: barChart({ title: "Messages sent per update, all nodes", subtitle: "including heartbeats and gossip rounds, divided by the writes that succeeded", yLabel: "messages", series: l.sim.stores, data: msgs, width: 1100 }) });
  return [
    "![bytes per update](bytes-per-update.svg)",
    "",
    "![messages per update](messages-per-update.svg)",
    "",
    table(["scenario", "store", "updates", "messages/update", "bytes/update", "payload bytes", "metadata bytes"], rows, notRun(l, "any scenario but the scale runs")),
    "",
    "Crash scenarios are left out: their probe writes (every 25 ms per node) would dominate the per-update figures.",
  ].join("\n");
}

function healSection(l: Lookup, charts: Chart[]): string {
  const rows: string[][] = [];
  const time: BarDatum[] = [];
  const bytes: BarDatum[] = [];
  for (const s of l.scenarios((f) => f === "partition")) {
    const td: BarDatum = { category: shortName(s.id), values: {} };
    const bd: BarDatum = { category: shortName(s.id), values: {} };
    for (const store of l.sim.stores) {
      const h = l.run(store, s.id)?.heal;
      if (h == null) continue;
      rows.push([s.id, store, fmtMs(h.reconvergeMs), fmtCount(h.bytes), fmtCount(h.messages)]);
      td.values[store] = { value: h.reconvergeMs };
      bd.values[store] = { value: h.bytes };
    }
    time.push(td);
    bytes.push(bd);
  }
  charts.push({ file: "reconverge-time.svg", svg: barChart({ title: "Time to re-converge after the heal", subtitle: "until every write made before the heal is visible on every node", yLabel: "ms", series: l.sim.stores, data: time }) });
  charts.push({ file: "reconverge-bytes.svg", svg: barChart({ title: "Bytes sent while re-converging", subtitle: "all nodes, from the heal until re-converged", yLabel: "bytes", series: l.sim.stores, data: bytes }) });
  return ["![reconverge time](reconverge-time.svg)", "", "![reconverge bytes](reconverge-bytes.svg)", "", table(["scenario", "store", "re-converged after ms", "bytes", "messages"], rows, notRun(l, "a partition that heals"))].join("\n");
}

function lossSection(l: Lookup, charts: Chart[]): string {
  const scen = l.scenarios((f) => f === "loss").sort((a, b) => (a.x ?? 0) - (b.x ?? 0));
  const rows: string[][] = [];
  const series = (pick: (r: RunFigures) => number | null): LineSeries[] =>
    l.sim.stores.map((store) => ({ name: store, points: scen.flatMap((s) => { const r = l.run(store, s.id); const v = r === undefined ? null : pick(r); return v === null ? [] : [[(s.x ?? 0) * 100, v] as [number, number]]; }) }));
  for (const s of scen) {
    for (const store of l.sim.stores) {
      const r = l.run(store, s.id);
      if (r === undefined) continue;
      rows.push([fmtShare(s.x), store, fmtShare(r.writes.okShare), fmtMs(r.writes.latencyMs.p50), fmtMs(r.writes.latencyMs.p99), fmtMs(r.visibilityMs.p50), fmtMs(r.visibilityMs.p99)]);
    }
  }
  charts.push({ file: "loss-write-latency.svg", svg: lineChart({ title: "Write latency p99 under message loss", xLabel: "loss %", yLabel: "ms", series: series((r) => r.writes.latencyMs.p99) }) });
  charts.push({ file: "loss-visibility.svg", svg: lineChart({ title: "Visibility on every node, p99, under message loss", xLabel: "loss %", yLabel: "ms", series: series((r) => r.visibilityMs.p99) }) });
  charts.push({ file: "loss-write-success.svg", svg: lineChart({ title: "Writes that succeed under message loss", xLabel: "loss %", yLabel: "% of writes", series: series((r) => (r.writes.okShare === null ? null : r.writes.okShare * 100)), yRange: [0, 100] }) });
  return [
    "![loss latency](loss-write-latency.svg)",
    "",
    "![loss visibility](loss-visibility.svg)",
    "",
    "![loss success](loss-write-success.svg)",
    "",
    table(["loss", "store", "writes ok", "write p50 ms", "write p99 ms", "visible p50 ms", "visible p99 ms"], rows, notRun(l, "the loss scenarios")),
  ].join("\n");
}

function churnSection(l: Lookup, charts: Chart[]): string {
  const rows: string[][] = [];
  const data: BarDatum[] = [{ category: "catch-up of a joining node", values: {} }];
  for (const store of l.sim.stores) {
    const r = l.run(store, "churn");
    if (r?.churn == null) continue;
    const c = r.churn;
    rows.push([store, fmtCount(c.joins), fmtMs(c.catchUpMs.p50), fmtMs(c.catchUpMs.max), fmtCount(c.neverCaughtUp), fmtShare(r.writes.okShare), fmtMs(r.visibilityMs.p99)]);
    data[0]!.values[store] = { value: c.catchUpMs.p50, hi: c.catchUpMs.max };
  }
  charts.push({ file: "churn-catchup.svg", svg: barChart({ title: "Churn: time for a joining node to hold every record", subtitle: "bar: median; whisker: slowest join", yLabel: "ms", series: l.sim.stores, data, width: 520 }) });
  return ["![churn](churn-catchup.svg)", "", table(["store", "joins", "catch-up p50 ms", "catch-up max ms", "never caught up", "writes ok", "visible p99 ms"], rows, notRun(l, "the churn scenario"))].join("\n");
}

function scaleSection(l: Lookup, charts: Chart[]): string {
  const rows: string[][] = [];
  const uslRows: string[][] = [];
  const cap: LineSeries[] = [];
  const bytes: LineSeries[] = [];
  const vis: LineSeries[] = [];
  for (const store of l.sim.stores) {
    const sc = l.sim.scale[store];
    if (sc === undefined) continue;
    for (const p of sc.points) {
      rows.push([String(p.n), store, fmtCount(p.offeredUpdatesPerSec), fmtCount(p.capacityUpdatesPerSec), fmtCount(p.busiestCpuUsPerUpdate), fmtCount(p.busiestIdleCpuUsPerSec), fmtCount(p.messagesPerUpdate), fmtCount(p.bytesPerUpdate), fmtMs(p.visibilityP99Ms)]);
    }
    cap.push({ name: store, points: sc.points.map((p) => [p.n, p.capacityUpdatesPerSec]) });
    bytes.push({ name: store, points: sc.points.filter((p) => p.bytesPerUpdate !== null).map((p) => [p.n, p.bytesPerUpdate!]) });
    vis.push({ name: store, points: sc.points.filter((p) => p.visibilityP99Ms !== null).map((p) => [p.n, p.visibilityP99Ms!]) });
    const u = sc.usl;
    if (u !== null) {
      uslRows.push([store, fmtCoef(u.lambda), fmtCoef(u.sigma), fmtCoef(u.kappa), fmtCoef(u.r2), u.peakN === null ? NONE : fmtCount(u.peakN)]);
      const ns = sc.points.map((p) => p.n);
      const lo = Math.min(...ns);
      const hi = Math.max(...ns);
      const pts: Array<[number, number]> = [];
      for (let i = 0; i <= 40; i++) {
        const n = lo * (hi / lo) ** (i / 40);
        pts.push([n, uslThroughput(n, u)]);
      }
      cap.push({ name: `${store} (fit)`, points: pts, dashed: true });
    }
  }
  charts.push({ file: "scale-capacity.svg", svg: lineChart({ title: "Capacity vs cluster size, with the USL fit", subtitle: "updates/s at which the first node saturates one core (cost model, messages batched)", xLabel: "nodes (log scale)", yLabel: "updates/s (log scale)", series: cap, xLog: true, yLog: true }) });
  charts.push({ file: "scale-bytes.svg", svg: lineChart({ title: "Bytes per update vs cluster size", xLabel: "nodes (log scale)", yLabel: "bytes (log scale)", series: bytes, xLog: true, yLog: true }) });
  charts.push({ file: "scale-visibility.svg", svg: lineChart({ title: "Visibility on every node, p99, vs cluster size", xLabel: "nodes (log scale)", yLabel: "ms (log scale)", series: vis, xLog: true, yLog: true }) });
  return [
    "![scale capacity](scale-capacity.svg)",
    "",
    "![scale bytes](scale-bytes.svg)",
    "",
    "![scale visibility](scale-visibility.svg)",
    "",
    table(["N", "store", "offered updates/s", "capacity updates/s", "µs per update (first node to saturate)", "its idle µs/s", "messages/update", "bytes/update", "visible p99 ms"], rows, notRun(l, "the scale runs")),
    "",
    "Universal Scalability Law fit, X(N) = λN / (1 + σ(N−1) + κN(N−1)), least squares on log capacity:",
    "",
    table(["store", "λ (updates/s)", "σ contention", "κ coherency", "R²", "peak N"], uslRows, "No rows: a fit needs the scale runs at two sizes at least; this run had fewer (run without --only scale-...)."),
  ].join("\n");
}

function correctnessSection(l: Lookup): string {
  const rows: string[][] = [];
  for (const s of l.scenarios(() => true)) {
    for (const store of l.sim.stores) {
      const r = l.run(store, s.id);
      if (r === undefined) continue;
      const c = r.checks;
      const lin = c.filter((x) => x.linearizable !== null);
      rows.push([
        s.id,
        store,
        String(c.length),
        lin.length === 0 ? NONE : `${lin.filter((x) => x.linearizable === true).length} / ${lin.length}`,
        store === "raft" && r.linearizableReads !== null ? String(c.reduce((a, x) => a + x.staleLinearizableReads, 0)) : NONE,
        `${c.filter((x) => x.converged).length} / ${c.length}`,
        String(Math.max(...c.map((x) => x.divergentKeys))),
        String(c.reduce((a, x) => a + x.invisibleWrites, 0)),
      ]);
    }
  }
  const example = l.run("crdt", "steady")?.linearizability;
  const parts = [
    table(["scenario", "store", "seeds", "linearizable (seeds)", "stale linearizable reads", "converged (seeds)", "divergent keys (max)", "writes never visible"], rows, notRun(l, "any scenario")),
    "",
    "These are per seed, not medians: a property holds for a scenario only if it held in every seed. Raft's history holds its writes and its ReadIndex reads; crdt's holds its writes and its local reads. `checkKvHistory` (from `@heck/sim`) searches for a legal sequential order per key (Wing-Gong-Lowe); when there is none it shrinks the history to a witness that is impossible by itself. *Converged*: after the workload stopped, every acknowledged write reached every live member and they all hold the same records.",
  ];
  if (example?.linearizable === false && example.report.length > 0) {
    parts.push("", "The witness from crdt's steady-state run (a local read that missed a write already acknowledged elsewhere):", "", "```", example.report, "```");
  }
  return parts.join("\n");
}

function realSection(real: RealResults | null, charts: Chart[], realQuick: boolean): string {
  if (real === null) return "Real-process mode was not run (`--mode sim`).";
  if (!real.available) return `Real-process mode could not run: ${real.reason ?? "unknown reason"}.`;
  const stores = real.stores.map((s) => s.store);
  const mean = (xs: number[]) => (xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length);
  const steady = real.stores.map((s) => [
    s.store,
    String(s.nodes),
    String(s.origins),
    String(s.steady.flips),
    fmtMs(s.steady.visibleMs.p50),
    fmtMs(s.steady.visibleMs.p99),
    fmtMs(s.steady.spreadMs.p50),
    fmtMs(s.steady.spreadMs.p99),
    String(s.steady.notSeen),
    fmtMs(s.readLatencyMs.p50),
    fmtMs(s.readLatencyMs.p99),
    fmtShare(s.readOkShare),
    fmtCount(mean(s.cpuPctPerNode.filter(Number.isFinite))),
    fmtCount(s.cpuPctPerNode.length === 0 ? null : Math.max(...s.cpuPctPerNode.filter(Number.isFinite))),
    s.error ?? "",
  ]);
  const loss = real.stores.filter((s) => s.loss !== null).map((s) => [s.store, fmtShare(s.loss!.dropRate), String(s.loss!.flips), fmtMs(s.loss!.visibleMs.p50), fmtMs(s.loss!.visibleMs.p99), fmtMs(s.loss!.spreadMs.p50), String(s.loss!.notSeen)]);
  const part: string[][] = [];
  for (const s of real.stores) {
    if (s.partition === null) continue;
    for (const [name, side] of Object.entries(s.partition.sides)) part.push([s.store, s.partition.cut, name, side.nodes.join(","), fmtShare(side.sawShare), fmtMs(side.visibleMs.p50), fmtMs(side.visibleMs.p99), fmtMs(s.partition.healAgreeMs)]);
  }
  const crash = real.stores.filter((s) => s.crash !== null).map((s) => [s.store, s.crash!.node, String(s.crash!.flips), fmtMs(s.crash!.visibleMs), String(s.crash!.notSeen)]);
  const cats: BarDatum[] = [
    { category: "steady", values: {} },
    { category: "10% loss", values: {} },
    { category: "partition: minority", values: {} },
    { category: "partition: majority", values: {} },
    { category: "after kill -9", values: {} },
  ];
  for (const s of real.stores) {
    // Why a phase has no figure: the store's run failed, the phase is not in a quick run, or nothing was seen.
    const why = (phase: "loss" | "partition" | "crash", ran: boolean) =>
      s.error !== null ? `${s.store}'s run failed: ${s.error}` : !ran && phase === "loss" && realQuick ? `${s.store}: a quick run skips the loss phase` : !ran ? `${s.store}: the ${phase} phase did not run` : `${s.store}: no flip was seen by every node within the bound`;
    cats[0]!.values[s.store] = { value: s.steady.visibleMs.p50, hi: s.steady.visibleMs.p99, why: s.error ?? `${s.store}: no flip was seen by every node within the bound` };
    cats[1]!.values[s.store] = { value: s.loss?.visibleMs.p50 ?? null, hi: s.loss?.visibleMs.p99 ?? null, why: why("loss", s.loss !== null) };
    cats[2]!.values[s.store] = { value: s.partition?.sides.minority?.visibleMs.p50 ?? null, hi: s.partition?.sides.minority?.visibleMs.p99 ?? null, why: why("partition", s.partition !== null) };
    cats[3]!.values[s.store] = { value: s.partition?.sides.majority?.visibleMs.p50 ?? null, hi: s.partition?.sides.majority?.visibleMs.p99 ?? null, why: why("partition", s.partition !== null) };
    cats[4]!.values[s.store] = { value: s.crash?.visibleMs ?? null, why: why("crash", s.crash !== null) };
  }
  charts.push({ file: "real-flip-visible.svg", svg: barChart({ title: "Real processes: an origin flips; until every node's API says so", subtitle: "fleet flip to the last node reporting it (partition: per node, on its side)", yLabel: "ms", series: stores, data: cats, width: 900 }) });
  charts.push({
    file: "real-cpu.svg",
    svg: barChart({ title: "Real processes: CPU per agent, steady phase", subtitle: "% of one core; bar: mean over agents, whisker: busiest agent", yLabel: "% CPU", series: stores, data: [{ category: "CPU per agent", values: Object.fromEntries(real.stores.map((s) => [s.store, { value: mean(s.cpuPctPerNode.filter(Number.isFinite)), hi: s.cpuPctPerNode.length === 0 ? null : Math.max(...s.cpuPctPerNode.filter(Number.isFinite)) }])) }], width: 520 }),
  });
  const machine = real.machine === null ? "" : `Machine: ${real.machine.cpus} cores, load average ${real.machine.loadAvg1m.toFixed(2)} at the start (above the core count, other processes compete: expect noise).\n\n`;
  return [
    machine + "Each store runs as `heck cluster up --nodes <n> --origins <m> --store <s> --json` (separate agent processes, a heck-fleet, and for etcd a local etcd). An origin is flipped through the fleet's control API and every agent's `GET /v1/origins?status=unhealthy` is polled every 20 ms. Loss and partitions go through every agent's fault layer (`POST /v1/admin/faults`: SWIM, crdt gossip and raft peer links; an agent's connection to an external store, etcd or raft-kv members it is a client of, is not cut).",
    "",
    "![real flips](real-flip-visible.svg)",
    "",
    "![real cpu](real-cpu.svg)",
    "",
    table(["store", "nodes", "origins", "flips", "visible p50 ms", "visible p99 ms", "first-to-last node p50 ms", "first-to-last p99 ms", "not seen", "read p50 ms", "read p99 ms", "reads ok", "CPU % per agent (mean)", "CPU % (busiest)", "error"], steady, "No rows: no real-mode store was run (--real-stores)."),
    "",
    table(["store", "drop rate", "flips", "visible p50 ms", "visible p99 ms", "first-to-last p50 ms", "not seen"], loss, realQuick ? "No rows: a quick run skips the loss phase." : "No rows: no store finished the loss phase (see the errors above)."),
    "",
    table(["store", "cut", "side", "nodes", "flips seen", "visible p50 ms", "visible p99 ms", "all agree after heal ms"], part, "No rows: no store finished the partition phase (see the errors above)."),
    "",
    table(["store", "killed", "its origins flipped at once", "visible on every survivor, median ms", "not seen"], crash, "No rows: no store finished the kill -9 phase (see the errors above)."),
  ].join("\n");
}

/** The key figures, for the chapter (docs/compare.md). */
export function summaryBlock(results: CompareResults): string {
  const sim = results.sim;
  if (sim === null) return "_No simulation results._";
  const l = new Lookup(sim);
  const row = (label: string, f: (store: string) => string): string[] => [label, ...sim.stores.map(f)];
  const side = (store: string, scenario: string, name: string) => l.run(store, scenario)?.sides?.[name];
  const rows = [
    row("write latency p50 / p99, steady (ms)", (s) => `${fmtMs(l.run(s, "steady")?.writes.latencyMs.p50)} / ${fmtMs(l.run(s, "steady")?.writes.latencyMs.p99)}`),
    row("visible on every node p50 / p99, steady (ms)", (s) => `${fmtMs(l.run(s, "steady")?.visibilityMs.p50)} / ${fmtMs(l.run(s, "steady")?.visibilityMs.p99)}`),
    row("writes ok on the minority side, leader in the minority", (s) => fmtShare(side(s, "partition-leader-minority", "minority")?.writes.okShare)),
    row("age of reads on the minority side, p50 / max (ms)", (s) => `${fmtMs(side(s, "partition-leader-minority", "minority")?.localReads.ageMs.p50)} / ${fmtMs(side(s, "partition-leader-minority", "minority")?.localReads.ageMs.max)}`),
    row("linearizable reads ok on the minority side", (s) => (s === "raft" ? fmtShare(side(s, "partition-leader-minority", "minority")?.linearizableReads?.okShare) : "not offered")),
    row("write downtime after the leader's crash (ms)", (s) => fmtMs(l.run(s, "crash-leader")?.crash?.downtimeMs)),
    row("bytes per update, steady (payload / total)", (s) => `${fmtCount(l.run(s, "steady")?.traffic.perUpdate.payloadBytes)} / ${fmtCount(l.run(s, "steady")?.traffic.perUpdate.bytes)}`),
    row("re-converged after a partition heals (ms)", (s) => fmtMs(l.run(s, "partition-leader-minority")?.heal?.reconvergeMs)),
    row("write p99 at 10% loss (ms)", (s) => fmtMs(l.run(s, "loss-10")?.writes.latencyMs.p99)),
    row("USL σ / κ", (s) => `${fmtCoef(sim.scale[s]?.usl?.sigma)} / ${fmtCoef(sim.scale[s]?.usl?.kappa)}`),
    row("reads pass the linearizability check in every run (raft: ReadIndex, crdt: local)", (s) => fmtBool(sim.runs.filter((r) => r.store === s).every((r) => r.checks.every((c) => c.linearizable !== false)))),
    row("converged after every run", (s) => fmtBool(sim.runs.filter((r) => r.store === s).every((r) => r.checks.every((c) => c.converged)))),
  ];
  const seeds = sim.seeds.length === 1 ? `seed ${sim.seeds[0]}` : `medians over seeds ${sim.seeds[0]}-${sim.seeds[sim.seeds.length - 1]}`;
  const out = [table([`figure (simulation, ${seeds}${results.quick ? ", quick" : ""})`, ...sim.stores], rows)];
  const real = results.real;
  if (real !== null && real.available && real.stores.length > 0) {
    const r = real.stores;
    const mean = (xs: number[]) => {
      const f = xs.filter(Number.isFinite);
      return f.length === 0 ? null : f.reduce((a, b) => a + b, 0) / f.length;
    };
    const realRows = [
      ["origin flip visible on every node, p50 / p99 (ms)", ...r.map((s) => `${fmtMs(s.steady.visibleMs.p50)} / ${fmtMs(s.steady.visibleMs.p99)}`)],
      ["of which first node to last node, p50 (ms)", ...r.map((s) => fmtMs(s.steady.spreadMs.p50))],
      ["flip visible after kill -9 of its owner (ms)", ...r.map((s) => fmtMs(s.crash?.visibleMs))],
      ["CPU per agent, steady (% of a core)", ...r.map((s) => fmtCount(mean(s.cpuPctPerNode)))],
    ];
    out.push("", table([`real processes (${r[0]!.nodes} agents, ${r[0]!.origins} origins)`, ...r.map((s) => s.store)], realRows));
  }
  return out.join("\n");
}

/** A duration for prose: ms below a second, else seconds with one decimal. */
function proseMs(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return NONE;
  return Math.abs(v) >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${fmtMs(v)} ms`;
}

/** The smallest and largest of some durations, for prose ("2.0-2.2 s"), or one value when they round alike. */
function proseRange(values: readonly (number | null | undefined)[]): string {
  const xs = values.filter((v): v is number => v !== null && v !== undefined && Number.isFinite(v));
  if (xs.length === 0) return NONE;
  const lo = proseMs(Math.min(...xs));
  const hi = proseMs(Math.max(...xs));
  if (lo === hi) return lo;
  const [a, ua] = lo.split(" ");
  const [b, ub] = hi.split(" ");
  return ua === ub ? `${a}-${b} ${ub}` : `${lo} to ${hi}`;
}

/**
 * The figures the chapter's prose may quote, by name. The chapter writes one
 * as `<!-- fig NAME -->value<!-- /fig -->` and every run rewrites the value,
 * so the prose never states a number the report no longer holds. Names are
 * `sim.<scenario>.<store>.<figure>`, `sim.scale.<store>.<coefficient>` and
 * `real.<figure>` (ranges over the real-mode stores).
 */
export function chapterFigures(results: CompareResults): Record<string, string> {
  const out: Record<string, string> = {};
  const sim = results.sim;
  if (sim !== null) {
    const l = new Lookup(sim);
    const minority = (store: string) => l.run(store, "partition-leader-minority")?.sides?.minority;
    for (const store of sim.stores) {
      out[`sim.steady.${store}.visible-p99`] = proseMs(l.run(store, "steady")?.visibilityMs.p99);
      out[`sim.steady.${store}.write-p50`] = proseMs(l.run(store, "steady")?.writes.latencyMs.p50);
      out[`sim.steady.${store}.payload-bytes`] = `${fmtCount(l.run(store, "steady")?.traffic.perUpdate.payloadBytes)} bytes`;
      out[`sim.steady.${store}.bytes`] = `${fmtCount(l.run(store, "steady")?.traffic.perUpdate.bytes)} bytes`;
      out[`sim.partition-leader-minority.${store}.minority-age-max`] = proseMs(minority(store)?.localReads.ageMs.max);
      out[`sim.partition-leader-minority.${store}.minority-age-p50`] = proseMs(minority(store)?.localReads.ageMs.p50);
      out[`sim.partition-leader-minority.${store}.reconverge`] = proseMs(l.run(store, "partition-leader-minority")?.heal?.reconvergeMs);
      out[`sim.crash-leader.${store}.downtime`] = proseMs(l.run(store, "crash-leader")?.crash?.downtimeMs);
      out[`sim.loss-10.${store}.write-p99`] = proseMs(l.run(store, "loss-10")?.writes.latencyMs.p99);
      const usl = sim.scale[store]?.usl;
      out[`sim.scale.${store}.sigma`] = fmtCoef(usl?.sigma);
      out[`sim.scale.${store}.kappa`] = fmtCoef(usl?.kappa);
      out[`sim.scale.${store}.r2`] = fmtCoef(usl?.r2);
    }
  }
  const real = results.real;
  if (real !== null && real.available) {
    out["real.steady.visible-p50"] = proseRange(real.stores.map((s) => s.steady.visibleMs.p50));
    out["real.crash.visible"] = proseRange(real.stores.map((s) => s.crash?.visibleMs));
    for (const s of real.stores) out[`real.steady.${s.store}.spread-p50`] = proseMs(s.steady.spreadMs.p50);
  }
  return out;
}

/** Renders the whole report. */
export function renderReport(results: CompareResults): RenderedReport {
  const charts: Chart[] = [];
  const out: string[] = [
    "# Raft or CRDTs for a health checker: the measurements",
    "",
    `Generated by \`${results.command}\`${results.quick ? " (quick version: shorter runs, smaller sizes)" : ""}. Do not edit: every number, table and chart here is regenerated from \`results.json\` by that command. The chapter that explains them is [../compare.md](../compare.md).`,
    "",
    `A "${NONE}" in a table is a figure that does not apply to that store (a crdt has no leader and offers no linearizable reads) or had no samples in this run; an "n/a" bar in a chart has its reason written under the chart.`,
    "",
  ];
  const sim = results.sim;
  if (sim !== null) {
    const l = new Lookup(sim);
    out.push(
      "## How the experiment runs",
      "",
      "Both stores run inside the same deterministic simulation (`@heck/sim`): the raft store is raft-kv's own Raft core (`RaftNode`) and state machine (`KvStore`) driven the way its server drives them; the crdt store is crdt-kv's own replica (`KvNode`). The same seeded workload (v2's agents in miniature: owners check their origins and write health records, every node reads) and the same faults hit both at the same simulated times. The figures are deterministic for a seed.",
      "",
      setupSection(sim),
      "",
      "## Key figures",
      "",
      summaryBlock(results),
      "",
      "## 1. Write latency",
      "",
      "From the owner's call until its client knows the write took effect. A crdt write returns as soon as the local replica has it (no network); a raft write needs the leader and a quorum, forwarded by a follower.",
      "",
      writeSection(l, charts),
      "",
      "## 2. Time until a write is visible on every node",
      "",
      "From the write until every node that was up and a member when it was made holds it (or something newer).",
      "",
      visibilitySection(l, charts),
      "",
      "## 3. Partitions: what each side can do",
      "",
      "Operations invoked while the partition held, by side. *Stale*: an older version than one already acknowledged somewhere before the read began. *Wrong status*: a different status from that newest acknowledged record. *Age*: how old the returned observation was.",
      "",
      partitionSection(l, charts),
      "",
      "## 4. Downtime after a crash",
      "",
      `Each surviving node writes a probe every ${sim.settings.probeEveryMs} ms around the crash; downtime is the failed probes of the worst node times that period. *Leaderless* is raft's gap from the crash until a new leader has committed an entry of its term.`,
      "",
      crashSection(l, charts),
      "",
      "## 5. Messages and bytes per update",
      "",
      "Everything the cluster sent during the workload, divided by the writes that succeeded.",
      "",
      trafficSection(l, charts),
      "",
      "## 6. Re-converging after a partition heals",
      "",
      healSection(l, charts),
      "",
      "## 7. Message loss",
      "",
      lossSection(l, charts),
      "",
      "## 8. Churn",
      "",
      "Members leave gracefully and fresh nodes join (raft: added as a learner, promoted once caught up; crdt: starts gossiping).",
      "",
      churnSection(l, charts),
      "",
      "## 9. Scale",
      "",
      "Each node owns the same number of origins, so the offered load grows with N; every N runs at 1x and 3x that load, and idle. *Capacity* is the update rate at which the first node would saturate one core under the cost model once messages batch (raft-kv sends one append per Ready however many proposals it holds; crdt-kv one delta per peer per round however many updates it carries): per node, the slope of the bytes it moves and the records it applies between the two loads is its marginal cost per update, its idle CPU is taken off the core first, and capacity = min over nodes of (1 core − idle) / marginal cost. *Messages/update* and *bytes/update* are all nodes' traffic at the 1x load: what an unsaturated cluster pays.",
      "",
      scaleSection(l, charts),
      "",
      "## 10. Correctness checks",
      "",
      correctnessSection(l),
      "",
    );
  }
  out.push("## Real processes", "", realSection(results.real, charts, results.quick), "");
  return { markdown: out.join("\n"), charts, summary: summaryBlock(results) };
}
