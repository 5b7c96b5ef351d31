/**
 * @packageDocumentation
 * `@heck/net`: a network lab on one Linux machine. Each host is a network
 * namespace with its own address on a private subnet, joined to the others
 * by a bridge and reachable from the namespace that built the lab; faults
 * between hosts (partitions, one-way cuts, bridges, loss, delay with jitter,
 * duplication, reordering) are made by the kernel: nftables, and `tc netem`
 * where the kernel has it, else an NFQUEUE delay queue.
 *
 * ```ts
 * const lab = await NetLab.create({ hosts: ["n1", "n2", "n3"] });
 * const child = lab.spawn("n1", process.execPath, ["server.js", "--bind", lab.host("n1").address]);
 * await lab.isolate("n1");                      // n1 cannot reach n2, n3; this namespace reaches all
 * await lab.impair({ lossPct: 10, delayMs: 200, jitterMs: 50 });
 * await lab.heal();
 * await lab.destroy();
 * ```
 */
export {
  LAB_PREFIX,
  MAX_HOSTS,
  HOST_NAME,
  planLab,
  hostOf,
  defaultHostNames,
  validateHostNames,
  labIndexOfNetns,
  type HostPlan,
  type LabPlan,
} from "./core/lab-plan.ts";
export {
  HEALTHY,
  NO_IMPAIRMENT,
  withPartition,
  withOneWayCut,
  withImpairment,
  healed,
  checkImpairment,
  renderHostRules,
  describeFaults,
  describeImpairment,
  parsePercent,
  parseDurationMs,
  type Backend,
  type FaultState,
  type HostRules,
  type Impairment,
} from "./core/faults.ts";
export { NetLab, LabUnsupportedError, cleanLeftovers, destroyLabSync, type NetLabOptions, type LabSummary } from "./io/lab.ts";
export { loopbackPlacement, labPlacement, netnsFields, type Placement } from "./io/placement.ts";
export { labSupport, delayQueueSupport, type LabSupport } from "./io/system.ts";
export { delayQueueBinary } from "./io/delay-queue.ts";
export { CpuLimit, cpuControllerRoot, type CpuThrottling } from "./io/cpu.ts";
