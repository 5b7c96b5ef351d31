/**
 * What travels between raft-kv peers on one stream frame: a Raft message, or
 * a proposal a follower forwards to the leader (the core accepts proposals on
 * the leader only, as etcd with DisableProposalForwarding; forwarding lives in
 * the driver), or the leader's answer to a forwarded proposal, or a call to
 * a service of the leader that must not go through the log (a lease
 * keep-alive: etcd forwards those to the leader over its peer port too) and
 * the answer.
 *
 *     u8 kind | body
 *     kind 1: encodeMessage(raft message)
 *     kind 2: requestId | from | data          (forwarded proposal)
 *     kind 3: from | requestId | ok | index | term | code | message | leader
 *     kind 4: from | requestId | method | body  (call)
 *     kind 5: from | requestId | ok | body | code | message  (call reply)
 *     kind 6: from | member                    (you were removed: sent back on the stream a removed member wrote to)
 */
import { decodeMessage, encodeMessage, type Message } from "../raft/index.ts";
import { Reader, WireError, Writer } from "../kv/wire.ts";

/** A decoded peer frame. */
export type Envelope =
  | { kind: "raft"; message: Message }
  | { kind: "forward"; requestId: string; from: string; data: Uint8Array }
  | { kind: "forwardReply"; from: string; requestId: string; ok: boolean; index: number; term: number; code: string; message: string; leader: string }
  | { kind: "call"; from: string; requestId: string; method: string; body: Uint8Array }
  | { kind: "callReply"; from: string; requestId: string; ok: boolean; body: Uint8Array; code: string; message: string }
  | { kind: "removed"; from: string; member: string };

/** Encodes one envelope as a frame. */
export function encodeEnvelope(e: Envelope): Uint8Array {
  if (e.kind === "raft") return encodeMessage(e.message, 1);
  if (e.kind === "forward") return new Writer(e.data.length + 128).uint(2).string(e.requestId).string(e.from).bytes(e.data).finish().slice();
  if (e.kind === "call") return new Writer().uint(4).string(e.from).string(e.requestId).string(e.method).bytes(e.body).finish().slice();
  if (e.kind === "callReply") return new Writer().uint(5).string(e.from).string(e.requestId).bool(e.ok).bytes(e.body).string(e.code).string(e.message).finish().slice();
  if (e.kind === "removed") return new Writer().uint(6).string(e.from).string(e.member).finish().slice();
  return new Writer().uint(3).string(e.from).string(e.requestId).bool(e.ok).uint(e.index).uint(e.term).string(e.code).string(e.message).string(e.leader).finish().slice();
}

/** Decodes a frame; malformed frames give an error naming what was wrong (the caller logs and drops them). */
export function decodeEnvelope(frame: Uint8Array): { ok: true; value: Envelope } | { ok: false; error: string } {
  if (frame.length === 0) return { ok: false, error: "empty frame" };
  if (frame[0] === 1) {
    const m = decodeMessage(frame.subarray(1));
    return m.ok ? { ok: true, value: { kind: "raft", message: m.value } } : { ok: false, error: `raft message: ${m.error.message}` };
  }
  try {
    const r = new Reader(frame);
    const kind = r.uint();
    let value: Envelope;
    if (kind === 2) value = { kind: "forward", requestId: r.string(), from: r.string(), data: r.bytes() };
    else if (kind === 3) value = { kind: "forwardReply", from: r.string(), requestId: r.string(), ok: r.bool(), index: r.uint(), term: r.uint(), code: r.string(), message: r.string(), leader: r.string() };
    else if (kind === 4) value = { kind: "call", from: r.string(), requestId: r.string(), method: r.string(), body: r.bytes() };
    else if (kind === 5) value = { kind: "callReply", from: r.string(), requestId: r.string(), ok: r.bool(), body: r.bytes(), code: r.string(), message: r.string() };
    else if (kind === 6) value = { kind: "removed", from: r.string(), member: r.string() };
    else return { ok: false, error: `unknown frame kind ${kind}` };
    if (!r.done()) return { ok: false, error: "trailing bytes in frame" };
    return { ok: true, value };
  } catch (error) {
    return { ok: false, error: error instanceof WireError ? error.message : String(error) };
  }
}
