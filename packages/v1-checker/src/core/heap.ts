/**
 * Min-heaps of deadlines.
 *
 * {@link DeadlineHeap} is intrusive: every node carries its own due time,
 * tie-break sequence and position in the heap, so popping, removing and
 * re-keying a node move only array slots and integer fields. The scheduler
 * keeps one node per target and runs the heap 10,000 times a second at
 * 10,000 targets; an earlier version kept positions in a `Map` keyed by
 * target id and paid a hash update on every swap (about 13 per operation at
 * that size), which was a visible share of the CPU per check.
 *
 * {@link IndexedMinHeap} is the keyed convenience on top: one map lookup per
 * operation, none per swap.
 */

/** What a node of a {@link DeadlineHeap} carries; the heap owns `seq` and `heapIndex`. */
export interface HeapNode {
  /** The deadline the heap orders by (smallest first). */
  dueMs: number;
  /** Tie-break: equal deadlines pop in the order they were set. Written by the heap. */
  seq: number;
  /** Position in the heap, -1 when not in it. Written by the heap. */
  heapIndex: number;
}

/**
 * A binary min-heap of nodes ordered by (`dueMs`, `seq`). Ties break by the
 * order in which nodes were pushed or re-keyed, which keeps runs
 * deterministic for a seed. All operations are O(log n) except `peek` (O(1)).
 */
export class DeadlineHeap<N extends HeapNode> {
  private readonly nodes: N[] = [];
  private nextSeq = 0;

  /** Nodes in the heap. */
  get size(): number {
    return this.nodes.length;
  }

  /** The earliest node, or undefined when empty. */
  peek(): N | undefined {
    return this.nodes[0];
  }

  /** The smallest due time, or Infinity when empty. */
  peekDue(): number {
    const top = this.nodes[0];
    return top === undefined ? Infinity : top.dueMs;
  }

  /** True when `node` is in this heap. */
  has(node: N): boolean {
    return node.heapIndex >= 0 && this.nodes[node.heapIndex] === node;
  }

  /** Inserts `node` due at `dueMs`, or moves it there if it is already in the heap. */
  set(node: N, dueMs: number): void {
    node.seq = this.nextSeq++;
    if (this.has(node)) {
      const old = node.dueMs;
      node.dueMs = dueMs;
      if (dueMs < old) this.up(node.heapIndex);
      else this.down(node.heapIndex);
      return;
    }
    node.dueMs = dueMs;
    node.heapIndex = this.nodes.length;
    this.nodes.push(node);
    this.up(node.heapIndex);
  }

  /** Removes and returns the earliest node, or undefined when empty. */
  pop(): N | undefined {
    const top = this.nodes[0];
    if (top !== undefined) this.removeAt(0);
    return top;
  }

  /** Removes `node`; false when it was not in the heap. */
  delete(node: N): boolean {
    if (!this.has(node)) return false;
    this.removeAt(node.heapIndex);
    return true;
  }

  private removeAt(i: number): void {
    const nodes = this.nodes;
    const gone = nodes[i]!;
    const last = nodes.pop()!;
    gone.heapIndex = -1;
    if (last !== gone) {
      nodes[i] = last;
      last.heapIndex = i;
      this.down(i);
      this.up(last.heapIndex);
    }
  }

  private less(a: N, b: N): boolean {
    return a.dueMs < b.dueMs || (a.dueMs === b.dueMs && a.seq < b.seq);
  }

  /** Sifts the node at `i` up, moving parents down into the hole (no swaps). */
  private up(i: number): void {
    const nodes = this.nodes;
    const node = nodes[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = nodes[p]!;
      if (!this.less(node, parent)) break;
      nodes[i] = parent;
      parent.heapIndex = i;
      i = p;
    }
    nodes[i] = node;
    node.heapIndex = i;
  }

  /** Sifts the node at `i` down, moving the smaller child up into the hole. */
  private down(i: number): void {
    const nodes = this.nodes;
    const n = nodes.length;
    const node = nodes[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      let child = nodes[l]!;
      if (r < n && this.less(nodes[r]!, child)) {
        c = r;
        child = nodes[r]!;
      }
      if (!this.less(child, node)) break;
      nodes[i] = child;
      child.heapIndex = i;
      i = c;
    }
    nodes[i] = node;
    node.heapIndex = i;
  }
}

interface KeyedNode<K> extends HeapNode {
  key: K;
}

/**
 * A min-heap of (key, dueMs) with a key index, so an entry can be removed or
 * re-keyed in O(log n) when a target is deleted or its interval changes.
 * Ties on `dueMs` break by insertion order, which keeps runs deterministic
 * for a seed.
 */
export class IndexedMinHeap<K> {
  private readonly heap = new DeadlineHeap<KeyedNode<K>>();
  private readonly byKey = new Map<K, KeyedNode<K>>();

  /** Entries in the heap. */
  get size(): number {
    return this.heap.size;
  }

  /** True when `key` is in the heap. */
  has(key: K): boolean {
    return this.byKey.has(key);
  }

  /** The smallest due time, or Infinity when empty. */
  peekDue(): number {
    return this.heap.peekDue();
  }

  /** The due time of `key`, or undefined. */
  dueOf(key: K): number | undefined {
    return this.byKey.get(key)?.dueMs;
  }

  /** Inserts `key` due at `dueMs`, or moves it there if present. */
  set(key: K, dueMs: number): void {
    let node = this.byKey.get(key);
    if (node === undefined) {
      node = { key, dueMs, seq: 0, heapIndex: -1 };
      this.byKey.set(key, node);
    }
    this.heap.set(node, dueMs);
  }

  /** Removes and returns the earliest entry, or undefined when empty. */
  pop(): { key: K; dueMs: number } | undefined {
    const node = this.heap.pop();
    if (node === undefined) return undefined;
    this.byKey.delete(node.key);
    return { key: node.key, dueMs: node.dueMs };
  }

  /** Removes `key`; returns false when it was not there. */
  delete(key: K): boolean {
    const node = this.byKey.get(key);
    if (node === undefined) return false;
    this.byKey.delete(key);
    this.heap.delete(node);
    return true;
  }
}
