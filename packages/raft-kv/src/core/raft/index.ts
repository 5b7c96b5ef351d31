/**
 * The Raft core's public surface: the state machine, its types and the wire
 * codec. `src/index.ts` re-exports this.
 */
export * from "./types.ts";
export { RaftNode, DEFAULT_RAFT_CONFIG } from "./raft-node.ts";
export { encodeMessage, decodeMessage, encodeConfChange, decodeConfChange, validateConfChange, WIRE_VERSION } from "./codec.ts";
export type { DecodeError, DecodeResult } from "./codec.ts";
