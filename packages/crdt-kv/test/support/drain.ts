/**
 * A hand-driven stand-in for the driver in single-node and hand-wired
 * tests: drains a node's Ready batches in the contract's order and keeps
 * their parts apart (messages, events) so a test reads each on its own,
 * plus a disk that receives the snapshots and WAL lines exactly as the
 * real data directory and the simulated disk do.
 */
import type { Outbound } from "@heck/sim";
import type { KvMessage } from "../../src/core/store/messages.ts";
import type { ChangeEvent, KvNode } from "../../src/core/store/node.ts";
import { diskFromWal, type KvDisk } from "../../src/core/store/persistence.ts";

interface Drained {
  messages: Outbound<KvMessage>[];
  events: ChangeEvent[];
  snapshot: string | null;
  lines: string[];
}
const drained = new WeakMap<KvNode, Drained>();

function drain(node: KvNode): Drained {
  let d = drained.get(node);
  if (d === undefined) drained.set(node, (d = { messages: [], events: [], snapshot: null, lines: [] }));
  while (node.hasReady()) {
    const rd = node.ready();
    if (rd.snapshot !== null) {
      d.snapshot = rd.snapshot;
      d.lines = [];
    }
    d.lines.push(...rd.records);
    d.messages.push(...rd.messages);
    d.events.push(...rd.events);
    node.advance();
  }
  return d;
}

/** The messages `node` sent since the last call, in order. */
export function takeMessages(node: KvNode): Outbound<KvMessage>[] {
  const d = drain(node);
  const out = d.messages;
  d.messages = [];
  return out;
}

/** What `node` would recover from if it crashed now: its disk, read back as a data directory is. */
export function diskOf(node: KvNode): KvDisk {
  const d = drain(node);
  return diskFromWal({ snapshot: d.snapshot, records: d.lines });
}

/** One Ready batch, advanced at once (what a driver that persists, sends and notifies instantly sees). */
export function readyOf(node: KvNode): ReturnType<KvNode["ready"]> {
  const rd = node.ready();
  node.advance();
  return rd;
}
