/**
 * The gossip protocol's messages and their wire form (JSON text). Every
 * message names its sender twice: `from` is the address to answer (a
 * stream's remote port is ephemeral, so the transport's idea of the sender
 * is not enough), `id` its replica id for status output.
 *
 *   delta   a delta-interval (or full state) covering sender seqs < seq; answered by ack
 *   ack     "I have joined everything you sent below seq"
 *   digest  bucket hashes of the sender's state + its causal context: "tell me what differs"
 *   diff    stage 2: the differing buckets' versions and the removals the asker lacks;
 *           stage 3: the asker's side of the same buckets (the reply then sends a delta with
 *           the removals only it knew of, completing the exchange)
 *
 * `decodeMessage` validates everything before any field is used: size first,
 * then JSON, then every field, returning an error that names the field. A
 * node never joins a delta that failed validation, so bad input cannot
 * corrupt state. Decoding happens at the edge (the driver, the simulation's
 * codec); the node takes typed messages.
 *
 * A message's wire text is made once: the node encodes what it sends when
 * it sends it (it needs the size to pick packet or stream), and
 * {@link wireOf} hands the edge that same text, so nothing is encoded twice
 * and a message says what the node knew when it sent it, even when it
 * shares an object (a causal context) the node goes on changing.
 */
import { CausalContext } from "../causality/causal-context.ts";
import { isValidNodeId } from "../causality/dot.ts";
import type { MessageCodec } from "@heck/sim";
import { fail, isInt, isObject, ok, type Decoded } from "../result.ts";
import { utf8Length } from "@heck/sim";
import { decodeDelta, encodeDeltaText, MAX_DIGEST_BITS, type KvDelta } from "./kv-state.ts";

/** A delta-interval or a full state. */
export interface DeltaMessage {
  readonly type: "delta";
  readonly from: string;
  readonly id: string;
  /** The sender's incarnation: changes when its data directory starts from nothing. */
  readonly inc: string;
  readonly seq: number;
  readonly full: boolean;
  readonly state: KvDelta;
  /** Every dot the sender had seen when it sent this (see {@link AckMessage.seen}). */
  readonly seen?: CausalContext;
}
/** Acknowledges sequence numbers below `seq`. */
export interface AckMessage {
  readonly type: "ack";
  readonly from: string;
  readonly id: string;
  /** The sender's incarnation: changes when its data directory starts from nothing. */
  readonly inc: string;
  readonly seq: number;
  /**
   * Every dot the sender has seen (its causal context: version vector plus
   * cloud) once it joined what it acknowledges: the other side need not
   * send it any version named by one of these dots again (node.ts,
   * `trimFor`). Optional on the wire: without it the other side learns nothing.
   */
  readonly seen?: CausalContext;
  /** "Answer me with your `seen`": the first half of a round's push with fresh knowledge (node.ts `syncRound`). */
  readonly probe?: true;
  /** The answer to a probe: the prober now pushes its delta-interval, trimmed by this `seen`. */
  readonly answer?: true;
}
/** Opens a digest exchange. */
export interface DigestMessage {
  readonly type: "digest";
  readonly from: string;
  readonly id: string;
  /** The sender's incarnation: changes when its data directory starts from nothing. */
  readonly inc: string;
  /** The asker's sequence number when it took the digest. */
  readonly seq: number;
  readonly bits: number;
  /** 16 hex digits per bucket, 2^bits buckets. */
  readonly hashes: string;
  readonly cc: CausalContext;
}
/** One side of the differing buckets. */
export interface DiffMessage {
  readonly type: "diff";
  readonly from: string;
  readonly id: string;
  /** The sender's incarnation: changes when its data directory starts from nothing. */
  readonly inc: string;
  readonly stage: 2 | 3;
  /** Stage 2: the answerer's seq; stage 3: the asker's digest seq (echoed back). */
  readonly seq: number;
  /** Stage 2: the asker's digest seq; stage 3: the answerer's seq (echoed back). */
  readonly echo: number;
  readonly bits: number;
  readonly buckets: readonly number[];
  /** Stage 2 only: the answerer's causal context, so the asker sends only removals it lacks. */
  readonly cc: CausalContext | null;
  readonly state: KvDelta;
  /** True when the differing buckets did not all fit: no acknowledgement may be inferred. */
  readonly partial: boolean;
}

