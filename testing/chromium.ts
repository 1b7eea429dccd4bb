/**
 * Headless Chromium with a fake microphone, for the end-to-end tests and the
 * call-quality lab: the Debian binary, our own flag list (see
 * `tests/e2e/README.md`), a WAV tone as the microphone, and an init script
 * that records every RTCPeerConnection so `getStats()` can be read without
 * app internals.
 *
 * @module
 */
import {
  type Browser,
  type BrowserContext,
  chromium,
  type Page,
} from "playwright-core";
import { join } from "node:path";
import { CHROMIUM } from "./browser_paths.ts";

/** The colour scheme a page is told the user prefers. */
export type ColorScheme = "light" | "dark";

/**
 * Records every RTCPeerConnection the page creates in `window.__pcs`; runs
 * before any page script (an init or preload script).
 */
export const RECORD_PEER_CONNECTIONS = `(() => {
  const Native = window.RTCPeerConnection;
  if (!Native) return;
  const pcs = [];
  Object.defineProperty(window, "__pcs", { value: pcs });
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      pcs.push(this);
    }
  };
})();`;

/** Writes a `seconds`-long sine tone WAV of `hz` into `dir` with sox. */
export async function makeTone(dir: string, hz: number): Promise<string> {
  const path = join(dir, `mic-${hz}.wav`);
  const { code, stderr } = await new Deno.Command("sox", {
    args: [
      "-n",
      "-r",
      "48000",
      "-c",
      "1",
      "-b",
      "16",
      path,
      "synth",
      "4",
      "sine",
      String(hz),
      "gain",
      "-6",
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) throw new Error(new TextDecoder().decode(stderr));
  return path;
}

/** Options for launching a browser. */
export interface LaunchOptions {
  /** @default {width: 1100, height: 900} */
  viewport?: { width: number; height: number };
  /** More script to run in every page before the app's own. */
  initScript?: string;
  /** The `prefers-color-scheme` pages start with. @default "light" */
  colorScheme?: ColorScheme;
}

/** Chromium with one playwright-core page, for tools that need its API. */
export interface ChromiumBrowser extends AsyncDisposable {
  readonly label: string;
  readonly browser: Browser;
  readonly context: BrowserContext;
  readonly page: Page;
  /** The page's errors and console errors and warnings so far. */
  readonly errors: string[];
}

/**
 * Launches Chromium the way `tests/e2e/README.md` describes, with `wav`
 * as its microphone, and hands out the playwright-core objects (the
 * call-quality lab uses them; the scenarios wrap them in a `TestPage`).
 */
export async function launchChromium(
  label: string,
  wav: string,
  tmp: string,
  options: LaunchOptions = {},
): Promise<ChromiumBrowser> {
  const home = await Deno.makeTempDir({ dir: tmp, prefix: `${label}-` });
  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    ignoreDefaultArgs: true,
    timeout: 30_000,
    env: {
      ...Deno.env.toObject(),
      HOME: home,
      XDG_CONFIG_HOME: join(home, "config"),
      XDG_CACHE_HOME: join(home, "cache"),
    },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-breakpad",
      "--password-store=basic",
      "--use-mock-keychain",
      "--disable-background-timer-throttling",
      "--disable-renderer-backgrounding",
      "--disable-backgrounding-occluded-windows",
      `--user-data-dir=${join(home, "profile")}`,
      "--remote-debugging-pipe",
      "--no-startup-window",
      "--use-fake-ui-for-media-stream",
      "--use-fake-device-for-media-stream",
      `--use-file-for-fake-audio-capture=${wav}`,
      "--allow-loopback-in-peer-connection",
      "--disable-features=WebRtcHideLocalIpsWithMdns",
      "--mute-audio",
    ],
  });
  const context = await browser.newContext({
    viewport: options.viewport ?? { width: 1100, height: 900 },
    colorScheme: options.colorScheme ?? "light",
  });
  await context.addInitScript({ content: RECORD_PEER_CONNECTIONS });
  if (options.initScript) {
    await context.addInitScript({ content: options.initScript });
  }
  const page = await context.newPage();
  return {
    label,
    browser,
    context,
    page,
    errors: collectErrors(label, page),
    [Symbol.asyncDispose]: async () => {
      await browser.close().catch(() => {});
    },
  };
}

/** Collects the page's errors and console errors and warnings, live. */
export function collectErrors(label: string, page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(`${label}: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") {
      errors.push(`${label} console.${m.type()}: ${m.text()}`);
    }
  });
  return errors;
}
