/**
 * @packageDocumentation
 * `@heck/sim`: the deterministic-simulation kit shared by every distributed
 * stage: a seeded, forkable PRNG, clocks, the transport contracts with
 * simulated and real (UDP/TCP) implementations, a simulation runner with
 * fault schedules and seed replay, and a linearizability checker.
 */
export type * from "./core/types.ts";
export { createPrng } from "./core/prng.ts";
export { ManualClock } from "./core/manual-clock.ts";
