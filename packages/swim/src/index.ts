/**
 * @packageDocumentation
 * `@heck/swim`: Stage 3: membership and failure detection with SWIM (Das,
 * Gupta, Motivala 2002) and the Lifeguard extensions (Dadgar, Phillips,
 * Currey 2018), in the spirit of hashicorp/memberlist.
 *
 * The protocol is a pure state machine ({@link SwimNode}); the io layer runs
 * it over real UDP/TCP with encryption ({@link startMember}); the simulation
 * harness runs hundreds of them under a seeded, faulty network.
 */
export * from "./core/config.ts";
export * from "./core/types.ts";
export type * from "./core/messages.ts";
export { encodeMessage, decodeMessage, encodedSize, type DecodeError, type DecodeErrorKind, type DecodeResult } from "./core/codec.ts";
export { BroadcastQueue } from "./core/broadcast-queue.ts";
export { Suspicion, remainingTimeoutMs } from "./core/suspicion.ts";
export { Awareness } from "./core/awareness.ts";
export { SwimNode, type SwimNodeOptions, type SwimPersisted, type SwimStats, type JoinProgress } from "./core/node.ts";
