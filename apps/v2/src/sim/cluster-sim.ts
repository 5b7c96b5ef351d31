/**
 * A seeded, single-threaded simulation of a v2 cluster: many AgentCores
 * (the real decision logic), a model of SWIM (a crash is learned by each
 * survivor after a random delay up to the detection bound; joins and
 * leaves spread within a gossip bound), a model of the store (records reach
 * every reachable node after a random delay; a partition holds them back
 * until heal), and a model of the v1 engine (each active origin checked
 * once per interval, at once on a take-over). One seed drives the cluster
 * shape, faults and delays, as in TigerBeetle's VOPR; invariants are checked
 * on every check event and at the end:
 *
 * - coverage: no origin goes unchecked longer than detectionBoundMs +
 *   intervalMs (+ the check latency);
 * - exclusivity: whenever every alive node has the true view and no
 *   hand-off is pending, each origin is checked by exactly one alive node;
 * - load: in steady state each origin gets one check per interval;
 * - convergence: after heal, every alive node holds the same record of
 *   every origin.
 */
import type { Prng } from "@heck/sim";
import { AgentCore, type AgentCoreConfig, type AgentReady } from "../core/agent-core.ts";
import type { OwnershipScheme } from "../core/ownership-view.ts";
import type { HealthRecord, HealthStatus, OriginSpec } from "../core/types.ts";

/** One scheduled fault or change. */
export type SimAction =
  | { atMs: number; type: "crash"; node: string }
  | { atMs: number; type: "join"; node: string }
  | { atMs: number; type: "leave"; node: string }
  | { atMs: number; type: "partition"; sides: [string[], string[]] }
  | { atMs: number; type: "heal" }
  | { atMs: number; type: "flip"; origin: string; status: HealthStatus };

/** Shape and timing of a simulated run. */
export interface ClusterSimOptions {
  prng: Prng;
  scheme: OwnershipScheme;
  nodes: number;
  origins: number;
  intervalMs: number;
  /** Upper bound on the time for every survivor to learn of a crash (SWIM's promise). */
  detectionBoundMs: number;
  /** Upper bound on the time for a join or leave to reach every node. */
  gossipBoundMs: number;
  /** Store replication delay range for one record. */
  replicationMinMs: number;
  replicationMaxMs: number;
  /** Check duration (engine latency). */
  checkLatencyMs: number;
  durationMs: number;
  actions: SimAction[];
  core?: Partial<Omit<AgentCoreConfig, "self">>;
  /**
   * Added to the coverage bound. The bound detectionBoundMs + intervalMs
   * holds for one failure at a time; a second crash before the first is
   * detected extends it by the time between them.
   */
  extraCoverageBoundMs?: number;
  /**
   * How the engine schedules the first check of an origin taken over from a
   * node that is gone (StartCheck.takeOver): 0 checks at once; >0 spreads
   * first checks over that window (the agent passes v1's
   * `firstCheckWithinMs = min(interval, 250)`, so the bench passes that, and
   * the coverage bound grows by it). Other starts (boot, new origins, join
   * hand-offs) are spread over one interval, as v1 does.
   */
  takeoverSpreadMs?: number;
  /** Records written within this window go out as one batch per peer (a gossip round). 0: one batch per check. */
  replicationBatchMs?: number;
}

/** What a run measured; `violations` is empty when every invariant held. */
export interface ClusterSimReport {
  seed: number;
  violations: string[];
  checks: number;
  /** Longest time any origin went unchecked (after warm-up). */
  maxGapMs: number;
  /** Checks per origin per interval over the steady windows (no fault within 3 detection bounds). */
  steadyChecksPerOriginPerInterval: number;
  /** For each crash: time until every one of the crashed node's origins was checked again. */
  failoverCoverageMs: number[];
  /** Origins started by a node after the initial start (take-overs), per action, in order. */
  takeovers: { action: string; atMs: number; started: number; ownedBefore: number }[];
  converged: boolean;
  /** For each flip: time until every alive node's record shows the new status (Infinity if never). */
  flipVisibleAllMs: number[];
}

interface Node {
  id: string;
  core: AgentCore;
  alive: boolean;
  /** Bumped per origin start/stop so stale scheduled checks are ignored. */
  epoch: Map<string, number>;
  /** The view this node currently has (what it passed to setMembers). */
  view: Set<string>;
}

