/**
 * Partition shapes as data. A fault schedule must be printable, comparable and
 * shrinkable, so a partition is a plain value (which links to cut) rather than
 * a closure; {@link SimNetwork.applyPartition} turns it into cut links.
 *
 * The shapes are the ones Jepsen's nemeses made standard: symmetric groups,
 * a one-way (asymmetric) cut, one node isolated, a majority/minority split, and
 * a "bridge" where two halves cannot talk except through one node in both.
 */
import type { Address, Prng } from "./types.ts";

/** A partition as data: which directed links to cut. */
export type PartitionSpec =
  /** Symmetric: nodes in different groups cannot talk; unlisted nodes form one more group. */
  | { kind: "groups"; groups: Address[][] }
  /** Asymmetric: messages from `from` to `to` are lost; the reverse direction still works. */
  | { kind: "one-way"; from: Address[]; to: Address[] }
  /** Two halves that cannot talk to each other; `bridge` talks to both. */
  | { kind: "bridge"; left: Address[]; bridge: Address; right: Address[] };

/** Every directed link (from, to) a partition cuts, in a deterministic order. */
export function cutLinks(spec: PartitionSpec, all: readonly Address[]): Array<[Address, Address]> {
  const out: Array<[Address, Address]> = [];
  switch (spec.kind) {
    case "groups": {
      const groupOf = new Map<Address, number>();
      spec.groups.forEach((g, i) => {
        for (const a of g) {
          if (groupOf.has(a)) throw new RangeError(`partition: ${a} is in two groups`);
          groupOf.set(a, i);
        }
      });
      // Nodes nobody listed stay together in one extra group.
      const rest = spec.groups.length;
      const members = [...all];
      for (const a of groupOf.keys()) if (!members.includes(a)) members.push(a);
      for (const a of members) {
        for (const b of members) {
          if (a !== b && (groupOf.get(a) ?? rest) !== (groupOf.get(b) ?? rest)) out.push([a, b]);
        }
      }
      return out;
    }
    case "one-way":
      for (const a of spec.from) for (const b of spec.to) if (a !== b) out.push([a, b]);
      return out;
    case "bridge":
      for (const a of spec.left) {
        for (const b of spec.right) {
          if (a === b || a === spec.bridge || b === spec.bridge) continue;
          out.push([a, b], [b, a]);
        }
      }
      return out;
  }
}

/** A one-line description ("n1,n2 | n3,n4,n5"), for traces and failure reports. */
export function describePartition(spec: PartitionSpec): string {
  switch (spec.kind) {
    case "groups":
      return spec.groups.map((g) => g.join(",")).join(" | ") + " | (rest)";
    case "one-way":
      return `${spec.from.join(",")} -/-> ${spec.to.join(",")}`;
    case "bridge":
      return `${spec.left.join(",")} <- ${spec.bridge} -> ${spec.right.join(",")}`;
  }
}

/** Cuts one random node off from all others (both directions). */
export function isolateOne(nodes: readonly Address[], prng: Prng): PartitionSpec {
  return { kind: "groups", groups: [[prng.pick(nodes)]] };
}

/**
 * A random minority (at most floor((n-1)/2) nodes, at least one) against the
 * majority, the split a quorum protocol must survive with the majority live.
 */
export function majorityMinority(nodes: readonly Address[], prng: Prng): PartitionSpec {
  const shuffled = prng.shuffle([...nodes]);
  const minoritySize = Math.max(1, prng.nextInt(1, Math.max(1, Math.floor((nodes.length - 1) / 2))));
  return { kind: "groups", groups: [shuffled.slice(0, minoritySize), shuffled.slice(minoritySize)] };
}

/** Random asymmetric cut: some nodes cannot reach some others, but hear from them. */
export function randomOneWay(nodes: readonly Address[], prng: Prng): PartitionSpec {
  const shuffled = prng.shuffle([...nodes]);
  const k = prng.nextInt(1, Math.max(1, nodes.length - 1));
  return { kind: "one-way", from: shuffled.slice(0, k), to: shuffled.slice(k) };
}

/** Random bridge: two halves joined only by one node (needs at least 3 nodes). */
export function randomBridge(nodes: readonly Address[], prng: Prng): PartitionSpec {
  if (nodes.length < 3) return isolateOne(nodes, prng);
  const shuffled = prng.shuffle([...nodes]);
  const bridge = shuffled[0]!;
  const rest = shuffled.slice(1);
  const half = Math.ceil(rest.length / 2);
  return { kind: "bridge", left: rest.slice(0, half), bridge, right: rest.slice(half) };
}
