/**
 * The client's half of leases, locks and elections, for `heck-raft lease
 * keep-alive`, `lock` and `elect` (the same behaviour as etcdctl's, whose
 * sessions these follow): a lease kept alive by renewing it every third of
 * its TTL, a lock or a leadership held while the lease lives, and released
 * (key deleted, lease revoked) when the holder stops.
 *
 * A holder learns that it lost its lease only when a renewal says so, up to
 * a third of a TTL late. Anything it writes while it believes it holds the
 * lock must therefore be fenced: compare the lock key's create revision in
 * the same transaction as the write (see the README).
 */
import type { RaftKvHttpClient } from "./http-client.ts";

/** A lease this client keeps alive until `stop`. */
export interface KeptLease {
  readonly id: number;
  readonly ttlSec: number;
  /** Resolves when the lease is gone: a renewal found it expired or revoked. */
  readonly lost: Promise<void>;
  /** Stops renewing; with `revoke`, also revokes the lease (its keys go with it). */
  stop(revoke: boolean): Promise<void>;
}

/**
 * Grants a lease of `ttlSec` (or adopts lease `id`) and renews it every
 * third of its TTL, as etcd's clients do, until stopped or lost.
 */
export async function keepLease(client: RaftKvHttpClient, ttlSec: number, id = 0, onRenew: (ttlSec: number) => void = () => {}): Promise<KeptLease> {
  const granted = id === 0 ? await client.leaseGrant(ttlSec) : { id, ttl: ttlSec };
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let markLost: () => void = () => {};
  const lost = new Promise<void>((resolve) => (markLost = resolve));
  const renew = async () => {
    if (stopped) return;
    let ttl: number;
    try {
      ttl = await client.leaseKeepAlive(granted.id);
    } catch {
      // No leader for a moment: try again soon; the lease may still be alive, and the next answer says.
      if (!stopped) timer = setTimeout(() => void renew(), 500);
      return;
    }
    if (ttl <= 0) {
      stopped = true;
      markLost();
      return;
    }
    onRenew(ttl);
    if (!stopped) timer = setTimeout(() => void renew(), Math.max(100, (ttl * 1000) / 3));
  };
  timer = setTimeout(() => void renew(), Math.max(100, (granted.ttl * 1000) / 3));
  return {
    id: granted.id,
    ttlSec: granted.ttl,
    lost,
    async stop(revoke: boolean) {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (revoke) await client.leaseRevoke(granted.id).catch(() => {});
    },
  };
}
