/**
 * The store's replicated state: an OR-map (Almeida et al. §7.3) from string
 * keys to registers whose versions are dots, all sharing one causal context.
 * It is the generic `orMapLattice(dotFunKind())` of src/core/crdt, rebuilt
 * for a long-lived replica:
 *
 * - joins happen in place and touch only what a delta mentions, using an
 *   index dot -> key so a removal (a dot in the delta's context but not in
 *   its store) finds its key without scanning the map;
 * - Δ(delta, state) (Enes et al. RR) is computed the same way;
 * - every key's versions are hashed into 2^10 buckets, maintained
 *   incrementally with XOR, so a digest (src/core/store/digest.ts) costs
 *   nothing to produce.
 *
 * A delta (`KvDelta`) is itself a small state of this lattice: some keys'
 * versions plus a causal context. Its invariant, checked on decode: every
 * version's dot is in its context, and no dot appears twice.
 */
import { CausalContext, type EncodedContext } from "../causality/causal-context.ts";
import { compareDots, dotKey, type Dot } from "../causality/dot.ts";
import { IntervalSet } from "../causality/interval-set.ts";
import type { Json } from "../json.ts";
import { fail, isObject, ok, type Decoded } from "../result.ts";
import { utf8Length } from "@heck/sim";
import { bucketOf, hash64, hex32 } from "./hash.ts";
import { compareVersions, decodeVersion, encodeVersion, type EncodedVersion, type Mode, type Version } from "./version.ts";

/** A delta-state: versions of some keys plus the causal context they come with. */
export interface KvDelta {
  readonly entries: ReadonlyMap<string, readonly Version[]>;
  readonly cc: CausalContext;
}

/** Wire form of a delta. */
export interface EncodedDelta {
  cc: EncodedContext;
  kv: Array<[string, EncodedVersion[]]>;
}

/** The bottom delta. */
export function emptyDelta(): KvDelta {
  return { entries: new Map(), cc: new CausalContext() };
}

/** True for the bottom delta (nothing new at all). */
export function isEmptyDelta(d: KvDelta): boolean {
  return d.entries.size === 0 && d.cc.isEmpty();
}

/**
 * Each version's wire text and its UTF-8 size, computed once per version
 * object. A version is stored once but sent many times (in every
 * delta-interval to every peer that lacks it, in the WAL record, in
 * snapshots); re-serialising its value each time was the largest CPU cost
 * of a replica at 20,000 keys (bench/scale.ts). Versions are immutable, so
 * the cache never goes stale; it is weak, so it dies with the version.
 */
const versionWire = new WeakMap<Version, { text: string; bytes: number }>();

function wireOf(v: Version): { text: string; bytes: number } {
  let w = versionWire.get(v);
  if (w === undefined) {
    const text = JSON.stringify(encodeVersion(v));
    w = { text, bytes: utf8Length(text) };
    versionWire.set(v, w);
  }
  return w;
}

/** The UTF-8 size of a version's wire form (cached with its text). */
export function versionBytes(v: Version): number {
  return wireOf(v).bytes;
}

/** Records that a version's value serialises to `valueText` (a writer already had it), so it is not serialised again. */
export function primeVersionText(v: Version, valueText: string): void {
  const head = JSON.stringify(encodeVersion({ ...v, value: null }));
  // encodeVersion puts the value last: replace the trailing "null]" by the value's text.
  const text = v.mode === "lww" && v.deleted ? head : `${head.slice(0, -5)}${valueText}]`;
  versionWire.set(v, { text, bytes: utf8Length(text) });
}

function sortedKeys(d: KvDelta): string[] {
  return [...d.entries.keys()].sort();
}

function sortedVersions(vs: readonly Version[]): readonly Version[] {
  return vs.length === 1 ? vs : [...vs].sort((a, b) => compareDots(a.dot, b.dot));
}

