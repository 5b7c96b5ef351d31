/**
 * @packageDocumentation
 * `@heck/swim`: Stage 3: SWIM membership and failure detection with Lifeguard.
 */
export {};
