/**
 * Every message the protocol sends, as a discriminated union on `type`.
 * Failure detection (ping, ping-req, ack, nack) follows SWIM §3.1 and
 * Lifeguard's nack; membership updates (alive, suspect, dead) follow SWIM
 * §4.2; `compound` packs several into one packet (SWIM §4.1's piggybacking);
 * `push-pull` is memberlist's full state exchange over a stream.
 */
import type { Address } from "@heck/sim";
import type { MemberState } from "./types.ts";

/** A direct probe. `target` is the name the sender means, so a different node now at that address does not ack. */
export interface PingMessage {
  type: "ping";
  seq: number;
  target: string;
  fromName: string;
  /** Where to send the ack (the sender's advertised address). */
  fromAddr: Address;
}

/** SWIM's ping-req: "please ping `target` for me and forward its ack". */
export interface PingReqMessage {
  type: "ping-req";
  seq: number;
  target: string;
  targetAddr: Address;
  fromName: string;
  fromAddr: Address;
  /** Lifeguard: send a nack if the target does not answer in time, so the requester can tell its own health from the target's. */
  nack: boolean;
}

/** The answer to a ping (or a forwarded answer to a ping-req). */
export interface AckMessage {
  type: "ack";
  seq: number;
}

/** Lifeguard §IV-A: "I asked, the target did not answer": proof the requester's own links work. */
export interface NackMessage {
  type: "nack";
  seq: number;
}

/** "`name` is alive at incarnation `incarnation`, at `addr`, with `meta`." */
export interface AliveMessage {
  type: "alive";
  name: string;
  addr: Address;
  incarnation: number;
  meta: Uint8Array;
  /**
   * The protocol versions the member announced on memberlist's wire
   * ([pmin, pmax, pcur, dmin, dmax, dcur]); relayed as received, absent on
   * heck's own wire. See src/core/memberlist/translate.ts.
   */
  vsn?: Uint8Array;
}

/** "`from` suspects `name` at incarnation `incarnation`." */
export interface SuspectMessage {
  type: "suspect";
  name: string;
  incarnation: number;
  from: string;
}

/** "`from` declares `name` dead at `incarnation`"; when `from === name` the member left gracefully. */
export interface DeadMessage {
  type: "dead";
  name: string;
  incarnation: number;
  from: string;
}

/** Several messages in one packet; parts are never compound or push-pull. */
export interface CompoundMessage {
  type: "compound";
  parts: PacketMessage[];
}

/** One row of a push-pull state transfer. */
export interface MemberRecord {
  name: string;
  addr: Address;
  incarnation: number;
  state: MemberState;
  meta: Uint8Array;
  /** As {@link AliveMessage.vsn}. */
  vsn?: Uint8Array;
}

/** Full state exchange over a stream: the request carries the sender's table, the reply the responder's. */
export interface PushPullMessage {
  type: "push-pull";
  /** Sent as part of joining (the responder may log it; merging is the same). */
  join: boolean;
  /** True on the responder's answer; a reply is never answered. */
  reply: boolean;
  members: MemberRecord[];
}

/** A message that may travel inside a packet or a compound. */
export type PacketMessage = PingMessage | PingReqMessage | AckMessage | NackMessage | AliveMessage | SuspectMessage | DeadMessage;

/** A membership update: what the broadcast queue carries. */
export type UpdateMessage = AliveMessage | SuspectMessage | DeadMessage;

/** Everything that travels, on packets (all but push-pull) or streams (push-pull, ping, ack). */
export type SwimMessage = PacketMessage | CompoundMessage | PushPullMessage;