/**
 * The wire text of a delta: the same JSON as `JSON.stringify(encodeDelta(d))`
 * (keys sorted, versions by dot), assembled from the cached version texts.
 */
export function encodeDeltaText(d: KvDelta): string {
  const items: string[] = [];
  for (const key of sortedKeys(d)) {
    const vs = sortedVersions(d.entries.get(key)!);
    let inner = "";
    for (let i = 0; i < vs.length; i++) inner += (i === 0 ? "" : ",") + wireOf(vs[i]!).text;
    items.push(`[${JSON.stringify(key)},[${inner}]]`);
  }
  return `{"cc":${JSON.stringify(d.cc.encode())},"kv":[${items.join(",")}]}`;
}

/** Encodes a delta (keys sorted, so equal deltas encode equally). */
export function encodeDelta(d: KvDelta): EncodedDelta {
  const kv: Array<[string, EncodedVersion[]]> = [];
  for (const key of [...d.entries.keys()].sort()) {
    kv.push([key, [...d.entries.get(key)!].sort((a, b) => compareDots(a.dot, b.dot)).map(encodeVersion)]);
  }
  return { cc: d.cc.encode(), kv };
}

/** Largest key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

/** Checks a key: a non-empty string of at most MAX_KEY_BYTES bytes without control characters. */
export function checkKey(key: unknown): string | undefined {
  if (typeof key !== "string" || key.length === 0) return "key must be a non-empty string";
  if (utf8Length(key) > MAX_KEY_BYTES) return `key must be at most ${MAX_KEY_BYTES} bytes`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) return "key must not contain control characters";
  return undefined;
}

/** Decodes and validates a delta; errors name the field. */
export function decodeDelta(json: unknown, field: string): Decoded<KvDelta> {
  if (!isObject(json)) return fail(`${field}: expected {cc, kv}`);
  const cc = CausalContext.decode(json.cc, `${field}.cc`);
  if (!cc.ok) return cc;
  if (!Array.isArray(json.kv)) return fail(`${field}.kv: expected an array of [key, versions]`);
  const entries = new Map<string, Version[]>();
  const seen = new Set<string>();
  for (let i = 0; i < json.kv.length; i++) {
    const item: unknown = json.kv[i];
    if (!Array.isArray(item) || item.length !== 2) return fail(`${field}.kv[${i}]: expected [key, versions]`);
    const [key, versions] = item as [unknown, unknown];
    const keyError = checkKey(key);
    if (keyError !== undefined) return fail(`${field}.kv[${i}][0]: ${keyError}`);
    if (entries.has(key as string)) return fail(`${field}.kv[${i}][0]: duplicate key`);
    if (!Array.isArray(versions) || versions.length === 0) return fail(`${field}.kv[${i}][1]: expected a non-empty array of versions`);
    const list: Version[] = [];
    for (let j = 0; j < versions.length; j++) {
      const v = decodeVersion(versions[j], `${field}.kv[${i}][1][${j}]`);
      if (!v.ok) return v;
      const k = dotKey(v.value.dot);
      if (seen.has(k)) return fail(`${field}.kv[${i}][1][${j}]: dot ${k} appears twice`);
      if (!cc.value.contains(v.value.dot)) return fail(`${field}.kv[${i}][1][${j}]: dot ${k} is not in the delta's context`);
      seen.add(k);
      list.push(v.value);
    }
    entries.set(key as string, list);
  }
  return ok({ entries, cc: cc.value });
}

/** What a read returns. */
export interface ReadResult {
  readonly key: string;
  /** "lww" when every version is LWW, else "mv". */
  readonly mode: Mode;
  /** False when the key has no value (never written, removed, or its LWW winner is a delete). */
  readonly exists: boolean;
  /** The winning value (LWW) or the single sibling (MV); undefined when absent or with several siblings. */
  readonly value: Json | undefined;
  /** The live values: one for LWW, every concurrent sibling for MV, ordered by dot. */
  readonly values: Json[];
  /** Every stored version, including LWW delete markers. */
  readonly versions: readonly Version[];
  /** The dots of those versions: pass back with a write to replace exactly them. */
  readonly context: CausalContext;
  /** LWW: the winner's timestamp. */
  readonly ts: number | undefined;
}

