/**
 * The waits of `testing/wait.ts`, where tests and benchmarks share them.
 *
 * @module
 */
export * from "../../testing/wait.ts";
