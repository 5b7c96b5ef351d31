/**
 * Naive reference implementations, written straight from the definitions and
 * the papers with BigInt and node:crypto, sharing no code with src/. The
 * property tests check the fast implementations against these.
 */
import { createHash } from "node:crypto";

const MASK64 = (1n << 64n) - 1n;

/** H(s): first 8 bytes of SHA-256(UTF-8(s)), big-endian (via node:crypto, not @noble/hashes). */
export function H(s: string): bigint {
  return createHash("sha256").update(s, "utf8").digest().readBigUInt64BE(0);
}

/** MurmurHash3's fmix64, transcribed with BigInt. */
export function fmix64(k: bigint): bigint {
  k ^= k >> 33n;
  k = (k * 0xff51afd7ed558ccdn) & MASK64;
  k ^= k >> 33n;
  k = (k * 0xc4ceb9fe1a85ec53n) & MASK64;
  k ^= k >> 33n;
  return k;
}

/** score(o, m) = fmix64(H(o) XOR H(m)). */
export function score(origin: string, member: string): bigint {
  return fmix64(H(origin) ^ H(member));
}

export interface NaiveMember {
  id: string;
  weight: number;
}

function cmpBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Rendezvous: every member sorted by (weighted) score, highest first. */
export function rendezvousList(origin: string, members: NaiveMember[]): string[] {
  const uniform = members.every((m) => m.weight === members[0]!.weight);
  const scored = members.map((m) => {
    const s = score(origin, m.id);
    const u = (Number(s >> 12n) + 0.5) / 2 ** 52;
    return { id: m.id, s, w: uniform ? 0 : m.weight / -Math.log(u) };
  });
  scored.sort((a, b) => b.w - a.w || cmpBig(b.s, a.s) || cmpStr(a.id, b.id));
  return scored.map((x) => x.id);
}

/** Karger ring: all points listed and sorted; the owner is found by a linear scan. */
export function ringList(origin: string, members: NaiveMember[], vnodes: number): string[] {
  const mean = members.reduce((s, m) => s + m.weight, 0) / members.length;
  const points: Array<{ pos: bigint; id: string }> = [];
  for (const m of members) {
    const count = Math.max(1, Math.round((vnodes * m.weight) / mean));
    for (let i = 0; i < count; i++) points.push({ pos: fmix64(H(m.id) ^ H(String(i))), id: m.id });
  }
  points.sort((a, b) => cmpBig(a.pos, b.pos) || cmpStr(a.id, b.id));
  const h = H(origin);
  let start = points.findIndex((p) => p.pos >= h);
  if (start < 0) start = 0;
  const list: string[] = [];
  for (let i = 0; i < points.length; i++) {
    const id = points[(start + i) % points.length]!.id;
    if (!list.includes(id)) list.push(id);
  }
  return list;
}

/** Lamping and Veach's JumpConsistentHash, transcribed from the paper's C++ with BigInt. */
export function jump(key: bigint, buckets: number): number {
  let b = -1n;
  let j = 0n;
  while (j < BigInt(buckets)) {
    b = j;
    key = (key * 2862933555777941757n + 1n) & MASK64;
    j = BigInt(Math.trunc(Number(b + 1n) * (Number(1n << 31n) / Number((key >> 33n) + 1n))));
  }
  return Number(b);
}

/** Maglev's Pseudocode 1 (NSDI 2016 §3.4), with the full permutation table, plus weighted turns. */
export function maglevTable(members: NaiveMember[], M: number): string[] {
  const sorted = [...members].sort((a, b) => cmpStr(a.id, b.id));
  const N = sorted.length;
  const permutation: number[][] = sorted.map((m) => {
    const offset = Number(H(m.id) % BigInt(M));
    const skip = Number(fmix64(H(m.id)) % BigInt(M - 1)) + 1;
    return Array.from({ length: M }, (_, j) => (offset + j * skip) % M);
  });
  const maxW = Math.max(...sorted.map((m) => m.weight));
  const next = new Array<number>(N).fill(0);
  const claimed = new Array<number>(N).fill(0);
  const entry = new Array<number>(M).fill(-1);
  let n = 0;
  for (let round = 1; ; round++) {
    for (let i = 0; i < N; i++) {
      if (claimed[i]! >= (round * sorted[i]!.weight) / maxW) continue;
      let c = permutation[i]![next[i]!]!;
      while (entry[c]! >= 0) {
        next[i]!++;
        c = permutation[i]![next[i]!]!;
      }
      entry[c] = i;
      next[i]!++;
      claimed[i]!++;
      n++;
      if (n === M) return entry.map((e) => sorted[e]!.id);
    }
  }
}

/** Bounded loads with exact rational capacities: eps = epsNum / epsDen. */
export function boundedAssign(origins: string[], members: NaiveMember[], epsNum: number, epsDen: number): Map<string, string> {
  // Integer weights only, so the capacity is an exact integer ceiling.
  const W = BigInt(members.reduce((s, m) => s + m.weight, 0));
  const n = BigInt(origins.length);
  const cap = new Map(
    members.map((m) => {
      const num = BigInt(epsDen + epsNum) * n * BigInt(m.weight);
      const den = BigInt(epsDen) * W;
      return [m.id, Number((num + den - 1n) / den)];
    }),
  );
  const load = new Map(members.map((m) => [m.id, 0]));
  const order = [...origins].sort((a, b) => cmpBig(H(a), H(b)) || cmpStr(a, b));
  const result = new Map<string, string>();
  for (const o of order) {
    const owner = rendezvousList(o, members).find((id) => load.get(id)! < cap.get(id)!)!;
    load.set(owner, load.get(owner)! + 1);
    result.set(o, owner);
  }
  return result;
}
