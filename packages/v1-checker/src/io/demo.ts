import { createPrng } from "@heck/sim";
import { startFleet, type Mode, type RunningFleet } from "@heck/fleet";
import { formatAge, formatTable, percentile } from "../core/format.ts";
import type { HealthStatus } from "../core/types.ts";
import { ApiServer, transitionView, type TransitionView } from "./api-server.ts";
import { CheckEngine } from "./engine.ts";

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Origins in the embedded fleet. */
  origins: number;
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
  /** The checker's API (so `heck-v1 status` works against the demo). */
  listen: { host: string; port: number };
  /** The embedded fleet's control API (so you can break origins with curl). */
  fleetControl: { host: string; port: number };
  /** Stop after this many seconds; undefined runs until `signal` aborts. */
  durationS: number | undefined;
  /** Flip a random origin to failing every few seconds (and back later). */
  chaos: boolean;
  seed: number;
  out: NodeJS.WritableStream;
  /** Redraw a live table (true) or print one summary line per second (false, for logs and tests). */
  tty: boolean;
  signal?: AbortSignal;
}

/** What the demo saw, returned when it ends. */
export interface DemoSummary {
  origins: number;
  checks: number;
  byStatus: Record<HealthStatus, number>;
  transitions: number;
}

/** The mix of broken origins: share of the fleet per mode (at least one each once the fleet has 12 origins). */
const BROKEN_MIX: ReadonlyArray<{ mode: Mode; share: number; extra?: Record<string, unknown> }> = [
  { mode: "failing", share: 0.03 },
  { mode: "slow", share: 0.02 },
  { mode: "flapping", share: 0.015, extra: { periodMs: 6000 } },
  { mode: "hanging", share: 0.01 },
  { mode: "closed", share: 0.01 },
  { mode: "wrong-body", share: 0.01 },
];

/**
 * `heck-v1 demo`: an embedded fleet with a few broken origins, a checker
 * with its API, and a live table in the terminal. Everything a learner
 * needs to watch stage 1 work, from one command.
 */