/** Resolves a key's versions into what a reader sees. */
export function resolve(key: string, unordered: readonly Version[]): ReadResult {
  const versions = [...unordered].sort((a, b) => compareDots(a.dot, b.dot));
  const context = CausalContext.fromDots(versions.map((v) => v.dot));
  if (versions.length > 0 && versions.every((v) => v.mode === "lww")) {
    let winner = versions[0]!;
    for (const v of versions) if (compareVersions(v, winner) > 0) winner = v;
    const exists = !winner.deleted;
    return { key, mode: "lww", exists, value: exists ? (winner.value as Json) : undefined, values: exists ? [winner.value as Json] : [], versions, context, ts: winner.ts };
  }
  const live = versions.filter((v) => !v.deleted);
  const values = live.map((v) => v.value as Json);
  return { key, mode: "mv", exists: values.length > 0, value: values.length === 1 ? values[0] : undefined, values, versions, context, ts: undefined };
}

/** Bits of the finest bucketing kept incrementally; digests use this many or fewer. */
export const MAX_DIGEST_BITS = 10;
const FINE_BUCKETS = 1 << MAX_DIGEST_BITS;

interface KeyRecord {
  readonly versions: Map<string, Version>; // dot key -> version
  hashHi: number;
  hashLo: number;
  bucket: number;
  bytes: number;
}

/** The mutable replica state. */
export class KvState {
  /** Every dot this replica has seen. */
  readonly cc = new CausalContext();
  private readonly keys = new Map<string, KeyRecord>();
  /** node -> counter -> key: which key holds each live dot. */
  private readonly index = new Map<string, Map<number, string>>();
  private readonly bucketHi = new Uint32Array(FINE_BUCKETS);
  private readonly bucketLo = new Uint32Array(FINE_BUCKETS);
  private liveVersions = 0;
  private bytes = 0;

  /**
   * @param tracking maintain bucket hashes and sizes (replicas do; scratch
   *   states that only join deltas together skip the cost).
   */
  constructor(private readonly tracking = true) {}

  /** Number of keys holding at least one version (LWW delete markers included). */
  get keyCount(): number {
    return this.keys.size;
  }

  /** Number of live versions (siblings and delete markers). */
  get versionCount(): number {
    return this.liveVersions;
  }

  /** Approximate encoded size of the full state, in bytes (drives the full-state vs digest choice). */
  get approxBytes(): number {
    return this.bytes + 8 * this.keys.size;
  }

  /** The versions stored for `key` (empty when none). */
  versions(key: string): Version[] {
    const r = this.keys.get(key);
    return r === undefined ? [] : [...r.versions.values()];
  }

  /** What a reader of `key` sees. */
  read(key: string): ReadResult {
    return resolve(key, this.versions(key));
  }

  /** The keys with a live value starting with `prefix`, sorted. */
  list(prefix = "", limit = Infinity): string[] {
    const out: string[] = [];
    for (const key of this.keys.keys()) if (key.startsWith(prefix) && this.read(key).exists) out.push(key);
    out.sort();
    return out.length > limit ? out.slice(0, limit) : out;
  }

  /** Every key with versions, sorted (delete markers included). */
  allKeys(): string[] {
    return [...this.keys.keys()].sort();
  }

  /** True when `dot` is stored here (not merely seen). */
  isLive(dot: Dot): boolean {
    return this.index.get(dot.node)?.has(dot.counter) ?? false;
  }

  // ------------------------------------------------------------------------
  // Delta mutators: they return a delta and never change the state; the
  // caller joins the delta in (and logs it), as in Almeida et al. §3.
  // ------------------------------------------------------------------------