/** Every gossip message. */
export type KvMessage = DeltaMessage | AckMessage | DigestMessage | DiffMessage;

/** Wire text of messages encoded or decoded so far (weak: it goes with the message). */
const wires = new WeakMap<KvMessage, string>();

/**
 * A message's wire text: the text it was decoded from, or encoded to when
 * first asked (the node asks when it sends), cached with the message.
 */
export function wireOf(m: KvMessage): string {
  let wire = wires.get(m);
  if (wire === undefined) {
    wire = encodeMessage(m);
    wires.set(m, wire);
  }
  return wire;
}

/** Encodes a message to its wire text (uncached; see {@link wireOf}). */
export function encodeMessage(m: KvMessage): string {
  switch (m.type) {
    case "delta":
      // The state is assembled from cached version texts (kv-state.ts encodeDeltaText); the rest is small.
      return `${JSON.stringify({ type: m.type, from: m.from, id: m.id, inc: m.inc, seq: m.seq, full: m.full, seen: m.seen?.encode() }).slice(0, -1)},"state":${encodeDeltaText(m.state)}}`;
    case "ack":
      return JSON.stringify({ type: m.type, from: m.from, id: m.id, inc: m.inc, seq: m.seq, seen: m.seen?.encode(), probe: m.probe, answer: m.answer });
    case "digest":
      return JSON.stringify({ type: m.type, from: m.from, id: m.id, inc: m.inc, seq: m.seq, bits: m.bits, hashes: m.hashes, cc: m.cc.encode() });
    case "diff":
      return `${JSON.stringify({
        type: m.type,
        from: m.from,
        id: m.id,
        inc: m.inc,
        stage: m.stage,
        seq: m.seq,
        echo: m.echo,
        bits: m.bits,
        buckets: m.buckets,
        cc: m.cc === null ? null : m.cc.encode(),
        partial: m.partial,
      }).slice(0, -1)},"state":${encodeDeltaText(m.state)}}`;
  }
}

const ADDRESS_MAX = 256;

/** Decodes and validates wire text (or bytes); refuses anything over `maxBytes`. The text is kept for {@link wireOf}. */
export function decodeMessage(wire: string | Uint8Array, maxBytes: number): Decoded<KvMessage> {
  const size = typeof wire === "string" ? utf8Length(wire) : wire.byteLength;
  if (size > maxBytes) return fail(`message: ${size} bytes exceeds the limit of ${maxBytes}`);
  let text: string;
  let json: unknown;
  try {
    text = typeof wire === "string" ? wire : utf8Decoder.decode(wire);
    json = JSON.parse(text);
  } catch (e) {
    return fail(`message: not valid JSON (${(e as Error).message})`);
  }
  const decoded = validateMessage(json);
  if (decoded.ok) wires.set(decoded.value, text);
  return decoded;
}

const utf8Decoder = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

/**
 * The wire codec for simulations: every message is encoded to bytes on send
 * and decoded on delivery, as between real processes, so no two simulated
 * replicas ever share an object. A message that does not decode is a bug:
 * it throws (a failing seed). No size limit here: every sender already
 * keeps to its own maxMessageBytes.
 */
export const kvCodec: MessageCodec<KvMessage> = {
  encode: (m) => utf8Encoder.encode(wireOf(m)),
  decode(bytes) {
    const r = decodeMessage(bytes, Infinity);
    if (!r.ok) throw new Error(`codec: ${r.error}`);
    return r.value;
  },
};

