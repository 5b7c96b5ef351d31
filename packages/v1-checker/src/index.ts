/**
 * @packageDocumentation
 * `@heck/v1-checker`: stage 1 of Heck. One process polls n origins every
 * interval and answers what is healthy.
 *
 * Two layers, usable separately:
 *
 * - the pure core: {@link CheckerCore} (scheduling with a deadline min-heap,
 *   even first-check spread, at most one check per target, a global
 *   concurrency bound; rise/fall health with `unknown` start and bounded
 *   history), {@link parseTarget} / {@link parseConfig} (validation with
 *   errors that name the field), {@link HealthTracker}, {@link CheckScheduler};
 * - the engine: {@link CheckEngine} drives the core with real time and real
 *   probes (undici keep-alive pools for HTTP(S), TCP connects) and emits
 *   `result` and `transition` events; {@link ApiServer} serves it over HTTP
 *   (REST, server-sent events, Prometheus).
 *
 * apps/v2 reuses the engine: one per agent, adding and removing origins as
 * ownership moves, and recording results from its events.
 *
 * ```ts
 * import { CheckEngine } from "@heck/v1-checker";
 * const engine = new CheckEngine();
 * engine.on("result", (e) => store(e.id, e.result));
 * engine.on("transition", (e) => console.log(e.transition.id, e.transition.to));
 * engine.add({ id: "o1", url: "http://127.0.0.1:12000/health", intervalMs: 1000 });
 * engine.start();
 * ```
 */

// Vocabulary
export { HEALTH_STATUSES, CHECK_ERROR_KINDS } from "./core/types.ts";
export type { HealthStatus, CheckErrorKind, CheckError, CheckResult, StatusRange, TargetSpec, Transition, Parsed } from "./core/types.ts";

// Pure core
export {
  BUILTIN_DEFAULTS,
  LIMITS,
  TARGET_FIELDS,
  parseTarget,
  parseDefaults,
  parseStatusRanges,
  formatStatusRanges,
  statusAccepted,
  type TargetDefaults,
} from "./core/target.ts";
export { parseConfig, ENGINE_DEFAULTS, type CheckerConfig } from "./core/config.ts";
export { HealthTracker } from "./core/health.ts";
export { IndexedMinHeap, DeadlineHeap, type HeapNode } from "./core/heap.ts";
export { CheckScheduler, ScheduleEntry, type DueCheck } from "./core/scheduler.ts";
export {
  CheckerCore,
  type CheckerCoreOptions,
  type InitialHealth,
  type CheckTask,
  type CheckRun,
  type TargetRunState,
  type CheckerEvent,
  type ResultEvent,
  type TransitionEvent,
  type TargetSnapshot,
  type TargetBrief,
} from "./core/checker.ts";
export { ExpiryQueue } from "./core/expiry-queue.ts";
export { CheckStats, BucketHistogram, LogHistogram, OUTCOMES, LATENCY_BUCKETS_S, LAG_BUCKETS_S } from "./core/check-stats.ts";
export { classifyErrorCode } from "./core/errors.ts";
export { formatTable, formatAge, percentile } from "./core/format.ts";

// Engine and edges
export { CheckEngine, TargetInputError, TargetExistsError, type CheckEngineOptions, type CheckEngineEvents, type EngineStats, type Probe } from "./io/engine.ts";
export { HttpProber, type HttpProberOptions, type ProbeSink } from "./io/http-probe.ts";
export { tcpCheck } from "./io/tcp-probe.ts";
export { ApiServer, targetView, transitionView, type TargetView, type TransitionView } from "./io/api-server.ts";
export { CheckerClient, DEFAULT_LISTEN } from "./io/api-client.ts";
export { createMetrics, renderTargetMetrics, STATUS_VALUE, type EngineMetrics } from "./io/metrics.ts";
export { loadConfigFile, parseConfigText } from "./io/config-file.ts";
export { runDemo, type DemoOptions, type DemoSummary } from "./io/demo.ts";
export { setHeapGrowingPercent, DEFAULT_HEAP_GROWING_PERCENT } from "./io/v8-heap.ts";
