/**
 * "Persist before send" for the store, as a check the simulation runner
 * runs on every message as it leaves (`beforeSend`): every dot a message
 * names must be in the causal context the sender would recover from its
 * durable disk. A delta or diff hands out versions (its own dots among
 * them: a restart that lost one would reuse its counter for another value),
 * and a `seen` or a digest's context tells a peer what never to send again:
 * if a crash could take any of it back, replicas would diverge for good.
 */
import type { Departure } from "@heck/sim";
import { CausalContext } from "../../src/core/causality/causal-context.ts";
import type { KvDelta } from "../../src/core/store/kv-state.ts";
import { decodeMessage, wireOf, type KvMessage } from "../../src/core/store/messages.ts";
import type { KvNode } from "../../src/core/store/node.ts";
import { decodeRecord, decodeSnapshot, parseWal, walText } from "../../src/core/store/persistence.ts";

/** Every dot a message names: its delta's versions and context, its `seen`, a digest's or diff's context. */
export function dotsNamedBy(m: KvMessage): CausalContext {
  const cc = new CausalContext();
  const addDelta = (d: KvDelta): void => {
    cc.joinInto(d.cc);
    for (const versions of d.entries.values()) for (const v of versions) cc.add(v.dot);
  };
  if (m.type === "delta" || m.type === "diff") addDelta(m.state);
  if ((m.type === "delta" || m.type === "ack") && m.seen !== undefined) cc.joinInto(m.seen);
  if (m.type === "digest") cc.joinInto(m.cc);
  if (m.type === "diff" && m.cc !== null) cc.joinInto(m.cc);
  return cc;
}

/** A `beforeSend` check: the dots a message names are durable at its sender. Keeps one running context per node. */
export function dotsPersisted<N extends { readonly id: string } = KvNode>(): (d: Departure<KvMessage, string, string, N>) => string | undefined {
  const known = new Map<string, { snapshot: string | null; lines: number; cc: CausalContext }>();
  const joinLines = (cc: CausalContext, lines: readonly string[]): void => {
    for (const record of parseWal(walText(lines)).records) {
      const r = decodeRecord(record);
      if (!r.ok) throw new Error(`unreadable WAL record on a simulated disk: ${r.error}`);
      cc.joinInto(r.value.delta.cc);
    }
  };
  return ({ from, message, durable }) => {
    let k = known.get(from.id);
    if (k === undefined || k.snapshot !== durable.snapshot || k.lines > durable.records.length) {
      const cc = new CausalContext();
      if (durable.snapshot !== null) {
        const s = decodeSnapshot(durable.snapshot);
        if (!s.ok) throw new Error(`unreadable snapshot on a simulated disk: ${s.error}`);
        cc.joinInto(s.value.state.cc);
      }
      k = { snapshot: durable.snapshot, lines: 0, cc };
      known.set(from.id, k);
    }
    if (k.lines < durable.records.length) {
      joinLines(k.cc, durable.records.slice(k.lines));
      k.lines = durable.records.length;
    }
    // What goes on the wire: the text the node encoded when it sent the message (the typed
    // message may share a context the node has changed since).
    const onWire = decodeMessage(wireOf(message), Infinity);
    if (!onWire.ok) throw new Error(`a message that does not decode: ${onWire.error}`);
    const named = dotsNamedBy(onWire.value);
    if (named.isSubsetOf(k.cc)) return undefined;
    return `it names dots its disk does not hold yet: ${JSON.stringify(named.difference(k.cc).encode())}`;
  };
}
