/**
 * The trace hash: one 64-bit digest of every trace line of a run, in order.
 * Node and the browser must agree on it byte for byte, so it is plain
 * integer arithmetic on UTF-16 code units (no crypto API, no TextEncoder):
 * two FNV-1a lanes with different offsets, each line followed by a newline.
 */

/** Folds trace lines, in order, into a 16-hex-digit digest. */
export class TraceHasher {
  private a = 0x811c9dc5;
  private b = 0x01000193 ^ 0x9e3779b9;
  /** Lines folded so far. */
  lines = 0;

  /** Folds one line (the line and a newline). */
  update(line: string): void {
    let a = this.a;
    let b = this.b;
    for (let i = 0; i < line.length; i++) {
      const c = line.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
    }
    a = Math.imul(a ^ 10, 0x01000193);
    b = Math.imul(b ^ 10, 0x5bd1e995);
    this.a = a;
    this.b = b;
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
}
