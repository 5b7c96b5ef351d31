/**
 * A binary min-heap of (key, dueMs) with a position index, so an entry can be
 * removed or re-keyed in O(log n) when a target is deleted or its interval
 * changes. Ties on `dueMs` break by insertion order, which keeps runs
 * deterministic for a seed.
 */
export class IndexedMinHeap<K> {
  private readonly keys: K[] = [];
  private readonly due: number[] = [];
  private readonly seq: number[] = [];
  private readonly pos = new Map<K, number>();
  private nextSeq = 0;

  /** Entries in the heap. */
  get size(): number {
    return this.keys.length;
  }

  /** True when `key` is in the heap. */
  has(key: K): boolean {
    return this.pos.has(key);
  }

  /** The smallest due time, or Infinity when empty. */
  peekDue(): number {
    return this.keys.length === 0 ? Infinity : this.due[0]!;
  }

  /** The due time of `key`, or undefined. */
  dueOf(key: K): number | undefined {
    const i = this.pos.get(key);
    return i === undefined ? undefined : this.due[i];
  }

  /** Inserts `key` due at `dueMs`, or moves it there if present. */
  set(key: K, dueMs: number): void {
    const i = this.pos.get(key);
    if (i !== undefined) {
      const old = this.due[i]!;
      this.due[i] = dueMs;
      this.seq[i] = this.nextSeq++;
      if (dueMs < old) this.up(i);
      else this.down(i);
      return;
    }
    const n = this.keys.length;
    this.keys.push(key);
    this.due.push(dueMs);
    this.seq.push(this.nextSeq++);
    this.pos.set(key, n);
    this.up(n);
  }

  /** Removes and returns the earliest entry, or undefined when empty. */
  pop(): { key: K; dueMs: number } | undefined {
    if (this.keys.length === 0) return undefined;
    const key = this.keys[0]!;
    const dueMs = this.due[0]!;
    this.removeAt(0);
    return { key, dueMs };
  }

  /** Removes `key`; returns false when it was not there. */
  delete(key: K): boolean {
    const i = this.pos.get(key);
    if (i === undefined) return false;
    this.removeAt(i);
    return true;
  }

  private removeAt(i: number): void {
    const last = this.keys.length - 1;
    this.pos.delete(this.keys[i]!);
    if (i !== last) {
      this.move(last, i);
      this.keys.pop();
      this.due.pop();
      this.seq.pop();
      this.down(i);
      this.up(i);
    } else {
      this.keys.pop();
      this.due.pop();
      this.seq.pop();
    }
  }

  private less(a: number, b: number): boolean {
    const da = this.due[a]!;
    const db = this.due[b]!;
    return da < db || (da === db && this.seq[a]! < this.seq[b]!);
  }

  private move(from: number, to: number): void {
    this.keys[to] = this.keys[from]!;
    this.due[to] = this.due[from]!;
    this.seq[to] = this.seq[from]!;
    this.pos.set(this.keys[to], to);
  }

  private swap(a: number, b: number): void {
    const k = this.keys[a]!;
    const d = this.due[a]!;
    const s = this.seq[a]!;
    this.move(b, a);
    this.keys[b] = k;
    this.due[b] = d;
    this.seq[b] = s;
    this.pos.set(k, b);
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const n = this.keys.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(l, m)) m = l;
      if (r < n && this.less(r, m)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }
}
