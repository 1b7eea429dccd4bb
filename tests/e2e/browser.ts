/**
 * Headless Chromium for the end-to-end scenarios, launched the way
 * `tests/e2e/README.md` proves works here: the Debian binary, our own flag
 * list, a fake microphone playing a WAV tone, and an init script that
 * records every RTCPeerConnection so the test can read `getStats()` without
 * any app internals. Pages are driven through the engine-neutral
 * {@linkcode TestPage}, so a scenario can mix Chromium and Firefox.
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

import { CHROMIUM } from "./chromium.ts";
import {
  type ColorScheme,
  RECORD_PEER_CONNECTIONS,
  type Role,
  type TestPage,
} from "./page.ts";

export { CHROMIUM };

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

/** One browser process with one page (more pages with `newPage`). */
export interface TestBrowser extends AsyncDisposable {
  readonly label: string;
  readonly page: TestPage;
  /** Opens another tab in the same profile (same sessionStorage origin). */
  newPage(label: string): Promise<TestPage>;
}

/** Options for {@linkcode launchBrowser}. */
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

/** Launches Chromium with `wav` as its microphone and opens one page. */
export async function launchBrowser(
  label: string,
  wav: string,
  tmp: string,
  options: LaunchOptions = {},
): Promise<TestBrowser> {
  const chromium = await launchChromium(label, wav, tmp, options);
  const { context } = chromium;
  return {
    label,
    page: chromiumPage(label, chromium.page),
    newPage: async (label) => chromiumPage(label, await context.newPage()),
    [Symbol.asyncDispose]: () => chromium[Symbol.asyncDispose](),
  };
}

/**
 * Launches Chromium as {@linkcode launchBrowser} does, but hands out the
 * playwright-core objects themselves (the call-quality lab uses them).
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
function collectErrors(label: string, page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(`${label}: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") {
      errors.push(`${label} console.${m.type()}: ${m.text()}`);
    }
  });
  return errors;
}

/** A playwright-core page as a {@linkcode TestPage}. */
function chromiumPage(label: string, page: Page): TestPage {
  page.setDefaultTimeout(15_000);
  const errors = collectErrors(label, page);
  const byRole = (role: Role, name?: string) =>
    page.getByRole(role, name === undefined ? {} : { name, exact: true });
  return {
    label,
    engine: "chromium",
    errors,
    goto: async (url) => void await page.goto(url),
    reload: async () => void await page.reload(),
    url: () => page.url(),
    click: (role, name) => byRole(role, name).click(),
    fill: (name, value) => byRole("textbox", name).fill(value),
    setChecked: (name, checked) => byRole("checkbox", name).setChecked(checked),
    press: (key) => page.keyboard.press(key),
    texts: (role, name) => byRole(role, name).allTextContents(),
    evaluateOn: <T, A>(
      role: Role,
      name: string,
      fn: (element: Element, arg: A) => T | Promise<T>,
      arg?: A,
    ) =>
      byRole(role, name).evaluate(
        fn as (element: Element, arg: unknown) => T,
        arg as unknown,
      ) as Promise<T>,
    evaluate: <T, A>(fn: (arg: A) => T | Promise<T>, arg?: A) =>
      // playwright's types want a serialisable argument; ours are.
      page.evaluate(fn as (arg: unknown) => T, arg as unknown) as Promise<T>,
    setViewport: (width, height) => page.setViewportSize({ width, height }),
    setColorScheme: (colorScheme) => page.emulateMedia({ colorScheme }),
    screenshot: async (path, options) =>
      void await page.screenshot({
        path,
        fullPage: options?.fullPage ?? true,
        timeout: 30_000,
      }),
  };
}
