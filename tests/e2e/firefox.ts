/**
 * Stock Firefox ESR (Debian's `firefox-esr`) for the end-to-end scenarios,
 * driven over WebDriver BiDi by puppeteer-core: no geckodriver and no
 * browser download. What Firefox needs inside the loopback-only namespace,
 * each found by failing without it (`tests/e2e/README.md` has the story):
 *
 * - a default route on `lo` (the namespace script adds it), or Firefox
 *   gathers no ICE candidates at all;
 * - `media.peerconnection.ice.loopback` and no obfuscated host addresses,
 *   or it offers only `.local` names that nothing resolves here;
 * - a fake microphone tone of its own frequency per browser;
 * - an absolute `HOME`;
 * - an audio device, or its AudioContext stays suspended and every meter
 *   reads 0: {@linkcode startPulseAudio} runs a private PulseAudio with a
 *   null sink for all the Firefox browsers of one scenario.
 *
 * @module
 */
import puppeteer, { type Page } from "puppeteer-core";
import { join } from "node:path";
import { eventually } from "../support/wait.ts";
import {
  type ColorScheme,
  RECORD_PEER_CONNECTIONS,
  type Role,
  type TestPage,
} from "./page.ts";
import type { LaunchOptions, TestBrowser } from "./browser.ts";
import { FIREFOX } from "../../testing/browser_paths.ts";

/** A private PulseAudio server; `serverEnv` points clients at it. */
export interface PulseAudio extends AsyncDisposable {
  readonly serverEnv: Record<string, string>;
}

/**
 * Starts PulseAudio in `tmp` with a null sink (the speaker Firefox plays
 * into) and a Unix socket only this scenario knows.
 */
export async function startPulseAudio(tmp: string): Promise<PulseAudio> {
  const dir = await Deno.makeTempDir({ dir: tmp, prefix: "pulse-" });
  const socket = join(dir, "native");
  const child = new Deno.Command("pulseaudio", {
    args: [
      "--daemonize=no",
      "-n", // no default.pa: only the modules below
      "--exit-idle-time=-1",
      "--use-pid-file=no",
      "--log-level=error",
      "-L",
      `module-native-protocol-unix socket=${socket} auth-anonymous=1`,
      "-L",
      "module-null-sink sink_name=parley_speaker",
    ],
    env: { HOME: dir, XDG_RUNTIME_DIR: dir, PULSE_RUNTIME_PATH: dir },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  await eventually(
    async () => {
      try {
        return (await Deno.stat(socket)).isSocket;
      } catch {
        return false;
      }
    },
    "PulseAudio to listen",
    { timeoutMs: 10_000, intervalMs: 50 },
  );
  return {
    serverEnv: { PULSE_SERVER: `unix:${socket}` },
    [Symbol.asyncDispose]: async () => {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await child.status;
    },
  };
}

/**
 * Launches Firefox whose fake microphone plays a `toneHz` sine, with its
 * audio going to `pulse`, and opens one page.
 */
export async function launchFirefox(
  label: string,
  toneHz: number,
  tmp: string,
  pulse: PulseAudio,
  options: LaunchOptions = {},
): Promise<TestBrowser> {
  const home = await Deno.makeTempDir({ dir: tmp, prefix: `${label}-` });
  const viewport = options.viewport ?? { width: 1100, height: 900 };
  const browser = await puppeteer.launch({
    browser: "firefox",
    protocol: "webDriverBiDi",
    executablePath: FIREFOX,
    headless: true,
    timeout: 60_000, // 6–20 s here, against about 1 s for Chromium
    defaultViewport: viewport,
    env: {
      ...Deno.env.toObject(),
      ...pulse.serverEnv,
      HOME: home, // must be absolute: a relative HOME hangs the launch
      PUPPETEER_SKIP_DOWNLOAD: "1",
    },
    extraPrefsFirefox: {
      "media.peerconnection.ice.loopback": true,
      "media.peerconnection.ice.obfuscate_host_addresses": false,
      "media.navigator.streams.fake": true,
      "media.navigator.permission.disabled": true,
      "media.navigator.audio.fake_frequency": toneHz,
    },
  });
  async function open(label: string): Promise<TestPage> {
    const page = await browser.newPage();
    if (options.colorScheme) await setScheme(page, options.colorScheme);
    await page.evaluateOnNewDocument(RECORD_PEER_CONNECTIONS);
    if (options.initScript) {
      await page.evaluateOnNewDocument(options.initScript);
    }
    return firefoxPage(label, page);
  }
  const [blank] = await browser.pages();
  const page = await open(label);
  await blank?.close().catch(() => {});
  return {
    label,
    page,
    newPage: open,
    [Symbol.asyncDispose]: async () => {
      await browser.close().catch(() => {});
    },
  };
}

/** A puppeteer-core page as a {@linkcode TestPage}. */
function firefoxPage(label: string, page: Page): TestPage {
  page.setDefaultTimeout(15_000);
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(`${label}: ${String(e)}`));
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warn") {
      errors.push(`${label} console.${m.type()}: ${m.text()}`);
    }
  });
  const aria = (role: Role, name?: string) =>
    `::-p-aria(${
      name === undefined ? "" : `[name=${JSON.stringify(name)}]`
    }[role="${role}"])`;
  const find = async (role: Role, name: string) => {
    const handle = await page.waitForSelector(aria(role, name), {
      visible: true,
    });
    if (!handle) throw new Error(`${label}: no ${role} named "${name}"`);
    return handle;
  };
  return {
    label,
    engine: "firefox",
    errors,
    goto: async (url) => void await page.goto(url),
    reload: async () => void await page.reload(),
    url: () => page.url(),
    click: async (role, name) => {
      using handle = await find(role, name);
      await handle.click();
    },
    fill: async (name, value) => {
      using handle = await find("textbox", name);
      await handle.click({ count: 3 });
      await handle.type(value);
    },
    setChecked: async (name, checked) => {
      using handle = await find("checkbox", name);
      const now = await handle.evaluate((el) =>
        (el as HTMLInputElement).checked
      );
      if (now !== checked) await handle.click();
    },
    press: (key) =>
      page.keyboard.press(key as Parameters<typeof page.keyboard.press>[0]),
    texts: async (role, name) => {
      const handles = await page.$$(aria(role, name));
      const out: string[] = [];
      for (const handle of handles) {
        out.push(await handle.evaluate((el) => el.textContent ?? ""));
        await handle.dispose();
      }
      return out;
    },
    evaluateOn: async <T, A>(
      role: Role,
      name: string,
      fn: (element: Element, arg: A) => T | Promise<T>,
      arg?: A,
    ) => {
      using handle = await find(role, name);
      return await handle.evaluate(
        fn as (element: Element, arg: unknown) => Promise<T>,
        arg,
      ) as T;
    },
    evaluate: <T, A>(fn: (arg: A) => T | Promise<T>, arg?: A) =>
      page.evaluate(fn as (arg: unknown) => Promise<T>, arg) as Promise<T>,
    setViewport: (width, height) => page.setViewport({ width, height }),
    setColorScheme: (scheme) => setScheme(page, scheme),
    screenshot: async (path, options) =>
      void await page.screenshot({
        path,
        fullPage: options?.fullPage ?? true,
      }),
  };
}

/** Emulates `prefers-color-scheme` (where WebDriver BiDi can). */
function setScheme(page: Page, scheme: ColorScheme): Promise<void> {
  return page.emulateMediaFeatures([
    { name: "prefers-color-scheme", value: scheme },
  ]);
}
