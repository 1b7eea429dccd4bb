/**
 * Click onset detectors for mouth-to-ear latency: an AudioWorklet on the
 * track a page sends (its fake microphone, after Chromium's capture) and one
 * on the track it receives (after the network, jitter buffer and decoder).
 * Each stamps a click's first sample with `Date.now()`, corrected by the
 * sample's place in its 128-frame block; both stamps go through the same
 * MediaStream-to-Web-Audio path, so that path's own delay cancels out.
 *
 * @module
 */
import type { Page } from "playwright-core";

/** The worklet: an onset is a sample over 0.1 after 100 ms under 0.02. */
const WORKLET = `
class Onset extends AudioWorkletProcessor {
  constructor() {
    super();
    this.quiet = 0;
    this.hold = 0;
  }
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    const now = Date.now();
    for (let i = 0; i < channel.length; i++) {
      const v = Math.abs(channel[i]);
      if (this.hold > 0) {
        this.hold--;
        continue;
      }
      if (v > 0.1 && this.quiet >= sampleRate * 0.1) {
        this.port.postMessage(now - ((channel.length - i) / sampleRate) * 1000);
        this.hold = sampleRate * 0.2;
        this.quiet = 0;
        continue;
      }
      this.quiet = v < 0.02 ? this.quiet + 1 : 0;
    }
    return true;
  }
}
registerProcessor("onset", Onset);
`;

/** Defines `window.__startOnsets()` for the page (an init script). */
export function latencyProbeScript(): string {
  return `(() => {
  const onsets = { mouth: [], ear: [] };
  const nodes = [];
  Object.defineProperty(window, "__onsets", { value: onsets });
  window.__startOnsets = async () => {
    const context = new AudioContext();
    if (context.state !== "running") await context.resume();
    const url = URL.createObjectURL(
      new Blob([${JSON.stringify(WORKLET)}], { type: "text/javascript" }),
    );
    await context.audioWorklet.addModule(url);
    const pc = window.__pcs.find((p) => p.connectionState !== "closed");
    const sent = pc.getSenders().find((s) => s.track)?.track;
    const heard = pc.getReceivers().find((r) => r.track)?.track;
    for (const [kind, track] of [["mouth", sent], ["ear", heard]]) {
      if (!track) throw new Error("no " + kind + " track");
      const source = context.createMediaStreamSource(new MediaStream([track]));
      const node = new AudioWorkletNode(context, "onset");
      node.port.onmessage = (event) => onsets[kind].push(event.data);
      source.connect(node);
      node.connect(context.destination);
      nodes.push(source, node);
    }
    return context.state;
  };
})();`;
}

/**
 * Lets `page` load the worklet from a blob: URL, which Parley's CSP
 * (`script-src 'self'`) forbids: call before the page loads (Chromium only).
 */
export async function allowBlobWorklets(page: Page): Promise<void> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Page.setBypassCSP", { enabled: true });
}

/** Starts the detectors on the page's open connection (after a click). */
export async function startOnsets(page: Page): Promise<void> {
  const state = await page.evaluate(() =>
    (globalThis as unknown as { __startOnsets(): Promise<string> })
      .__startOnsets()
  );
  if (state !== "running") throw new Error(`AudioContext is ${state}`);
}

/** Onset stamps since `since` (epoch ms). */
export function readOnsets(
  page: Page,
  since: number,
): Promise<{ mouth: number[]; ear: number[] }> {
  return page.evaluate((from) => {
    const o = (globalThis as unknown as {
      __onsets: { mouth: number[]; ear: number[] };
    }).__onsets;
    return {
      mouth: o.mouth.filter((t) => t >= from),
      ear: o.ear.filter((t) => t >= from),
    };
  }, since);
}
