/**
 * The shapes a member, its state and the application events take. These are
 * what `members()` returns and what subscribers receive, in the core and
 * through the io driver alike.
 */
import type { Address } from "@heck/sim";

/**
 * A member's state as SWIM §4.2 extends it: alive, suspected (may still
 * refute), dead (a suspicion timed out), left (it said goodbye itself).
 */
export type MemberState = "alive" | "suspect" | "dead" | "left";

/** Every state, in wire order (the codec uses the index). */
export const MEMBER_STATES: readonly MemberState[] = ["alive", "suspect", "dead", "left"];

/** What one node believes about one member (itself included). */
export interface Member {
  /** Unique in the cluster; the key of the member table. */
  readonly name: string;
  /** Where its packets and streams go ("host:port", or the node id in simulation). */
  addr: Address;
  /** Application bytes (e.g. an API address), at most META_MAX_BYTES. */
  meta: Uint8Array;
  /**
   * Raised only by the member itself, to refute a suspicion or to publish
   * new metadata; a claim with a higher incarnation always wins (SWIM §4.2).
   */
  incarnation: number;
  state: MemberState;
  /** When this node last changed the member's state (for reaping and gossip-to-the-dead). */
  stateChangeMs: number;
  /** The protocol versions it announced on memberlist's wire, kept to relay them (absent on heck's wire). */
  vsn?: Uint8Array;
}

/** A copy of a member for callers: safe to keep, never mutated by the node. */
export interface MemberInfo {
  name: string;
  addr: Address;
  state: MemberState;
  incarnation: number;
  meta: Uint8Array;
}

/** The event types an application subscribes to. */
export type MemberEventType = "join" | "update" | "suspect" | "alive" | "dead" | "leave";

/**
 * One membership change as this node saw it:
 * - `join`: a member first seen alive, or back from dead/left;
 * - `update`: an alive member's metadata or address changed;
 * - `suspect`: alive -> suspect; `alive`: suspect -> alive (refuted);
 * - `dead`: declared failed; `leave`: left gracefully.
 */
export interface MemberEvent {
  type: MemberEventType;
  member: MemberInfo;
  /** The node time at which it happened. */
  atMs: number;
}

/** Copies a member into an immutable-by-convention snapshot. */
export function toInfo(member: Member): MemberInfo {
  return { name: member.name, addr: member.addr, state: member.state, incarnation: member.incarnation, meta: member.meta };
}
