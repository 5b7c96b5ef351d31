/**
 * From memberlist's structs to heck's messages and back: the one place the
 * two vocabularies meet. The protocol core only ever sees heck's
 * {@link SwimMessage}s, so it runs unchanged on either wire.
 *
 * What maps one to one: ping (its source fields are heck's fromName and
 * fromAddr), indirect ping (heck's ping-req, Lifeguard's nack flag
 * included), ack, nack, alive, suspect, dead, compound, push-pull. What
 * differs:
 * - an address is bytes plus a port there, "host:port" here (address.ts);
 * - an alive message and a push-pull row carry the member's protocol
 *   versions (`Vsn`); heck keeps them on the member and relays them as
 *   received (memberlist refuses a push-pull in which any row lacks them, and
 *   refutes an alive about itself whose versions differ), and announces
 *   {@link HECK_VSN} for itself;
 * - memberlist's extras have no heck counterpart: an ack's payload is
 *   dropped, a user message is counted and dropped (heck has no delegate),
 *   a push-pull's delegate state is ignored and sent empty;
 * - a push-pull does not say whether it is a request or a reply: the
 *   connection does (the dialer's side reads the reply), so the caller says.
 * Everything heck requires (non-empty names, a real IP and port, a known
 * state, protocol versions heck can speak) is checked here, so an invalid
 * message is a typed error before it reaches the core.
 */
import type { Address } from "@heck/sim";
import type { AliveMessage, MemberRecord, PacketMessage, PushPullMessage, SwimMessage } from "../messages.ts";
import { formatIpPort, parseIpPort } from "./address.ts";
import { encodeWireMessage, encodeWireStream, MEMBERLIST_STATES, type WireNodeState, type WirePacketMessage, type WirePushPull, type WireStreamMessage } from "./codec.ts";
import type { MemberlistDecodeError } from "./msgpack.ts";

/**
 * The versions heck announces, memberlist 0.2.2's defaults: it understands
 * protocols 1 to 5 and speaks 2 (TCP pings are 3, nacks 4, CRCs 5, and
 * memberlist uses each with any peer whose maximum allows it); no delegate
 * protocol (0, 0, 0).
 */
export const HECK_VSN: Uint8Array = Uint8Array.of(1, 5, 2, 0, 0, 0);
/** The highest memberlist protocol heck understands. */
const PROTOCOL_MAX = 5;

/** A packet in heck's terms: the protocol messages, and user messages for a delegate heck does not have. */
export type FromWirePacket = { ok: true; message: SwimMessage | undefined; userMessages: number } | { ok: false; error: MemberlistDecodeError };

/** A stream message in heck's terms; `remoteError` is a peer's errResp text. */
export type FromWireStream =
  | { ok: true; message: SwimMessage | undefined; userMessages: number; remoteError?: string }
  | { ok: false; error: MemberlistDecodeError };

/** What translation needs to know about the receiving member and the packet. */
export interface FromWireContext {
  /** Where the packet came from: the ack address of a ping without source fields (senders before 0.2). */
  from: Address;
  /** Our name: a ping naming nobody (empty Node) is for whoever is at the address, as memberlist reads it. */
  selfName: string;
}

/** Translates a decoded packet (flattening compounds and compression) into heck's messages. */
export function packetFromWire(msg: WirePacketMessage, ctx: FromWireContext): FromWirePacket {
  const out: PacketMessage[] = [];
  let userMessages = 0;
  const visit = (m: WirePacketMessage, field: string): MemberlistDecodeError | undefined => {
    switch (m.type) {
      case "compound":
        for (let i = 0; i < m.parts.length; i++) {
          const e = visit(m.parts[i]!, `${field}compound.parts[${i}].`);
          if (e !== undefined) return e;
        }
        return undefined;
      case "compress":
        return visit(m.inner, `${field}compress.`);
      case "user":
        userMessages++;
        return undefined;
      default: {
        const one = messageFromWire(m, ctx, field);
        if ("kind" in one) return one;
        out.push(one);
        return undefined;
      }
    }
  };
  const error = visit(msg, "");
  if (error !== undefined) return { ok: false, error };
  const message: SwimMessage | undefined = out.length === 0 ? undefined : out.length === 1 ? out[0]! : { type: "compound", parts: out };
  return { ok: true, message, userMessages };
}