function validateMessage(json: unknown): Decoded<KvMessage> {
  if (!isObject(json)) return fail("message: expected a JSON object");
  const { type, from, id } = json;
  if (typeof from !== "string" || from.length === 0 || from.length > ADDRESS_MAX) return fail("message.from: expected a non-empty address string");
  if (!isValidNodeId(id)) return fail("message.id: expected a replica id ([A-Za-z0-9_.-]{1,64})");
  const inc = json.inc;
  if (typeof inc !== "string" || !/^[0-9a-z]{1,32}$/.test(inc)) return fail("message.inc: expected an incarnation of 1-32 characters [0-9a-z]");
  if (!isInt(json.seq)) return fail("message.seq: expected an integer >= 0");
  const seq = json.seq;
  switch (type) {
    case "ack": {
      if (json.probe !== undefined && json.probe !== true) return fail("ack.probe: expected true or nothing");
      if (json.answer !== undefined && json.answer !== true) return fail("ack.answer: expected true or nothing");
      const flags = { ...(json.probe === true ? { probe: true as const } : {}), ...(json.answer === true ? { answer: true as const } : {}) };
      if (json.seen === undefined) return ok({ type, from, id, inc, seq, ...flags });
      const seen = CausalContext.decode(json.seen, "ack.seen");
      if (!seen.ok) return seen;
      return ok({ type, from, id, inc, seq, seen: seen.value, ...flags });
    }
    case "delta": {
      if (typeof json.full !== "boolean") return fail("delta.full: expected a boolean");
      const seen = json.seen === undefined ? undefined : CausalContext.decode(json.seen, "delta.seen");
      if (seen !== undefined && !seen.ok) return seen;
      const state = decodeDelta(json.state, "delta.state");
      if (!state.ok) return state;
      return ok(seen === undefined ? { type, from, id, inc, seq, full: json.full, state: state.value } : { type, from, id, inc, seq, full: json.full, state: state.value, seen: seen.value });
    }
    case "digest": {
      const bits = json.bits;
      if (!isInt(bits) || bits > MAX_DIGEST_BITS) return fail(`digest.bits: expected an integer 0..${MAX_DIGEST_BITS}`);
      if (typeof json.hashes !== "string" || json.hashes.length !== 16 << bits || !/^[0-9a-f]*$/.test(json.hashes)) {
        return fail(`digest.hashes: expected ${16 << bits} lowercase hex digits`);
      }
      const cc = CausalContext.decode(json.cc, "digest.cc");
      if (!cc.ok) return cc;
      return ok({ type, from, id, inc, seq, bits, hashes: json.hashes, cc: cc.value });
    }
    case "diff": {
      const { stage, echo, bits, buckets, partial } = json;
      if (stage !== 2 && stage !== 3) return fail("diff.stage: expected 2 or 3");
      if (!isInt(echo)) return fail("diff.echo: expected an integer >= 0");
      if (!isInt(bits) || bits > MAX_DIGEST_BITS) return fail(`diff.bits: expected an integer 0..${MAX_DIGEST_BITS}`);
      if (!Array.isArray(buckets) || buckets.length > 1 << bits || !buckets.every((b) => isInt(b) && b < 1 << bits)) {
        return fail(`diff.buckets: expected bucket numbers below ${1 << bits}`);
      }
      if (typeof partial !== "boolean") return fail("diff.partial: expected a boolean");
      let cc: CausalContext | null = null;
      if (stage === 2) {
        const decoded = CausalContext.decode(json.cc, "diff.cc");
        if (!decoded.ok) return decoded;
        cc = decoded.value;
      } else if (json.cc !== null) return fail("diff.cc: must be null in stage 3");
      const state = decodeDelta(json.state, "diff.state");
      if (!state.ok) return state;
      return ok({ type, from, id, inc, stage, seq, echo, bits, buckets: buckets as number[], cc, state: state.value, partial });
    }
    default:
      return fail(`message.type: unknown type ${JSON.stringify(type)}`);
  }
}
