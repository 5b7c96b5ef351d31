/**
 * `heck soak`: n agents, each on its own network-lab host, checking a fleet
 * of origins, while a seeded schedule (schedule.ts) kills, pauses,
 * partitions, drops and delays; measured at the fleet and from every
 * agent's API (metrics.ts). Faults come from the kernel (`--faults kernel`,
 * through @heck/net) or from the agents' own fault layer (`--faults app`,
 * `POST /v1/admin/faults`), so the same schedule shows what the kernel adds:
 * the fault layer has no delay, its loss touches UDP only, and its block cuts
 * both directions at the blocker, so one-way cuts become two-way.
 *
 * `--cpu-quota <pct>` confines every agent to that share of one core (the
 * lab's CPU fault, @heck/net's CpuLimit), the pressure under which agents
 * answer late, and a restarted one stays in its start-up longer. The
 * schedule's own CPU faults confine one agent at a time, more tightly, for
 * a while (a group of its own; released, it goes back to the shared one).
 */
import { CpuLimit, LabUnsupportedError } from "@heck/net";
import { createPrng, cutLinks } from "@heck/sim";
import { detectionBoundNoLossMs, presetConfig } from "@heck/swim";
import { clusterUp, stopChild, type ClusterNode, type RunningCluster } from "../io/cluster.ts";
import { TAKEOVER_FIRST_CHECK_MS } from "../core/agent-core.ts";
import { SoakMeter, type SoakFigures, type SoakMode } from "./metrics.ts";
import { describeSoakFault, soakSchedule, type SoakFault, type SoakStep } from "./schedule.ts";

/** Options of {@link runSoak}. */
export interface SoakOptions {
  store: "crdt" | "raft" | "etcd";
  agents: number;
  origins: number;
  intervalMs: number;
  durationMs: number;
  seed: number;
  /** Who makes the network faults: the kernel (a network lab) or the agents' fault layer. */
  faults: "kernel" | "app";
  basePort: number;
  /** Confine every agent to this percentage of one core (cgroup v1 cpu), or leave them free. */
  cpuQuotaPct?: number;
  /** Schedule shape; defaults scale with the duration (see {@link scheduleTiming}). */
  meanGapMs?: number;
  minHoldMs?: number;
  maxHoldMs?: number;
  log: (line: string) => void;
  /** Ends the schedule early (Ctrl-C): the faults in force are undone and the figures cover the time run. */
  signal?: AbortSignal;
}

/** What a soak found. */
export interface SoakResult {
  seed: number;
  store: SoakOptions["store"];
  faults: SoakOptions["faults"];
  agents: number;
  origins: number;
  intervalMs: number;
  durationMs: number;
  /** How long it ran: `durationMs`, or less when it was stopped early. */
  ranMs: number;
  /** Stopped before the schedule's end (Ctrl-C). */
  stoppedEarly: boolean;
  cpuQuotaPct: number | null;
  allowedGapMs: number;
  steps: Array<{ atMs: number; ranAtMs: number; fault: string; note?: string }>;
  /** What caused the longest gap: the faults active during it. */
  longestGapCause: string;
  figures: SoakFigures;
}

/**
 * Schedule timing for a duration: a soak of 5 minutes or more holds faults
 * 10-40 s (long enough for SWIM to declare a death and ownership to move);
 * 90 s to 5 minutes, 5-12 s; a shorter one (a smoke test) scales everything
 * with the duration, so even 15 s sees a few faults start and end.
 */
