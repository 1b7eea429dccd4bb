/**
 * The opt-in noise filter's files as the real server serves them: the
 * RNNoise WebAssembly builds byte for byte as the npm package ships them,
 * the worklet that registers the processor the page asks for, and a CSP that
 * lets the page compile WebAssembly without allowing `eval`.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  NOISE_FILTER_FILES,
  RNNOISE_PROCESSOR,
} from "../public/noise_files.ts";
import { startTestServer } from "./support/server.ts";

const PACKAGE_DIST = fileURLToPath(
  new URL(
    "../node_modules/@sapphi-red/web-noise-suppressor/dist/",
    import.meta.url,
  ),
);

Deno.test("the server serves both RNNoise WebAssembly builds unchanged", async () => {
  await using server = await startTestServer();
  for (
    const [path, file] of [
      [NOISE_FILTER_FILES.wasm, "rnnoise.wasm"],
      [NOISE_FILTER_FILES.wasmSimd, "rnnoise_simd.wasm"],
    ]
  ) {
    const res = await fetch(server.origin + path);
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get("content-type"), "application/wasm", path);
    const served = new Uint8Array(await res.arrayBuffer());
    const shipped = await Deno.readFile(PACKAGE_DIST + file);
    assert.equal(served.length, shipped.length, path);
    assert.deepEqual(served, shipped, path);
    // It is a module this engine can compile, with RNNoise's entry points.
    const module = await WebAssembly.compile(served);
    const exports = WebAssembly.Module.exports(module).map((e) => e.name);
    assert.ok(
      exports.some((name) => /rnnoise_process_frame/.test(name)),
      `${path} exports ${exports.join(", ")}`,
    );
  }
});

Deno.test("the server serves the worklet that registers the RNNoise processor", async () => {
  await using server = await startTestServer();
  const res = await fetch(server.origin + NOISE_FILTER_FILES.worklet);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/javascript/);
  const text = await res.text();
  assert.match(text, /registerProcessor\(/);
  assert.ok(text.includes(RNNOISE_PROCESSOR), "the processor name");
  // Not in the main bundle: only fetched once the filter is switched on.
  const app = await (await fetch(`${server.origin}/app.js`)).text();
  assert.equal(app.includes("registerProcessor("), false);
});

Deno.test("the page's CSP allows compiling WebAssembly but no eval", async () => {
  await using server = await startTestServer();
  const res = await fetch(`${server.origin}/r/noise`);
  await res.body?.cancel();
  const csp = res.headers.get("content-security-policy") ?? "";
  const scriptSrc = csp.split(";").map((d) => d.trim()).find((d) =>
    d.startsWith("script-src ")
  );
  assert.equal(scriptSrc, "script-src 'self' 'wasm-unsafe-eval'");
});
