/**
 * @packageDocumentation
 * `@heck/swim`: Stage 3 of Heck: membership and failure detection with SWIM
 * (Das, Gupta, Motivala 2002) and the Lifeguard extensions (Dadgar,
 * Phillips, Currey 2018), in the spirit of hashicorp/memberlist.
 *
 * Three layers, each usable alone:
 * - the protocol, a pure state machine: {@link SwimNode} (src/core);
 * - a member on real UDP/TCP with encryption and an HTTP endpoint:
 *   {@link startMember}, {@link startHttpApi} (src/io): the embeddable API
 *   apps/v2's agent uses;
 * - seeded simulations of whole clusters: {@link SwimCluster},
 *   {@link runScenario} (src/sim).
 *
 * A member speaks heck's compact codec, or with `wire: "memberlist"`
 * hashicorp/memberlist 0.2.2's wire, so Go memberlist nodes can be in the
 * cluster (src/core/memberlist, src/io/memberlist-endpoint.ts).
 *
 * ```ts
 * import { startMember } from "@heck/swim";
 * const member = await startMember({ name: "agent-1", bind: "127.0.0.1:7946", seeds: ["127.0.0.1:7947"], meta: "api=127.0.0.1:8080" });
 * member.subscribe((e) => console.log(e.type, e.member.name, e.member.state));
 * ```
 */

// The protocol core.
export * from "./core/config.ts";
export * from "./core/types.ts";
export type * from "./core/messages.ts";
export { encodeMessage, decodeMessage, encodedSize, type DecodeError, type DecodeErrorKind, type DecodeResult } from "./core/codec.ts";
export { BroadcastQueue } from "./core/broadcast-queue.ts";
export { Suspicion, remainingTimeoutMs } from "./core/suspicion.ts";
export { Awareness } from "./core/awareness.ts";
export { JoinRetry, defaultJoinRetryPolicy, resolveJoinRetryPolicy, type JoinRetryPolicy, type JoinRetryState } from "./core/join-retry.ts";
export { SwimNode, recoverIncarnation, type SwimNodeOptions, type SwimReady, type SwimRecord, type SwimStats, type JoinProgress } from "./core/node.ts";

// The embeddable member on real sockets.
export { startMember, parseBind, SwimMember, type StartMemberOptions, type MemberStats, type WireName } from "./io/member.ts";
export { SwimDriver, type DriverOptions, type DriverCounters, type KeyRotation, type LogFn } from "./io/driver.ts";
export type { Endpoint, EndpointSink } from "./io/endpoint.ts";
export { HeckEndpoint, type HeckEndpointOptions } from "./io/heck-endpoint.ts";

// hashicorp/memberlist's wire: the codec, the translation to heck's messages, the endpoint and its keyring.
export * from "./core/memberlist/codec.ts";
export { HECK_VSN, packetFromWire, packetToWire, streamFromWire, streamToWire, memberlistEncodedSize, type FromWireContext, type FromWirePacket, type FromWireStream } from "./core/memberlist/translate.ts";
export type { MemberlistDecodeError, MemberlistDecodeErrorKind } from "./core/memberlist/msgpack.ts";
export { MemberlistEndpoint, MEMBERLIST_MAX_PACKET_BYTES, MEMBERLIST_CRC_BYTES, type MemberlistEndpointOptions } from "./io/memberlist-endpoint.ts";
export { MemberlistKeyring, parseMemberlistKey, MEMBERLIST_KEY_BYTES, MEMBERLIST_ENCRYPTION_OVERHEAD_BYTES } from "./io/memberlist-keyring.ts";
// The cipher lives in @heck/sim/io (shared with the UDP/TCP transport); re-exported so swim's API is unchanged.
export { Keyring, KeyringError, parseKey, generateKey, keyFingerprint, keyringFromBase64, ENCRYPTION_OVERHEAD_BYTES, KEY_BYTES, type OpenFailure } from "@heck/sim/io";
export { startHttpApi, memberToJson, type HttpApi, type HttpApiOptions, type MemberJson } from "./io/http-api.ts";

// Simulation.
export { SwimCluster, swimCodec, median, VIEW_RULES, viewViolation, type ClusterOptions, type FalseDeath } from "./sim/cluster.ts";
export { SimMember, type EventObserver } from "./sim/sim-member.ts";
export { swimSweepOptions, POWER_LOSS, type SwimSweepVariant } from "./sim/sweep-scenario.ts";
export {
  runScenario,
  formatScenario,
  measureDissemination,
  measureFalsePositives,
  type ScenarioOptions,
  type ScenarioResult,
  type DisseminationResult,
  type FalsePositiveResult,
} from "./sim/scenario.ts";
