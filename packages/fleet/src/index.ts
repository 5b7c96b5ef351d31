/**
 * @packageDocumentation
 * `@heck/fleet`: a fleet of real HTTP origin servers on loopback with
 * controllable behaviour (healthy, failing, slow, hanging, closed, flapping,
 * wrong body, reset, redirect), for tests, benchmarks and demos. Up to
 * 10,000+ origins in one process, one listening port each, a control API to
 * flip them at runtime and per-origin request counts.
 *
 * ```ts
 * const { fleet, close } = await startFleet({ count: 100 });   // OS-assigned ports
 * await fleet.setBehaviour(3, { mode: "failing", status: 500 });
 * fetch(fleet.url(3));                                         // -> 500
 * fleet.requestCounts()[3];                                    // -> 1
 * await close();
 * ```
 */
export {
  MODES,
  DEFAULT_SLOW_LATENCY_MS,
  DEFAULT_FLAP_PERIOD_MS,
  healthyBehaviour,
  healthyBody,
  wrongBody,
  parseBehaviour,
  planResponse,
  flappingIsFailing,
  type Mode,
  type Behaviour,
  type ResponsePlan,
  type Parsed,
} from "./core/behaviour.ts";
export { parseSelection, parseIndexList } from "./core/selection.ts";
export { parseHostPort } from "./core/address.ts";
export { ConnectionBudget } from "./core/connection-budget.ts";
export { Fleet, FleetInputError, type FleetOptions, type FleetStats, type OriginSnapshot } from "./io/fleet.ts";
export { ControlServer } from "./io/control-server.ts";
export { SplitFleet, runFleetWorker, FLEET_WORKER_ENV, type SplitFleetOptions, type FleetControl } from "./io/split-fleet.ts";
export { FleetClient } from "./io/control-client.ts";
export { startFleet, type RunningFleet } from "./io/start.ts";
export { openFilesLimit } from "./io/fd-limit.ts";
export { testCertificate } from "./io/test-certificate.ts";
