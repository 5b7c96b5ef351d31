/**
 * `@heck/sim/testing`: helpers for other packages' tests: seed lists for
 * simulation tests and the transport contract suite.
 */
export { seedsFromEnv, parseSeed, type SeedListOptions } from "../../src/io/seeds.ts";
export {
  describeTransportContract,
  simHarness,
  realHarness,
  type TransportHarness,
  type ControlledTransport,
} from "./transport-contract.ts";
export { EchoNode, TaggingNode, type EchoMessage, type TaggedMessage } from "./echo.ts";
export { linearizableHistory, bruteForceLinearizable, type HistoryShape } from "./kv-histories.ts";
export { NaiveLeaderNode, type Heartbeat } from "./leader.ts";
