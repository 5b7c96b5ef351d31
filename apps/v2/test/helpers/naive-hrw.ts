/**
 * A naive rendezvous scheme for core tests: score = a 32-bit mix of
 * (origin, member), top-k by score then name. Good enough to exercise the
 * agent's logic; the real agent uses `@heck/ownership`.
 */
import type { OwnershipScheme } from "../../src/core/ownership-view.ts";

function mix(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0;
}

export const naiveHrw: OwnershipScheme = {
  ownersOf(originId, members, k) {
    return [...members]
      .map((m) => ({ m, s: mix(`${originId}\u0000${m}`) }))
      .sort((a, b) => b.s - a.s || (a.m < b.m ? -1 : 1))
      .slice(0, k)
      .map((x) => x.m);
  },
};
