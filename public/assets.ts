/**
 * The client's files, embedded into the server (and the compiled binary) as
 * text imports, so nothing is read relative to the working directory.
 * `deno task build` writes `dist/` before anything imports this module.
 *
 * @module
 */
import html from "./index.html" with { type: "text" };
import css from "./dist/app.css" with { type: "text" };
import js from "./dist/app.js" with { type: "text" };

/** A static file as the server's handler serves it. */
export interface Asset {
  body: string;
  contentType: string;
}

/** Static files by URL path. */
export const ASSETS: ReadonlyMap<string, Asset> = new Map([
  ["/", { body: html, contentType: "text/html; charset=utf-8" }],
  ["/app.js", { body: js, contentType: "text/javascript; charset=utf-8" }],
  ["/app.css", { body: css, contentType: "text/css; charset=utf-8" }],
]);
