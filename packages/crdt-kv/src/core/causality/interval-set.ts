/**
 * A set of positive integers stored as sorted, disjoint, non-adjacent runs
 * `[lo, hi]`. A causal context holds one per replica: the run that starts at
 * 1 is the replica's compact version-vector entry, the later runs are its
 * "dot cloud" (Almeida et al., "Delta state replicated data types", §5: the
 * causal context is a compact vector plus a set of dots beyond it). Runs keep
 * the cloud small even when a digest sync learns a long gap at once.
 */
export class IntervalSet {
  // Parallel arrays: run i is [los[i], his[i]]; los[i+1] > his[i] + 1 always.
  private los: number[];
  private his: number[];

  constructor(los: number[] = [], his: number[] = []) {
    this.los = los;
    this.his = his;
  }

  /** Builds a set from runs, validating and normalising them (overlapping or adjacent runs merge). */
  static fromRuns(runs: Iterable<readonly [number, number]>): IntervalSet {
    const sorted = [...runs].sort((a, b) => a[0] - b[0]);
    const out = new IntervalSet();
    for (const [lo, hi] of sorted) out.addRange(lo, hi);
    return out;
  }

  /** A set holding 1..n (a version-vector entry); empty when n is 0. */
  static prefix(n: number): IntervalSet {
    return n > 0 ? new IntervalSet([1], [n]) : new IntervalSet();
  }

  /** Number of runs (the storage cost, not the cardinality). */
  get runCount(): number {
    return this.los.length;
  }

  /** True when no integer is in the set. */
  isEmpty(): boolean {
    return this.los.length === 0;
  }

  /** How many integers the set holds. */
  size(): number {
    let n = 0;
    for (let i = 0; i < this.los.length; i++) n += this.his[i]! - this.los[i]! + 1;
    return n;
  }

  /** The n such that 1..n is in the set and n+1 is not (0 if 1 is absent): the compact vector entry. */
  prefixEnd(): number {
    return this.los[0] === 1 ? this.his[0]! : 0;
  }

  /** The largest member, or 0 when empty. */
  max(): number {
    return this.his.length === 0 ? 0 : this.his[this.his.length - 1]!;
  }

