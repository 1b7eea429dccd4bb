/**
 * One browser page as the end-to-end scenarios drive it, whatever the
 * engine: Chromium through playwright-core (CDP) or Firefox through
 * puppeteer-core (WebDriver BiDi). The scenarios click and type by role and
 * accessible name (trusted input events, so autoplay rules are honest), and
 * read the page only through `evaluate`: the in-page helpers here (recorded
 * RTCPeerConnections, `getStats()`, the pitch of what each `<audio>` plays)
 * are plain functions that run the same in both engines.
 *
 * @module
 */
import {
  type ColorScheme,
  RECORD_PEER_CONNECTIONS,
} from "../../testing/chromium.ts";

/** Roles the scenarios look controls and content up by. */
export type Role =
  | "button"
  | "checkbox"
  | "textbox"
  | "combobox"
  | "alert"
  | "status"
  | "dialog"
  | "list"
  | "listitem"
  | "log"
  | "region";

/** The browser engine behind a page. */
export type Engine = "chromium" | "firefox";

export { type ColorScheme, RECORD_PEER_CONNECTIONS };

/** A page, engine-neutral. */
export interface TestPage {
  readonly label: string;
  readonly engine: Engine;
  /** Page errors and console errors and warnings so far (appended live). */
  readonly errors: string[];
  goto(url: string): Promise<void>;
  reload(): Promise<void>;
  url(): string;
  /** Clicks the control with this role and exact accessible name. */
  click(role: Role, name: string): Promise<void>;
  /** Replaces the value of the text box with this accessible name. */
  fill(name: string, value: string): Promise<void>;
  /** Ticks or clears the checkbox with this accessible name. */
  setChecked(name: string, checked: boolean): Promise<void>;
  /** Presses a key (`"m"`, `"Escape"`, `"Tab"`) where the focus is. */
  press(key: string): Promise<void>;
  /**
   * The text of every element with this role (and exact accessible name,
   * if given) that assistive technology can see right now; none waits.
   */
  texts(role: Role, name?: string): Promise<string[]>;
  /**
   * Runs `fn(element, arg)` on the one element with this role and exact
   * accessible name (waiting for it to show) and returns the result.
   */
  evaluateOn<T, A = undefined>(
    role: Role,
    name: string,
    fn: (element: Element, arg: A) => T | Promise<T>,
    arg?: A,
  ): Promise<T>;
  /** Runs `fn(arg)` in the page and returns its (serialisable) result. */
  evaluate<T, A = undefined>(
    fn: (arg: A) => T | Promise<T>,
    arg?: A,
  ): Promise<T>;
  setViewport(width: number, height: number): Promise<void>;
  /** Emulates `prefers-color-scheme`. */
  setColorScheme(scheme: ColorScheme): Promise<void>;
  /** A PNG of the whole page, or with `fullPage: false` of the window. */
  screenshot(path: string, options?: { fullPage?: boolean }): Promise<void>;
}

/** Inbound audio of one live RTCPeerConnection of a page. */
export interface InboundAudio {
  connectionState: string;
  packetsReceived: number;
  /** Cumulative energy; undefined where the engine does not report it. */
  totalAudioEnergy?: number;
  audioLevel?: number;
  localCandidateType?: string;
  remoteCandidateType?: string;
}

/**
 * Reads inbound audio stats of every open RTCPeerConnection of `page`. The
 * selected pair comes from the transport's `selectedCandidatePairId` (both
 * engines have it), else from the pair Firefox marks `selected`.
 */
export function inboundAudio(page: TestPage): Promise<InboundAudio[]> {
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
          pair = byId.get(String(s.selectedCandidatePairId)) ?? pair;
        }
        if (!pair && s.type === "candidate-pair" && s.selected === true) {
          pair = s;
        }
      }
      const energy = inbound?.totalAudioEnergy;
      const level = inbound?.audioLevel;
      return {
        connectionState: pc.connectionState,
        packetsReceived: Number(inbound?.packetsReceived ?? 0),
        totalAudioEnergy: typeof energy === "number" ? energy : undefined,
        audioLevel: typeof level === "number" ? level : undefined,
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
export function peerConnectionCount(page: TestPage): Promise<number> {
  return page.evaluate(() =>
    (globalThis as unknown as { __pcs?: RTCPeerConnection[] }).__pcs
      ?.length ?? 0
  );
}

/** What one `<audio>` element of the app is playing. */
export interface Heard {
  peerId: string;
  /** Strongest frequency (Hz), or 0 in silence. */
  pitchHz: number;
  /** RMS of the samples, 0–1 (the median of readings every 100 ms). */
  rms: number;
}

/**
 * Listens for `ms` to the stream each remote `<audio>` element of the app
 * plays (an AnalyserNode on its `srcObject`) and reports the strongest
 * frequency and the loudness. Proves which tone travels in which direction,
 * in any engine, without relying on engine-specific statistics.
 */
export function heardTones(page: TestPage, ms = 600): Promise<Heard[]> {
  return page.evaluate(async (ms) => {
    const w = globalThis as unknown as { __listen?: AudioContext };
    const context = w.__listen ??= new AudioContext();
    if (context.state === "suspended") await context.resume();
    const elements = [...document.querySelectorAll("audio[data-peer-id]")]
      .filter((el) => (el as HTMLAudioElement).srcObject instanceof MediaStream)
      .map((el) => el as HTMLAudioElement);
    const listeners = elements.map((el) => {
      const source = context.createMediaStreamSource(
        el.srcObject as MediaStream,
      );
      const analyser = context.createAnalyser();
      analyser.fftSize = 8192;
      analyser.smoothingTimeConstant = 0;
      source.connect(analyser);
      return {
        el,
        source,
        analyser,
        best: 0,
        bestDb: -Infinity,
        levels: [] as number[],
      };
    });
    const spectrum = new Float32Array(4096);
    const wave = new Float32Array(8192);
    const end = performance.now() + ms;
    while (performance.now() < end) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      for (const l of listeners) {
        l.analyser.getFloatFrequencyData(spectrum);
        l.analyser.getFloatTimeDomainData(wave);
        let sum = 0;
        for (const s of wave) sum += s * s;
        l.levels.push(Math.sqrt(sum / wave.length));
        for (let i = 1; i < spectrum.length; i++) {
          if (spectrum[i] > l.bestDb) {
            l.bestDb = spectrum[i];
            l.best = i * context.sampleRate / l.analyser.fftSize;
          }
        }
      }
    }
    for (const l of listeners) l.source.disconnect();
    // The median of the readings: one stale analyser buffer (a loaded
    // machine can hand over audio from before a mute) does not count.
    const median = (xs: number[]) =>
      xs.length ? [...xs].sort((a, b) => a - b)[xs.length >> 1] : 0;
    return listeners.map((l) => {
      const rms = median(l.levels);
      return {
        peerId: l.el.dataset.peerId ?? "",
        pitchHz: rms > 1e-4 ? Math.round(l.best) : 0,
        rms,
      };
    });
  }, ms);
}
