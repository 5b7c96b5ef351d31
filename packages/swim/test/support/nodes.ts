/** Helpers for single-node tests: build a node, hand it messages, read what it sent. */
import { createPrng } from "@heck/sim";
import { lanConfig, type SwimConfig } from "../../src/core/config.ts";
import type { PacketMessage, SwimMessage } from "../../src/core/messages.ts";
import { SwimNode } from "../../src/core/node.ts";

/** A node named and addressed `name`; with `peers` it starts converged and its own start-up events are drained. */
export function makeNode(name: string, options: { config?: Partial<SwimConfig>; peers?: string[]; nowMs?: number; seed?: number } = {}): SwimNode {
  const node = new SwimNode({
    name,
    addr: name,
    config: { ...lanConfig(), ...options.config },
    prng: createPrng(options.seed ?? 1).fork(name),
    nowMs: options.nowMs ?? 0,
    ...(options.peers ? { initialMembers: options.peers.map((p) => ({ name: p, addr: p })) } : {}),
  });
  if (options.peers) node.takeMemberEvents();
  return node;
}

/** Flattens compounds: every message `node` sent, with its destination and channel. */
export function sent(node: SwimNode): Array<{ to: string; channel: string; msg: PacketMessage | SwimMessage }> {
  const out: Array<{ to: string; channel: string; msg: PacketMessage | SwimMessage }> = [];
  for (const o of node.takeOutbox()) {
    if (o.message.type === "compound") for (const p of o.message.parts) out.push({ to: o.to, channel: o.channel ?? "packet", msg: p });
    else out.push({ to: o.to, channel: o.channel ?? "packet", msg: o.message });
  }
  return out;
}

/** Ticks `node` at every deadline up to `untilMs`, returning the time reached. */
export function runTo(node: SwimNode, untilMs: number): void {
  for (;;) {
    const d = node.nextDeadlineMs();
    if (d > untilMs) return;
    node.tick(d);
  }
}
