/**
 * @packageDocumentation
 * `@heck/raft-kv`: Stage 4: a Raft-replicated key-value store that speaks a subset of etcd's API.
 */
export {};
