// What both benchmark workers (the checker and the bare-undici reference)
// measure the same way: a window of wall time with the process's CPU, peak
// RSS, garbage collection and event-loop delay; and the live heap after a
// full collection, outside the window.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { constants as perfConstants, monitorEventLoopDelay, performance, PerformanceObserver } from "node:perf_hooks";

/** GC pauses by kind during a window (minor = scavenge, major = mark-compact). */
export interface GcFigures {
  minor: number;
  minorMs: number;
  major: number;
  majorMs: number;
  maxPauseMs: number;
}

/**
 * Event-loop stalls: gaps of over 50 ms between ticks of a 10 ms timer. For
 * the longest, the CPU the process used meanwhile (all its threads) and the
 * GC pause time within it tell its cause apart: CPU near the stall's length
 * is the process's own work (GC or code), CPU near zero is the process not
 * being scheduled (other load on the machine).
 */
export interface StallFigures {
  over50: number;
  over100: number;
  longestMs: number;
  longestCpuMs: number;
  longestGcMs: number;
  /** Summed over stalls of over 100 ms: wall time, and CPU the process used meanwhile. */
  over100WallMs: number;
  over100CpuMs: number;
}

/** What {@link measureWindow} reports. */
export interface WindowFigures {
  elapsedS: number;
  cpuS: number;
  rssMaxMb: number;
  heapTotalMaxMb: number;
  eventLoopDelayP99Ms: number;
  eventLoopDelayMaxMs: number;
  gc: GcFigures;
  stalls: StallFigures;
}

/** Runs for `durationS` and measures this process meanwhile. `tick` runs every second (e.g. to scrape). */
export async function measureWindow(durationS: number, tick?: (second: number) => void): Promise<WindowFigures> {
  const gc: GcFigures = { minor: 0, minorMs: 0, major: 0, majorMs: 0, maxPauseMs: 0 };
  const stalls: StallFigures = { over50: 0, over100: 0, longestMs: 0, longestCpuMs: 0, longestGcMs: 0, over100WallMs: 0, over100CpuMs: 0 };
  const gcPauses: Array<[number, number]> = [];
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcPauses.push([e.startTime, e.duration]);
      const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
      if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) {
        gc.major++;
        gc.majorMs += e.duration;
      } else {
        gc.minor++;
        gc.minorMs += e.duration;
      }
      gc.maxPauseMs = Math.max(gc.maxPauseMs, e.duration);
    }
  });
  gcObserver.observe({ entryTypes: ["gc"] });
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  let rssMax = 0;
  let heapTotalMax = 0;
  const sample = (): void => {
    const m = process.memoryUsage();
    rssMax = Math.max(rssMax, m.rss);
    heapTotalMax = Math.max(heapTotalMax, m.heapTotal);
  };
  const sampler = setInterval(sample, 250);
  let lastTick = performance.now();
  let lastCpu = process.cpuUsage();
  const stallTimer = setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage();
    const gapMs = now - lastTick - 10;
    if (gapMs > 50) {
      const cpuMs = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
      stalls.over50++;
      if (gapMs > 100) {
        stalls.over100++;
        stalls.over100WallMs += gapMs;
        stalls.over100CpuMs += cpuMs;
      }
      if (gapMs > stalls.longestMs) {
        const from = lastTick;
        stalls.longestMs = gapMs;
        stalls.longestCpuMs = cpuMs;
        // GC entries are observed asynchronously: attribute them at the end of the window.
        stallWindow = [from, now];
      }
    }
    lastTick = now;
    lastCpu = cpu;
  }, 10);
  let stallWindow: [number, number] = [0, 0];
  let second = 0;
  const ticker = setInterval(() => tick?.(++second), 1000);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, durationS * 1000));
  const elapsedS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  clearInterval(stallTimer);
  clearInterval(ticker);
  gcObserver.disconnect();
  loopDelay.disable();
  sample();
  for (const [start, duration] of gcPauses) {
    const overlap = Math.min(start + duration, stallWindow[1]) - Math.max(start, stallWindow[0]);
    if (overlap > 0) stalls.longestGcMs += overlap;
  }
  return {
    elapsedS,
    cpuS: (cpu.user + cpu.system) / 1e6,
    rssMaxMb: rssMax / 2 ** 20,
    heapTotalMaxMb: heapTotalMax / 2 ** 20,
    eventLoopDelayP99Ms: loopDelay.percentile(99) / 1e6,
    eventLoopDelayMaxMs: loopDelay.max / 1e6,
    gc,
    stalls,
  };
}

let fullGc: (() => void) | undefined;

/**
 * The live heap in MB after a full garbage collection. Exposes `gc` at
 * runtime (only for this measurement, taken outside the measured window:
 * it changes nothing about how V8 sizes or collects the heap meanwhile).
 */
export function liveHeapMb(): number {
  if (fullGc === undefined) {
    setFlagsFromString("--expose-gc");
    fullGc = runInNewContext("gc") as () => void;
  }
  fullGc();
  fullGc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

/** Percentile (0-100) of the first `n` values of a typed array, by nearest rank. */
export function percentileOf(values: Float64Array, n: number, p: number): number {
  if (n === 0) return NaN;
  const sorted = Float64Array.from(values.subarray(0, n)).sort();
  return sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]!;
}