/** Translates a stream message; `reply` says whether it arrived on a connection we dialed (a push-pull reply). */
export function streamFromWire(msg: WireStreamMessage, ctx: FromWireContext, reply: boolean): FromWireStream {
  switch (msg.type) {
    case "push-pull": {
      const members: MemberRecord[] = [];
      for (let i = 0; i < msg.nodes.length; i++) {
        const r = recordFromWire(msg.nodes[i]!, `push-pull.nodes[${i}]`);
        if ("kind" in r) return { ok: false, error: r };
        members.push(r);
      }
      const message: PushPullMessage = { type: "push-pull", join: msg.join, reply, members };
      return { ok: true, message, userMessages: 0 };
    }
    case "user":
      return { ok: true, message: undefined, userMessages: 1 };
    case "err":
      return { ok: true, message: undefined, userMessages: 0, remoteError: msg.error };
    default: {
      const one = messageFromWire(msg, ctx, "");
      return "kind" in one ? { ok: false, error: one } : { ok: true, message: one, userMessages: 0 };
    }
  }
}

function messageFromWire(m: Exclude<WirePacketMessage, { type: "compound" | "compress" | "user" }>, ctx: FromWireContext, field: string): PacketMessage | MemberlistDecodeError {
  switch (m.type) {
    case "ping": {
      const fromAddr = m.sourceAddr !== null && m.sourcePort > 0 ? formatIpPort(m.sourceAddr, m.sourcePort) : ctx.from;
      if (fromAddr === undefined) return invalid(`${field}ping.SourceAddr`, "not an IP address");
      return { type: "ping", seq: m.seqNo, target: m.node === "" ? ctx.selfName : m.node, fromName: m.sourceNode, fromAddr };
    }
    case "indirect-ping": {
      if (m.node === "") return invalid(`${field}indirect-ping.Node`, "must name the member to probe");
      const targetAddr = address(m.target, m.port);
      if (targetAddr === undefined) return invalid(`${field}indirect-ping.Target`, "needs an IP and a non-zero port");
      const fromAddr = m.sourceAddr !== null && m.sourcePort > 0 ? formatIpPort(m.sourceAddr, m.sourcePort) : ctx.from;
      if (fromAddr === undefined) return invalid(`${field}indirect-ping.SourceAddr`, "not an IP address");
      return { type: "ping-req", seq: m.seqNo, target: m.node, targetAddr, fromName: m.sourceNode, fromAddr, nack: m.nack };
    }
    case "ack":
      return { type: "ack", seq: m.seqNo };
    case "nack":
      return { type: "nack", seq: m.seqNo };
    case "suspect":
    case "dead":
      if (m.node === "") return invalid(`${field}${m.type}.Node`, "must not be empty");
      if (m.from === "") return invalid(`${field}${m.type}.From`, "must not be empty");
      return { type: m.type, name: m.node, incarnation: m.incarnation, from: m.from };
    case "alive": {
      if (m.node === "") return invalid(`${field}alive.Node`, "must not be empty");
      const addr = address(m.addr, m.port);
      if (addr === undefined) return invalid(`${field}alive.Addr`, "needs an IP and a non-zero port");
      const vsnError = checkVsn(m.vsn, `${field}alive.Vsn`);
      if (vsnError !== undefined) return vsnError;
      const alive: AliveMessage = { type: "alive", name: m.node, addr, incarnation: m.incarnation, meta: m.meta ?? new Uint8Array(0) };
      if (m.vsn !== null && m.vsn.length > 0) alive.vsn = m.vsn;
      return alive;
    }
  }
}

function recordFromWire(n: WireNodeState, field: string): MemberRecord | MemberlistDecodeError {
  if (n.name === "") return invalid(`${field}.Name`, "must not be empty");
  const addr = address(n.addr, n.port);
  if (addr === undefined) return invalid(`${field}.Addr`, "needs an IP and a non-zero port");
  const state = MEMBERLIST_STATES[n.state];
  if (state === undefined) return invalid(`${field}.State`, `unknown state ${n.state}`);
  const vsnError = checkVsn(n.vsn, `${field}.Vsn`);
  if (vsnError !== undefined) return vsnError;
  const record: MemberRecord = { name: n.name, addr, incarnation: n.incarnation, state, meta: n.meta ?? new Uint8Array(0) };
  if (n.vsn !== null && n.vsn.length > 0) record.vsn = n.vsn;
  return record;
}

/**
 * memberlist checks that every member speaks a protocol the others
 * understand (verifyProtocol) and drops alive messages whose versions are
 * nonsense; heck understands 1 to {@link PROTOCOL_MAX}, so it refuses a
 * member speaking anything else, or whose range is empty.
 */
function checkVsn(vsn: Uint8Array | null, field: string): MemberlistDecodeError | undefined {
  if (vsn === null || vsn.length === 0) return undefined;
  const [pmin, pmax, pcur] = [vsn[0]!, vsn[1]!, vsn[2]!];
  if (pmin === 0 || pmax === 0 || pmin > pmax) return invalid(field, `protocol range ${pmin}-${pmax} is empty`);
  if (pcur < pmin || pcur > pmax || pcur > PROTOCOL_MAX) return invalid(field, `protocol ${pcur} is not one heck speaks (1-${PROTOCOL_MAX})`);
  return undefined;
}

