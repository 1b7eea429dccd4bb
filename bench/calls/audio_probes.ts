/**
 * AudioWorklets the call lab puts in its pages. Click onset detectors for
 * mouth-to-ear latency: one on the track a page sends (its fake microphone,
 * after Chromium's capture) and one on the track it receives (after the
 * network, jitter buffer and decoder); each stamps a click's first sample
 * with `Date.now()`, corrected by the sample's place in its 128-frame block;
 * both stamps go through the same MediaStream-to-Web-Audio path, so that
 * path's own delay cancels out. And a recorder of the received track, for
 * intelligibility (`stoi.ts`).
 *
 * @module
 */
import type { Page } from "playwright-core";

/** The worklet: an onset is a sample over 0.1 after 100 ms under it. */
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
      if (this.hold > 0) {
        this.hold--;
        continue;
      }
      // One threshold: the click's fade-in must not reset the quiet count.
      if (Math.abs(channel[i]) < 0.1) {
        this.quiet++;
        continue;
      }
      if (this.quiet >= sampleRate * 0.1) {
        this.port.postMessage(now - ((channel.length - i) / sampleRate) * 1000);
        this.hold = sampleRate * 0.2;
      }
      this.quiet = 0;
    }
    return true;
  }
}
registerProcessor("onset", Onset);

class Recorder extends AudioWorkletProcessor {
  constructor() {
    super();
    this.on = false;
    this.buffer = new Float32Array(sampleRate);
    this.n = 0;
    this.port.onmessage = (event) => {
      this.on = event.data === true;
      if (!this.on) this.flush(true);
    };
  }
  flush(last) {
    this.port.postMessage({ samples: this.buffer.slice(0, this.n), last });
    this.n = 0;
  }
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!this.on) return true;
    // A block without input (nothing received yet) records as silence.
    for (let i = 0; i < 128; i++) {
      this.buffer[this.n++] = channel ? channel[i] : 0;
      if (this.n === this.buffer.length) this.flush(false);
    }
    return true;
  }
}
registerProcessor("recorder", Recorder);
`;

/**
 * Defines `window.__startOnsets()`, `__startRecorder()`, `__record(on)` and
 * `__takeRecording()` for the page (an init script).
 */
export function audioProbeScript(): string {
  return `(() => {
  const onsets = { mouth: [], ear: [] };
  const nodes = [];
  const chunks = [];
  let recorder;
  let lastChunk;
  Object.defineProperty(window, "__onsets", { value: onsets });
  const open = async () => {
    const context = new AudioContext();
    if (context.state !== "running") await context.resume();
    const url = URL.createObjectURL(
      new Blob([${JSON.stringify(WORKLET)}], { type: "text/javascript" }),
    );
    await context.audioWorklet.addModule(url);
    const pc = window.__pcs.find((p) => p.connectionState !== "closed");
    return { context, pc };
  };
  window.__startRecorder = async () => {
    const { context, pc } = await open();
    const heard = pc.getReceivers().find((r) => r.track)?.track;
    const source = context.createMediaStreamSource(new MediaStream([heard]));
    recorder = new AudioWorkletNode(context, "recorder");
    recorder.port.onmessage = (event) => {
      chunks.push(event.data.samples);
      if (event.data.last) lastChunk?.();
    };
    source.connect(recorder);
    recorder.connect(context.destination);
    nodes.push(source, recorder);
    return context.state + " " + context.sampleRate;
  };
  window.__record = (on) => {
    if (on) chunks.length = 0;
    recorder.port.postMessage(on);
  };
  window.__takeRecording = async () => {
    await new Promise((resolve) => {
      lastChunk = resolve;
      recorder.port.postMessage(false);
    });
    const n = chunks.reduce((a, c) => a + c.length, 0);
    const pcm = new Int16Array(n);
    let k = 0;
    for (const c of chunks) {
      for (const v of c) pcm[k++] = Math.max(-32768, Math.min(32767, Math.round(v * 32767)));
    }
    // FileReader encodes natively: a JavaScript loop is slow in a busy page.
    const url = await new Promise((resolve) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.readAsDataURL(new Blob([pcm]));
    });
    const base64 = url.slice(url.indexOf(",") + 1);
    return { base64, rate: recorder.context.sampleRate };
  };
  window.__startOnsets = async () => {
    const { context, pc } = await open();
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

/** Starts the recorder on the page's received track (after a click). */
export async function startRecorder(page: Page): Promise<void> {
  const state = await page.evaluate(() =>
    (globalThis as unknown as { __startRecorder(): Promise<string> })
      .__startRecorder()
  );
  if (!state.startsWith("running")) throw new Error(`AudioContext ${state}`);
}

/** Starts (clearing what was recorded) or stops recording. */
export function record(page: Page, on: boolean): Promise<void> {
  return page.evaluate(
    (value) =>
      (globalThis as unknown as { __record(on: boolean): void }).__record(
        value,
      ),
    on,
  );
}

/** Stops recording and returns the samples and their rate. */
export async function takeRecording(
  page: Page,
): Promise<{ samples: Float64Array; rate: number }> {
  const { base64, rate } = await page.evaluate(() =>
    (globalThis as unknown as {
      __takeRecording(): Promise<{ base64: string; rate: number }>;
    }).__takeRecording()
  );
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const pcm = new Int16Array(bytes.buffer);
  return { samples: Float64Array.from(pcm, (v) => v / 32768), rate };
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
