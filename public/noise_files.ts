/**
 * Where the server serves the noise filter's files and the page fetches
 * them (only once the filter is switched on).
 *
 * @module
 */
export const NOISE_FILTER_FILES = {
  worklet: "/rnnoise_worklet.js",
  wasm: "/rnnoise.wasm",
  wasmSimd: "/rnnoise_simd.wasm",
} as const;

/** The AudioWorklet processor name that `rnnoise_worklet.js` registers. */
export const RNNOISE_PROCESSOR = "@sapphi-red/web-noise-suppressor/rnnoise";
