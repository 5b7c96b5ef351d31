/**
 * The trace hash: one 64-bit digest of every event of a run, in order, with
 * everything in it (time, node, event, and the whole message). Node and the
 * browser must agree on it exactly, so it is plain integer arithmetic: two
 * FNV-1a lanes fed the event's structure directly (a tag per kind of value,
 * strings as UTF-16 code units, numbers as their IEEE-754 bits, object keys
 * in their order). Walking the value instead of serialising it to JSON first
 * keeps hashing a small part of a re-run's cost, which is what makes
 * rewinding (a re-run from the seed) quick.
 */
import type { TraceEvent } from "@heck/sim";

const FLOAT = new Float64Array(1);
const WORDS = new Uint32Array(FLOAT.buffer);

const enum Tag {
  String = 1,
  Number,
  True,
  False,
  Undefined,
  BigInt,
  Null,
  Bytes,
  Array,
  Map,
  Set,
  Object,
  Event,
}

/** Folds trace events, in order, into a 16-hex-digit digest. */
export class TraceHasher {
  private a = 0x811c9dc5;
  private b = 0x01000193 ^ 0x9e3779b9;
  /** Events folded so far. */
  lines = 0;

  /** Folds one event: its time, node, name and message. */
  updateEvent(event: TraceEvent): void {
    this.word(Tag.Event);
    this.value(event.t);
    this.value(event.node);
    this.value(event.event);
    this.value(event.msg);
    this.lines++;
  }

  /** The digest so far: 16 lowercase hex digits (the lanes mixed once more, so nearby traces differ everywhere). */
  digest(): string {
    let a = this.a ^ (this.b >>> 15);
    let b = this.b ^ (this.a >>> 13);
    a = Math.imul(a ^ (a >>> 16), 0x85ebca6b);
    b = Math.imul(b ^ (b >>> 13), 0xc2b2ae35);
    a ^= a >>> 16;
    b ^= b >>> 16;
    return (a >>> 0).toString(16).padStart(8, "0") + (b >>> 0).toString(16).padStart(8, "0");
  }

  private word(x: number): void {
    this.a = Math.imul(this.a ^ x, 0x01000193);
    this.b = Math.imul(this.b ^ x, 0x5bd1e995);
  }

  private text(s: string): void {
    let a = this.a;
    let b = this.b;
    a = Math.imul(a ^ s.length, 0x01000193);
    b = Math.imul(b ^ s.length, 0x5bd1e995);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
    }
    this.a = a;
    this.b = b;
  }

  private value(v: unknown): void {
    switch (typeof v) {
      case "string":
        this.word(Tag.String);
        this.text(v);
        return;
      case "number":
        this.word(Tag.Number);
        FLOAT[0] = v;
        this.word(WORDS[0]!);
        this.word(WORDS[1]!);
        return;
      case "boolean":
        this.word(v ? Tag.True : Tag.False);
        return;
      case "bigint":
        this.word(Tag.BigInt);
        this.text(v.toString());
        return;
      case "undefined":
      case "function":
      case "symbol":
        this.word(Tag.Undefined);
        return;
    }
    if (v === null) {
      this.word(Tag.Null);
      return;
    }
    if (v instanceof Uint8Array) {
      this.word(Tag.Bytes);
      this.word(v.length);
      for (let i = 0; i < v.length; i++) this.word(v[i]!);
    } else if (Array.isArray(v)) {
      this.word(Tag.Array);
      this.word(v.length);
      for (let i = 0; i < v.length; i++) this.value(v[i]);
    } else if (v instanceof Map) {
      this.word(Tag.Map);
      this.word(v.size);
      for (const [k, x] of v) {
        this.value(k);
        this.value(x);
      }
    } else if (v instanceof Set) {
      this.word(Tag.Set);
      this.word(v.size);
      for (const x of v) this.value(x);
    } else {
      this.word(Tag.Object);
      const o = v as Record<string, unknown>;
      // Own enumerable keys in insertion order: Object.keys is the same list a for-in with a hasOwnProperty check walks, faster.
      const keys = Object.keys(o);
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        this.text(k);
        this.value(o[k]);
      }
    }
  }
}