  /** The next dot `node` will use. */
  nextDot(node: string): Dot {
    return { node, counter: this.cc.max(node) + 1 };
  }

  /** MV write: replaces the versions of `key` whose dots are in `context`; no context adds a sibling. */
  writeMv(key: string, value: Json, node: string, context?: CausalContext): KvDelta {
    const dot = this.nextDot(node);
    const cc = new CausalContext();
    if (context !== undefined) for (const v of this.versions(key)) if (context.contains(v.dot)) cc.add(v.dot);
    cc.add(dot);
    return { entries: new Map([[key, [{ dot, mode: "mv", ts: 0, deleted: false, value }]]]), cc };
  }

  /**
   * LWW write or delete at timestamp `ts`: replaces every version of `key`
   * this replica holds. Returns null when a version it holds already wins
   * (the write is stale and would lose every join anyway).
   */
  writeLww(key: string, value: Json | null, deleted: boolean, ts: number, node: string): KvDelta | null {
    const dot = this.nextDot(node);
    const version: Version = { dot, mode: "lww", ts, deleted, value: deleted ? null : value };
    const cc = new CausalContext();
    for (const v of this.versions(key)) {
      if (compareVersions(v, version) >= 0) return null;
      cc.add(v.dot);
    }
    cc.add(dot);
    return { entries: new Map([[key, [version]]]), cc };
  }

  /** Observed remove: drops the versions of `key` in `context` (all of them when omitted). No tombstone. */
  removeObserved(key: string, context?: CausalContext): KvDelta {
    const cc = new CausalContext();
    for (const v of this.versions(key)) if (context === undefined || context.contains(v.dot)) cc.add(v.dot);
    return { entries: new Map(), cc };
  }

  // ------------------------------------------------------------------------
  // Join and Δ
  // ------------------------------------------------------------------------

  /**
   * Calls `fn(node, counter, key)` for every dot that is in `d.cc`, live
   * here, and not stored in `d`: the versions delta `d` removes. Walks
   * whichever is smaller, the delta's dots or this replica's live dots of
   * that node, so a small delta costs little on a large state. A dot names
   * one write of one key, so "stored in d" is a look at that key's versions
   * in d (no set of every dot of d is built).
   */
  private forRemovedBy(d: KvDelta, fn: (node: string, counter: number, key: string) => void): void {
    const keeps = (node: string, counter: number, key: string): boolean => {
      const vs = d.entries.get(key);
      if (vs === undefined) return false;
      for (const v of vs) if (v.dot.counter === counter && v.dot.node === node) return true;
      return false;
    };
    for (const node of d.cc.nodes()) {
      const idx = this.index.get(node);
      if (idx === undefined || idx.size === 0) continue;
      const seen = d.cc.dotsOf(node)!;
      const hits: Array<[number, string]> = [];
      if (idx.size <= seen.size()) {
        for (const [counter, key] of idx) if (seen.has(counter) && !keeps(node, counter, key)) hits.push([counter, key]);
      } else {
        for (const [lo, hi] of seen.runs()) {
          for (let c = lo; c <= hi; c++) {
            const key = idx.get(c);
            if (key !== undefined && !keeps(node, c, key)) hits.push([c, key]);
          }
        }
      }
      for (const [counter, key] of hits) fn(node, counter, key);
    }
  }

  /** Joins a delta into this state in place; returns the keys whose versions changed. */
  join(d: KvDelta): Set<string> {
    const changed = new Set<string>();
    // 1. Versions the delta's context has seen but its store lacks were removed there.
    this.forRemovedBy(d, (node, counter, key) => {
      this.removeVersion(key, `${node}:${counter}`, node, counter);
      changed.add(key);
    });
    // 2. Versions this replica has never seen are new (seen-but-absent ones stay removed).
    for (const [key, versions] of d.entries) {
      for (const v of versions) {
        if (this.cc.contains(v.dot)) continue;
        this.insertVersion(key, v);
        changed.add(key);
      }
    }
    // 3. The contexts join.
    this.cc.joinInto(d.cc);
    for (const key of changed) this.rehash(key);
    return changed;
  }

