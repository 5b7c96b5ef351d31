/**
 * The Raft core's public surface: the state machine, its types and the wire
 * codec. `src/index.ts` re-exports this.
 */
export * from "./types.ts";
export { RaftNode } from "./raft-node.ts";
export { encodeMessage, decodeMessage, encodeConfChange, decodeConfChange } from "./codec.ts";
export type { DecodeError, DecodeResult } from "./codec.ts";
