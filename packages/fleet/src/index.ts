/**
 * @packageDocumentation
 * `@heck/fleet`: A fleet of real HTTP origin servers on loopback with controllable behaviour, for tests, benchmarks and demos.
 */
export {};
