import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from "prom-client";
import { OUTCOMES, type BucketHistogram } from "../core/check-stats.ts";
import type { TransitionEvent } from "../core/checker.ts";
import type { CheckEngine } from "./engine.ts";

/** Numeric encoding of a status in `heck_v1_target_status`: 1 healthy, 0 unhealthy, -1 unknown. */
export const STATUS_VALUE = { healthy: 1, unhealthy: 0, unknown: -1 } as const;

/** A Prometheus registry fed by an engine; `detach` stops listening to it. */
export interface EngineMetrics {
  registry: Registry;
  /** The whole exposition: the registry's metrics, then the per-target families. */
  render(): Promise<string>;
  detach(): void;
}

/**
 * Prometheus metrics for an engine, on a registry of its own (so several
 * engines in one process, as in tests, do not collide):
 *
 * - `heck_v1_check_duration_seconds{result}`: histogram of check latency by outcome (`ok` or the error kind)
 * - `heck_v1_schedule_lag_seconds`: histogram of start minus due time
 * - `heck_v1_targets{status}`, `heck_v1_transitions_total{to}`, `heck_v1_checks_in_flight`, and Node's process metrics
 * - `heck_v1_target_status{id}`: 1 healthy, 0 unhealthy, -1 unknown
 * - `heck_v1_target_latency_seconds{id}`: the latest check's latency
 * - `heck_v1_target_cert_expiry_days{id}`: HTTPS targets only
 *
 * Nothing here runs per check. The two histograms are the engine's own
 * bucket counts ({@link CheckEngine.checkStats}), handed to prom-client at
 * scrape time. The per-target families are rendered straight from the
 * engine's state into text (see {@link renderTargetMetrics}): as prom-client
 * gauges they cost a label set per target and per family, rebuilt on every
 * scrape, which at 10,000 targets blocked the event loop for a few hundred
 * milliseconds per scrape.
 */
export function createMetrics(engine: CheckEngine, opts: { processMetrics?: boolean } = {}): EngineMetrics {
  const registry = new Registry();
  if (opts.processMetrics ?? true) collectDefaultMetrics({ register: registry });

  const stats = engine.checkStats;
  register(
    registry,
    histogramMetric("heck_v1_check_duration_seconds", "Check latency by outcome: ok, or the error kind (timeout, refused, status, ...).", () =>
      OUTCOMES.map((o, i) => ({ labels: { result: o }, histogram: stats.latency[i]! })).filter((h) => h.histogram.count > 0),
    ),
  );
  register(registry, histogramMetric("heck_v1_schedule_lag_seconds", "How late checks started: start time minus due time.", () => [{ labels: {}, histogram: stats.lag }]));
  const transitions = new Counter({ name: "heck_v1_transitions_total", help: "Status changes, by new status.", labelNames: ["to"], registers: [registry] });
  new Gauge({
    name: "heck_v1_targets",
    help: "Targets per status.",
    labelNames: ["status"],
    registers: [registry],
    collect() {
      const s = engine.stats().byStatus;
      for (const [status, n] of Object.entries(s)) this.set({ status }, n);
    },
  });
  new Gauge({
    name: "heck_v1_checks_in_flight",
    help: "Checks running now.",
    registers: [registry],
    collect() {
      this.set(engine.stats().inFlight);
    },
  });

  const onTransition = (e: TransitionEvent): void => transitions.inc({ to: e.transition.to });
  engine.on("transition", onTransition);
  return {
    registry,
    async render() {
      const text = await registry.metrics();
      return text + "\n" + renderTargetMetrics(engine);
    },
    detach() {
      engine.off("transition", onTransition);
    },
  };
}

/** A label value in the exposition format (ids are validated to need none of this, but specs may come from elsewhere). */
function labelValue(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n") : v;
}

/**
 * The per-target families in Prometheus text format, straight from the
 * engine's state: one pass over the targets, one line per target and
 * family, no label objects. About 3 MB of text and a few milliseconds at 10,000 targets.
 */
export function renderTargetMetrics(engine: CheckEngine): string {
  const status: string[] = ["# HELP heck_v1_target_status Per-target status: 1 healthy, 0 unhealthy, -1 unknown.", "# TYPE heck_v1_target_status gauge"];
  const latency: string[] = ["# HELP heck_v1_target_latency_seconds Per-target latency of the latest check.", "# TYPE heck_v1_target_latency_seconds gauge"];
  const cert: string[] = ["# HELP heck_v1_target_cert_expiry_days Days until the HTTPS target's certificate expires.", "# TYPE heck_v1_target_cert_expiry_days gauge"];
  engine.forEachTarget((t) => {
    const label = `{id="${labelValue(t.id)}"} `;
    status.push(`heck_v1_target_status${label}${STATUS_VALUE[t.status]}`);
    if (!Number.isNaN(t.latencyMs)) latency.push(`heck_v1_target_latency_seconds${label}${t.latencyMs / 1000}`);
    if (!Number.isNaN(t.certExpiryDays)) cert.push(`heck_v1_target_cert_expiry_days${label}${t.certExpiryDays}`);
  });
  return `${status.join("\n")}\n\n${latency.join("\n")}\n\n${cert.join("\n")}\n`;
}

/** One sample of a custom metric, as prom-client's registry formats it. */
interface Sample {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/** The shape prom-client's registry reads from a metric: `get()` with name, help, type and values. */
interface CustomMetric {
  name: string;
  help: string;
  type: "histogram";
  aggregator: "sum";
  get(): Promise<{ name: string; help: string; type: "histogram"; aggregator: "sum"; values: Sample[] }>;
}

/** Registers a metric prom-client did not build (its typings only know its own classes; its registry reads any object of this shape). */
function register(registry: Registry, metric: CustomMetric): void {
  registry.registerMetric(metric as unknown as Metric);
}

/**
 * A histogram metric for prom-client's registry whose buckets are counted
 * elsewhere (here: by the engine as checks finish). prom-client's own
 * `Histogram` can only be fed one observation at a time.
 */
function histogramMetric(name: string, help: string, series: () => Array<{ labels: Record<string, string>; histogram: BucketHistogram }>): CustomMetric {
  return {
    name,
    help,
    type: "histogram",
    aggregator: "sum",
    async get() {
      const values: Sample[] = [];
      for (const { labels, histogram } of series()) {
        let cumulative = 0;
        histogram.bounds.forEach((le, i) => {
          cumulative += histogram.counts[i]!;
          values.push({ metricName: `${name}_bucket`, labels: { le, ...labels }, value: cumulative });
        });
        values.push({ metricName: `${name}_bucket`, labels: { le: "+Inf", ...labels }, value: histogram.count });
        values.push({ metricName: `${name}_sum`, labels, value: histogram.sum });
        values.push({ metricName: `${name}_count`, labels, value: histogram.count });
      }
      return { name, help, type: "histogram", aggregator: "sum", values };
    },
  };
}
