/**
 * The two overlays of Enes et al.'s experiment (§V): a tree where no node has
 * more than 3 neighbours (15 nodes make a complete binary tree) and a partial
 * mesh where every node has exactly 4 (a random 4-regular connected graph,
 * drawn from the seed). Trees have one path between any two nodes, so BP
 * alone removes all redundancy; meshes have cycles, which is where RR matters.
 */
import type { Prng } from "@heck/sim";

/** node -> neighbours. */
export type Topology = Map<string, string[]>;

const id = (i: number): string => `n${i}`;

/** A complete binary tree on n nodes (node i's children are 2i+1, 2i+2). */
export function binaryTree(n: number): Topology {
  const t: Topology = new Map(Array.from({ length: n }, (_, i) => [id(i), [] as string[]]));
  for (let i = 1; i < n; i++) {
    const parent = Math.floor((i - 1) / 2);
    t.get(id(i))!.push(id(parent));
    t.get(id(parent))!.push(id(i));
  }
  return t;
}

function connected(t: Topology): boolean {
  const start = t.keys().next().value as string;
  const seen = new Set([start]);
  const stack = [start];
  while (stack.length > 0) {
    for (const m of t.get(stack.pop()!)!) {
      if (seen.has(m)) continue;
      seen.add(m);
      stack.push(m);
    }
  }
  return seen.size === t.size;
}

/** A random connected d-regular graph on n nodes (configuration model, retried until simple and connected). */
export function randomRegular(n: number, d: number, prng: Prng): Topology {
  if ((n * d) % 2 !== 0 || d >= n) throw new RangeError(`no ${d}-regular graph on ${n} nodes`);
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const stubs = prng.shuffle(Array.from({ length: n * d }, (_, k) => Math.floor(k / d)));
    const edges = new Set<string>();
    let ok = true;
    for (let k = 0; k < stubs.length; k += 2) {
      const a = Math.min(stubs[k]!, stubs[k + 1]!);
      const b = Math.max(stubs[k]!, stubs[k + 1]!);
      if (a === b || edges.has(`${a}-${b}`)) {
        ok = false;
        break;
      }
      edges.add(`${a}-${b}`);
    }
    if (!ok) continue;
    const t: Topology = new Map(Array.from({ length: n }, (_, i) => [id(i), [] as string[]]));
    for (const e of edges) {
      const [a, b] = e.split("-").map(Number) as [number, number];
      t.get(id(a))!.push(id(b));
      t.get(id(b))!.push(id(a));
    }
    if (connected(t)) return t;
  }
  throw new Error("could not draw a connected regular graph");
}