  /**
   * Δ(d, this): the part of `d` this replica lacks (Enes et al. §IV-B, RR):
   * versions with unseen dots, the unseen part of d's context, and the dots
   * d removes that are still live here. Joining Δ gives the same state as
   * joining d; its size is what actually needs forwarding.
   */
  novelty(d: KvDelta): KvDelta {
    const unseen = d.cc.difference(this.cc);
    const entries = new Map<string, Version[]>();
    for (const [key, versions] of d.entries) {
      const fresh = versions.filter((v) => unseen.contains(v.dot));
      if (fresh.length > 0) entries.set(key, fresh);
    }
    this.forRemovedBy(d, (node, counter) => unseen.add({ node, counter }));
    return { entries, cc: unseen };
  }

  /** The whole state as a delta (a copy). */
  toDelta(): KvDelta {
    const entries = new Map<string, Version[]>();
    for (const [key, r] of this.keys) entries.set(key, [...r.versions.values()]);
    return { entries, cc: this.cc.clone() };
  }

  /** The dots seen here that are no longer stored: removals, with no tombstone beyond the context. */
  deadDots(): CausalContext {
    const out = new CausalContext();
    for (const node of this.cc.nodes()) {
      const seen = this.cc.dotsOf(node)!;
      const idx = this.index.get(node);
      const live = new IntervalSet();
      if (idx !== undefined) for (const c of [...idx.keys()].sort((a, b) => a - b)) live.add(c);
      for (const [lo, hi] of seen.difference(live).runs()) out.addRange(node, lo, hi);
    }
    return out;
  }

  /** Of `dots`, those this replica has seen and no longer stores (it knows them to be removed). */
  deadAmong(dots: CausalContext): CausalContext {
    const out = new CausalContext();
    for (const node of dots.nodes()) {
      for (const [lo, hi] of dots.dotsOf(node)!.runs()) {
        for (let c = lo; c <= hi; c++) if (this.cc.has(node, c) && !this.isLive({ node, counter: c })) out.add({ node, counter: c });
      }
    }
    return out;
  }

  // ------------------------------------------------------------------------
  // Bucket hashes for the digest exchange
  // ------------------------------------------------------------------------

  /** The XOR of the key hashes in each of 2^bits buckets, as 16 hex digits per bucket. */
  bucketHashes(bits: number): string {
    if (!(Number.isInteger(bits) && bits >= 0 && bits <= MAX_DIGEST_BITS)) throw new RangeError(`bucketHashes: bits must be 0..${MAX_DIGEST_BITS}`);
    const n = 1 << bits;
    const hi = new Uint32Array(n);
    const lo = new Uint32Array(n);
    for (let i = 0; i < FINE_BUCKETS; i++) {
      hi[i & (n - 1)]! ^= this.bucketHi[i]!;
      lo[i & (n - 1)]! ^= this.bucketLo[i]!;
    }
    let out = "";
    for (let i = 0; i < n; i++) out += hex32(hi[i]!) + hex32(lo[i]!);
    return out;
  }

  /**
   * The keys (with versions) of each of the given buckets of a 2^bits
   * bucketing, each list sorted: one pass over the keys whatever the number
   * of buckets (a digest answer over 1,024 differing buckets used to scan
   * every key once per bucket: 20 million steps at 20,000 keys).
   */
  keysByBucket(buckets: Iterable<number>, bits: number): Map<number, string[]> {
    const mask = (1 << bits) - 1;
    const out = new Map<number, string[]>();
    for (const b of buckets) out.set(b, []);
    for (const [key, r] of this.keys) out.get(r.bucket & mask)?.push(key);
    for (const list of out.values()) list.sort();
    return out;
  }