function address(ip: Uint8Array | null, port: number): Address | undefined {
  if (ip === null || port === 0) return undefined;
  return formatIpPort(ip, port);
}

function invalid(field: string, detail: string): MemberlistDecodeError {
  return { kind: "invalid-field", field, message: `${field}: ${detail}` };
}

// ---- heck -> memberlist --------------------------------------------------------------

/** Parsed addresses: a member sends to and about the same few addresses all the time. Bounded, cleared when full. */
const parsedAddresses = new Map<Address, { ip: Uint8Array; port: number }>();
const PARSED_ADDRESSES_MAX = 4096;

/** Splits a heck address; throws a RangeError for one memberlist cannot carry (a host name): a configuration bug, not input. */
function ipPort(addr: Address, field: string): { ip: Uint8Array; port: number } {
  let parsed = parsedAddresses.get(addr);
  if (parsed === undefined) {
    parsed = parseIpPort(addr);
    if (parsed === undefined || parsed.port === 0) throw new RangeError(`memberlist: ${field} must be an IP address with a port, got ${JSON.stringify(addr)}`);
    if (parsedAddresses.size >= PARSED_ADDRESSES_MAX) parsedAddresses.clear();
    parsedAddresses.set(addr, parsed);
  }
  return parsed;
}

function metaOrNil(meta: Uint8Array): Uint8Array | null {
  // memberlist without a delegate sends nil metadata; so do we when there is none.
  return meta.length === 0 ? null : meta;
}

/** Translates one heck packet message (or a compound of them) into memberlist's struct. */
export function packetToWire(msg: PacketMessage | Extract<SwimMessage, { type: "compound" }>): WirePacketMessage {
  switch (msg.type) {
    case "compound":
      return { type: "compound", parts: msg.parts.map(packetToWire) };
    case "ping": {
      const src = ipPort(msg.fromAddr, "ping.fromAddr");
      return { type: "ping", seqNo: msg.seq, node: msg.target, sourceAddr: src.ip, sourcePort: src.port, sourceNode: msg.fromName };
    }
    case "ping-req": {
      const src = ipPort(msg.fromAddr, "ping-req.fromAddr");
      const target = ipPort(msg.targetAddr, "ping-req.targetAddr");
      return {
        type: "indirect-ping",
        seqNo: msg.seq,
        target: target.ip,
        port: target.port,
        node: msg.target,
        nack: msg.nack,
        sourceAddr: src.ip,
        sourcePort: src.port,
        sourceNode: msg.fromName,
      };
    }
    case "ack":
      return { type: "ack", seqNo: msg.seq, payload: null };
    case "nack":
      return { type: "nack", seqNo: msg.seq };
    case "suspect":
    case "dead":
      return { type: msg.type, incarnation: msg.incarnation, node: msg.name, from: msg.from };
    case "alive": {
      const a = ipPort(msg.addr, "alive.addr");
      return { type: "alive", incarnation: msg.incarnation, node: msg.name, addr: a.ip, port: a.port, meta: metaOrNil(msg.meta), vsn: msg.vsn ?? HECK_VSN };
    }
  }
}

/** Translates a heck stream message (push-pull, ping, ack) into memberlist's struct. */
export function streamToWire(msg: SwimMessage): WireStreamMessage {
  switch (msg.type) {
    case "push-pull":
      return pushPullToWire(msg);
    case "ping":
    case "ack": {
      const w = packetToWire(msg);
      return w as WireStreamMessage;
    }
    default:
      throw new RangeError(`memberlist: a ${msg.type} message does not travel on a stream`);
  }
}

function pushPullToWire(msg: PushPullMessage): WirePushPull {
  const nodes: WireNodeState[] = msg.members.map((r) => {
    const a = ipPort(r.addr, `push-pull.members[${r.name}].addr`);
    return { name: r.name, addr: a.ip, port: a.port, meta: metaOrNil(r.meta), incarnation: r.incarnation, state: MEMBERLIST_STATES.indexOf(r.state), vsn: r.vsn ?? HECK_VSN };
  });
  return { type: "push-pull", join: msg.join, nodes, userState: new Uint8Array(0) };
}

/**
 * A heck message's encoded size on memberlist's wire (before compression,
 * CRC and encryption): what the core packs gossip into packets with.
 */
export function memberlistEncodedSize(msg: SwimMessage): number {
  return msg.type === "push-pull" ? encodeWireStream(streamToWire(msg)).length : encodeWireMessage(packetToWire(msg)).length;
}
