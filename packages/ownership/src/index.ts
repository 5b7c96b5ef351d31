/**
 * @packageDocumentation
 * `@heck/ownership`: Stage 2: which node checks which origin: rendezvous hashing and the alternatives.
 */
export {};
