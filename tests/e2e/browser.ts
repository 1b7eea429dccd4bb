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
import type { Page } from "playwright-core";
import {
  collectErrors,
  launchChromium,
  type LaunchOptions,
} from "../../testing/chromium.ts";
import type { Role, TestPage } from "./page.ts";

export { CHROMIUM } from "../../testing/browser_paths.ts";
export {
  type ChromiumBrowser,
  launchChromium,
  type LaunchOptions,
  makeTone,
} from "../../testing/chromium.ts";

/** One browser process with one page (more pages with `newPage`). */
export interface TestBrowser extends AsyncDisposable {
  readonly label: string;
  readonly page: TestPage;
  /** Opens another tab in the same profile (same sessionStorage origin). */
  newPage(label: string): Promise<TestPage>;
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
