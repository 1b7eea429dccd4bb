/**
 * Bundles the client with esbuild into `public/dist/` (`app.js`, `app.css`),
 * and the opt-in noise filter beside it: RNNoise's AudioWorklet module
 * (`rnnoise_worklet.js`) and its two WebAssembly builds, base64-encoded
 * (`rnnoise.wasm.txt`, `rnnoise_simd.wasm.txt`) so the server embeds them
 * as text imports; the page loads them only when the filter is switched on.
 * `--watch` rebuilds on change; `--serve` also runs the server and restarts
 * it after each rebuild (`deno task dev`).
 *
 * @module
 */
import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL(".", import.meta.url));
const watch = Deno.args.includes("--watch");
const serve = Deno.args.includes("--serve");

const options: esbuild.BuildOptions = {
  entryPoints: { app: `${dir}app.tsx` },
  bundle: true,
  format: "esm",
  target: ["chrome110", "firefox115", "safari16"],
  minify: true,
  sourcemap: false,
  jsx: "automatic",
  jsxImportSource: "preact",
  outdir: `${dir}dist`,
  logLevel: "warning",
  plugins: [{
    name: "styles",
    setup(build) {
      // app.css is copied as is; esbuild only bundles the script.
      build.onEnd(async () => {
        await Deno.copyFile(`${dir}styles.css`, `${dir}dist/app.css`);
        if (serve) restartServer();
      });
    },
  }],
};

let server: Deno.ChildProcess | undefined;
async function restartServer() {
  if (server) {
    server.kill("SIGTERM");
    await server.status;
  }
  server = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read=data",
      "--allow-write=data",
      "--allow-env",
      `${dir}../main.ts`,
    ],
    stdin: "null",
  }).spawn();
}

/** RNNoise (`@sapphi-red/web-noise-suppressor`): worklet and WebAssembly. */
const NOISE_PACKAGE = "@sapphi-red/web-noise-suppressor";

async function buildNoiseFilter(): Promise<void> {
  await esbuild.build({
    entryPoints: { rnnoise_worklet: `${NOISE_PACKAGE}/rnnoiseWorklet.js` },
    absWorkingDir: `${dir}..`,
    bundle: true,
    format: "esm",
    target: ["chrome110", "firefox115", "safari16"],
    minify: true,
    outdir: `${dir}dist`,
    logLevel: "warning",
  });
  const wasmDir = `${dir}../node_modules/${NOISE_PACKAGE}/dist`;
  for (const name of ["rnnoise", "rnnoise_simd"]) {
    const bytes = await Deno.readFile(`${wasmDir}/${name}.wasm`);
    await Deno.writeTextFile(
      `${dir}dist/${name}.wasm.txt`,
      encodeBase64(bytes),
    );
  }
}

function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

await Deno.mkdir(`${dir}dist`, { recursive: true });
await buildNoiseFilter();
if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
  console.error("build: watching public/ for changes");
} else {
  await esbuild.build(options);
  await esbuild.stop();
}
