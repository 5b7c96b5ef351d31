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

/** What {@link measureWindow} reports. */
export interface WindowFigures {
  elapsedS: number;
  cpuS: number;
  rssMaxMb: number;
  heapTotalMaxMb: number;
  eventLoopDelayP99Ms: number;
  eventLoopDelayMaxMs: number;
  gc: GcFigures;
}

/** Runs for `durationS` and measures this process meanwhile. `tick` runs every second (e.g. to scrape). */
export async function measureWindow(durationS: number, tick?: (second: number) => void): Promise<WindowFigures> {
  const gc: GcFigures = { minor: 0, minorMs: 0, major: 0, majorMs: 0, maxPauseMs: 0 };
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
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
  let second = 0;
  const ticker = setInterval(() => tick?.(++second), 1000);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, durationS * 1000));
  const elapsedS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  clearInterval(ticker);
  gcObserver.disconnect();
  loopDelay.disable();
  sample();
  return {
    elapsedS,
    cpuS: (cpu.user + cpu.system) / 1e6,
    rssMaxMb: rssMax / 2 ** 20,
    heapTotalMaxMb: heapTotalMax / 2 ** 20,
    eventLoopDelayP99Ms: loopDelay.percentile(99) / 1e6,
    eventLoopDelayMaxMs: loopDelay.max / 1e6,
    gc,
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
