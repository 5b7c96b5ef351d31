/**
 * @packageDocumentation
 * `@heck/crdt-kv`: Stage 5: a key-value store converging without coordination: gossip, delta-state CRDTs, dotted version vectors.
 */
export {};
