/**
 * The edge between bytes and a replica: decode one gossip message and hand
 * it to the node, or count the refusal on the node. The real driver calls
 * it for every packet and stream frame, a composed simulation for every
 * crdt message it carries as text, and tests to play a peer that sends
 * bytes. It never throws on bad input: a malformed message is counted and
 * dropped, and the node never sees it.
 */
import type { Channel } from "@heck/sim";
import { utf8Length } from "@heck/sim";
import { decodeMessage } from "./messages.ts";
import type { KvNode } from "./node.ts";

/** Decodes `wire` (text or bytes) within the node's size limit, then `receive`s it, or `refuse`s it with the decoder's error. */
export function receiveWire(node: KvNode, from: string, wire: string | Uint8Array, channel: Channel, nowMs: number): void {
  const decoded = decodeMessage(wire, node.config.maxMessageBytes);
  if (!decoded.ok) {
    node.refuse(typeof wire === "string" ? utf8Length(wire) : wire.byteLength, decoded.error, nowMs);
    return;
  }
  node.receive(from, decoded.value, channel, nowMs);
}
