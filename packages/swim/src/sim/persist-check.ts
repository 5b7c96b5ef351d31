/**
 * "Persist before send" for SWIM, as a check the simulation runner runs on
 * every message as it leaves (`beforeSend`): an incarnation a member claims
 * for itself (an alive or its own leave, its own entry in a push-pull) must
 * already be on its durable disk. Otherwise a crash could bring it back at
 * a lower incarnation than one it already announced, and it would have to
 * reuse that number for other news (SWIM §4.2: only the member itself
 * raises its incarnation, and everyone orders its claims by it).
 */
import type { Departure } from "@heck/sim";
import type { SwimMessage } from "../core/messages.ts";
import { recoverIncarnation, type SwimRecord } from "../core/node.ts";

/** The highest incarnation `message` claims for `self` (the sender), or -1 when it claims none. */
export function incarnationClaimed(self: string, message: SwimMessage): number {
  switch (message.type) {
    case "compound": {
      let max = -1;
      for (const part of message.parts) max = Math.max(max, incarnationClaimed(self, part));
      return max;
    }
    case "alive":
      return message.name === self ? message.incarnation : -1;
    case "dead":
      return message.name === self && message.from === self ? message.incarnation : -1;
    case "push-pull": {
      const mine = message.members.find((m) => m.name === self);
      return mine === undefined ? -1 : mine.incarnation;
    }
    default:
      return -1;
  }
}

/** A `beforeSend` check: what a member claims about its own incarnation is durable first. */
export function incarnationPersisted({ from, message, durable }: Departure<SwimMessage, SwimRecord, never, { readonly id: string }>): string | undefined {
  const claimed = incarnationClaimed(from.id, message);
  const onDisk = recoverIncarnation(durable.records);
  return claimed <= onDisk ? undefined : `it claims incarnation ${claimed} while the disk holds ${onDisk}`;
}

/**
 * How a crash leaves an incarnation record it cut short (the simulated
 * disk's `tear`): its number does not read back, as a checksum would reject
 * a half-written line. `recoverIncarnation` skips it.
 */
export function tearIncarnation(): SwimRecord {
  return { incarnation: Number.NaN };
}
