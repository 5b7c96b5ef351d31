/**
 * @packageDocumentation
 * `@heck/v2`: Stage 6: the distributed health checker composed from every stage.
 */
export {};