type Ev =
  | { t: number; seq: number; kind: "check"; node: string; origin: string; epoch: number }
  | { t: number; seq: number; kind: "record"; node: string; records: HealthRecord[] }
  | { t: number; seq: number; kind: "flush"; node: string }
  | { t: number; seq: number; kind: "view"; node: string; add?: string; remove?: string }
  | { t: number; seq: number; kind: "tick"; node: string }
  | { t: number; seq: number; kind: "action"; action: SimAction };

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

class Heap {
  private items: Ev[] = [];
  get size(): number {
    return this.items.length;
  }
  push(e: Ev): void {
    const a = this.items;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): Ev | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && less(a[l]!, a[m]!)) m = l;
        if (r < a.length && less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}
function less(a: Ev, b: Ev): boolean {
  return a.t < b.t || (a.t === b.t && a.seq < b.seq);
}

/** Runs one seeded simulation and checks the invariants. Deterministic for a given seed and options. */
export function runClusterSim(opts: ClusterSimOptions): ClusterSimReport {
  const net = opts.prng.fork("net");
  const engine = opts.prng.fork("engine");
  const heap = new Heap();
  let seq = 0;
  const push = (e: DistributiveOmit<Ev, "seq">) => heap.push({ ...e, seq: seq++ } as Ev);
  const violations: string[] = [];
  const violate = (msg: string) => {
    if (violations.length < 20) violations.push(msg);
  };

  const originSpecs: OriginSpec[] = Array.from({ length: opts.origins }, (_, i) => ({ id: `o${i}`, url: `http://sim/${i}` }));
  const truth = new Map<string, HealthStatus>(originSpecs.map((o) => [o.id, "healthy"]));
  const coreConfig = (self: string): AgentCoreConfig => ({
    self,
    replicas: 1,
    refreshMs: opts.intervalMs * 5,
    handoffGraceMs: Math.max(2 * opts.intervalMs, opts.gossipBoundMs + opts.replicationMaxMs + opts.checkLatencyMs),
    promoteAfterMs: 0,
    ...opts.core,
  });

  const nodes = new Map<string, Node>();
  const lastTickAt = new Map<string, number>();
  const outbox = new Map<string, HealthRecord[]>();
  const flips: { origin: string; status: HealthStatus; atMs: number; seen: Set<string>; doneMs?: number }[] = [];
  const scheduledTick = new Map<string, number>();
  const trueAlive = new Set<string>();
  let partition: [Set<string>, Set<string>] | undefined;
  const reachable = (a: string, b: string) => partition === undefined || partition[0].has(a) === partition[0].has(b);

  const lastCheck = new Map<string, number>();
  let checks = 0;
  let maxGapMs = 0;
  const faultTimes: number[] = [];
  const crashWatch: { atMs: number; node: string; pending: Set<string>; doneMs?: number }[] = [];
  const takeovers: ClusterSimReport["takeovers"] = [];
  const steadyCounts = { checks: 0, originIntervals: 0 };
  const bound = opts.detectionBoundMs + opts.intervalMs + opts.checkLatencyMs + (opts.takeoverSpreadMs ?? 0) + (opts.replicationBatchMs ?? 0) + (opts.extraCoverageBoundMs ?? 0);
  const warmupMs = opts.intervalMs + opts.checkLatencyMs;

  function makeNode(id: string, nowMs: number, view: Set<string>): Node {
    const core = new AgentCore(coreConfig(id), opts.scheme);
    const node: Node = { id, core, alive: true, epoch: new Map(), view: new Set(view) };
    nodes.set(id, node);
    // A joining node gets the origin list and every record through the
    // store's sync before it takes part (push-pull on join).
    for (const o of originSpecs) core.putOrigin(o, nowMs);
    for (const other of nodes.values()) {
      if (other.alive && other.id !== id && reachable(id, other.id)) {
        for (const o of originSpecs) {
          const r = other.core.record(o.id);
          if (r !== undefined) core.mergeRecord(r, nowMs);
        }
      }
    }
    core.setMembers([...view], nowMs);
    drain(node, nowMs, true);
    return node;
  }

  function drain(node: Node, nowMs: number, initial = false): void {
    const ready: AgentReady = node.core.ready();
    // Everything below only reads the batch: it is carried out here and now.
    node.core.advance();
    for (const id of ready.stop) node.epoch.set(id, (node.epoch.get(id) ?? 0) + 1);
    if ((!initial || nowMs > 0) && ready.start.length > 0) {
      const last = takeovers.at(-1);
      if (last !== undefined) last.started += ready.start.length;
    }
    for (const s of ready.start) {
      const ep = (node.epoch.get(s.spec.id) ?? 0) + 1;
      node.epoch.set(s.spec.id, ep);
      // v1's engine spreads the first checks of added origins over one
      // interval; a take-over (the core's `takeOver`: nobody alive checks
      // it) is spread over `takeoverSpreadMs` (v1's firstCheckWithinMs),
      // which is what bounds the coverage gap.
      const spread = !initial && s.takeOver ? (opts.takeoverSpreadMs ?? 0) : opts.intervalMs;
      const delay = spread > 0 ? engine.nextInt(0, spread - 1) : 0;
      push({ t: nowMs + delay + opts.checkLatencyMs, kind: "check", node: node.id, origin: s.spec.id, epoch: ep });
    }
    if (ready.writes.length > 0) {
      const box = outbox.get(node.id);
      if (box === undefined) {
        outbox.set(node.id, [...ready.writes]);
        const batchMs = opts.replicationBatchMs ?? 0;
        if (batchMs > 0) push({ t: nowMs + batchMs, kind: "flush", node: node.id });
        else flush(node.id, nowMs);
      } else box.push(...ready.writes);
      checkFlips(node, nowMs);
    }
    const dl = node.core.nextDeadlineMs();
    if (Number.isFinite(dl)) {
      // A deadline that is already due after a tick is a core bug (it would spin): report it and move on.
      if (dl <= nowMs && ready.stop.length === 0 && ready.start.length === 0 && lastTickAt.get(node.id) === nowMs) {
        violate(`liveness: ${node.id} reports deadline ${dl} <= now ${nowMs} after a tick that did nothing`);
        return;
      }
      // One pending tick per node: only an earlier deadline schedules another.
      const at = Math.max(nowMs, dl);
      const pending = scheduledTick.get(node.id);
      if (pending === undefined || at < pending || pending < nowMs) {
        scheduledTick.set(node.id, at);
        push({ t: at, kind: "tick", node: node.id });
      }
    }
  }

  function flush(id: string, nowMs: number): void {
    const records = outbox.get(id);
    outbox.delete(id);
    if (records === undefined || !nodes.get(id)?.alive) return;
    for (const other of nodes.values()) {
      if (other.id === id || !other.alive || !reachable(id, other.id)) continue;
      push({ t: nowMs + net.nextInt(opts.replicationMinMs, opts.replicationMaxMs), kind: "record", node: other.id, records });
    }
  }

  function checkFlips(node: Node, nowMs: number): void {
    for (const f of flips) {
      if (f.doneMs !== undefined || f.seen.has(node.id)) continue;
      if (node.core.record(f.origin)?.status === f.status) {
        f.seen.add(node.id);
        if ([...nodes.values()].every((n) => !n.alive || f.seen.has(n.id))) f.doneMs = nowMs - f.atMs;
      }
    }
  }

  function viewChangeEverywhere(nowMs: number, change: { add?: string; remove?: string }, exclude: string): void {
    for (const other of nodes.values()) {
      if (!other.alive || other.id === exclude) continue;
      const limit = change.remove !== undefined && !nodes.get(change.remove)?.alive ? opts.detectionBoundMs : opts.gossipBoundMs;
      push({ t: nowMs + net.nextInt(Math.floor(limit / 4), limit), kind: "view", node: other.id, ...change });
    }
  }

  function steady(nowMs: number): boolean {
    return faultTimes.every((f) => nowMs < f || nowMs > f + 3 * opts.detectionBoundMs + 2 * opts.intervalMs);
  }

  function doAction(a: SimAction, nowMs: number): void {
    if (a.type === "crash" || a.type === "join" || a.type === "leave") {
      takeovers.push({ action: `${a.type} ${a.node}`, atMs: nowMs, started: 0, ownedBefore: nodes.get(a.node)?.core.activeOrigins().size ?? 0 });
    } else if (a.type !== "flip") {
      takeovers.push({ action: a.type, atMs: nowMs, started: 0, ownedBefore: 0 });
    }
    switch (a.type) {
      case "crash": {
        const n = nodes.get(a.node);
        if (n === undefined || !n.alive) return;
        faultTimes.push(nowMs);
        n.alive = false;
        trueAlive.delete(a.node);
        const pending = new Set(n.core.activeOrigins().keys());
        crashWatch.push({ atMs: nowMs, node: a.node, pending });
        viewChangeEverywhere(nowMs, { remove: a.node }, a.node);
        return;
      }
      case "join": {
        if (nodes.get(a.node)?.alive) return;
        faultTimes.push(nowMs);
        trueAlive.add(a.node);
        const view = new Set([...trueAlive].filter((m) => reachable(m, a.node)));
        makeNode(a.node, nowMs, view);
        viewChangeEverywhere(nowMs, { add: a.node }, a.node);
        return;
      }
      case "leave": {
        const n = nodes.get(a.node);
        if (n === undefined || !n.alive) return;
        faultTimes.push(nowMs);
        n.core.leave(nowMs, nowMs + coreConfig(a.node).handoffGraceMs);
        drain(n, nowMs);
        trueAlive.delete(a.node);
        viewChangeEverywhere(nowMs, { remove: a.node }, a.node);
        return;
      }
      case "partition": {
        faultTimes.push(nowMs);
        partition = [new Set(a.sides[0]), new Set(a.sides[1])];
        // Each side's SWIM declares the other side dead within the bound.
        for (const n of nodes.values()) {
          if (!n.alive) continue;
          for (const m of trueAlive) {
            if (!reachable(n.id, m)) push({ t: nowMs + net.nextInt(Math.floor(opts.detectionBoundMs / 4), opts.detectionBoundMs), kind: "view", node: n.id, remove: m });
          }
        }
        return;
      }
      case "heal": {
        if (partition === undefined) return;
        faultTimes.push(nowMs);
        const cut = partition;
        partition = undefined;
        for (const n of nodes.values()) {
          if (!n.alive) continue;
          for (const m of trueAlive) {
            if (cut[0].has(n.id) !== cut[0].has(m)) push({ t: nowMs + net.nextInt(Math.floor(opts.gossipBoundMs / 4), opts.gossipBoundMs), kind: "view", node: n.id, add: m });
          }
          // Anti-entropy after heal: every record crosses once, as one batch per peer.
          const all = originSpecs.flatMap((o) => {
            const r = n.core.record(o.id);
            return r === undefined ? [] : [r];
          });
          for (const other of nodes.values()) {
            if (other.alive && other.id !== n.id && cut[0].has(n.id) !== cut[0].has(other.id)) {
              push({ t: nowMs + net.nextInt(opts.replicationMinMs, opts.replicationMaxMs), kind: "record", node: other.id, records: all });
            }
          }
        }
        return;
      }
      case "flip":
        truth.set(a.origin, a.status);
        flips.push({ origin: a.origin, status: a.status, atMs: nowMs, seen: new Set() });
        return;
    }
  }

  // Start: every node knows every other (a cluster brought up together).
  const ids = Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`);
  for (const id of ids) trueAlive.add(id);
  for (const id of ids) makeNode(id, 0, new Set(ids));
  for (const a of opts.actions) push({ t: a.atMs, kind: "action", action: a });

  let now: number;
  let lastExclusiveCheck = -Infinity;
  // Safety phase until durationMs; then a quiet phase: no more checks, only
  // in-flight records, view changes and hand-off ends, so convergence is
  // judged on a settled network.
  const quietEndMs = opts.durationMs + opts.replicationMaxMs + opts.gossipBoundMs + opts.detectionBoundMs;
  for (;;) {
    const ev = heap.pop();
    if (ev === undefined || ev.t > quietEndMs) break;
    if (ev.t > opts.durationMs && (ev.kind === "check" || ev.kind === "action")) continue;
    now = ev.t;
    switch (ev.kind) {
      case "action":
        doAction(ev.action, now);
        break;
      case "view": {
        const n = nodes.get(ev.node)!;
        if (!n.alive) break;
        if (ev.remove !== undefined) n.view.delete(ev.remove);
        if (ev.add !== undefined) {
          if (!trueAlive.has(ev.add) || !reachable(n.id, ev.add)) break;
          n.view.add(ev.add);
        }
        n.core.setMembers([...n.view], now);
        drain(n, now);
        break;
      }
      case "tick": {
        const n = nodes.get(ev.node)!;
        if (!n.alive || scheduledTick.get(n.id) !== now) break;
        scheduledTick.delete(n.id);
        lastTickAt.set(n.id, now);
        n.core.tick(now);
        drain(n, now);
        break;
      }
      case "record": {
        const n = nodes.get(ev.node)!;
        if (!n.alive) break;
        for (const r of ev.records) n.core.mergeRecord(r, now);
        drain(n, now);
        checkFlips(n, now);
        break;
      }
      case "flush":
        flush(ev.node, now);
        break;
      case "check": {
        const n = nodes.get(ev.node)!;
        if (!n.alive || n.epoch.get(ev.origin) !== ev.epoch) break;
        checks += 1;
        const prev = lastCheck.get(ev.origin);
        if (prev !== undefined && now > warmupMs) {
          const gap = now - prev;
          maxGapMs = Math.max(maxGapMs, gap);
          if (gap > bound) violate(`coverage: ${ev.origin} unchecked for ${gap} ms (bound ${bound}) until ${ev.node} checked it at t=${now}`);
        }
        lastCheck.set(ev.origin, now);
        if (now >= warmupMs && steady(now) && steady(now - opts.intervalMs)) steadyCounts.checks += 1;
        for (const w of crashWatch) {
          if (w.doneMs === undefined && w.pending.delete(ev.origin) && w.pending.size === 0) w.doneMs = now - w.atMs;
        }
        n.core.observe(ev.origin, { status: truth.get(ev.origin)!, checkedAtMs: now }, now);
        drain(n, now);
        push({ t: now + opts.intervalMs, kind: "check", node: n.id, origin: ev.origin, epoch: ev.epoch });
        break;
      }
    }
    // Exclusivity, checked when the cluster is quiet: every alive node's
    // view is the truth and no hand-off is pending.
    // Sampled (a few times per interval) because it scans every node's table.
    if ((ev.kind === "view" || ev.kind === "record" || ev.kind === "tick") && now - lastExclusiveCheck >= opts.intervalMs / 4) {
      lastExclusiveCheck = now;
      checkExclusive(now);
    }
  }

  function checkExclusive(nowMs: number): void {
    if (partition !== undefined) return;
    const alive = [...nodes.values()].filter((n) => n.alive && !n.core.isLeaving());
    for (const n of alive) {
      if (n.view.size !== trueAlive.size || [...trueAlive].some((m) => !n.view.has(m))) return;
      for (const r of n.core.activeOrigins().values()) if (r !== "primary") return;
    }
    if (alive.some((n) => n.core.activeOrigins().size === 0) && opts.origins >= alive.length * 20) {
      // Allowed, but worth nothing to check.
    }
    const seen = new Map<string, string>();
    for (const n of alive) {
      for (const o of n.core.activeOrigins().keys()) {
        const other = seen.get(o);
        if (other !== undefined) violate(`exclusivity: ${o} checked by both ${other} and ${n.id} at t=${nowMs} in a quiet cluster`);
        seen.set(o, n.id);
      }
    }
    if (seen.size !== opts.origins) violate(`exclusivity: only ${seen.size}/${opts.origins} origins have a checker at t=${nowMs} in a quiet cluster`);
  }

  // End: no origin may be stale now either, crashes must be covered, and
  // records must agree on every alive node once the network is healed.
  for (const o of originSpecs) {
    const last = lastCheck.get(o.id);
    if (last === undefined) violate(`coverage: ${o.id} never checked`);
    else if (opts.durationMs - last > bound) violate(`coverage: ${o.id} unchecked since t=${last} (end ${opts.durationMs})`);
  }
  for (const w of crashWatch) if (w.doneMs === undefined && w.pending.size > 0) violate(`failover: ${w.pending.size} origins of ${w.node} never re-checked`);
  let converged = true;
  if (partition === undefined) {
    const alive = [...nodes.values()].filter((n) => n.alive);
    for (const o of originSpecs) {
      const first = alive[0]?.core.record(o.id);
      for (const n of alive) {
        const r = n.core.record(o.id);
        if (r?.hlcMs !== first?.hlcMs || r?.observer !== first?.observer || r?.checkedAtMs !== first?.checkedAtMs) {
          converged = false;
        }
      }
    }
  }
  const steadyWindowMs = steadySpan();
  function steadySpan(): number {
    // Length of simulated time counted as steady (both now and one interval ago).
    let span = 0;
    const step = Math.max(1, Math.floor(opts.intervalMs / 10));
    for (let t = warmupMs; t < opts.durationMs; t += step) if (steady(t) && steady(t - opts.intervalMs)) span += step;
    return span;
  }
  steadyCounts.originIntervals = (steadyWindowMs / opts.intervalMs) * opts.origins;
  return {
    seed: opts.prng.seed,
    violations,
    checks,
    maxGapMs,
    steadyChecksPerOriginPerInterval: steadyCounts.originIntervals > 0 ? steadyCounts.checks / steadyCounts.originIntervals : NaN,
    failoverCoverageMs: crashWatch.map((w) => w.doneMs ?? Infinity),
    takeovers,
    flipVisibleAllMs: flips.map((f) => f.doneMs ?? Infinity),
    converged,
  };
}
