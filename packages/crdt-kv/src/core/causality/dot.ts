/**
 * A dot is one event: the `counter`-th update made by replica `node`
 * (Almeida et al. §5; Preguiça et al. call it the "dot" of a dotted version
 * vector). Every write in the store gets a fresh dot, so a dot names exactly
 * one value version anywhere in the cluster.
 */
export interface Dot {
  readonly node: string;
  readonly counter: number;
}

/** Replica ids: 1-64 chars of [A-Za-z0-9_.-]. No ':' so a dot key splits unambiguously. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/** True when `id` is a valid replica id. */
export function isValidNodeId(id: unknown): id is string {
  return typeof id === "string" && NODE_ID_PATTERN.test(id);
}

/** A dot as a map key, "node:counter". */
export function dotKey(dot: Dot): string {
  return `${dot.node}:${dot.counter}`;
}

/** Inverse of {@link dotKey}. Assumes a well-formed key (keys are only built by dotKey). */
export function parseDotKey(key: string): Dot {
  const i = key.lastIndexOf(":");
  return { node: key.slice(0, i), counter: Number(key.slice(i + 1)) };
}

/** Orders dots by node id, then counter: a canonical order for encodings and tests. */
export function compareDots(a: Dot, b: Dot): number {
  if (a.node !== b.node) return a.node < b.node ? -1 : 1;
  return a.counter - b.counter;
}