export async function runDemo(opts: DemoOptions): Promise<DemoSummary> {
  const prng = createPrng(opts.seed);
  const pick = prng.fork("layout");
  const indices = pick.shuffle(Array.from({ length: opts.origins }, (_, i) => i));
  const initial: Array<{ indices: number[]; behaviour: unknown }> = [];
  const fleetMode = new Array<Mode>(opts.origins).fill("healthy");
  let next = 0;
  for (const m of BROKEN_MIX) {
    const n = opts.origins >= 12 ? Math.max(1, Math.round(opts.origins * m.share)) : 0;
    const chosen = indices.slice(next, next + n);
    next += n;
    if (chosen.length === 0) continue;
    const behaviour: Record<string, unknown> = { mode: m.mode, ...m.extra };
    // Slow origins answer after 1.5 timeouts, so they read as timeouts.
    if (m.mode === "slow") behaviour["latencyMs"] = Math.round(opts.timeoutMs * 1.5);
    initial.push({ indices: chosen, behaviour });
    for (const i of chosen) fleetMode[i] = m.mode;
  }

  let running: RunningFleet | undefined;
  let engine: CheckEngine | undefined;
  let api: ApiServer | undefined;
  const timers: NodeJS.Timeout[] = [];
  try {
    running = await startFleet({ count: opts.origins, control: opts.fleetControl, initial });
    const fleet = running.fleet;
    engine = new CheckEngine({ seed: opts.seed });
    const width = String(opts.origins - 1).length;
    const idOf = (i: number) => `origin-${String(i).padStart(Math.max(3, width), "0")}`;
    const indexOf = new Map<string, number>();
    for (let i = 0; i < opts.origins; i++) {
      engine.add({
        id: idOf(i),
        url: fleet.url(i),
        intervalMs: opts.intervalMs,
        timeoutMs: opts.timeoutMs,
        rise: opts.rise,
        fall: opts.fall,
        bodyContains: '"status":"ok"',
      });
      indexOf.set(idOf(i), i);
    }
    api = await ApiServer.start(engine, opts.listen.host, opts.listen.port);
    const controlUrl = running.control!.url;

    const recent: TransitionView[] = [];
    let transitions = 0;
    const lags: number[] = [];
    const latencies: number[] = [];
    let checksInWindow = 0;
    engine.on("result", (e) => {
      checksInWindow++;
      if (lags.length < 50_000) {
        lags.push(e.lagMs);
        latencies.push(e.result.latencyMs);
      }
    });
    engine.on("transition", (e) => {
      transitions++;
      const v = transitionView(e.transition);
      recent.push(v);
      if (recent.length > 8) recent.shift();
      if (!opts.tty) opts.out.write(`  ${v.at.slice(11, 23)}  ${v.id}  ${v.from} -> ${v.to}  ${v.reason}\n`);
    });
    engine.start();

    const startedMs = performance.now();
    const header =
      `heck-v1 demo: ${opts.origins} origins checked every ${opts.intervalMs} ms (timeout ${opts.timeoutMs} ms, rise ${opts.rise}, fall ${opts.fall})\n` +
      `  checker API: ${api.url}   fleet control: ${controlUrl}\n`;
    if (!opts.tty) opts.out.write(header);

    // Chaos: every 5 s break one healthy origin, and heal it 15 s later.
    const chaosRng = prng.fork("chaos");
    if (opts.chaos) {
      timers.push(
        setInterval(() => {
          const healthyIdx = fleetMode.flatMap((m, i) => (m === "healthy" ? [i] : []));
          if (healthyIdx.length === 0) return;
          const i = chaosRng.pick(healthyIdx);
          fleetMode[i] = "failing";
          fleet.setBehaviour(i, { mode: "failing", status: 500 }).catch(() => undefined);
          const heal = setTimeout(() => {
            fleetMode[i] = "healthy";
            fleet.setBehaviour(i, { mode: "healthy" }).catch(() => undefined);
          }, 15_000);
          timers.push(heal);
        }, 5000),
      );
    }

    let lastRender = performance.now();
    const render = (): void => {
      const now = performance.now();
      const windowS = (now - lastRender) / 1000;
      lastRender = now;
      const rate = checksInWindow / Math.max(windowS, 0.001);
      checksInWindow = 0;
      const lagP99 = percentile(lags, 99);
      const latP50 = percentile(latencies, 50);
      const latP99 = percentile(latencies, 99);
      lags.length = 0;
      latencies.length = 0;
      const s = engine!.stats();
      const elapsed = ((now - startedMs) / 1000).toFixed(1);
      const fmt = (v: number) => (Number.isNaN(v) ? "-" : `${v.toFixed(1)} ms`);
      const summary = `healthy ${s.byStatus.healthy}  unhealthy ${s.byStatus.unhealthy}  unknown ${s.byStatus.unknown}   checks/s ${rate.toFixed(0)}  lag p99 ${fmt(lagP99)}  latency p50 ${fmt(latP50)} p99 ${fmt(latP99)}`;
      if (!opts.tty) {
        opts.out.write(`t=${elapsed}s  ${summary}\n`);
        return;
      }
      const nowEpoch = engine!.nowMs();
      const notHealthy = engine!.list().filter((t) => t.status !== "healthy");
      notHealthy.sort((a, b) => (a.status === b.status ? a.id.localeCompare(b.id) : a.status === "unhealthy" ? -1 : 1));
      const shown = notHealthy.slice(0, 14);
      const table = formatTable(
        ["ID", "STATUS", "FOR", "LAST ERROR", "FLEET MODE"],
        shown.map((t) => [t.id, t.status, formatAge(nowEpoch - t.sinceMs), t.lastError ? `${t.lastError.kind}: ${t.lastError.message}` : "-", fleetMode[indexOf.get(t.id)!] ?? "?"]),
        48,
      );
      const lines = [
        header.trimEnd(),
        `  ${summary}   ${elapsed}s`,
        "",
        ...table.map((l) => `  ${l}`),
        ...(notHealthy.length > shown.length ? [`  (and ${notHealthy.length - shown.length} more: pnpm heck-v1 status --unhealthy)`] : []),
        "",
        "  recent transitions",
        ...(recent.length === 0 ? ["  (none yet: rise/fall need a few checks)"] : recent.map((v) => `  ${v.at.slice(11, 23)}  ${v.id}  ${v.from} -> ${v.to}  ${v.reason.slice(0, 70)}`)),
        "",
        `  Break one:  curl -X PUT ${controlUrl}/origins/0 -d '{"mode":"failing"}'`,
        `  Heal it:    curl -X PUT ${controlUrl}/origins/0 -d '{"mode":"healthy"}'`,
        `  Ask it:     pnpm heck-v1 status --unhealthy --server ${api!.url}`,
        "  Ctrl-C stops.",
      ];
      opts.out.write("\x1b[H\x1b[2J" + lines.join("\n") + "\n");
    };
    timers.push(setInterval(render, 1000));

    await new Promise<void>((resolve) => {
      if (opts.signal?.aborted) return resolve();
      opts.signal?.addEventListener("abort", () => resolve(), { once: true });
      if (opts.durationS !== undefined) timers.push(setTimeout(resolve, opts.durationS * 1000));
    });
    render();
    const s = engine.stats();
    return { origins: opts.origins, checks: s.checks, byStatus: s.byStatus, transitions };
  } finally {
    for (const t of timers) clearTimeout(t);
    await api?.close();
    await engine?.stop();
    await running?.close();
  }
}
