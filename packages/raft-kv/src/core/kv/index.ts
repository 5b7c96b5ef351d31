/**
 * The pure key-value state machine: etcd-shaped types, the binary command
 * codec, the {@link KvStore} every replica applies committed entries to, and
 * the two halves of leases and the auth store it holds.
 */
export * from "./types.ts";
export * from "./bytes.ts";
export { KvStore, DEFAULT_KV_STORE_CONFIG, inRange, type KvStoreConfig, type EventsSince } from "./store.ts";
export { encodeCommand, decodeCommand, MAX_TXN_DEPTH, type Decoded } from "./codec.ts";
export * from "./limits.ts";
export * from "./lessor.ts";
export * from "./auth-store.ts";
