/**
 * Headless Chromium for the end-to-end scenarios, launched the way
 * `tests/e2e/README.md` describes: the Debian binary, our own flag
 * list, a fake microphone playing a WAV tone, and an init script that
 * records every RTCPeerConnection so the test can read `getStats()` without
 * any app internals.
 *
 * @module
 */
import { type Browser, chromium, type Page } from "playwright-core";
import { join } from "node:path";

import { CHROMIUM } from "./chromium.ts";

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

/** Records every RTCPeerConnection the page creates in `window.__pcs`. */
const RECORD_PEER_CONNECTIONS = `(() => {
  const Native = window.RTCPeerConnection;
  const pcs = [];
  Object.defineProperty(window, "__pcs", { value: pcs });
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      pcs.push(this);
    }
  };
})();`;

/** One browser process with one page. */
export interface TestBrowser extends AsyncDisposable {
  readonly label: string;
  readonly browser: Browser;
  readonly page: Page;
  /** Page errors and console errors so far. */
  readonly errors: string[];
}

/** Launches Chromium with `wav` as its microphone and opens one page. */
export async function launchBrowser(
  label: string,
  wav: string,
  tmp: string,
  viewport = { width: 1100, height: 900 },
): Promise<TestBrowser> {
  const home = await Deno.makeTempDir({ dir: tmp, prefix: `${label}-` });
  const browser = await chromium.launch({
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
  const context = await browser.newContext({ viewport });
  await context.addInitScript({ content: RECORD_PEER_CONNECTIONS });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(`${label}: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") {
      errors.push(`${label} console.${m.type()}: ${m.text()}`);
    }
  });
  return {
    label,
    browser,
    page,
    errors,
    [Symbol.asyncDispose]: async () => {
      await browser.close().catch(() => {});
    },
  };
}

/** Inbound audio of one live RTCPeerConnection of a page. */
export interface InboundAudio {
  connectionState: string;
  packetsReceived: number;
  totalAudioEnergy: number;
  audioLevel: number;
  localCandidateType?: string;
  remoteCandidateType?: string;
}

/** Reads inbound audio stats of every open RTCPeerConnection of `page`. */
export function inboundAudio(page: Page): Promise<InboundAudio[]> {
  return page.evaluate(async () => {
    const pcs = (globalThis as unknown as { __pcs: RTCPeerConnection[] })
      .__pcs;
    const open = pcs.filter((pc) => pc.connectionState !== "closed");
    return await Promise.all(open.map(async (pc) => {
      const report = await pc.getStats();
      const byId = new Map<string, Record<string, unknown>>();
      report.forEach((s) => byId.set(s.id, s));
      let inbound: Record<string, unknown> | undefined;
      let pair: Record<string, unknown> | undefined;
      for (const s of byId.values()) {
        if (s.type === "inbound-rtp" && s.kind === "audio") inbound = s;
        if (s.type === "transport" && s.selectedCandidatePairId) {
          pair = byId.get(String(s.selectedCandidatePairId));
        }
      }
      return {
        connectionState: pc.connectionState,
        packetsReceived: Number(inbound?.packetsReceived ?? 0),
        totalAudioEnergy: Number(inbound?.totalAudioEnergy ?? 0),
        audioLevel: Number(inbound?.audioLevel ?? 0),
        localCandidateType: pair
          ? String(byId.get(String(pair.localCandidateId))?.candidateType)
          : undefined,
        remoteCandidateType: pair
          ? String(byId.get(String(pair.remoteCandidateId))?.candidateType)
          : undefined,
      };
    }));
  });
}

/** How many RTCPeerConnections the page has created so far. */
export function peerConnectionCount(page: Page): Promise<number> {
  return page.evaluate(() =>
    (globalThis as unknown as { __pcs: RTCPeerConnection[] }).__pcs.length
  );
}