export function scheduleTiming(durationMs: number): { warmupMs: number; cooldownMs: number; meanGapMs: number; minHoldMs: number; maxHoldMs: number; flipEveryMs: number } {
  if (durationMs >= 300_000) return { warmupMs: 30_000, cooldownMs: 60_000, meanGapMs: 20_000, minHoldMs: 10_000, maxHoldMs: 40_000, flipEveryMs: 20_000 };
  if (durationMs >= 90_000) return { warmupMs: 10_000, cooldownMs: 25_000, meanGapMs: 6_000, minHoldMs: 5_000, maxHoldMs: 12_000, flipEveryMs: 8_000 };
  const part = (f: number) => Math.round(durationMs * f);
  return { warmupMs: part(0.15), cooldownMs: part(0.25), meanGapMs: part(0.08), minHoldMs: part(0.06), maxHoldMs: part(0.12), flipEveryMs: part(0.12) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sleeps `ms`, or less when `signal` aborts first. */
function sleepUnless(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return sleep(ms) as Promise<void>;
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

/** Runs one soak; resolves with its figures once the cluster is stopped. */
export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const timing = { ...scheduleTiming(o.durationMs), ...(o.meanGapMs ? { meanGapMs: o.meanGapMs } : {}), ...(o.minHoldMs ? { minHoldMs: o.minHoldMs } : {}), ...(o.maxHoldMs ? { maxHoldMs: o.maxHoldMs } : {}) };
  const ids = Array.from({ length: o.agents }, (_, i) => `n${i + 1}`);
  const steps = soakSchedule({ prng: createPrng(o.seed).fork("soak"), agents: ids, origins: o.origins, durationMs: o.durationMs, ...timing });
  const swim = presetConfig("local");
  const allowedGapMs = o.intervalMs + detectionBoundNoLossMs(swim, o.agents) + TAKEOVER_FIRST_CHECK_MS;
  const pollMs = 250;
  const meter = new SoakMeter({ origins: o.origins, intervalMs: o.intervalMs, allowedGapMs, pollMs, countFromMs: timing.warmupMs });
  o.log(`soak: HECK_SEED=${o.seed}, store ${o.store}, ${o.agents} agents, ${o.origins} origins every ${o.intervalMs} ms, ${(o.durationMs / 1000).toFixed(0)} s, faults by ${o.faults === "kernel" ? "the kernel" : "the agents' fault layer"}${o.cpuQuotaPct ? `, agents confined to ${o.cpuQuotaPct}% of one core` : ""}`);
  o.log(`soak: an origin is covered when checked within ${allowedGapMs} ms (interval ${o.intervalMs} + SWIM detection bound ${allowedGapMs - o.intervalMs - TAKEOVER_FIRST_CHECK_MS} + take-over window ${TAKEOVER_FIRST_CHECK_MS})`);

  const cgroup = o.cpuQuotaPct ? CpuLimit.create(`soak-${process.pid}`, o.cpuQuotaPct) : null;
  const cluster = await clusterUp({
    nodes: o.agents,
    origins: o.origins,
    store: o.store,
    basePort: o.basePort,
    intervalMs: o.intervalMs,
    replicas: 1,
    swimPreset: "local",
    host: "127.0.0.1",
    netns: true,
    startTimeoutMs: 300_000,
    log: (l) => o.log(`cluster: ${l}`),
  }).catch((e: unknown) => {
    cgroup?.remove();
    throw e;
  });
  for (const n of cluster.nodes) cgroup?.add(n.pid);
  const auth: Record<string, string> = cluster.token ? { authorization: `Bearer ${cluster.token}` } : {};
  const start = performance.now();
  const now = () => performance.now() - start;
  const ran: SoakResult["steps"] = [];
  const active = { partition: "", impairment: "", process: "", cpu: "" };
  const activeLog: Array<{ fromMs: number; toMs: number; what: string }> = [];
  const updateMode = () => meter.setMode(active.partition ? "partitioned" : active.impairment || active.process || active.cpu ? "other" : ("healed" as SoakMode));
  const nodeOf = (id: string): ClusterNode => cluster.nodes.find((n) => n.id === id)!;
  const down = new Set<string>();
  /** The agent the schedule has confined to a share of a core, and its group. */
  const starved: { now: { agent: string; limit: CpuLimit } | null } = { now: null };
  let appFaults: { blocks: Map<string, string[]>; dropRate: number } = { blocks: new Map(), dropRate: 0 };
  let stopped = false;
  let ranMs: number;

  // --- samplers ------------------------------------------------------------
  const fleetSampler = (async () => {
    while (!stopped) {
      const t = now();
      try {
        const res = await fetch(`http://${cluster.fleet.control}/origins/counts`, { signal: AbortSignal.timeout(5_000) });
        const body = (await res.json()) as { requests: number[] };
        // Fleets beyond the first hold later origins; at up to 5,000 origins there is one.
        let counts = body.requests;
        for (const f of cluster.fleets.slice(1)) counts = counts.concat(((await (await fetch(`http://${f.control}/origins/counts`, { signal: AbortSignal.timeout(5_000) })).json()) as { requests: number[] }).requests);
        meter.observeCounts(t, counts);
      } catch {
        // the fleet is on this namespace's side of every fault; a slow answer only lowers the resolution
      }
      await sleep(Math.max(0, pollMs - (now() - t)));
    }
  })();
  const answerSampler = (async () => {
    while (!stopped) {
      const t = now();
      await Promise.all(
        cluster.nodes.map(async (n) => {
          if (down.has(n.id)) return;
          const listed = await originCount(n, auth);
          meter.observeAnswer(n.id, now(), listed);
        }),
      );
      await sleep(Math.max(0, 1_000 - (now() - t)));
    }
  })();

  // --- faults ----------------------------------------------------------------
  const note = (step: SoakStep, text?: string) => {
    ran.push({ atMs: step.atMs, ranAtMs: Math.round(now()), fault: describeSoakFault(step.fault), ...(text ? { note: text } : {}) });
    o.log(`t=${(now() / 1000).toFixed(1).padStart(7)} s  ${describeSoakFault(step.fault)}${text ? `  (${text})` : ""}`);
  };
  const began = (what: string) => {
    meter.faultStarted(now());
    activeLog.push({ fromMs: now(), toMs: Number.POSITIVE_INFINITY, what });
  };
  const ended = () => {
    for (const a of activeLog) if (a.toMs === Number.POSITIVE_INFINITY && !Object.values(active).includes(a.what)) a.toMs = now();
  };
  const setAppFaults = async (n: ClusterNode) => {
    const block = appFaults.blocks.get(n.id) ?? [];
    await adminFaults(n, auth, { unblockAll: true, ...(block.length > 0 ? { block } : {}), dropRate: appFaults.dropRate });
  };
  const agreements: Array<Promise<void>> = [];
  let netEpoch = 0;

  const apply = async (step: SoakStep): Promise<void> => {
    const f: SoakFault = step.fault;
    const lab = cluster.lab;
    switch (f.kind) {
      case "kill": {
        const n = nodeOf(f.agent);
        active.process = describeSoakFault(f);
        began(active.process);
        updateMode();
        down.add(f.agent);
        await stopChild(n.child, "SIGKILL", 1_000);
        return note(step);
      }
      case "restart": {
        note(step);
        const n = await restartUntilUp(f.agent);
        if (n === null) return;
        if (starved.now?.agent === f.agent) starved.now.limit.add(n.pid);
        else cgroup?.add(n.pid);
        down.delete(f.agent);
        if (o.faults === "app") await setAppFaults(n);
        active.process = "";
        ended();
        updateMode();
        return;
      }
      case "stop":
        if (!isRunning(f.agent)) return note(step, "skipped: not running");
        active.process = describeSoakFault(f);
        began(active.process);
        updateMode();
        down.add(f.agent);
        process.kill(nodeOf(f.agent).pid, "SIGSTOP");
        return note(step);
      case "cont":
        if (!isRunning(f.agent)) return note(step, "skipped: not running");
        process.kill(nodeOf(f.agent).pid, "SIGCONT");
        down.delete(f.agent);
        active.process = "";
        ended();
        updateMode();
        return note(step);
      case "partition": {
        netEpoch += 1;
        active.partition = describeSoakFault(f);
        began(active.partition);
        updateMode();
        if (o.faults === "kernel") await lab!.applyPartition(f.spec);
        else {
          // The fault layer drops both directions at the blocker: a one-way cut becomes two-way.
          const blocks = new Map<string, string[]>();
          for (const [a, b] of cutLinks(f.spec, ids)) {
            blocks.set(a, [...new Set([...(blocks.get(a) ?? []), b])]);
            blocks.set(b, [...new Set([...(blocks.get(b) ?? []), a])]);
          }
          appFaults = { ...appFaults, blocks };
          await Promise.all(cluster.nodes.filter((n) => !down.has(n.id)).map(setAppFaults));
        }
        return note(step, o.faults === "app" && f.spec.kind === "one-way" ? "fault layer: blocks both ways" : undefined);
      }
      case "heal": {
        if (o.faults === "kernel") await lab!.heal("cuts");
        else {
          appFaults = { ...appFaults, blocks: new Map() };
          await Promise.all(cluster.nodes.filter((n) => !down.has(n.id)).map(setAppFaults));
        }
        active.partition = "";
        ended();
        updateMode();
        note(step);
        const epoch = netEpoch;
        agreements.push(
          timeToAgreement(cluster, auth, down, () => stopped || netEpoch !== epoch).then((ms) => {
            meter.observeAgreement(ms);
            o.log(`t=${(now() / 1000).toFixed(1).padStart(7)} s  ${ms === null ? "agreement not reached before the next partition" : `all agents agree on every origin's status, ${ms} ms after the heal`}`);
          }),
        );
        return;
      }
      case "loss":
      case "delay": {
        active.impairment = describeSoakFault(f);
        began(active.impairment);
        updateMode();
        if (o.faults === "kernel") await lab!.impair(f.kind === "loss" ? { lossPct: f.lossPct } : { delayMs: f.delayMs, jitterMs: f.jitterMs });
        else if (f.kind === "loss") {
          appFaults = { ...appFaults, dropRate: f.lossPct / 100 };
          await Promise.all(cluster.nodes.filter((n) => !down.has(n.id)).map(setAppFaults));
        } else return note(step, "skipped: the fault layer has no delay");
        return note(step, o.faults === "app" ? "fault layer: UDP packets only" : undefined);
      }
      case "clear":
        if (o.faults === "kernel") await lab!.heal("impairments");
        else {
          appFaults = { ...appFaults, dropRate: 0 };
          await Promise.all(cluster.nodes.filter((n) => !down.has(n.id)).map(setAppFaults));
        }
        active.impairment = "";
        ended();
        updateMode();
        return note(step);
      case "cpu": {
        let limit: CpuLimit;
        try {
          limit = CpuLimit.create(`soak-${process.pid}-${f.agent}`, f.pct);
        } catch (e) {
          if (e instanceof LabUnsupportedError) return note(step, `skipped: ${e.message}`);
          throw e;
        }
        starved.now = { agent: f.agent, limit };
        active.cpu = describeSoakFault(f);
        began(active.cpu);
        updateMode();
        limit.add(nodeOf(f.agent).pid);
        return note(step);
      }
      case "uncpu": {
        if (starved.now?.agent !== f.agent) return note(step, "skipped: nothing to release");
        const { limit } = starved.now;
        // Back under the shared quota first: removing the group moves what is left to the unlimited root.
        for (const pid of limit.pids()) cgroup?.add(pid);
        limit.remove();
        starved.now = null;
        active.cpu = "";
        ended();
        updateMode();
        return note(step);
      }
      case "flip":
        await Promise.all(f.origins.map((i) => fleetFlip(cluster, i, f.mode)));
        return note(step);
    }
  };

  const isRunning = (id: string) => {
    const c = nodeOf(id).child;
    return c.exitCode === null && c.signalCode === null;
  };
  // Like a supervisor (systemd's Restart=on-failure): an agent restarted
  // where it cannot reach a seed gives up joining and exits, and is started
  // again until it is up or the schedule ends.
  const restartUntilUp = async (id: string): Promise<ClusterNode | null> => {
    for (;;) {
      try {
        return await cluster.restartNode(id);
      } catch (e) {
        if (stopped || o.signal?.aborted || now() >= o.durationMs) {
          o.log(`t=${(now() / 1000).toFixed(1).padStart(7)} s  restart ${id} failed: ${(e as Error).message}; the schedule has ended`);
          return null;
        }
        o.log(`t=${(now() / 1000).toFixed(1).padStart(7)} s  restart ${id} failed: ${(e as Error).message.split("\n")[0]}; starting it again in 5 s`);
        await sleepUnless(5_000, o.signal);
      }
    }
  };

  const runTrack = async (track: SoakStep[]) => {
    for (const step of track) {
      const wait = step.atMs - now();
      if (wait > 0) await sleepUnless(wait, o.signal);
      if (o.signal?.aborted) return;
      try {
        await apply(step);
      } catch (e) {
        o.log(`t=${(now() / 1000).toFixed(1).padStart(7)} s  ${describeSoakFault(step.fault)} failed: ${(e as Error).message}`);
      }
    }
  };
  const isProcess = (s: SoakStep) => ["kill", "restart", "stop", "cont"].includes(s.fault.kind);
  const isCpu = (s: SoakStep) => s.fault.kind === "cpu" || s.fault.kind === "uncpu";
  try {
    await Promise.all([runTrack(steps.filter(isProcess)), runTrack(steps.filter(isCpu)), runTrack(steps.filter((s) => !isProcess(s) && !isCpu(s)))]);
    const rest = o.durationMs - now();
    if (rest > 0) await sleepUnless(rest, o.signal);
    if (o.signal?.aborted) o.log(`t=${(now() / 1000).toFixed(1).padStart(7)} s  stopped early: figures cover the time run`);
    ranMs = Math.round(now());
    meter.closeOpenGaps(now());
    // The end: every agent must list every origin, and agree.
    const lists = await Promise.all(cluster.nodes.map((n) => originList(n, auth)));
    const missing = new Set<string>();
    for (const l of lists) {
      if (l === null) continue;
      const have = new Set(l.map((x) => x.id));
      for (let i = 0; i < o.origins; i++) if (!have.has(`o${i}`)) missing.add(`o${i}`);
    }
    meter.observeLost(missing.size);
    if (missing.size > 0) o.log(`soak: origins missing from some agent's list at the end: ${[...missing].slice(0, 20).join(", ")}${missing.size > 20 ? ", ..." : ""}`);
  } finally {
    stopped = true;
    await Promise.all([fleetSampler, answerSampler, ...agreements]);
    for (const n of cluster.nodes) if (down.has(n.id) && isRunning(n.id)) process.kill(n.pid, "SIGCONT");
    await cluster.stop();
    starved.now?.limit.remove();
    cgroup?.remove();
  }
  const figures = meter.figures();
  const causes = activeLog.filter((a) => a.fromMs <= figures.longestGapToMs && a.toMs >= figures.longestGapFromMs).map((a) => `${a.what} at ${(a.fromMs / 1000).toFixed(1)} s`);
  return {
    seed: o.seed,
    store: o.store,
    faults: o.faults,
    agents: o.agents,
    origins: o.origins,
    intervalMs: o.intervalMs,
    durationMs: o.durationMs,
    ranMs,
    stoppedEarly: o.signal?.aborted ?? false,
    cpuQuotaPct: o.cpuQuotaPct ?? null,
    allowedGapMs,
    steps: ran,
    longestGapCause: causes.length > 0 ? causes.join("; ") : "no fault: the machine (scheduling, the store) was late",
    figures,
  };
}

// ---------------------------------------------------------------------------

type OriginRow = { id: string; status: string };

/** How many origins an agent lists (GET /healthz: the size of its origin list); null when it does not answer within 2 s. */
async function originCount(n: ClusterNode, auth: Record<string, string>): Promise<number | null> {
  try {
    const res = await fetch(`http://${n.api}/healthz`, { headers: auth, signal: AbortSignal.timeout(2_000) });
    if (!res.ok) return null;
    return ((await res.json()) as { origins: number }).origins;
  } catch {
    return null;
  }
}

/** An agent's origin list with statuses; null when it does not answer within 5 s. */
async function originList(n: ClusterNode, auth: Record<string, string>): Promise<OriginRow[] | null> {
  try {
    const res = await fetch(`http://${n.api}/v1/origins`, { headers: auth, signal: AbortSignal.timeout(5_000) });
    if (!res.ok) return null;
    return (await res.json()) as OriginRow[];
  } catch {
    return null;
  }
}

/** Polls every up agent's list until all answer the same status for every origin; null if `abandon()` first or after 60 s. */
async function timeToAgreement(cluster: RunningCluster, auth: Record<string, string>, down: ReadonlySet<string>, abandon: () => boolean): Promise<number | null> {
  const start = performance.now();
  while (!abandon() && performance.now() - start < 60_000) {
    const up = cluster.nodes.filter((n) => !down.has(n.id));
    const lists = await Promise.all(up.map((n) => originList(n, auth)));
    if (lists.every((l) => l !== null && l.length > 0)) {
      const first = new Map(lists[0]!.map((r) => [r.id, r.status]));
      const same = lists.every((l) => l!.length === first.size && l!.every((r) => first.get(r.id) === r.status));
      if (same) return Math.round(performance.now() - start);
    }
    await sleep(500);
  }
  return null;
}

async function adminFaults(n: ClusterNode, auth: Record<string, string>, body: unknown): Promise<void> {
  try {
    await fetch(`http://${n.api}/v1/admin/faults`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify(body), signal: AbortSignal.timeout(3_000) });
  } catch {
    // a paused or dead agent: its faults are set again when it comes back
  }
}

async function fleetFlip(cluster: RunningCluster, origin: number, mode: "failing" | "healthy"): Promise<void> {
  const f = cluster.fleets.find((x) => origin >= x.firstIndex && origin < x.firstIndex + x.count) ?? cluster.fleets[0]!;
  // A flip waits for the fleet's worker to apply it, which a busy machine can delay by seconds.
  await fetch(`http://${f.control}/origins/${origin - f.firstIndex}`, { method: "PUT", body: JSON.stringify({ mode }), signal: AbortSignal.timeout(15_000) });
}
