/**
 * Wire format for Raft messages and conf changes: encode to bytes, and decode
 * with validation that names the bad field instead of throwing.
 */
import type { ConfChange, Message } from "./types.ts";

/** Why bytes did not decode: the field that was wrong and what was wrong with it. */
export interface DecodeError {
  readonly code: "malformed";
  readonly field: string;
  readonly message: string;
}

/** A decoded value or a {@link DecodeError}. */
export type DecodeResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: DecodeError };

/** Encodes a message to bytes (one frame). */
export function encodeMessage(_message: Message): Uint8Array {
  throw new Error("unimplemented");
}

/** Decodes and validates one frame; never throws. */
export function decodeMessage(_bytes: Uint8Array): DecodeResult<Message> {
  throw new Error("unimplemented");
}

/** Encodes a membership change as the data of a "confChange" entry. */
export function encodeConfChange(_change: ConfChange): Uint8Array {
  throw new Error("unimplemented");
}

/** Decodes a "confChange" entry's data; never throws. */
export function decodeConfChange(_bytes: Uint8Array): DecodeResult<ConfChange> {
  throw new Error("unimplemented");
}