  /** Index of the run containing n, or -1. Binary search over run starts. */
  private find(n: number): number {
    let lo = 0;
    let hi = this.los.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.los[mid]! > n) hi = mid - 1;
      else if (this.his[mid]! < n) lo = mid + 1;
      else return mid;
    }
    return -1;
  }

  /** Membership test, O(log runs). */
  has(n: number): boolean {
    return this.find(n) >= 0;
  }

  /** Adds one integer (mutates). Merges with neighbouring runs, which is the context's compaction. */
  add(n: number): void {
    this.addRange(n, n);
  }

  /** Adds lo..hi inclusive (mutates). */
  addRange(lo: number, hi: number): void {
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || lo < 1 || hi < lo) {
      throw new RangeError(`IntervalSet.addRange: bad run [${lo}, ${hi}]`);
    }
    const los = this.los;
    const his = this.his;
    // Fast path: appending at the end, the common case for a replica's own dots.
    const last = los.length - 1;
    if (last < 0 || lo > his[last]! + 1) {
      los.push(lo);
      his.push(hi);
      return;
    }
    if (lo >= los[last]!) {
      if (hi > his[last]!) his[last] = hi;
      return;
    }
    // General case: find the first run that ends at or after lo - 1.
    let a = 0;
    let b = los.length;
    while (a < b) {
      const m = (a + b) >>> 1;
      if (his[m]! < lo - 1) a = m + 1;
      else b = m;
    }
    const i = a;
    let j = i;
    let newLo = lo;
    let newHi = hi;
    while (j < los.length && los[j]! <= hi + 1) {
      if (los[j]! < newLo) newLo = los[j]!;
      if (his[j]! > newHi) newHi = his[j]!;
      j++;
    }
    los.splice(i, j - i, newLo);
    his.splice(i, j - i, newHi);
  }

  /** Removes one integer (mutates). Used only by tests and by dot-cloud trimming. */
  delete(n: number): void {
    const i = this.find(n);
    if (i < 0) return;
    const lo = this.los[i]!;
    const hi = this.his[i]!;
    if (lo === hi) {
      this.los.splice(i, 1);
      this.his.splice(i, 1);
    } else if (n === lo) this.los[i] = lo + 1;
    else if (n === hi) this.his[i] = hi - 1;
    else {
      this.los.splice(i + 1, 0, n + 1);
      this.his.splice(i + 1, 0, hi);
      this.his[i] = n - 1;
    }
  }

  /** The runs as [lo, hi] pairs, ascending. */
  runs(): Array<[number, number]> {
    return this.los.map((lo, i) => [lo, this.his[i]!]);
  }

  /** Every member, ascending. Beware of large sets; prefer `runs`. */
  *values(): IterableIterator<number> {
    for (let i = 0; i < this.los.length; i++) {
      for (let n = this.los[i]!; n <= this.his[i]!; n++) yield n;
    }
  }

  /** A deep copy. */
  clone(): IntervalSet {
    return new IntervalSet(this.los.slice(), this.his.slice());
  }

  /** Union into this set (mutates). Linear merge of the two run lists. */
  unionInto(other: IntervalSet): void {
    if (other.los.length === 0) return;
    if (this.los.length === 0) {
      this.los = other.los.slice();
      this.his = other.his.slice();
      return;
    }
    const los: number[] = [];
    const his: number[] = [];
    let i = 0;
    let j = 0;
    const push = (lo: number, hi: number): void => {
      const k = los.length - 1;
      if (k >= 0 && lo <= his[k]! + 1) {
        if (hi > his[k]!) his[k] = hi;
      } else {
        los.push(lo);
        his.push(hi);
      }
    };
    while (i < this.los.length || j < other.los.length) {
      if (j >= other.los.length || (i < this.los.length && this.los[i]! <= other.los[j]!)) {
        push(this.los[i]!, this.his[i]!);
        i++;
      } else {
        push(other.los[j]!, other.his[j]!);
        j++;
      }
    }
    this.los = los;
    this.his = his;
  }

  /** A new set: the members of this set that are not in `other`. */
  difference(other: IntervalSet): IntervalSet {
    const los: number[] = [];
    const his: number[] = [];
    let j = 0;
    for (let i = 0; i < this.los.length; i++) {
      let lo = this.los[i]!;
      const hi = this.his[i]!;
      while (j < other.los.length && other.his[j]! < lo) j++;
      let k = j;
      while (lo <= hi) {
        if (k >= other.los.length || other.los[k]! > hi) {
          los.push(lo);
          his.push(hi);
          break;
        }
        if (other.los[k]! > lo) {
          los.push(lo);
          his.push(other.los[k]! - 1);
        }
        lo = other.his[k]! + 1;
        k++;
      }
    }
    return new IntervalSet(los, his);
  }

  /** A new set: the members in both sets. */
  intersection(other: IntervalSet): IntervalSet {
    const los: number[] = [];
    const his: number[] = [];
    let i = 0;
    let j = 0;
    while (i < this.los.length && j < other.los.length) {
      const lo = Math.max(this.los[i]!, other.los[j]!);
      const hi = Math.min(this.his[i]!, other.his[j]!);
      if (lo <= hi) {
        los.push(lo);
        his.push(hi);
      }
      if (this.his[i]! < other.his[j]!) i++;
      else j++;
    }
    return new IntervalSet(los, his);
  }

  /** True when every member of this set is in `other`. */
  isSubsetOf(other: IntervalSet): boolean {
    let j = 0;
    for (let i = 0; i < this.los.length; i++) {
      while (j < other.los.length && other.his[j]! < this.los[i]!) j++;
      if (j >= other.los.length || other.los[j]! > this.los[i]! || other.his[j]! < this.his[i]!) return false;
    }
    return true;
  }

  /** Same members (runs are canonical, so this compares runs). */
  equals(other: IntervalSet): boolean {
    if (this.los.length !== other.los.length) return false;
    for (let i = 0; i < this.los.length; i++) {
      if (this.los[i] !== other.los[i] || this.his[i] !== other.his[i]) return false;
    }
    return true;
  }
}
