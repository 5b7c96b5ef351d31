/** fast-check generators for memberlist's wire structs and for heck messages that can travel on that wire. */
import fc from "fast-check";
import type { WireNodeState, WirePacketMessage, WireStreamMessage } from "../../src/core/memberlist/codec.ts";
import type { MemberRecord, PacketMessage, SwimMessage } from "../../src/core/messages.ts";
import { MEMBER_STATES } from "../../src/core/types.ts";
import { nameArb } from "./arbitraries.ts";

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const port = fc.integer({ min: 1, max: 0xffff });
const ip = fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 }));
const ipOrNil = fc.option(ip, { nil: null });
/** Go never writes an empty non-nil slice where it has nil, and a nil for omitempty source fields. */
const bytesOrNil = (maxLength: number): fc.Arbitrary<Uint8Array | null> => fc.option(fc.uint8Array({ minLength: 1, maxLength }), { nil: null });
const vsn = fc.option(fc.uint8Array({ minLength: 6, maxLength: 6 }), { nil: null });
const wireName = fc.oneof(nameArb, fc.constant(""));

const leaf: fc.Arbitrary<WirePacketMessage> = fc.oneof(
  fc.record({ type: fc.constant("ping" as const), seqNo: u32, node: wireName, sourceAddr: ipOrNil, sourcePort: fc.integer({ min: 0, max: 0xffff }), sourceNode: wireName }),
  fc.record({
    type: fc.constant("indirect-ping" as const),
    seqNo: u32,
    target: ipOrNil,
    port: fc.integer({ min: 0, max: 0xffff }),
    node: wireName,
    nack: fc.boolean(),
    sourceAddr: ipOrNil,
    sourcePort: fc.integer({ min: 0, max: 0xffff }),
    sourceNode: wireName,
  }),
  fc.record({ type: fc.constant("ack" as const), seqNo: u32, payload: bytesOrNil(64) }),
  fc.record({ type: fc.constant("nack" as const), seqNo: u32 }),
  fc.record({ type: fc.constant("suspect" as const), incarnation: u32, node: wireName, from: wireName }),
  fc.record({ type: fc.constant("dead" as const), incarnation: u32, node: wireName, from: wireName }),
  fc.record({ type: fc.constant("alive" as const), incarnation: u32, node: wireName, addr: ipOrNil, port: fc.integer({ min: 0, max: 0xffff }), meta: bytesOrNil(512), vsn }),
  fc.record({ type: fc.constant("user" as const), payload: fc.uint8Array({ maxLength: 100 }) }),
);

/** Any packet message, compounds and compression included (nested at most twice). */
export const wirePacketArb: fc.Arbitrary<WirePacketMessage> = fc.oneof(
  { weight: 4, arbitrary: leaf },
  { weight: 1, arbitrary: fc.record({ type: fc.constant("compound" as const), parts: fc.array(leaf, { minLength: 1, maxLength: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant("compress" as const), inner: leaf }) },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant("compress" as const),
      inner: fc.record({ type: fc.constant("compound" as const), parts: fc.array(leaf, { minLength: 1, maxLength: 6 }) }),
    }),
  },
);

const nodeState: fc.Arbitrary<WireNodeState> = fc.record({
  name: wireName,
  addr: ipOrNil,
  port: fc.integer({ min: 0, max: 0xffff }),
  meta: bytesOrNil(100),
  incarnation: u32,
  state: fc.integer({ min: 0, max: 3 }),
  vsn,
});

/** Any stream message. */
export const wireStreamArb: fc.Arbitrary<WireStreamMessage> = fc.oneof(
  fc.record({ type: fc.constant("push-pull" as const), join: fc.boolean(), nodes: fc.array(nodeState, { maxLength: 12 }), userState: fc.uint8Array({ maxLength: 50 }) }),
  fc.record({ type: fc.constant("ping" as const), seqNo: u32, node: wireName, sourceAddr: ipOrNil, sourcePort: fc.integer({ min: 0, max: 0xffff }), sourceNode: wireName }),
  fc.record({ type: fc.constant("ack" as const), seqNo: u32, payload: bytesOrNil(64) }),
  fc.record({ type: fc.constant("user" as const), payload: fc.uint8Array({ maxLength: 100 }) }),
  fc.record({ type: fc.constant("err" as const), error: fc.string({ maxLength: 80 }) }),
);

/** A heck address memberlist can carry: IPv4 or IPv6 with a non-zero port. */
export const ipAddressArb: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(fc.ipV4(), port).map(([h, p]) => `${h}:${p}`),
  fc.tuple(fc.ipV6(), port).map(([h, p]) => `[${h}]:${p}`),
);

const vsnArb = fc.option(
  fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 2, max: 5 }), fc.integer({ min: 0, max: 255 })).map(([pmin, pmax, d]) => Uint8Array.of(pmin, pmax, pmax, 0, d, 0)),
  { nil: undefined },
);
const metaArb = fc.uint8Array({ maxLength: 512 });
const u32Arb = u32;

/** Heck packet messages with IP addresses (what a member on memberlist's wire sends and receives). */
export const heckPacketArb: fc.Arbitrary<PacketMessage> = fc.oneof(
  fc.record({ type: fc.constant("ping" as const), seq: u32Arb, target: nameArb, fromName: nameArb, fromAddr: ipAddressArb }),
  fc.record({ type: fc.constant("ping-req" as const), seq: u32Arb, target: nameArb, targetAddr: ipAddressArb, fromName: nameArb, fromAddr: ipAddressArb, nack: fc.boolean() }),
  fc.record({ type: fc.constant("ack" as const), seq: u32Arb }),
  fc.record({ type: fc.constant("nack" as const), seq: u32Arb }),
  fc.record({ type: fc.constant("suspect" as const), name: nameArb, incarnation: u32Arb, from: nameArb }),
  fc.record({ type: fc.constant("dead" as const), name: nameArb, incarnation: u32Arb, from: nameArb }),
  fc.record({ type: fc.constant("alive" as const), name: nameArb, addr: ipAddressArb, incarnation: u32Arb, meta: metaArb, vsn: vsnArb }, { requiredKeys: ["type", "name", "addr", "incarnation", "meta"] }),
);

const heckRecordArb: fc.Arbitrary<MemberRecord> = fc.record(
  { name: nameArb, addr: ipAddressArb, incarnation: u32Arb, state: fc.constantFrom(...MEMBER_STATES), meta: fc.uint8Array({ maxLength: 40 }), vsn: vsnArb },
  { requiredKeys: ["name", "addr", "incarnation", "state", "meta"] },
);

/** Heck push-pulls with IP addresses. */
export const heckPushPullArb: fc.Arbitrary<Extract<SwimMessage, { type: "push-pull" }>> = fc.record({
  type: fc.constant("push-pull" as const),
  join: fc.boolean(),
  reply: fc.boolean(),
  members: fc.array(heckRecordArb, { maxLength: 10 }),
});
