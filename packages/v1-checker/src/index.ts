/**
 * @packageDocumentation
 * `@heck/v1-checker`: Stage 1: one process polls n origins every interval and answers what is healthy.
 */
export {};
