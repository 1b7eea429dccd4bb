/**
 * Bundles the client with esbuild into `public/dist/` (`app.js`, `app.css`).
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

await Deno.mkdir(`${dir}dist`, { recursive: true });
if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
  console.error("build: watching public/ for changes");
} else {
  await esbuild.build(options);
  await esbuild.stop();
}
