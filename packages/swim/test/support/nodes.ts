/** Helpers for single-node tests: build a node, hand it messages, read what it sent. */
import { createPrng, type Outbound } from "@heck/sim";
import { lanConfig, type SwimConfig } from "../../src/core/config.ts";
import type { PacketMessage, SwimMessage } from "../../src/core/messages.ts";
import { SwimNode, type SwimRecord } from "../../src/core/node.ts";
import type { MemberEvent } from "../../src/core/types.ts";

interface Drained {
  messages: Outbound<SwimMessage>[];
  events: MemberEvent[];
  records: SwimRecord[];
}
const drained = new WeakMap<SwimNode, Drained>();

/** Drains every Ready of `node` as a driver would, keeping its parts apart so a test can read each on its own. */
function drain(node: SwimNode): Drained {
  let d = drained.get(node);
  if (d === undefined) drained.set(node, (d = { messages: [], events: [], records: [] }));
  while (node.hasReady()) {
    const rd = node.ready();
    d.messages.push(...rd.messages);
    d.events.push(...rd.events);
    d.records.push(...rd.records);
    node.advance();
  }
  return d;
}

/** The messages `node` produced since the last call, in order (from its Ready batches). */
export function takeMessages(node: SwimNode): Outbound<SwimMessage>[] {
  const d = drain(node);
  const out = d.messages;
  d.messages = [];
  return out;
}

/** The member events `node` produced since the last call, in order (from its Ready batches). */
export function takeEvents(node: SwimNode): MemberEvent[] {
  const d = drain(node);
  const out = d.events;
  d.events = [];
  return out;
}

/** The incarnation records `node` asked to persist since the last call. */
export function takeRecords(node: SwimNode): SwimRecord[] {
  const d = drain(node);
  const out = d.records;
  d.records = [];
  return out;
}

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
  if (options.peers) takeEvents(node);
  return node;
}

/** Flattens compounds: every message `node` sent, with its destination and channel. */
export function sent(node: SwimNode): Array<{ to: string; channel: string; msg: PacketMessage | SwimMessage }> {
  const out: Array<{ to: string; channel: string; msg: PacketMessage | SwimMessage }> = [];
  for (const o of takeMessages(node)) {
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
