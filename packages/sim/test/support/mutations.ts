/**
 * Mutations of real encodings for decoder fuzzing: start from a value the
 * encoder wrote, change a few characters or bytes, then cut it or extend
 * it, so the property reaches past a decoder's first check into its
 * field-by-field validation.
 */
import fc from "fast-check";

/** A mutation of a text: some characters replaced, then cut or extended. */
export interface TextMutation {
  edits: Array<[number, string]>;
  cut: number | undefined;
  tail: string;
}

/** Arbitrary {@link TextMutation}s. */
export const textMutation: fc.Arbitrary<TextMutation> = fc.record({
  edits: fc.array(fc.tuple(fc.nat(), fc.string({ maxLength: 3 })), { minLength: 1, maxLength: 6 }),
  cut: fc.option(fc.nat(), { nil: undefined }),
  tail: fc.string({ maxLength: 8 }),
});

/** `text` with `m` applied. */
export function mutateText(text: string, m: TextMutation): string {
  let out = text;
  for (const [at, s] of m.edits) {
    const i = out.length === 0 ? 0 : at % out.length;
    out = out.slice(0, i) + s + out.slice(i + 1);
  }
  if (m.cut !== undefined) out = out.slice(0, m.cut % (out.length + 1));
  return out + m.tail;
}

/** A mutation of bytes: some bytes changed, then cut or extended. */
export interface ByteMutation {
  flips: Array<[number, number]>;
  cut: number | undefined;
  tail: Uint8Array;
}

/** Arbitrary {@link ByteMutation}s. */
export const byteMutation: fc.Arbitrary<ByteMutation> = fc.record({
  flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
  cut: fc.option(fc.nat(), { nil: undefined }),
  tail: fc.uint8Array({ maxLength: 16 }),
});

/** A copy of `bytes` with `m` applied. */
export function mutateBytes(bytes: Uint8Array, m: ByteMutation): Uint8Array {
  const out = bytes.slice();
  for (const [at, value] of m.flips) if (out.length > 0) out[at % out.length] = value;
  const kept = m.cut === undefined ? out : out.subarray(0, m.cut % (out.length + 1));
  const joined = new Uint8Array(kept.length + m.tail.length);
  joined.set(kept);
  joined.set(m.tail, kept.length);
  return joined;
}
