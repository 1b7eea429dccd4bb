/**
 * The client's files, embedded into the server (and the compiled binary) as
 * text imports, so nothing is read relative to the working directory.
 * `deno task build` writes `dist/` before anything imports this module.
 * The noise filter's WebAssembly arrives base64-encoded (a text import needs
 * no unstable flag) and is decoded once, here.
 *
 * @module
 */
import html from "./index.html" with { type: "text" };
import css from "./dist/app.css" with { type: "text" };
import js from "./dist/app.js" with { type: "text" };
import worklet from "./dist/rnnoise_worklet.js" with { type: "text" };
import wasm from "./dist/rnnoise.wasm.txt" with { type: "text" };
import wasmSimd from "./dist/rnnoise_simd.wasm.txt" with { type: "text" };
import { NOISE_FILTER_FILES } from "./noise_files.ts";

/** A static file as the server's handler serves it. */
export interface Asset {
  body: string | Uint8Array<ArrayBuffer>;
  contentType: string;
}

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text.trim());
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

const SCRIPT = "text/javascript; charset=utf-8";

/** Static files by URL path. */
export const ASSETS: ReadonlyMap<string, Asset> = new Map([
  ["/", { body: html, contentType: "text/html; charset=utf-8" }],
  ["/app.js", { body: js, contentType: SCRIPT }],
  ["/app.css", { body: css, contentType: "text/css; charset=utf-8" }],
  [NOISE_FILTER_FILES.worklet, { body: worklet, contentType: SCRIPT }],
  [NOISE_FILTER_FILES.wasm, {
    body: decodeBase64(wasm),
    contentType: "application/wasm",
  }],
  [NOISE_FILTER_FILES.wasmSimd, {
    body: decodeBase64(wasmSimd),
    contentType: "application/wasm",
  }],
]);
