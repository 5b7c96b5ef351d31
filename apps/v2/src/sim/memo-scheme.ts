/**
 * A memoizing wrapper for an ownership scheme, for large simulations: a
 * hundred simulated agents with the same membership view compute the same
 * table, so the table is computed once per distinct view and shared. (The
 * real agent has one view and needs no sharing.)
 */
import type { OwnershipScheme } from "../core/ownership-view.ts";

/** Wraps `inner` so each (view, origin) pair is hashed once; keeps the tables of the last `maxViews` views. */
export function memoizeScheme(inner: OwnershipScheme, maxViews = 16): OwnershipScheme {
  const keys = new WeakMap<readonly string[], string>();
  const tables = new Map<string, Map<string, string[]>>();
  return {
    ownersOf(origin, members, k) {
      let key = keys.get(members);
      if (key === undefined) {
        key = `${k}|${members.join(",")}`;
        keys.set(members, key);
      }
      let table = tables.get(key);
      if (table === undefined) {
        table = new Map();
        tables.set(key, table);
        if (tables.size > maxViews) tables.delete(tables.keys().next().value!);
      }
      let owners = table.get(origin);
      if (owners === undefined) {
        owners = inner.ownersOf(origin, members, k);
        table.set(origin, owners);
      }
      return owners;
    },
  };
}
