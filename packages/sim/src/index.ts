/**
 * @packageDocumentation
 * `@heck/sim`: the deterministic-simulation kit shared by every distributed
 * stage: a seeded, forkable PRNG, clocks, the transport contracts with
 * simulated and real (UDP/TCP) implementations, a simulation runner with
 * fault schedules and seed replay, and a linearizability checker; and the
 * small utilities every stage would otherwise write again (`utf8Length` here,
 * `fsyncDir` in `@heck/sim/io`, JSON over HTTP in `@heck/sim/http`).
 *
 * This entry point is pure (safe to import from any `src/core`); the real
 * transports, the system clock and file I/O are in `@heck/sim/io`, the JSON
 * HTTP functions in `@heck/sim/http`, and the test utilities (transport
 * contract suite, seed lists) in `@heck/sim/testing`.
 */
export type * from "./core/types.ts";
// Type-only: the promise-returning transport contract lives with the edges (src/io/transport.ts).
export type { StreamTransport, Transport } from "./io/transport.ts";
export { NONE, type Ready, type ReadyCore, type ProtocolCore } from "./core/ready.ts";
export { SimDisk, tearBytes, tearText, type CrashDamage, type DiskFaultOptions } from "./core/sim-disk.ts";
export { createPrng } from "./core/prng.ts";
export { utf8Length } from "./core/utf8.ts";
export { crc32, crc32Text } from "./core/crc32.ts";
export { ManualClock } from "./core/manual-clock.ts";
export { pollUntil } from "./core/poll-until.ts";
export { EventQueue, type Timed } from "./core/event-queue.ts";
export {
  SimNetwork,
  SimEndpoint,
  type EndpointSink,
  type LatencyOptions,
  type MessageInFlight,
  type NetworkFaultOptions,
  type NetworkStats,
  type SimNetworkOptions,
} from "./core/sim-network.ts";
export {
  cutLinks,
  describePartition,
  isolateOne,
  majorityMinority,
  randomBridge,
  randomOneWay,
  type PartitionSpec,
} from "./core/partitions.ts";
export {
  Simulation,
  SimulationFailure,
  InvariantViolation,
  PERSIST_BEFORE_SEND,
  type Departure,
  type SimulationDiskOptions,
  type FailureKind,
  type Invariant,
  type MessageCodec,
  type NodeFactoryArgs,
  type SimulationConfig,
  type SimulationNetworkOptions,
  type SimulationStats,
} from "./core/simulation.ts";
export {
  runSeeded,
  applyFault,
  ddmin,
  seededScenario,
  createSeededSimulation,
  startSeededWorkload,
  enterLivenessPhase,
  type SeededRunOptions,
  type SeededRunResult,
  type SeededScenario,
} from "./core/seeded-run.ts";
export { setReplayHint, replayHint } from "./core/replay-hint.ts";
export {
  randomFaultSchedule,
  describeFaultStep,
  formatFaultSchedule,
  parseFaultSchedule,
  type ParseFaultScheduleResult,
  type Fault,
  type FaultStep,
  type FaultScheduleContext,
  type FaultScheduleGenerator,
  type RandomFaultScheduleOptions,
} from "./core/fault-schedule.ts";
export {
  formatTraceLine,
  formatTrace,
  parseTraceLine,
  parseTrace,
  formatTraceEvent,
  summarize,
  TraceRing,
  filterTrace,
  type TraceFilter,
  type TraceParseResult,
} from "./core/trace.ts";
export { parseFaultCommand, applyFaultCommand, type FaultCommand } from "./core/fault-command.ts";
export { searchLinearization, type Model, type Operation, type SearchOptions, type SearchResult } from "./core/linearizability.ts";
export {
  checkKvHistory,
  kvModel,
  KvHistoryRecorder,
  formatKvHistory,
  describeKvInput,
  describeKvOutput,
  type KvInput,
  type KvOutput,
  type KvOperation,
  type KvCheckOptions,
  type KvCheckResult,
} from "./core/kv-history.ts";