  /** The keys (with versions) that fall in the given buckets of a 2^bits bucketing. */
  keysInBuckets(buckets: ReadonlySet<number>, bits: number): string[] {
    const mask = (1 << bits) - 1;
    const out: string[] = [];
    for (const [key, r] of this.keys) if (buckets.has(r.bucket & mask)) out.push(key);
    return out.sort();
  }

  // ------------------------------------------------------------------------
  // Internals
  // ------------------------------------------------------------------------

  private insertVersion(key: string, v: Version): void {
    let r = this.keys.get(key);
    if (r === undefined) {
      r = { versions: new Map(), hashHi: 0, hashLo: 0, bucket: bucketOf(key, MAX_DIGEST_BITS), bytes: 0 };
      this.keys.set(key, r);
    }
    r.versions.set(dotKey(v.dot), v);
    let idx = this.index.get(v.dot.node);
    if (idx === undefined) {
      idx = new Map();
      this.index.set(v.dot.node, idx);
    }
    idx.set(v.dot.counter, key);
    this.liveVersions++;
  }

  private removeVersion(key: string, k: string, node: string, counter: number): void {
    const r = this.keys.get(key);
    if (r === undefined || !r.versions.delete(k)) return;
    this.index.get(node)?.delete(counter);
    this.liveVersions--;
  }

  /** Recomputes a changed key's hash and size, XORing the old hash out of its bucket and the new one in. */
  private rehash(key: string): void {
    const r = this.keys.get(key);
    if (r === undefined) return;
    this.bucketHi[r.bucket]! ^= r.hashHi;
    this.bucketLo[r.bucket]! ^= r.hashLo;
    this.bytes -= r.bytes;
    if (r.versions.size === 0) {
      this.keys.delete(key); // empty keys are pruned: nothing but dots in the context remains
      return;
    }
    if (!this.tracking) return;
    const dots = [...r.versions.keys()].sort();
    [r.hashHi, r.hashLo] = hash64(`${key}\u0000${dots.join(",")}`);
    this.bucketHi[r.bucket]! ^= r.hashHi;
    this.bucketLo[r.bucket]! ^= r.hashLo;
    let bytes = utf8Length(key) + 8;
    for (const v of r.versions.values()) bytes += 24 + (v.value === null ? 0 : utf8Length(JSON.stringify(v.value)));
    r.bytes = bytes;
    this.bytes += bytes;
  }
}

/** The dot keys stored in a delta. */
export function liveDots(d: KvDelta): Set<string> {
  const out = new Set<string>();
  for (const versions of d.entries.values()) for (const v of versions) out.add(dotKey(v.dot));
  return out;
}

/** The dots stored in a delta, as a context. */
export function entryContext(d: KvDelta): CausalContext {
  const cc = new CausalContext();
  for (const versions of d.entries.values()) for (const v of versions) cc.add(v.dot);
  return cc;
}

/** Joins deltas into one (the causal join, so a later delta's removals apply to earlier ones). */
export function joinDeltas(deltas: Iterable<KvDelta>): KvDelta {
  const acc = new KvState(false);
  for (const d of deltas) acc.join(d);
  return acc.toDelta();
}

/** Encoded size in bytes of a delta (exact: the UTF-8 length of {@link encodeDeltaText}), from the cached version sizes. */
export function deltaBytes(d: KvDelta): number {
  let bytes = 6 + utf8Length(JSON.stringify(d.cc.encode())) + 7 + 2; // {"cc":…,"kv":[…]}
  let n = 0;
  for (const [key, vs] of d.entries) {
    bytes += 1 + utf8Length(JSON.stringify(key)) + 2 + 2 + (vs.length - 1); // [key,[…]] and the commas between versions
    for (const v of vs) bytes += wireOf(v).bytes;
    n++;
  }
  return bytes + Math.max(0, n - 1);
}
