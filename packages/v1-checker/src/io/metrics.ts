import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { ResultEvent, TransitionEvent } from "../core/checker.ts";
import type { CheckEngine } from "./engine.ts";

/** Numeric encoding of a status in `heck_v1_target_status`: 1 healthy, 0 unhealthy, -1 unknown. */
export const STATUS_VALUE = { healthy: 1, unhealthy: 0, unknown: -1 } as const;

/** A Prometheus registry fed by an engine; `detach` stops listening to it. */
export interface EngineMetrics {
  registry: Registry;
  detach(): void;
}

/**
 * Prometheus metrics for an engine, on a registry of its own (so several
 * engines in one process, as in tests, do not collide):
 *
 * - `heck_v1_target_status{id}`: 1 healthy, 0 unhealthy, -1 unknown
 * - `heck_v1_target_latency_seconds{id}`: the latest check's latency
 * - `heck_v1_target_cert_expiry_days{id}`: HTTPS targets only
 * - `heck_v1_targets{status}`: how many targets are in each status
 * - `heck_v1_check_duration_seconds{result}`: histogram of check latency by outcome (`ok` or the error kind)
 * - `heck_v1_schedule_lag_seconds`: histogram of start minus due time
 * - `heck_v1_transitions_total{to}`, `heck_v1_checks_in_flight`, and Node's process metrics
 *
 * Per-target gauges are filled at scrape time from the engine, so a check
 * costs two histogram observations and nothing per target.
 */
export function createMetrics(engine: CheckEngine, opts: { processMetrics?: boolean } = {}): EngineMetrics {
  const registry = new Registry();
  if (opts.processMetrics ?? true) collectDefaultMetrics({ register: registry });

  const latency = new Histogram({
    name: "heck_v1_check_duration_seconds",
    help: "Check latency by outcome: ok, or the error kind (timeout, refused, status, ...).",
    labelNames: ["result"],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const lag = new Histogram({
    name: "heck_v1_schedule_lag_seconds",
    help: "How late checks started: start time minus due time.",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
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
  new Gauge({
    name: "heck_v1_target_status",
    help: "Per-target status: 1 healthy, 0 unhealthy, -1 unknown.",
    labelNames: ["id"],
    registers: [registry],
    collect() {
      this.reset();
      for (const t of engine.list()) this.set({ id: t.id }, STATUS_VALUE[t.status]);
    },
  });
  new Gauge({
    name: "heck_v1_target_latency_seconds",
    help: "Per-target latency of the latest check.",
    labelNames: ["id"],
    registers: [registry],
    collect() {
      this.reset();
      for (const t of engine.list()) if (t.latencyMs !== null) this.set({ id: t.id }, t.latencyMs / 1000);
    },
  });
  new Gauge({
    name: "heck_v1_target_cert_expiry_days",
    help: "Days until the HTTPS target's certificate expires.",
    labelNames: ["id"],
    registers: [registry],
    collect() {
      this.reset();
      for (const t of engine.list()) if (t.certExpiryDays !== null) this.set({ id: t.id }, t.certExpiryDays);
    },
  });

  // One child per outcome label, so the per-check path does no label hashing.
  const byOutcome = new Map<string, { observe(v: number): void }>();
  const onResult = (e: ResultEvent): void => {
    const outcome = e.result.ok ? "ok" : (e.result.error?.kind ?? "network");
    let child = byOutcome.get(outcome);
    if (!child) {
      child = latency.labels({ result: outcome });
      byOutcome.set(outcome, child);
    }
    child.observe(e.result.latencyMs / 1000);
    lag.observe(Math.max(0, e.lagMs) / 1000);
  };
  const onTransition = (e: TransitionEvent): void => transitions.inc({ to: e.transition.to });
  engine.on("result", onResult);
  engine.on("transition", onTransition);
  return {
    registry,
    detach() {
      engine.off("result", onResult);
      engine.off("transition", onTransition);
    },
  };
}
