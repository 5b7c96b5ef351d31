/**
 * The dissemination queue (SWIM §4.1, memberlist's TransmitLimitedQueue).
 *
 * Every membership update this node learns is queued once per member name;
 * a newer update about the same member replaces the older one, so the queue
 * never holds stale news and is at most one entry per member. Updates ride
 * on outgoing pings, acks and gossip packets: each `take` packs the
 * least-transmitted updates first, newest first within a tier, into the bytes
 * left in the packet, and counts one transmission for each. An update is
 * dropped after `limit = retransmitMult * ceil(log10(n + 1))` transmissions:
 * enough that, with every receiver re-gossiping it, all n members hear it
 * with high probability in O(log n) rounds (SWIM §4.1's infection-style
 * dissemination).
 */
import type { UpdateMessage } from "./messages.ts";

interface QueuedUpdate {
  key: string;
  message: UpdateMessage;
  size: number;
  transmits: number;
  /** Increasing with every enqueue: a larger id is newer. */
  id: number;
  removed: boolean;
}

/** A transmit-limited, newest-and-least-sent-first queue of membership updates. */
export class BroadcastQueue {
  private readonly byKey = new Map<string, QueuedUpdate>();
  /** tiers[t] holds the live and lazily removed updates sent t times, ordered by id ascending (newest last). */
  private readonly tiers: Tier[] = [];
  private nextId = 1;

  /** Number of updates waiting. */
  get length(): number {
    return this.byKey.size;
  }

  /** True when an update about `key` is still being retransmitted. */
  has(key: string): boolean {
    return this.byKey.has(key);
  }

  /** Queues `message` about member `key` (`size` = its encoded bytes), replacing any older update about the same member. */
  enqueue(key: string, message: UpdateMessage, size: number): void {
    const old = this.byKey.get(key);
    if (old !== undefined) this.markRemoved(old);
    const item: QueuedUpdate = { key, message, size, transmits: 0, id: this.nextId++, removed: false };
    this.byKey.set(key, item);
    this.tier(0).items.push(item);
  }

  /**
   * Takes updates that fit in `budgetBytes`, each costing its size plus
   * `overheadBytes`, at most `maxItems` of them; counts one transmission for
   * each and forgets those that reached `limit`. Returns [] when nothing fits.
   */
  take(budgetBytes: number, overheadBytes: number, limit: number, maxItems = Number.MAX_SAFE_INTEGER): UpdateMessage[] {
    const taken: QueuedUpdate[] = [];
    let remaining = budgetBytes;
    outer: for (let t = 0; t < this.tiers.length; t++) {
      const tier = this.tiers[t]!.items;
      for (let i = tier.length - 1; i >= 0; i--) {
        const item = tier[i]!;
        if (item.removed) continue;
        const cost = item.size + overheadBytes;
        if (cost > remaining) continue;
        taken.push(item);
        remaining -= cost;
        if (taken.length >= maxItems || remaining <= overheadBytes) break outer;
      }
    }
    if (taken.length === 0) return [];
    const out: UpdateMessage[] = [];
    for (const item of taken) {
      out.push(item.message);
      // Moved items leave a removed placeholder behind; the fresh copy goes up one tier.
      this.markRemoved(item);
      const sent = item.transmits + 1;
      if (sent >= limit) {
        this.byKey.delete(item.key);
        continue;
      }
      const moved: QueuedUpdate = { ...item, transmits: sent, removed: false };
      this.byKey.set(item.key, moved);
      insertById(this.tier(sent).items, moved);
    }
    return out;
  }

  /** Drops everything (used when a node shuts down or leaves for good). */
  clear(): void {
    this.byKey.clear();
    this.tiers.length = 0;
  }

  private tier(t: number): Tier {
    while (this.tiers.length <= t) this.tiers.push({ items: [], garbage: 0 });
    return this.tiers[t]!;
  }

  private markRemoved(item: QueuedUpdate): void {
    item.removed = true;
    const tier = this.tiers[item.transmits]!;
    tier.garbage++;
    // Compacting only once half the tier is garbage keeps every operation amortised O(1).
    if (tier.garbage * 2 > tier.items.length) {
      tier.items = tier.items.filter((i) => !i.removed);
      tier.garbage = 0;
    }
  }
}

interface Tier {
  items: QueuedUpdate[];
  garbage: number;
}

function insertById(tier: QueuedUpdate[], item: QueuedUpdate): void {
  let lo = 0;
  let hi = tier.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (tier[mid]!.id < item.id) lo = mid + 1;
    else hi = mid;
  }
  tier.splice(lo, 0, item);
}
