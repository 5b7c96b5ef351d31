/** fast-check generators for every wire message, shared by the codec tests and the decoder fuzz. */
import fc from "fast-check";
import type { MemberRecord, PacketMessage, SwimMessage, UpdateMessage } from "../../src/core/messages.ts";
import { MEMBER_STATES } from "../../src/core/types.ts";

const utf8 = new TextEncoder();
/** A name of 1-255 UTF-8 bytes, including multi-byte characters. */
export const nameArb = fc.string({ minLength: 1, maxLength: 60, unit: "grapheme" }).filter((s) => {
  const n = utf8.encode(s).length;
  return n >= 1 && n <= 255;
});
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const metaArb = fc.uint8Array({ maxLength: 512 });

export const updateArb: fc.Arbitrary<UpdateMessage> = fc.oneof(
  fc.record({ type: fc.constant("alive" as const), name: nameArb, addr: nameArb, incarnation: u32, meta: metaArb }),
  fc.record({ type: fc.constant("suspect" as const), name: nameArb, incarnation: u32, from: nameArb }),
  fc.record({ type: fc.constant("dead" as const), name: nameArb, incarnation: u32, from: nameArb }),
);

export const packetMessageArb: fc.Arbitrary<PacketMessage> = fc.oneof(
  fc.record({ type: fc.constant("ping" as const), seq: u32, target: nameArb, fromName: nameArb, fromAddr: nameArb }),
  fc.record({
    type: fc.constant("ping-req" as const),
    seq: u32,
    target: nameArb,
    targetAddr: nameArb,
    fromName: nameArb,
    fromAddr: nameArb,
    nack: fc.boolean(),
  }),
  fc.record({ type: fc.constant("ack" as const), seq: u32 }),
  fc.record({ type: fc.constant("nack" as const), seq: u32 }),
  updateArb,
);

const recordArb: fc.Arbitrary<MemberRecord> = fc.record({
  name: nameArb,
  addr: nameArb,
  incarnation: u32,
  state: fc.constantFrom(...MEMBER_STATES),
  meta: fc.uint8Array({ maxLength: 40 }),
});

export const messageArb: fc.Arbitrary<SwimMessage> = fc.oneof(
  packetMessageArb,
  fc.record({ type: fc.constant("compound" as const), parts: fc.array(packetMessageArb, { minLength: 1, maxLength: 8 }) }),
  fc.record({ type: fc.constant("push-pull" as const), join: fc.boolean(), reply: fc.boolean(), members: fc.array(recordArb, { maxLength: 10 }) }),
);
